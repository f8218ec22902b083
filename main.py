"""Run one job of the harness: a compression benchmark run (`task=compress`, the default) or a
theory experiment (`experiment=etf`, ...).

    python main.py method=hashednets ratio=1/8          # the defaults
    python main.py model=lenet5 dataset=fashion_mnist method=pruning ratio=1/16
    python main.py -m method=hashednets,nn ratio=1/8,1/64 seed=1,2,3
    python main.py -m experiment=curve seed=1,2,3 hydra/launcher=parallel

The task is a config node naming its functions (`conf/task/`, bench/run/task.py); tasks/compress.py is the
benchmark.
Each run writes to its own `runs/<config hash>/`; a complete one is skipped (bench/run/resume.py).
"""
from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from bench.launch.command_line import launch_problem, unknown_group_choice
from bench.launch.help_text import user_groups
from bench.components import CONF_DIR
from bench.errors import UserError
from bench.storage.files import file_system_problem
from bench.launch.orphans import exit_with_launcher, local_launcher, mark_launching_process
from bench.run.provenance import provenance
from bench.run.resume import claim_run_dir
from bench.run.task import start_record, task_function
from bench.run.setting_checks import check_settings
from bench.launch.signals import how_stopped, stop_run_on_signals, stop_sweep_on_signals
from bench.launch.sweeps import sweep_name

log = logging.getLogger("bench")
STUDY_SWEEPERS = {"TuneSweeper": "tune", "ProtocolSweeper": "paper"}  # sweeper class -> the preset that sets it
OmegaConf.register_new_resolver("user_groups", lambda: user_groups(CONF_DIR), replace=True)  # for `--help`


def outcome(record: dict) -> dict:
    """What a job returns to its sweeper (a tuning study scores trials with it)."""
    return {key: record.get(key) for key in ("status", "val_error", "test_error", "config_hash")}


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict | None:
    slot = None
    stop_run_on_signals()  # in a sweep's worker process too
    exit_with_launcher()  # a sweep's worker process ends with the sweep
    try:
        hydra_cfg = HydraConfig.get()
        check_settings(cfg, list(hydra_cfg.overrides.task), set(hydra_cfg.runtime.choices))
        sweeper = str(hydra_cfg.sweeper.get("_target_", "")).rsplit(".", 1)[-1]
        if hydra_cfg.mode == RunMode.RUN and sweeper in STUDY_SWEEPERS:
            preset = STUDY_SWEEPERS[sweeper]
            raise UserError(f"experiment={preset} runs tuning studies, which is a multirun: add -m (python main.py -m "
                            f"experiment={preset} ...); without it, this would be one ordinary run that reads the test set")
        launch_dir = hydra_cfg.runtime.output_dir  # Hydra's config and log of this attempt
        origin = provenance(list(hydra_cfg.overrides.task))  # the commit and command, for the report
        task = task_function(cfg)  # before the claim: importing the task takes a moment a signal may land in
        slot = claim_run_dir(cfg, {**start_record(cfg), "launch_dir": launch_dir, **origin}, rerun=cfg.rerun)
        if slot.skipped:
            log.info("skipping %s: %s", slot.dir, slot.skip_reason)
            return {**outcome(slot.previous or {}), "skipped": True}
        # a failure is recorded in result.json as `failed`, Ctrl-C as `interrupted`; a killed run stays `running`
        with slot:
            return outcome(task(cfg, slot.dir, slot.start_record))
    except (UserError, OSError) as err:
        print(f"error: {err if isinstance(err, UserError) else file_system_problem(err)}", file=sys.stderr)
        if sweep_name():
            raise  # in a sweep, Hydra records this job as failed and goes on with the others
        sys.exit(2)
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (bench/launch/signals.py)
        claimed = slot is not None and not slot.skipped
        if claimed:
            slot.close(interrupt)  # recorded already when it landed inside `with slot:`
        recorded = f"recorded as interrupted in {slot.dir}" if claimed else "nothing recorded"
        signal_name, status = how_stopped(interrupt)
        if local_launcher() is None:  # a local worker's sweep says it once, for all its runs
            print(f"interrupted: run stopped by {signal_name}; {recorded}", file=sys.stderr)
        sys.exit(status)


if __name__ == "__main__":
    problem = unknown_group_choice(sys.argv[1:], CONF_DIR) or launch_problem(sys.argv[1:], CONF_DIR)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    mark_launching_process()
    stop_sweep_on_signals()
    try:
        main()
    except KeyboardInterrupt as interrupt:  # outside a run: a sweep's launcher, or Hydra starting up
        signal_name, status = how_stopped(interrupt)
        print(f"interrupted: stopped by {signal_name}; each run that started is recorded in its own result.json, "
              "and launching the same command again finishes what is missing", file=sys.stderr)
        sys.exit(status)
