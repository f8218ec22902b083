"""The protocol's cells and final runs, from the sweep's overrides and the `protocol` settings.

A cell is one combination of the sweep's lists (method, data set, model, ratio, ...). `dense` stores
every parameter, so its cells run at ratio 1 whatever the ratio list says; `protocol.reference`
(dense by default) adds that reference cell for every other combination of the grid. Each cell's
finals are its tuned runs (`tuned=true`) on the seeds 1..protocol.seeds, which must not include the
tuning seed: the winner of a study is never scored on the runs that chose it.
"""
from __future__ import annotations

from bench.errors import UserError
from bench.run.identity import NOT_PART_OF_EXPERIMENT
from bench.run.setting_checks import POSITIVE_INT, SEED_MAX

RATIO_OF_DENSE = "1"
DENSE = "dense"


def check_protocol(protocol: dict, tune_seed: int, methods: set[str]) -> None:
    """One line for the first bad `protocol.*` setting."""
    for key in ("trials", "seeds"):
        accepts, allowed = POSITIVE_INT
        if not accepts(protocol.get(key)):
            raise UserError(f"protocol.{key}={protocol.get(key)!r} must be {allowed}")
    if protocol["seeds"] > SEED_MAX:
        raise UserError(f"protocol.seeds={protocol['seeds']} must be at most {SEED_MAX} (seeds are 32-bit)")
    if 1 <= tune_seed <= protocol["seeds"]:
        raise UserError(f"protocol.seeds={protocol['seeds']}: the final seeds 1..{protocol['seeds']} include the "
                        f"tuning seed tune.seed={tune_seed}; use tune.seed=0 or more final seeds than it")
    reference = protocol.get("reference")
    if reference is not None and reference not in methods:
        raise UserError(f"protocol.reference={reference!r} is unknown; allowed: null or one of "
                        f"{', '.join(sorted(methods))}")


def protocol_cells(cells: list[list[str]], reference: str | None) -> list[list[str]]:
    """The sweep's cells, dense ones at ratio 1, plus the reference's cell beside every combination of the
    other keys; each cell once, in the order first met (a cell is a list of `key=value` overrides)."""
    out: list[list[str]] = []

    def add(cell: list[str]) -> None:
        if cell not in out:
            out.append(cell)

    for cell in cells:
        values = dict(override.split("=", 1) for override in cell)
        if values.get("method") == DENSE:
            add(_with(cell, "ratio", RATIO_OF_DENSE))
            continue
        add(cell)
        if reference is not None:
            add(_with(_with(cell, "method", reference), "ratio", RATIO_OF_DENSE if reference == DENSE else None))
    return out


def _with(cell: list[str], key: str, value: str | None) -> list[str]:
    """`cell` with `key` set to `value` (added at the end when absent; left alone for None)."""
    if value is None:
        return cell
    keys = [override.split("=", 1)[0] for override in cell]
    if key in keys:
        return [f"{key}={value}" if k == key else o for k, o in zip(keys, cell)]
    return [*cell, f"{key}={value}"]


def final_runs(cell: list[str], seeds: int, trials: int) -> list[list[str]]:
    """The overrides of a cell's finals: its study's winner on each final seed. `tune.n_trials` names the
    protocol's target, so a final never waits on a larger target an earlier `experiment=tune` set."""
    return [[*cell, f"seed={seed}", "tuned=true", f"tune.n_trials={trials}"] for seed in range(1, seeds + 1)]


def cell_label(cell: list[str]) -> str:
    """The cell's overrides that decide its runs (not where they are written, how fast, or the preset)."""
    kept = [o for o in cell if (key := o.split("=", 1)[0].lstrip("+~")).split(".")[0] not in NOT_PART_OF_EXPERIMENT
            and key != "experiment" and not key.startswith("hydra")]
    return " ".join(kept)
