"""Secrets at rest (credentials) and passwords."""
