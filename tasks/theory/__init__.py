"""Experiments from the theory papers behind the harness (task=etf, sketch_manifold, hashed_recovery)."""
