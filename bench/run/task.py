"""The contract between main.py and a task: the node `conf/task/NAME.yaml` names its functions.

    _target_: tasks.compress.run        # run(cfg, run_dir, start_record) -> the final record (required)
    name: compress                      # the record's `task` (required)
    check: tasks.theory.etf.check       # check(cfg): the task's own settings, with every other setting
    start: tasks.compress.start         # start(cfg) -> the record before the run starts (the cell it
                                        #   belongs to); may prepare cfg first, e.g. tuned hyperparameters
    report_section: reports.theory_etf.etf_section   # its section of the report (reports/theory.py)

main.py checks the settings, calls `start`, claims the run's directory and calls the task; it
imports no task. A new task is a module and a node: nothing else names it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hydra.utils import get_object
from omegaconf import DictConfig


class Task(Protocol):
    def __call__(self, cfg: DictConfig, run_dir: Path, start_record: dict) -> dict:
        """Run the job in `run_dir` and return its record (written to result.json by the task)."""


class TaskStart(Protocol):
    def __call__(self, cfg: DictConfig) -> dict:
        """The record before the run starts: what names the run, so a failed run shows up too."""


def start_record(cfg: DictConfig) -> dict:
    start = cfg.task.get("start")
    if start:
        return get_object(start)(cfg)
    return {"task": cfg.task.name, "seed": cfg.seed}


def task_function(cfg: DictConfig) -> Task:
    return get_object(cfg.task._target_)
