"""Readable titles for setups: data set, model, epochs and budget unit, and, where several setups
share those and differ in their recipe, the recipe's values that differ, spelled out
(`lr 0.05, dropout_input 0.1`) instead of a hash."""
from __future__ import annotations

import json

import pandas as pd

from bench.training.hparams import flat
from reports.cells import SETUP

MISSING = "unset"


def setup_titles(cells: pd.DataFrame) -> dict[tuple, str]:
    """Setup (the SETUP columns' values) -> its title; titles are unique within the report."""
    setups = cells.drop_duplicates(SETUP)
    titles = {}
    for _, alike in setups.groupby(["dataset", "model", "epochs", "budget_unit"], dropna=False, sort=False):
        recipes = [flat(json.loads(detail)) for detail in alike["recipe_detail"]]
        differing = sorted({key for recipe in recipes for key in recipe
                            if len({json.dumps(r.get(key, MISSING), sort_keys=True) for r in recipes}) > 1})
        for (_, setup), recipe in zip(alike.iterrows(), recipes):
            base = f"{setup['dataset']} · {setup['model']} · {setup['epochs']} epochs · budget in {setup['budget_unit']}"
            spelled = ", ".join(f"{_short_key(key)} {_value(recipe.get(key, MISSING))}" for key in differing)
            titles[tuple(setup[SETUP])] = f"{base} · {spelled}" if spelled else base
    return titles


def _short_key(key: str) -> str:
    """`train.lr` -> `lr`; the data set's options keep their prefix (`dataset.seed`)."""
    return key.removeprefix("train.")


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)
