"""Benchmarks and scripts that are not part of a run."""
