"""`task=hashed_recovery`: recovering a one-hidden-layer HashedNet teacher (Lin, Song and Yang 2019).

The claim: the population loss of one-hidden-layer HashedNets is locally strongly convex around the
teacher, like a fully connected net's, so gradient descent from a close enough start recovers the
teacher's parameters, from finitely many samples. Tested, for a HashedNet and for the fully connected
net with the same virtual weights (tasks/theory/hashed_landscape.py), over replicates (teacher, hash):
  * the Hessian at the teacher and gradient descent from `start_distances[0]` (linear rate predicted);
  * the start distance swept until gradient descent no longer recovers the teacher: the local region;
  * the number of samples: the empirical Hessian's smallest eigenvalue and the error reached;
  * the Hessian's smallest eigenvalue and condition number against the bucket count K and against d.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from bench.errors import UserError
from bench.run.setting_checks import POSITIVE_INT, POSITIVE_INTS, POSITIVE_NUMBER, POSITIVE_NUMBERS, check_node
from reports.theory_recovery import recovery_figure
from tasks.theory.hashed_landscape import bucket_to_virtual_basis, dense_basis, empirical_hessian, fit_samples, \
    gradient_descent, hessian_at_teacher, observed_rate, virtual_weights
from tasks.theory.runs import finish_run, save_figure

log = logging.getLogger("bench")
NETS = ("hashed", "dense")


class Problem:
    """A teacher HashedNet (seeded buckets and hash) and its fully connected twin (the same virtual weights)."""

    def __init__(self, input_dim: int, hidden: int, num_buckets: int, seed: int):
        self.gen = torch.Generator().manual_seed(seed)
        basis = bucket_to_virtual_basis(input_dim, hidden, num_buckets, seed)
        used = basis.flatten(1).abs().sum(dim=1) > 0  # a bucket no virtual weight uses is not in the function
        self.unused = int((~used).sum())
        buckets = torch.randn(int(used.sum()), generator=self.gen, dtype=torch.float64)
        self.bases = {"hashed": basis[used], "dense": dense_basis(input_dim, hidden)}
        self.teachers = {"hashed": buckets, "dense": virtual_weights(buckets, basis[used]).flatten()}
        self.hessians = {net: hessian_at_teacher(self.teachers[net], self.bases[net]) for net in NETS}
        self.eigenvalues = {net: torch.linalg.eigvalsh(h) for net, h in self.hessians.items()}

    def start(self, net: str, distance: float) -> torch.Tensor:
        """The teacher moved by `distance` times its norm along a random direction."""
        teacher = self.teachers[net]
        direction = torch.randn(len(teacher), generator=self.gen, dtype=torch.float64)
        return teacher + distance * teacher.norm() * direction / direction.norm()

    def descend(self, net: str, start: torch.Tensor, s) -> list[float]:
        step = s.step_size / self.eigenvalues[net][-1].item()
        return gradient_descent(start, self.teachers[net], self.bases[net], step, s.max_iterations, s.stop_error)

    def spectrum(self, net: str) -> dict:
        values = self.eigenvalues[net]
        return {"min_eigenvalue": values[0].item(), "condition_number": (values[-1] / values[0]).item(),
                "parameters": len(values)}


def quadratic_model_errors(problem: Problem, net: str, start: torch.Tensor, step: float, count: int) -> list[float]:
    """The errors gradient descent would make on the quadratic model of the loss at the teacher:
    theta_t - theta* = (I - step H)^t (theta_0 - theta*)."""
    teacher = problem.teachers[net]
    contraction = torch.eye(len(start), dtype=torch.float64) - step * problem.hessians[net]
    offset, errors = start - teacher, []
    for _ in range(count):
        errors.append((offset.norm() / teacher.norm()).item())
        offset = contraction @ offset
    return errors


def descent_curves(problem: Problem, s) -> dict:
    """Per net: the spectrum; gradient descent's errors from start_distances[0] and the quadratic model's; the
    observed rate and the model's worst-case one, 1 - lambda_min / lambda_max at the default step."""
    out = {}
    for net in NETS:
        start = problem.start(net, s.start_distances[0])
        errors = problem.descend(net, start, s)
        values, step = problem.eigenvalues[net], s.step_size / problem.eigenvalues[net][-1].item()
        out[net] = {**problem.spectrum(net), "relative_errors": errors, "observed_rate": observed_rate(errors),
                    "predicted_rate": (1 - step * values).abs().max().item(),
                    "quadratic_model_errors": quadratic_model_errors(problem, net, start, step, len(errors))}
    return out


def start_distance_sweep(problem: Problem, s) -> dict:
    """Per net and distance: the final errors of gradient descent from `starts` random directions."""
    return {net: [{"start_distance": r, "final_errors": [problem.descend(net, problem.start(net, r), s)[-1]
                                                         for _ in range(s.starts)]}
                  for r in s.start_distances] for net in NETS}


