"""How each method trains as a population (bench/training/population_trainer.py): `fit_population` is `Method.fit` for K
members of one method, each member with its own method object (its masks, kept counts, teacher)
and model, built as its single run builds them.

Most methods train with the plain loss, once. Dark knowledge adds each member's teacher term (its
own teacher, temperature and soft weight); magnitude pruning runs its phases for all members in
step (train, then each round's cut, member by member on its own model, and a retraining), a member
that diverged in a phase leaving the later ones. A method not named here trains as its `fit` would
with the plain loss; one whose `fit` does more must be added here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.machine.device import model_device
from bench.training.evaluate import logits as model_logits
from bench.training.population_trainer import PopulationTrainer, cross_entropy
from bench.training.trainer import FitResult, TrainingDiverged
from methods.distillation import Distillation
from methods.pruning import MagnitudePruning

Outcome = FitResult | TrainingDiverged


def fit_population(methods: list, models: list[nn.Module], trainer: PopulationTrainer, data) -> list[Outcome]:
    if isinstance(methods[0], Distillation):
        return _fit_distilled(methods, models, trainer, data)
    if isinstance(methods[0], MagnitudePruning):
        return _fit_pruned(methods, models, trainer, data)
    return trainer.fit(models, data)


def _fit_distilled(methods: list[Distillation], models: list[nn.Module], trainer: PopulationTrainer,
                   data) -> list[Outcome]:
    """Dark knowledge's loss (methods/distillation.py), each member with its own teacher (trained or read
    from the teacher cache as its single run would), temperature and soft weight."""
    device = model_device(models[0])
    teachers = [method.teacher_outputs(member_trainer, data, device)
                for method, member_trainer in zip(methods, trainer.trainers)]
    fixed = torch.stack([f for _, f, _ in teachers]) if all(f is not None for _, f, _ in teachers) else None
    temperature = torch.tensor([m.temperature for m in methods], device=device, dtype=data.train_x.dtype)
    soft_weight = torch.tensor([m.soft_weight for m in methods], device=device, dtype=data.train_x.dtype)

    def soft_targets(batch_index: torch.Tensor, inputs: torch.Tensor, members: list[int]) -> torch.Tensor:
        if fixed is not None:
            return fixed[torch.tensor(members, device=device)[:, None], batch_index]
        return torch.stack([F.softmax(model_logits(teachers[k][0], inputs[i]) / methods[k].temperature, dim=1)
                            for i, k in enumerate(members)])

    def loss_fn(student_logits, labels, batch_index, inputs, members):
        t, w = temperature[members], soft_weight[members]
        log_probs = F.log_softmax(student_logits / t[:, None, None], dim=2)
        kl = F.kl_div(log_probs, soft_targets(batch_index, inputs, members), reduction="none").sum((1, 2))
        soft = kl / student_logits.shape[1]  # batchmean, member by member
        return (1 - w) * cross_entropy(student_logits, labels, batch_index, inputs, members) + w * t * soft

    outcomes = trainer.fit(models, data, loss_fn=loss_fn)
    for outcome, (_, _, notes) in zip(outcomes, teachers):
        if isinstance(outcome, FitResult):
            outcome.notes["teacher"] = notes
    return outcomes


def _fit_pruned(methods: list[MagnitudePruning], models: list[nn.Module], trainer: PopulationTrainer,
                data) -> list[Outcome]:
    """Magnitude pruning's phases (methods/pruning.py) in step: the members alive after a phase are cut
    (each by its own method on its own weights) and retrained together."""
    phases: list[list[FitResult]] = [[] for _ in models]
    outcomes: list[Outcome | None] = [None] * len(models)
    alive = list(range(len(models)))
    for r in range(0, methods[0].rounds + 1):
        if r > 0:
            for k in alive:
                methods[k].prune_round(models[k], r)
        phase = "train" if r == 0 else methods[0].phase_name(r)
        epochs = None if r == 0 else methods[0].retrain_epochs
        population = trainer.of(alive)
        for k, outcome in zip(alive, population.fit([models[k] for k in alive], data, epochs=epochs, phase=phase)):
            if isinstance(outcome, TrainingDiverged):
                outcomes[k] = outcome
            else:
                phases[k].append(outcome)
        alive = [k for k in alive if outcomes[k] is None]
        if not alive:
            break
    for k in alive:
        outcomes[k] = methods[k].fit_result(models[k], phases[k])
    return outcomes
