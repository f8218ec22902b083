"""Leaderboard report from result records.

    python -m reports.leaderboard outputs --out leaderboard [--wandb] [--overwrite]

Writes to the --out folder: `leaderboard.md` and `leaderboard.csv` (one row per cell: setup,
method, ratio, test error mean / sample std / seeds, rank, storage, paper figure), `curves/*.png`,
`frontiers/*.png` (test error against bytes on disk) and `index.html` showing the tables and
figures together (the charts interactive, with a table of contents). Extra sections (e.g. other tasks'
experiments) plug in through SECTION_BUILDERS.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.errors import UserError
from bench.storage.files import write_atomically
from reports.bytes_frontier import frontier_text, plot_bytes_frontier
from reports.cells import SETUP, leaderboard_cells
from reports.csv_file import write_csv
from reports.curves import plot_curve
from reports.interactive_charts import curve_chart, frontier_chart
from reports.interactive_page import interactive_page
from reports.paper import dataset_caveat, load_reference, reference_for
from reports.records import compress_records, load_records
from reports.report_origin import commands_section, origin_line
from reports.setup_labels import setup_titles
from reports.tables import setup_tables
from reports.theory import report_sections as theory_sections
from reports.tuning import tuned_section
from reports.verdict_words import column_sentences, legend
from reports.verdicts import VerdictOptions, add_verdicts

# A section builder gets every record (all tasks) and the output folder, writes its figures under
# that folder, and returns sections: [{"title": str, "markdown": str, "figures": [Path, ...]}].
# Each section is rendered into both leaderboard.md and index.html.
SectionBuilder = Callable[[list[dict], Path], list[dict]]
SECTION_BUILDERS: list[SectionBuilder] = [tuned_section, theory_sections]

TITLE = "Compression benchmark leaderboard"


def titled_cells(compress: list[dict]) -> pd.DataFrame:
    """The cells of these compression records, each with its setup's title."""
    cells = leaderboard_cells(compress)
    titles = setup_titles(cells)
    cells["setup_title"] = [titles[tuple(row)] for row in cells[SETUP].itertuples(index=False)]
    return cells


def write_report(records: list[dict], out_dir: Path, section_builders: list[SectionBuilder] = SECTION_BUILDERS,
                 wandb_project: str | None = None, wandb_mode: str = "offline",
                 verdict_options: VerdictOptions = VerdictOptions()) -> dict:
    """Write every file of the report; return their paths."""
    out_dir = Path(out_dir)
    compress = compress_records(records)
    parts = [f"# {TITLE}", f"{len(compress)} compression runs read (every status); a cell averages the "
             "complete runs of one setup, method and ratio over seeds. " + origin_line(compress)]
    cells, figures, charts = pd.DataFrame(), {}, {}
    if compress:
        cells = add_verdicts(titled_cells(compress), compress, verdict_options)
        reference = load_reference()
        sources, sections, verdicts = set(), [], []
        for setup, setup_cells in cells.groupby(SETUP, sort=True):
            title = setup_cells["setup_title"].iloc[0]
            paper = reference_for(reference, setup[0], setup[1])
            paper = paper[paper["method"].isin(setup_cells["method"]) & (setup[-1] == "params")]  # the paper counts params
            cells.loc[setup_cells.index, "paper_test_error_pct"] = _paper_column(setup_cells, paper)
            figures[title] = plot_curve(setup_cells, paper, title, out_dir / "curves" / f"{_slug(title)}.png")
            frontier = plot_bytes_frontier(setup_cells, title, out_dir / "frontiers" / f"{_slug(title)}.png")
            charts[_relative(figures[title], out_dir)] = curve_chart(setup_cells, paper, title)
            charts[_relative(frontier, out_dir)] = frontier_chart(setup_cells, title)
            sentences = column_sentences(setup_cells, title)
            verdicts.append(sentences)
            sections += [f"## {title}", dataset_caveat(setup[0], _test_sizes(compress, setup_cells)),
                         setup_tables(setup_cells, paper, legend(verdict_options)), sentences,
                         f"![accuracy vs compression: {title}]({_relative(figures[title], out_dir)})",
                         f"![test error vs bytes on disk: {title}]({_relative(frontier, out_dir)})", frontier_text(setup_cells)]
            sources.update(paper["source"])
        parts += ["## Verdicts", "\n".join(verdicts), *filter(None, sections)]
        if sources:
            parts += ["## Sources of the paper figures", "\n".join(f"- {s}" for s in sorted(sources))]
        write_csv(out_dir / "leaderboard.csv", cells.drop(columns=["run_records"]))
    else:
        parts.append("No compression runs found.")
    for builder in section_builders:
        for section in builder(records, out_dir):
            parts += [f"## {section['title']}", section["markdown"]]
            parts += [f"![{section['title']}]({_relative(Path(f), out_dir)})" for f in section.get("figures", [])]
    if compress:
        parts += ["## Commands that produced the runs", commands_section(compress)]
    report = "\n\n".join(parts) + "\n"
    write_atomically(out_dir / "leaderboard.md", lambda tmp: tmp.write_text(report))
    write_atomically(out_dir / "index.html", lambda tmp: tmp.write_text(interactive_page(TITLE, report, charts)))
    written = {"markdown": out_dir / "leaderboard.md", "html": out_dir / "index.html", "figures": figures}
    if compress:
        written["csv"] = out_dir / "leaderboard.csv"
    if wandb_project and compress:
        from reports.wandb_report import log_to_wandb

        written["wandb"] = log_to_wandb(compress, titled_cells, wandb_project, wandb_mode, out_dir)
    return written