def sample_size_sweep(problem: Problem, s) -> dict:
    """Per net and n: the empirical Hessian's smallest eigenvalue at the teacher and the error reached."""
    d = problem.bases["hashed"].shape[2]
    out = {net: [] for net in NETS}
    for n in s.sample_sizes:
        x = torch.randn(n, d, generator=problem.gen, dtype=torch.float64)
        for net in NETS:
            basis, teacher = problem.bases[net], problem.teachers[net]
            start = problem.start(net, s.start_distances[0])
            out[net].append({"samples": n,
                             "min_eigenvalue": torch.linalg.eigvalsh(empirical_hessian(x, teacher, basis))[0].item(),
                             "final_error": fit_samples(x, teacher, basis, start, s.sample_iterations)})
    return out


def size_sweep(s, seeds: list[int]) -> list[dict]:
    """The spectra at every K (d = input_dim) and every d (K = num_buckets), per replicate: {net}_{quantity}."""
    cells = [(s.input_dim, k) for k in s.bucket_counts] + [(d, s.num_buckets) for d in s.input_dims]
    rows = []
    for d, k in dict.fromkeys(cells):  # in order, without repeats
        problems = [Problem(d, s.hidden, k, seed) for seed in seeds]
        rows.append({"input_dim": d, "num_buckets": k, "replicates": [
            {f"{net}_{key}": value for net in NETS for key, value in p.spectrum(net).items()} for p in problems]})
    return rows


def check(cfg) -> None:
    """Refuse bad `hashed_recovery.*` settings (called by bench/run/setting_checks.py before the run is claimed)."""
    check_node("hashed_recovery", cfg, {
        "input_dim": POSITIVE_INT, "hidden": POSITIVE_INT, "num_buckets": POSITIVE_INT,
        "start_distances": POSITIVE_NUMBERS, "starts": POSITIVE_INT, "step_size": POSITIVE_NUMBER,
        "max_iterations": POSITIVE_INT, "stop_error": POSITIVE_NUMBER, "target_error": POSITIVE_NUMBER,
        "sample_sizes": POSITIVE_INTS, "sample_iterations": POSITIVE_INT, "bucket_counts": POSITIVE_INTS,
        "input_dims": POSITIVE_INTS, "replicates": POSITIVE_INT})
    s = cfg.hashed_recovery
    for key, dims, buckets in (("num_buckets", [s.input_dim, *s.input_dims], [s.num_buckets]),
                               ("bucket_counts", [s.input_dim], list(s.bucket_counts))):
        if any(not 1 <= k <= s.hidden * d for k in buckets for d in dims):
            raise UserError(f"hashed_recovery.{key}={buckets if key == 'bucket_counts' else buckets[0]}: must be in "
                            f"[1, hidden * input_dim = {s.hidden * min(dims)}] (no more buckets than virtual weights)")


def run_hashed_recovery(cfg, output_dir: Path, start_record: dict) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny tensors: threads cost more than they give
    s = cfg.hashed_recovery
    seeds = [cfg.seed + i for i in range(s.replicates)]
    replicates = []
    for seed in seeds:
        problem = Problem(s.input_dim, s.hidden, s.num_buckets, seed)
        if problem.unused:
            log.warning("hashed_recovery: seed %d: %d of %d buckets are used by no virtual weight; left out",
                        seed, problem.unused, s.num_buckets)
        replicates.append({"seed": seed, "buckets_unused": problem.unused, "descent": descent_curves(problem, s),
                           "start_distances": start_distance_sweep(problem, s),
                           "samples": sample_size_sweep(problem, s)})
    results = {"replicates": replicates, "size_sweep": size_sweep(s, seeds),
               "target_error": s.target_error, "summary": headline(replicates, s)}
    figure = save_figure(recovery_figure(results), output_dir / "hashed_recovery.png")
    return finish_run(cfg, output_dir, start_record, results, [figure], time.perf_counter() - started)


def recovered_fraction(replicates: list[dict], net: str, index: int, target: float) -> float:
    errors = [e for r in replicates for e in r["start_distances"][net][index]["final_errors"]]
    return sum(e < target for e in errors) / len(errors)


def headline(replicates: list[dict], s) -> dict:
    """Means over replicates; the finite-sample errors are the worst replicate's."""
    def mean(values):
        return sum(values) / len(values)
    summary = {}
    for net in NETS:
        summary[f"{net}_min_eigenvalue"] = mean([r["descent"][net]["min_eigenvalue"] for r in replicates])
        summary[f"{net}_condition_number"] = mean([r["descent"][net]["condition_number"] for r in replicates])
        summary[f"{net}_observed_rate"] = mean([r["descent"][net]["observed_rate"] for r in replicates])
        summary[f"{net}_predicted_rate"] = mean([r["descent"][net]["predicted_rate"] for r in replicates])
        for i, r in enumerate(s.start_distances):
            summary[f"{net}_recovered_from_{r:g}"] = recovered_fraction(replicates, net, i, s.target_error)
        for i, n in enumerate(s.sample_sizes):
            summary[f"{net}_error_n{n}"] = max(r["samples"][net][i]["final_error"] for r in replicates)
    return summary
