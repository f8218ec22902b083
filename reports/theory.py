"""Report sections for the theory experiments (task=etf, sketch_manifold, hashed_recovery).

    python -m reports.theory outputs --out reports/out      # writes theory.md, theory.html and the figures

`report_sections(records, out_dir)` ignores records of other tasks; each section is
{"title", "markdown", "figures"} with the figures written under `out_dir` (PNG), one per record.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hydra.utils import get_object  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from bench.components import CONF_DIR  # noqa: E402
from bench.storage.files import write_figure_atomically  # noqa: E402
from reports.html_page import html_page  # noqa: E402
from reports.records import load_records  # noqa: E402

TITLE = "Theory experiments"


def _save(fig, path: Path) -> Path:
    write_figure_atomically(path, fig)
    plt.close(fig)
    return path


def task_sections() -> dict:
    """{task name: its section builder}: each task's node (conf/task/) declares its own `report_section`."""
    nodes = [OmegaConf.load(path) for path in sorted((CONF_DIR / "task").glob("*.yaml"))]
    return {node.name: get_object(node.report_section) for node in nodes if node.get("report_section")}


def report_sections(records: list[dict], out_dir: Path) -> list[dict]:
    """One section per theory task that has complete records; records of other tasks are ignored."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for task, section in task_sections().items():
        mine = [r for r in records if r.get("task") == task and r.get("status") == "complete"]
        if mine:
            mine.sort(key=lambda r: (str(r.get("config_hash")), r.get("seed", 0)))
            sections.append(section(mine, out_dir, _save))
    return sections


def write_report(sections: list[dict], out_dir: Path) -> Path:
    """theory.md and the same page as theory.html; returns the markdown's path."""
    parts = [f"# {TITLE}\n"]
    for s in sections:
        parts.append(f"## {s['title']}\n\n{s['markdown']}\n")
        parts += [f"![{Path(f).stem}]({Path(f).name})\n" for f in s["figures"]]
    text = "\n".join(parts)
    path = Path(out_dir) / "theory.md"
    path.write_text(text)
    path.with_suffix(".html").write_text(html_page(TITLE, text))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path, help="folder searched for result.json files")
    parser.add_argument("--out", type=Path, required=True, help="folder for theory.md, theory.html and the figures")
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        raise SystemExit(f"error: results_dir={args.results_dir} is not a folder")
    sections = report_sections(load_records([args.results_dir]), args.out)
    if not sections:
        raise SystemExit(f"error: no complete etf, sketch_manifold or hashed_recovery records under {args.results_dir}")
    print(write_report(sections, args.out))


if __name__ == "__main__":
    main()
