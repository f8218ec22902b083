"""The training recipe of bench/training/trainer.py for a population: K members of one structure trained at once
as one stacked model (layers/stacked.py, through `Stacking`), each member exactly as its own run would be trained.

Per member, as per run: its own data order (a generator seeded as the run's shuffle), learning rate,
momentum, lr decay, weight decay, dropout rates and stream, patience; its own early stopping,
best-validation epoch (restored into its own model) and divergence (bench/training/trainer.py's three rules;
a diverged member is reported as the single run raises it, the others go on). A member that has
finished or diverged is dropped from the stacked model at the end of that epoch, so it stops
costing compute.

The batch losses stay where the model is and are read once an epoch: on CUDA nothing syncs the host
per step. The cost is that a member whose loss turns non-finite mid-epoch keeps computing (NaNs of
its own: members share no arithmetic) until the epoch ends; it is recorded with the first
non-finite batch, as the single run would record it.

Random streams: the data order is the single run's (same seed, same generator on the CPU; on CUDA
a generator of the data's device). Dropout masks come from a generator per member seeded apart from
the run's global stream (single runs draw dropout from torch's global generator, shared with weight
initialisation), so a population member with dropout is not bit-equal to its single run, only
equal in distribution.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from bench.machine.device import model_device
from bench.machine.precision import compute_context
from bench.training.evaluate import EVAL_BATCH
from bench.training.population_sgd import PopulationSGD
from bench.training.trainer import FitResult, Trainer, TrainingDiverged

# A member's dropout stream: apart from its shuffle (seed) and augmentation (2**32 + seed) streams.
DROPOUT_STREAM = 2**33

# loss_fn(logits (A, B, classes), labels (A, B), batch_index (A, B), inputs (A, B, ...), members) -> (A,):
# each active member's mean loss over its batch; `members` are the active members' positions in the
# population (to look up per-member data such as a teacher's outputs or a member's temperature).
PopulationLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[int]], torch.Tensor]


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, batch_index: torch.Tensor, inputs: torch.Tensor,
                  members: list[int]) -> torch.Tensor:
    count, batch, classes = logits.shape
    return F.cross_entropy(logits.reshape(-1, classes), labels.reshape(-1), reduction="none").view(count, batch).mean(1)


@torch.no_grad()
def member_errors(stacked: nn.Module, x: torch.Tensor, y: torch.Tensor, members: int) -> list[float]:
    """Each member's classification error on (x, y), in eval mode, as an exact count ratio."""
    was_training = stacked.training
    stacked.eval()
    device = model_device(stacked)
    chunk = max(1, EVAL_BATCH // members)  # a chunk's activations: members x chunk rows
    wrong = torch.zeros(members, dtype=torch.long, device=device)
    for first in range(0, len(x), chunk):
        with compute_context(device):
            predicted = stacked(x[first:first + chunk].to(device)).argmax(-1)
        wrong += (predicted != y[first:first + chunk].to(device)).sum(1)
    stacked.train(was_training)
    return [count / len(y) for count in wrong.tolist()]


class Member:
    """What the trainer follows of one member through a fit."""

    def __init__(self, trainer: Trainer, model: nn.Module):
        self.trainer, self.model = trainer, model
        self.best_state, self.best_epoch, self.best_val = None, 0, float("inf")
        self.start_loss: float | None = None
        self.last_finite_loss: float | None = None
        self.history: list[dict] = []
        self.train_loss = float("nan")
        self.outcome: FitResult | TrainingDiverged | None = None


class Stacking(Protocol):
    """How members become one model and back (layers/stacked.py, passed in: the engine imports no layers)."""

    MemberStreams: type

    def stack_models(self, models: list[nn.Module], streams) -> nn.Module: ...
    def select_members(self, stacked: nn.Module, index: list[int]) -> None: ...
    def member_state(self, stacked: nn.Module, position: int) -> dict: ...
    def load_member_state(self, model: nn.Module, state: dict) -> None: ...


class PopulationTrainer:
    """Trains members that share the schedule (epochs, batch size); everything else is per member."""

    def __init__(self, trainers: list[Trainer], stacking: Stacking):
        for name in ("epochs", "batch_size"):
            values = {getattr(trainer, name) for trainer in trainers}
            if len(values) > 1:
                raise ValueError(f"a population's members share {name}; got {sorted(values)}")
        self.trainers, self.stacking = trainers, stacking
        self.epochs, self.batch_size = trainers[0].epochs, trainers[0].batch_size

    def of(self, members: list[int]) -> "PopulationTrainer":
        """A trainer of some of the members (by position), e.g. those alive after a phase."""
        return PopulationTrainer([self.trainers[k] for k in members], self.stacking)

    def fit(self, models: list[nn.Module], data, loss_fn: PopulationLoss = cross_entropy, epochs: int | None = None,
            phase: str = "train") -> list[FitResult | TrainingDiverged]:
        """Train every model; each ends with its best-validation weights, its FitResult, or the
        TrainingDiverged its single run would have raised (returned, not raised)."""
        epochs = self.epochs if epochs is None else epochs
        members = [Member(trainer, model) for trainer, model in zip(self.trainers, models)]
        device, data_device = model_device(models[0]), data.train_y.device
        shuffles = [torch.Generator(data_device).manual_seed(t.seed) for t in self.trainers]
        augment = getattr(data, "augment", None)
        augment_rngs = [torch.Generator().manual_seed(2**32 + t.seed) for t in self.trainers]
        stacking = self.stacking
        streams = stacking.MemberStreams([torch.Generator(device).manual_seed(DROPOUT_STREAM + t.seed) for t in self.trainers])
        stacked = stacking.stack_models(models, streams)
        optimizer = PopulationSGD(stacked, [t.lr for t in self.trainers], [t.momentum for t in self.trainers],
                                  [t.weight_decay for t in self.trainers])
        active = list(range(len(members)))
        n = len(data.train_y)
        sizes = [min(self.batch_size, n - first) for first in range(0, n, self.batch_size)]
        constant_guess_error = 1 - torch.bincount(data.val_y).max().item() / len(data.val_y)
        start = time.perf_counter()

        for epoch in range(1, epochs + 1):
            stacked.train()
            orders = torch.stack([torch.randperm(n, generator=shuffles[k], device=data_device) for k in active])
            batch_losses = []
            for first in range(0, n, self.batch_size):
                batch = orders[:, first:first + self.batch_size]
                x, y = data.train_x[batch].to(device), data.train_y[batch].to(device)
                if augment is not None:
                    x = torch.stack([augment(x[i], augment_rngs[k]) for i, k in enumerate(active)])
                with compute_context(device):
                    losses = loss_fn(stacked(x), y, batch.to(device), x, active)
                batch_losses.append(losses.detach())
                optimizer.zero_grad()
                losses.sum().backward()
                optimizer.step()
            losses = torch.stack(batch_losses, 1).tolist()  # the epoch's one read of the losses
            lrs = optimizer.lr_values
            optimizer.decay_lr([self.trainers[k].lr_decay for k in active])  # as torch's ExponentialLR decays it, once per epoch
            still_training = [i for i, k in enumerate(active)
                              if not self._epoch_losses(members[k], phase, epoch, losses[i], sizes, lrs[i],
                                                        data.num_classes)]
            errors = member_errors(stacked, data.val_x, data.val_y, len(active)) if still_training else []
            finished = set()
            for i in still_training:
                member, val_error = members[active[i]], errors[i]
                if val_error < member.best_val:
                    member.best_state = stacking.member_state(stacked, i)
                    member.best_epoch, member.best_val = epoch, val_error
                metrics = {"phase": phase, "epoch": epoch, "epochs": epochs, "train_loss": member.train_loss,
                           "val_error": val_error, "best_val_error": member.best_val, "lr": lrs[i],
                           "seconds": time.perf_counter() - start}
                member.history.append(metrics)
                member.trainer.on_epoch(metrics)
                if epoch - member.best_epoch >= member.trainer.patience or epoch == epochs:
                    self._finish(member, phase, epoch, constant_guess_error, start)
                    finished.add(i)
            keep = [i for i in still_training if i not in finished]
            if len(keep) < len(active):
                active = [active[i] for i in keep]
                if not active:
                    break
                stacking.select_members(stacked, keep)
                optimizer.select(keep)
                streams.select(keep)
        return [member.outcome for member in members]

    def _epoch_losses(self, member: Member, phase: str, epoch: int, losses: list[float], sizes: list[int],
                      lr: float, num_classes: int) -> bool:
        """Check the member's epoch as bench/training/trainer.py does; True if it diverged (its outcome is set)."""
        def diverged(reason: str) -> bool:
            member.outcome = TrainingDiverged(phase, epoch, reason, member.last_finite_loss, lr, member.history)
            return True

        for j, loss in enumerate(losses):
            if not math.isfinite(loss):
                return diverged(f"training loss {loss} at example {sum(sizes[:j])} of the epoch")
            member.last_finite_loss = loss
            member.start_loss = loss if member.start_loss is None else member.start_loss
        member.train_loss = sum(loss * size for loss, size in zip(losses, sizes)) / sum(sizes)
        reference = max(member.start_loss, math.log(num_classes))
        factor = member.trainer.divergence_factor
        if member.train_loss > factor * reference:
            return diverged(f"mean training loss {member.train_loss:.4g} > {factor:g} x {reference:.4g}, "
                            "the larger of the starting loss and ln(classes)")
        return False

    def _finish(self, member: Member, phase: str, epoch: int, constant_guess_error: float, start: float) -> None:
        if member.best_val >= constant_guess_error and epoch - member.best_epoch >= member.trainer.patience:
            member.outcome = TrainingDiverged(
                phase, epoch, f"no epoch beat a constant guess (best validation error {member.best_val:.4f}, "
                              f"always the most frequent class: {constant_guess_error:.4f})",
                member.last_finite_loss, member.history[-1]["lr"] * member.trainer.lr_decay, member.history)
            return
        self.stacking.load_member_state(member.model, member.best_state)
        member.outcome = FitResult(member.best_epoch, member.best_val, len(member.history),
                                   time.perf_counter() - start, member.history)
