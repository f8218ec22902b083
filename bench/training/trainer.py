"""The one training recipe: SGD with momentum, per-epoch learning-rate decay, model selection
on validation error with early stopping. Defaults follow the HashedNets authors' code.

A run that diverges ends at once with `TrainingDiverged`: a batch whose loss is not finite, or
an epoch whose mean training loss exceeds `divergence_factor` times the loss the model had when
training started (its first batch's), or than a uniform guess's loss ln(classes) where that is
larger: a healthy run's epochs stay below where it started, and a model that starts far better
than chance (a pruned net retraining, at a loss near 0.001) may wobble up to a few hundredths.
A run is also ended as diverged when early stopping gives up on a model that never beat a
constant guess (always the most frequent validation class): its units died or its outputs
collapsed, and its error says nothing about the method (seen with narrow conv nets at the
recipe's learning rate).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench.machine.device import model_device
from bench.machine.precision import compute_context
from bench.training.evaluate import error_rate
from bench.training.sgd import MomentumSGD

# loss_fn(logits, labels, batch_index, inputs): batch_index indexes the training set, so a hook can
# look up per-example data (e.g. a teacher's precomputed outputs); inputs are the batch the model
# saw, augmented where the data set augments.
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, batch_index: torch.Tensor,
                  inputs: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


class TrainingDiverged(Exception):
    """Training left the finite, decreasing regime; the run is recorded as `diverged`, never scored."""

    def __init__(self, phase: str, epoch: int, reason: str, last_finite_loss: float | None, lr: float,
                 history: list[dict]):
        super().__init__(f"{phase} diverged in epoch {epoch}: {reason} (lr {lr:g})")
        self.phase, self.epoch, self.reason, self.lr = phase, epoch, reason, lr
        self.last_finite_loss, self.history = last_finite_loss, history

    def as_record(self) -> dict:
        return {"phase": self.phase, "epoch": self.epoch, "reason": self.reason,
                "last_finite_loss": self.last_finite_loss, "lr": self.lr}


@dataclass
class FitResult:
    best_epoch: int
    best_val_error: float
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)  # what a method reports about its schedule (teacher, rounds)


class Trainer:
    def __init__(self, epochs: int, batch_size: int, lr: float, momentum: float, lr_decay: float,
                 weight_decay: float, patience: int, seed: int, divergence_factor: float = 3.0,
                 on_epoch: Callable[[dict], None] = lambda metrics: None):
        self.epochs, self.batch_size, self.patience = epochs, batch_size, patience
        self.divergence_factor = divergence_factor
        self.lr, self.momentum, self.lr_decay, self.weight_decay = lr, momentum, lr_decay, weight_decay
        self.seed, self.on_epoch = seed, on_epoch

    @classmethod
    def from_config(cls, train_cfg, seed: int, on_epoch) -> "Trainer":
        return cls(epochs=train_cfg.epochs, batch_size=train_cfg.batch_size, lr=train_cfg.lr,
                   momentum=train_cfg.momentum, lr_decay=train_cfg.lr_decay,
                   weight_decay=train_cfg.weight_decay, patience=train_cfg.patience, seed=seed,
                   divergence_factor=train_cfg.divergence_factor, on_epoch=on_epoch)

    def recipe(self) -> dict:
        """Everything that decides what training produces (e.g. a cache key for a teacher)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "momentum": self.momentum,
                "lr_decay": self.lr_decay, "weight_decay": self.weight_decay, "patience": self.patience,
                "seed": self.seed}

    def fit(self, model: nn.Module, data, loss_fn: LossFn = cross_entropy, epochs: int | None = None,
            phase: str = "train") -> FitResult:
        """Train, then load the weights of the epoch with the lowest validation error into `model`.

        Stops early after `patience` epochs without a new best; raises `TrainingDiverged` (see the
        module's docstring). The test set is never touched. The random numbers come from CPU
        generators on every device; each batch is taken where the data live and moved to the model's
        device (a no-op for data on it, bench/machine/device.py).
        """
        epochs = self.epochs if epochs is None else epochs
        optimizer = MomentumSGD(model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        shuffle = torch.Generator().manual_seed(self.seed)
        augment = getattr(data, "augment", None)
        augment_rng = torch.Generator().manual_seed(2**32 + self.seed)  # a stream apart from every shuffle's
        n, device = len(data.train_y), model_device(model)
        best_state, best_epoch, best_val = None, 0, float("inf")
        constant_guess_error = 1 - torch.bincount(data.val_y).max().item() / len(data.val_y)
        history, start = [], time.perf_counter()
        start_loss, last_finite_loss = None, None

        def diverged(epoch: int, reason: str) -> TrainingDiverged:
            return TrainingDiverged(phase, epoch, reason, last_finite_loss, optimizer.lr, history)

        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(n, generator=shuffle).to(data.train_y.device)
            loss_sum = 0.0
            for first in range(0, n, self.batch_size):
                batch = order[first:first + self.batch_size]
                x, y = data.train_x[batch].to(device), data.train_y[batch].to(device)
                if augment is not None:
                    x = augment(x, augment_rng)
                with compute_context(device):
                    loss = loss_fn(model(x), y, batch.to(device), x)
                batch_loss = loss.item()
                if not math.isfinite(batch_loss):
                    raise diverged(epoch, f"training loss {batch_loss} at example {first} of the epoch")
                last_finite_loss = batch_loss
                start_loss = batch_loss if start_loss is None else start_loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += batch_loss * len(batch)
            train_loss = loss_sum / n
            reference = max(start_loss, math.log(data.num_classes))
            if train_loss > self.divergence_factor * reference:
                raise diverged(epoch, f"mean training loss {train_loss:.4g} > {self.divergence_factor:g} x "
                                      f"{reference:.4g}, the larger of the starting loss and ln(classes)")
            lr = optimizer.lr
            optimizer.lr *= self.lr_decay  # as torch's ExponentialLR decays it, once per epoch
            val_error = error_rate(model, data.val_x, data.val_y)
            if val_error < best_val:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_epoch, best_val = epoch, val_error
            metrics = {"phase": phase, "epoch": epoch, "epochs": epochs, "train_loss": train_loss,
                       "val_error": val_error, "best_val_error": best_val, "lr": lr,
                       "seconds": time.perf_counter() - start}
            history.append(metrics)
            self.on_epoch(metrics)
            if epoch - best_epoch >= self.patience:
                if best_val >= constant_guess_error:
                    raise diverged(epoch, f"no epoch beat a constant guess (best validation error {best_val:.4f}, "
                                          f"always the most frequent class: {constant_guess_error:.4f})")
                break
        model.load_state_dict(best_state)
        return FitResult(best_epoch, best_val, len(history), time.perf_counter() - start, history)
