"""The HashedNets paper's reported figures (paper_reference.csv, each with its source).

A figure is paired only with our cells on the same data set, model, method and ratio:
`mnist5k` is not `mnist`, so runs on it get no paper figure.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

REFERENCE_FILE = Path(__file__).with_name("paper_reference.csv")


def load_reference(path: Path = REFERENCE_FILE) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"ratio": str})


def reference_for(reference: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    return reference[(reference["dataset"] == dataset) & (reference["model"] == model)]
