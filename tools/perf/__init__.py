"""Benchmark scripts that print measured figures (never pass/fail tests)."""
