"""Benchmarks (`make bench`): each figure printed beside a naive baseline from the same run."""
