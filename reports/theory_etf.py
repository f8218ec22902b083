"""The `etf` experiment's figure and report section (Amani et al.'s ETF conjecture)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from reports.theory_common import LEGEND, mean_std, over_replicates, plus_minus, table

BASELINES = ("orthogonal", "random", "mean")
CONSTRUCTIONS = {"trained": "trained student (best of restarts)", "etf": "ETF", "orthogonal": "orthogonal frame",
                 "random": "random directions", "mean": "all units on the mean"}


def _gap_against_teacher_width(ax, width_sweep: list[dict]) -> None:
    finite = [p for p in width_sweep if p["teacher_width"]]
    widths = [p["teacher_width"] for p in finite]
    limit_x = widths[-1] * 2.5  # where the large-N limit is drawn
    for key, label, shift in (("etf_gap", "ETF, orientation fitted", 0.97), ("snapped_etf_gap", "ETF snapped", 1.03)):
        mean, std = over_replicates(finite, key, 100)
        ax.errorbar([w * shift for w in widths], mean, yerr=std, fmt="o-", capsize=3, label=label)
    limit_mean, limit_std = over_replicates(width_sweep[-1:], "etf_gap", 100)
    ax.errorbar([limit_x], limit_mean, yerr=limit_std, fmt="D", color="black", capsize=3, label="large-N limit")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(widths + [limit_x], [f"{w:,}" for w in widths] + ["∞"])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set(xlabel="teacher width N", ylabel="(ETF - trained) / trained loss  [%]",
           title="ETF against the trained student, by N")
    ax.legend(**LEGEND)


def _losses_against(ax, cells: list[dict], axis: str, label: str) -> None:
    xs = [c[axis] for c in cells]
    for kind, name in CONSTRUCTIONS.items():
        energies = [c["teacher_energy"] for c in cells]
        stats = [mean_std([100 * r[f"{kind}_loss"] / e for r in c["replicates"]]) for c, e in zip(cells, energies)]
        ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats],
                    fmt="o-" if kind != "etf" else "x--", ms=9 if kind == "trained" else 6,
                    mfc="none" if kind == "trained" else None, capsize=3, label=name)
    ax.set_ylim(bottom=0)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set(xlabel=label, ylabel="loss / E[f^2]  [%]")
    ax.legend(**LEGEND)


def _cosines(ax, cells: list[dict]) -> None:
    widths = [c["student_width"] for c in cells]
    mean, std = over_replicates(cells, "mean_cosine")
    ax.errorbar(widths, mean, yerr=std, fmt="o", ms=8, mfc="none", capsize=3, label="trained student (mean)")
    ax.plot(widths, [-1 / (m - 1) for m in widths], "x--", color="red", label="ETF: -1/(M-1)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(widths, [str(m) for m in widths])
    ax.set(xlabel="student width M", ylabel="pairwise cosine orthogonal to the mean",
           title="directions of the trained student (large N)")
    ax.legend(**LEGEND)


def etf_figure(results: dict):
    width_sweep, cells = results["teacher_width_sweep"], results["limit_sweep"]
    d, m = results["input_dim"], results["student_width"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    _gap_against_teacher_width(axes[0, 0], width_sweep)
    by_dim = sorted((c for c in cells if c["student_width"] == m), key=lambda c: c["input_dim"])
    by_width = sorted((c for c in cells if c["input_dim"] == d), key=lambda c: c["student_width"])
    _losses_against(axes[0, 1], by_dim, "input_dim", "input dimension d")
    axes[0, 1].set_title(f"large-N limit, M={m}: fitted constructions")
    _losses_against(axes[1, 0], by_width, "student_width", "student width M")
    axes[1, 0].set_title(f"large-N limit, d={d}: fitted constructions")
    _cosines(axes[1, 1], by_width)
    return fig


def etf_section(records: list[dict], out_dir, save) -> dict:
    rows, limit_rows, figures = [], [], []
    for r in records:
        figures.append(save(etf_figure(r), out_dir / f"theory_etf_{r['config_hash']}.png"))
        for p in r["teacher_width_sweep"]:
            reps = p["replicates"]
            rows.append([r["input_dim"], r["student_width"], f"{p['teacher_width']:,}" if p["teacher_width"] else "∞",
                         len(reps), plus_minus([x["trained_loss_over_energy"] for x in reps], 100),
                         plus_minus([x["etf_gap"] for x in reps], 100),
                         plus_minus([x["snapped_etf_gap"] for x in reps], 100) if p["teacher_width"] else "",
                         plus_minus([x["mean_cosine"] for x in reps], digits=4)])
        for c in r["limit_sweep"]:
            reps = c["replicates"]
            limit_rows.append([c["input_dim"], c["student_width"],
                               plus_minus([x["trained_loss_over_energy"] for x in reps], 100),
                               *(plus_minus([x[f"{k}_gap"] for x in reps], 100) for k in ("etf", *BASELINES)),
                               plus_minus([x["mean_cosine"] for x in reps], digits=4),
                               f"{-1 / (c['student_width'] - 1):.4g}"])
    text = ("Closed-form population losses; mean ± standard deviation over replicates (teacher draws, starts, "
            "random frames). Gaps are (construction - trained) / trained, in %. N = ∞ is the large-N limit "
            "(Amani et al.'s simplified problem), where only the ETF's scale and tilt are fitted.\n\n"
            + table(["d", "M", "N", "replicates", "trained loss / E[f^2] %", "ETF gap %", "snapped ETF gap %",
                     "mean cosine"], rows)
            + "\n\nLarge-N limit: the ETF against baselines fitted the same way (scale and tilt).\n\n"
            + table(["d", "M", "trained loss / E[f^2] %", "ETF gap %", "orthogonal gap %", "random gap %",
                     "on-mean gap %", "mean cosine", "-1/(M-1)"], limit_rows))
    return {"title": "Two-layer compression: the ETF conjecture (Amani et al.)", "markdown": text, "figures": figures}
