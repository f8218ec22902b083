"""Report sections for the theory experiments (task=etf, sketch_manifold, hashed_recovery).

    python -m reports.theory outputs --out reports/out      # writes theory.md and its figures

`report_sections(records, out_dir)` ignores records of other tasks; each section is
{"title", "markdown", "figures"} with the figures written under `out_dir` (PNG).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from reports.records import load_records  # noqa: E402


def _table(header: list[str], rows: list[list]) -> str:
    cell = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def etf_section(records: list[dict], out_dir: Path) -> dict:
    rows, fig, ax = [], *plt.subplots(figsize=(5, 3.5))
    for r in records:
        dims = [p["input_dim"] for p in r["per_dim"]]
        ax.plot(dims, [100 * p["relative_gap"] for p in r["per_dim"]], "o-", label=f"M={r['student_width']}, seed {r['seed']}")
        rows += [[r["student_width"], r["seed"], p["input_dim"], p["trained_loss"], p["etf_loss"], p["relative_gap"],
                  p["gap_over_energy"], p["mean_cosine"], p["etf_cosine"]] for p in r["per_dim"]]
    ax.set(xlabel="input dimension d", ylabel="(ETF - trained) / trained  [%]", title="ETF vs trained student")
    ax.legend(fontsize=8)
    figure = _save(fig, out_dir / "theory_etf.png")
    text = ("Population loss (closed form) of the best trained M-node student and of the fitted ETF construction; "
            "the cosines are between the trained student's directions orthogonal to the teacher's mean.\n\n"
            + _table(["M", "seed", "d", "trained loss", "ETF loss", "relative gap", "gap / E[f^2]",
                      "mean cosine", "-1/(M-1)"], rows))
    return {"title": "Two-layer compression: ETF vs trained student (Amani et al.)", "markdown": text, "figures": [figure]}


def sketch_section(records: list[dict], out_dir: Path) -> dict:
    rows, fig, ax = [], *plt.subplots(figsize=(5.5, 3.8))
    for r in records:
        for kind, curve in r["curves"].items():
            ax.loglog(r["sketch_sizes"], curve["fitted"], "o-", label=f"{kind}, fitted (seed {r['seed']})")
            ax.loglog(r["sketch_sizes"], curve["oblivious"], "x--", label=f"{kind}, W S^T (seed {r['seed']})")
            rows.append([kind, r["seed"], curve["oblivious"][0], curve["oblivious"][-1], curve["slopes"]["oblivious"],
                         curve["fitted"][0], curve["fitted"][-1], curve["slopes"]["fitted"]])
    ax.set(xlabel="sketch size m", ylabel="relative output error (held out)", title="sketched nets")
    ax.set_xticks(records[0]["sketch_sizes"], [str(m) for m in records[0]["sketch_sizes"]])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.legend(fontsize=6)
    figure = _save(fig, out_dir / "theory_sketch_manifold.png")
    sizes = records[0]["sketch_sizes"]
    text = (f"Relative output error of the sketched net against the original random MLP on held-out points, "
            f"m from {sizes[0]} to {sizes[-1]}; slope of log error against log m (-0.5 is 1/sqrt(m)).\n\n"
            + _table(["inputs", "seed", f"W S^T, m={sizes[0]}", f"W S^T, m={sizes[-1]}", "W S^T slope",
                      f"fitted, m={sizes[0]}", f"fitted, m={sizes[-1]}", "fitted slope"], rows))
    return {"title": "Sketched networks on manifolds (Lin, Song and Yang)", "markdown": text, "figures": [figure]}


def hashed_section(records: list[dict], out_dir: Path) -> dict:
    rows, fig, ax = [], *plt.subplots(figsize=(5, 3.5))
    for r in records:
        s, hr = r["summary"], r["config"]["hashed_recovery"]
        ax.semilogy(r["relative_errors"], label=f"d={hr['input_dim']}, K={hr['num_buckets']}, seed {r['seed']}")
        rows.append([hr["input_dim"], hr["hidden"], r["buckets_used"], r["seed"], s["hessian_min_eigenvalue"],
                     s["hessian_condition_number"], s["iterations_to_target"], s["final_relative_error"],
                     s["observed_rate"], s["predicted_rate"]])
    ax.axhline(records[0]["config"]["hashed_recovery"]["target_error"], color="red", ls="--")
    ax.set(xlabel="iteration", ylabel="|theta - theta*| / |theta*|", title="HashedNet recovery")
    ax.legend(fontsize=7)
    figure = _save(fig, out_dir / "theory_hashed_recovery.png")
    text = ("Hessian of the population loss over the stored buckets at the teacher, and gradient descent "
            "(step 1/lambda_max) from a nearby start.\n\n"
            + _table(["d", "hidden", "buckets", "seed", "min eigenvalue", "condition", "iterations to target",
                      "final error", "observed rate", "predicted rate"], rows))
    return {"title": "One-hidden-layer HashedNets: recovery (Lin, Song and Yang)", "markdown": text, "figures": [figure]}


SECTIONS = {"etf": etf_section, "sketch_manifold": sketch_section, "hashed_recovery": hashed_section}


def report_sections(records: list[dict], out_dir: Path) -> list[dict]:
    """One section per theory task that has complete records; records of other tasks are ignored."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = []
    for task, section in SECTIONS.items():
        mine = [r for r in records if r.get("task") == task and r.get("status") == "complete"]
        if mine:
            sections.append(section(sorted(mine, key=lambda r: (str(r.get("config_hash")), r.get("seed", 0))), out_dir))
    return sections


def write_markdown(sections: list[dict], out_dir: Path) -> Path:
    parts = ["# Theory experiments\n"]
    for s in sections:
        parts.append(f"## {s['title']}\n\n{s['markdown']}\n")
        parts += [f"![{Path(f).stem}]({Path(f).name})\n" for f in s["figures"]]
    path = Path(out_dir) / "theory.md"
    path.write_text("\n".join(parts))
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path, help="folder searched for result.json files")
    parser.add_argument("--out", type=Path, required=True, help="folder for theory.md and its figures")
    args = parser.parse_args(argv)
    if not args.results_dir.is_dir():
        raise SystemExit(f"error: results_dir={args.results_dir} is not a folder")
    sections = report_sections(load_records([args.results_dir]), args.out)
    if not sections:
        raise SystemExit(f"error: no complete etf, sketch_manifold or hashed_recovery records under {args.results_dir}")
    print(write_markdown(sections, args.out))


if __name__ == "__main__":
    main()
