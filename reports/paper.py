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


def dataset_caveat(dataset: str, sizes: dict) -> str:
    """A plain warning for data sets that share a name's start with the paper's but are not its data."""
    split = (f"{sizes['train']:,} train / {sizes['val']:,} validation / {sizes['test']:,} test"
             if {"train", "val", "test"} <= sizes.keys() else "sizes not recorded")
    if dataset == "mnist5k":
        return (f"⚠ **mnist5k is not the paper's MNIST**: it is 5,000 real MNIST digits ({split}), not the 60,000 "
                f"training and 10,000 test digits the paper used. Its errors run higher and noisier{_digit_weight(sizes)}, "
                "and no paper figure is shown beside it.")
    if str(dataset).endswith("@mnist5k"):
        return (f"⚠ **{dataset} is not the paper's data set**: it is generated from the 5,000 mnist5k digits ({split}), "
                "not the files of Larochelle et al. (2007) the paper used; no paper figure is shown beside it.")
    return ""


def _digit_weight(sizes: dict) -> str:
    test = sizes.get("test")
    return f" (one of its {test:,} test digits is {100 / test:.2g} point of error)" if isinstance(test, int) and test else ""
