"""`hydra/sweeper=protocol` (set by `experiment=paper`): the paper's protocol in one command.

    python main.py -m experiment=paper                                   # Tables 1-2: tune, finals, report
    python main.py -m experiment=paper dataset=mnist5k model=mlp3 ratio=1/64 protocol.trials=4 protocol.seeds=2

It is the tuning sweeper (hydra_plugins/tune_sweeper) with two more phases, so the studies are the
very ones `experiment=tune` makes and the finals the very runs `tuned=true` makes:
1. every cell's study, to `protocol.trials` finished trials (validation only);
2. every cell's finals: its winner on seeds 1..protocol.seeds, launched together through the
   configured launcher, only those not already done (bench/protocol/finals.py);
3. the report of those finals, in OUTPUT_ROOT/report/ (reports/protocol_report.py).
Relaunched after an interruption it finishes what is missing; after completion it says there is
nothing to do. Progress: bench/protocol/progress.py.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any, List

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from bench.components import CONF_DIR
from bench.errors import UserError
from bench.storage.files import file_system_problem
from bench.launch.progress import job_status
from bench.protocol.finals import final_run_dir, is_done
from bench.protocol.grid import cell_label, check_protocol, final_runs, protocol_cells
from bench.protocol.progress import ProtocolProgress
from bench.run.setting_checks import check_settings
from bench.tuning.study import StudyLock, finished_trials, open_study, study_dir
from hydra_plugins.tune_sweeper.tune_sweeper import TuneSweeper
from reports.protocol_report import write_protocol_report

log = logging.getLogger("bench")


class ProtocolSweeper(TuneSweeper):
    progress: ProtocolProgress

    def sweep(self, arguments: List[str]) -> Any:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        try:
            protocol = OmegaConf.to_container(self.config.protocol, resolve=True)
            methods = {path.stem for path in (CONF_DIR / "method").glob("*.yaml")}
            check_protocol(protocol, self.config.tune.seed, methods)
            if any(a.lstrip("+").startswith("tune.n_trials=") for a in arguments):
                raise UserError("tune.n_trials: the protocol sets it from protocol.trials; set protocol.trials instead")
            parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
            overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
            cells = protocol_cells(BasicSweeper.split_arguments(overrides, None)[0], protocol["reference"])
            sweep_dir = Path(self.config.hydra.sweep.dir)
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            return self._run_protocol(cells, protocol)
        except (UserError, OSError) as err:
            print(f"error: {err if isinstance(err, UserError) else file_system_problem(err)}", file=sys.stderr)
            sys.exit(2)

    def _run_protocol(self, cells: list[list[str]], protocol: dict) -> list:
        trials, seeds = protocol["trials"], protocol["seeds"]
        finished = [self._finished_trials(cell) for cell in cells]  # also checks every cell's settings first
        self.progress = ProtocolProgress(len(cells), trials * len(cells), sum(min(n, trials) for n in finished),
                                         sum(n >= trials for n in finished), seeds * len(cells))
        log.info("protocol: %d cells x %d trials, then %d finals each (seeds 1-%d)", len(cells), trials, seeds, seeds)
        try:
            for cell, done in zip(cells, finished):
                if done < trials:
                    try:
                        self.tune_cell(cell)
                    except UserError as err:  # e.g. every trial failed: the other cells go on
                        log.warning("protocol: cell %s not tuned: %s", cell_label(cell), err)
            returns = self._finals(cells, seeds, trials)
        finally:
            self.progress.close()
        run_dirs = [run_dir for _, run_dir in self.finals_found]
        page, written = write_protocol_report(Path(self.config.output_root), run_dirs, {
            "grid": [cell_label(cell) for cell in cells], "trials": trials, "seeds": seeds,
            "tuning_seed": self.config.tune.seed, "command": " ".join(["python main.py", *sys.argv[1:]])})
        if self.progress.ran == 0 and not written:
            log.info("protocol: nothing to do: %d studies finished, %d finals done; the report %s is up to date",
                     len(cells), len(run_dirs), page)
        else:
            log.info("%s; report: %s", self.progress.line(), page)
        failed = [job for job in returns if job_status(job) == "failed"]
        if failed or self.untunable:
            log.warning("protocol: %d finals failed and %d cells have no winner; launch the same command again to "
                        "retry what failed", len(failed), len(self.untunable))
        return returns

    def _finished_trials(self, cell: list[str]) -> int:
        """The cell's finished trials so far (its settings checked, as a run checks them)."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(cell))
        check_settings(cfg, list(cell), set(cfg.hydra.runtime.choices))
        with StudyLock(study_dir(cfg), shared=True) as lock:
            study = open_study(cfg, create=False, lock=lock)
        return len(finished_trials(study)) if study is not None else 0

    def _run_batch(self, study: optuna.Study, cfg: DictConfig, cell: list[str], params: dict) -> None:
        before, started = len(finished_trials(study)), time.perf_counter()
        super()._run_batch(study, cfg, cell, params)
        done = finished_trials(study)
        self.progress.trials_ran(len(done) - before, time.perf_counter() - started, study.study_name,
                                 study.best_value if done else None, finished=len(done) >= cfg.tune.n_trials)

    def _finals(self, cells: list[list[str]], seeds: int, trials: int) -> list:
        """Launch every final not yet done, in one batch; `finals_found`: (overrides, run folder) of each."""
        self.finals_found, self.untunable, missing = [], [], []
        for cell in cells:
            for final in final_runs(cell, seeds, trials):
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(final))
                try:
                    run_dir = final_run_dir(cfg, final)
                except UserError as err:  # e.g. every trial of its study diverged: no winner to run
                    log.warning("protocol: no finals for %s: %s", cell_label(cell), err)
                    self.untunable.append(cell)
                    break
                self.finals_found.append((final, run_dir))
                if not is_done(run_dir):
                    missing.append(final)
        self.progress.finals_found(len(self.finals_found) - len(missing))
        if not missing:
            return []
        started = time.perf_counter()
        returns = self.launcher.launch(missing, initial_job_idx=self.job_index)
        self.job_index += len(missing)
        self.progress.finals_ran(len(missing), time.perf_counter() - started)
        return list(returns)
