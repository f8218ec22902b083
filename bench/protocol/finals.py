"""Which of a cell's finals are done: a final's run directory is named by its resolved config, which
holds the study's winner (`tuned=true` resolves into `hparams` before the run is claimed), so the
protocol resolves the winner as the run will and reads the record there: a relaunch launches only
the finals still missing, and a study whose winner changed (more trials) gets new finals."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, open_dict

from bench.run.record import RESULT_FILE
from bench.run.resume import FINAL_STATUSES, checkpoint_problem, run_dir_of
from bench.storage.state_files import UnreadableStateFile, read_json_object
from bench.tuning.study import best_hparams


def final_run_dir(cfg: DictConfig, overrides: list[str]) -> Path:
    """Where the final run `cfg` (launched with `overrides`) writes; UserError when its study has no winner."""
    hparams, _ = best_hparams(cfg, overrides)
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.hparams = hparams
    return run_dir_of(cfg.output_root, cfg)


def is_done(run_dir: Path) -> bool:
    """A complete run whose checkpoint is the one recorded, or a diverged run (final too)."""
    try:
        record = read_json_object(run_dir / RESULT_FILE)
    except UnreadableStateFile:
        return False  # the run's own launch moves it aside and redoes it
    return bool(record) and record.get("status") in FINAL_STATUSES and checkpoint_problem(run_dir, record) is None