def _test_sizes(records: list[dict], cells: pd.DataFrame) -> dict:
    """The split sizes its runs recorded (the first that did), for the data set's caveat."""
    for positions in cells["run_records"]:
        for position in positions:
            sizes = records[position].get("dataset_sizes")
            if isinstance(sizes, dict):
                return sizes
    return {}


def _paper_column(setup_cells: pd.DataFrame, paper: pd.DataFrame) -> list[float]:
    by_key = {(m, r): e for m, r, e in zip(paper["method"], paper["ratio"], paper["test_error_pct"])}
    return [by_key.get((m, r), float("nan")) for m, r in zip(setup_cells["method"], setup_cells["ratio"])]


def _relative(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text).split())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dirs", nargs="+", help="folders searched for result.json files (e.g. outputs)")
    parser.add_argument("--out", default="leaderboard", help="folder for the report (default: leaderboard)")
    parser.add_argument("--overwrite", action="store_true", help="replace the report files of an earlier report")
    parser.add_argument("--wandb", action="store_true",
                        help="also log each sweep's table and curves to Weights & Biases, inside the sweep's group")
    parser.add_argument("--wandb-project", default="compression-bench")
    parser.add_argument("--wandb-mode", default="offline", choices=["online", "offline"])
    parser.add_argument("--confidence", default="0.95",
                        help="confidence level of the intervals that decide ties (default 0.95; from 0.5 to 0.999)")
    parser.add_argument("--resamples", default="2000", help="bootstrap resamples per comparison (default 2000)")
    parser.add_argument("--bootstrap-seed", default="0", help="seed of the bootstrap's random draws (default 0)")
    return parser.parse_args(argv)


def verdict_options(args) -> VerdictOptions:
    """The verdicts' options from the command line, checked; a bad one is a UserError naming it."""
    try:
        confidence = float(args.confidence)
    except ValueError:
        confidence = None
    if confidence is None or not 0.5 <= confidence <= 0.999:
        raise UserError(f"--confidence {args.confidence!r} is not a confidence level; expected a number from 0.5 "
                        "to 0.999, e.g. 0.95")
    numbers = {}
    for name, text, low, high in (("resamples", args.resamples, 100, 1_000_000),
                                  ("bootstrap-seed", args.bootstrap_seed, 0, 2**63 - 1)):
        if not text.isdigit() or not low <= int(text) <= high:
            raise UserError(f"--{name} {text!r} is not allowed; expected a whole number from {low:,} to {high:,}")
        numbers[name] = int(text)
    return VerdictOptions(confidence=confidence, resamples=numbers["resamples"], seed=numbers["bootstrap-seed"])


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        out_dir = Path(args.out)
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"--out {str(out_dir)!r} is a file; expected a folder for the report (new or existing)")
        if (out_dir / "leaderboard.md").exists() and not args.overwrite:
            raise UserError(f"--out {str(out_dir)!r} already holds a report; pass --overwrite to replace it, "
                            "or choose another folder")
        options = verdict_options(args)
        records = load_records(args.results_dirs)
        if not records:
            raise UserError(f"no result.json files found under {' '.join(args.results_dirs)}")
        written = write_report(records, out_dir, wandb_project=args.wandb_project if args.wandb else None,
                               wandb_mode=args.wandb_mode, verdict_options=options)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(records)} records -> {written['markdown']}, {written['html']}, {len(written['figures'])} figures"
          + (f", wandb runs (one per sweep) in {', '.join(written['wandb'])}" if "wandb" in written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
