"""Data sets as tensors in memory. Each is a loader selected by `conf/dataset/NAME.yaml`.

Not to be confused with Hugging Face's `datasets`; run from the repository root.
"""
