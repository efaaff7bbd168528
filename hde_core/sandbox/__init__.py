"""The sandbox: an SMTP sink and simulators of each provider's HTTP API (SPEC §8)."""
