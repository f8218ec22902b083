"""Populations: many runs of one structure trained at once as one stacked model (layers/stacked.py)."""
