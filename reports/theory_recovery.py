"""The `hashed_recovery` experiment's figure and report section (Lin, Song and Yang's HashedNet recovery)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from reports.theory_common import LEGEND, mean_std, over_replicates, plus_minus, table

NET_NAMES = {"hashed": "HashedNet", "dense": "fully connected"}
COLORS = {"hashed": "tab:blue", "dense": "tab:orange"}


def _descent(ax, results: dict) -> None:
    first = results["replicates"][0]["descent"]
    for net, curve in first.items():
        ax.semilogy(curve["relative_errors"], color=COLORS[net], label=f"{NET_NAMES[net]}: gradient descent")
        ax.semilogy(curve["quadratic_model_errors"], ":", lw=2.5, color=COLORS[net],
                    label=f"quadratic model at θ* (rate ≤ {curve['predicted_rate']:.4f})")
    ax.axhline(results["target_error"], color="red", ls="--", lw=0.8, label="target")
    ax.set(xlabel="iteration", ylabel="|θ - θ*| / |θ*|", title="population loss: descent (first replicate)")
    ax.legend(**LEGEND)


def _start_distances(ax, results: dict) -> None:
    target = results["target_error"]
    for net in NET_NAMES:
        points = list(zip(*(r["start_distances"][net] for r in results["replicates"])))
        distances = [p[0]["start_distance"] for p in points]
        stats = [mean_std([sum(e < target for e in rep["final_errors"]) / len(rep["final_errors"]) for rep in p])
                 for p in points]
        ax.errorbar(distances, [m for m, _ in stats], yerr=[s for _, s in stats], fmt="o-", color=COLORS[net],
                    capsize=3, label=NET_NAMES[net])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xscale="log", ylim=(-0.05, 1.05), xlabel="start distance |θ0 - θ*| / |θ*|",
           ylabel="fraction of starts recovered", title="where gradient descent recovers the teacher")
    ax.legend(**LEGEND)


def _over_samples(ax, results: dict, key: str) -> None:
    for net in NET_NAMES:
        points = list(zip(*(r["samples"][net] for r in results["replicates"])))
        sizes = [p[0]["samples"] for p in points]
        values = [[rep[key] for rep in p] for p in points]
        if key == "final_error":  # spread on a log axis: the range over replicates
            mid = [sorted(v)[len(v) // 2] for v in values]
            ax.errorbar(sizes, mid, yerr=[[m - min(v) for m, v in zip(mid, values)],
                                          [max(v) - m for m, v in zip(mid, values)]],
                        fmt="o-", color=COLORS[net], capsize=3, label=f"{NET_NAMES[net]} (median, range)")
        else:
            stats = [mean_std(v) for v in values]
            ax.errorbar(sizes, [m for m, _ in stats], yerr=[s for _, s in stats], fmt="o-", color=COLORS[net],
                        capsize=3, label=f"{NET_NAMES[net]}, n samples")
            population = mean_std([r["descent"][net]["min_eigenvalue"] for r in results["replicates"]])[0]
            ax.axhline(population, color=COLORS[net], ls=":", label=f"{NET_NAMES[net]}, population")
    ax.set_xscale("log")
    if key == "final_error":
        ax.set(yscale="log", ylabel="|θ - θ*| / |θ*| reached", title="recovery from n samples (L-BFGS)")
    else:
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(ylabel="λmin of the Hessian at θ*", title="local strong convexity from n samples")
    ax.set_xlabel("samples n")
    ax.legend(**LEGEND)


def _against_size(ax, rows: list[dict], axis: str, label: str, fixed: str) -> None:
    rows = sorted(rows, key=lambda r: r[axis])
    xs = [r[axis] for r in rows]
    for net in NET_NAMES:
        for key, style, name in (("min_eigenvalue", "o-", "λmin"), ("condition_number", "s--", "λmax/λmin")):
            mean, std = over_replicates(rows, f"{net}_{key}")
            ax.errorbar(xs, mean, yerr=std, fmt=style, color=COLORS[net], capsize=3, label=f"{NET_NAMES[net]}: {name}")
    ax.set(yscale="log", xlabel=label, title=f"Hessian at θ*, {fixed}")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.legend(**LEGEND)


def recovery_figure(results: dict):
    fig, axes = plt.subplots(3, 2, figsize=(12, 13))
    _descent(axes[0, 0], results)
    _start_distances(axes[0, 1], results)
    _over_samples(axes[1, 0], results, "final_error")
    _over_samples(axes[1, 1], results, "min_eigenvalue")
    sizes = results["size_sweep"]
    d, k = sizes[0]["input_dim"], sizes[-1]["num_buckets"]
    _against_size(axes[2, 0], [r for r in sizes if r["input_dim"] == d], "num_buckets", "bucket count K", f"d={d}")
    _against_size(axes[2, 1], [r for r in sizes if r["num_buckets"] == k], "input_dim", "input dimension d",
                  f"K={k}")
    return fig


def recovery_section(records: list[dict], out_dir, save) -> dict:
    rows, sample_rows, size_rows, figures = [], [], [], []
    for r in records:
        figures.append(save(recovery_figure(r), out_dir / f"theory_hashed_recovery_{r['config_hash']}.png"))
        reps = r["replicates"]
        hr = r["config"]["hashed_recovery"]
        for net in NET_NAMES:
            curves = [x["descent"][net] for x in reps]
            recovered = []
            for point in zip(*(rep["start_distances"][net] for rep in reps)):  # one distance, every replicate
                errors = [e for x in point for e in x["final_errors"]]
                recovered.append(f"{point[0]['start_distance']:g}: {sum(e < r['target_error'] for e in errors)}"
                                 f"/{len(errors)}")
            rows.append([NET_NAMES[net], hr["input_dim"], hr["hidden"], curves[0]["parameters"], len(reps),
                         plus_minus([c["min_eigenvalue"] for c in curves]),
                         plus_minus([c["condition_number"] for c in curves]),
                         plus_minus([c["observed_rate"] for c in curves], digits=4),
                         plus_minus([c["predicted_rate"] for c in curves], digits=4), ", ".join(recovered)])
            for i, n in enumerate(hr["sample_sizes"]):
                points = [rep["samples"][net][i] for rep in reps]
                sample_rows.append([NET_NAMES[net], n, plus_minus([p["min_eigenvalue"] for p in points]),
                                    max(p["final_error"] for p in points)])
        for cell in r["size_sweep"]:
            size_rows.append([cell["input_dim"], cell["num_buckets"], *(
                plus_minus([x[f"{net}_{key}"] for x in cell["replicates"]])
                for net in NET_NAMES for key in ("min_eigenvalue", "condition_number"))])
    text = ("Hessian of the population loss at the teacher θ* and gradient descent (step 1/λmax), mean ± standard "
            "deviation over replicates (teacher and hash redrawn). Recovered: the starts at each distance, over all "
            "replicates, that end below the target error.\n\n"
            + table(["net", "d", "hidden", "parameters", "replicates", "λmin", "condition", "observed rate",
                     "predicted rate", "recovered, by start distance"], rows)
            + "\n\nFrom n samples (noiseless teacher labels): the empirical Hessian's smallest eigenvalue at θ*, and "
              "the worst replicate's error reached by L-BFGS on the empirical loss.\n\n"
            + table(["net", "samples", "λmin (empirical)", "worst error reached"], sample_rows)
            + "\n\nThe Hessian at θ* against the bucket count K and the input dimension d:\n\n"
            + table(["d", "K", "HashedNet λmin", "HashedNet condition", "fully connected λmin",
                     "fully connected condition"], size_rows))
    return {"title": "One-hidden-layer HashedNets: recovery (Lin, Song and Yang)", "markdown": text, "figures": figures}
