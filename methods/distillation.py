"""Dark knowledge (Hinton et al. 2015): a student method trained on a dense teacher's soft outputs.

    loss = (1 - soft_weight) * CE(student, labels)
           + soft_weight * T * KL(softmax(teacher / T) || softmax(student / T))

The factor T, where Hinton et al. have T^2, keeps the soft term's gradient on the hard term's
scale: with respect to the student's logits it is soft_weight * (softmax(student / T) -
softmax(teacher / T)), bounded like cross-entropy's (softmax(student) - one-hot). T^2 is right
only where the logits differ by much less than T (there KL's gradient shrinks as 1/T^2); a fresh
student's logits are near 0 and a trained teacher's span about 20, where it shrinks as 1/T, so
T^2 made the soft gradient T times the size: 2.7 times cross-entropy's at the start, measured
with T = 4. At the recipe's learning rate the dense `dk` student on mlp5 then diverged at every
ratio (loss rising, validation error to 90%), and the old hashed student blew up in epoch 1.
`dk` is the equivalent-size net (`nn`) as student, `hashednets_dk` HashedNets; the student
decides what is built and stored, the teacher is only used in training (methods/teacher.py).
The teacher trains with `teacher_train` (the config passes the shared recipe, `${train}`), so a
student's tuned hyperparameters (`hparams`) never change its teacher.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from bench.compression.method import load_method
from bench.machine.device import model_device
from bench.errors import UserError
from bench.training.evaluate import logits
from bench.compression.model_factory import ModelFactory
from bench.training.trainer import FitResult, Trainer
from methods.base import Method, StateBytes
from methods.teacher import cached_teacher


class Distillation(Method):
    def __init__(self, student: dict, teacher_train: dict, temperature: float = 4.0, soft_weight: float = 0.9,
                 teacher_cache: str = "outputs/teachers"):
        if not float(temperature) > 0:
            raise UserError(f"dark knowledge: temperature={temperature!r} must be > 0")
        if not 0 <= float(soft_weight) <= 1:
            raise UserError(f"dark knowledge: soft_weight={soft_weight!r} must be in [0, 1]")
        self.student = load_method(student)
        self.teacher_train = OmegaConf.create(teacher_train)
        self.temperature, self.soft_weight = float(temperature), float(soft_weight)
        self.teacher_cache = Path(teacher_cache)
        self.teacher: ModelFactory | None = None  # the uncompressed model, set by `build`

    def build(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        # the teacher is the dense model the budget is measured against, under the teacher's recipe
        self.teacher = factory.with_recipe(self.teacher_train)
        try:
            return self.student.build(factory, budget, seed)
        except UserError as err:
            raise UserError(f"dark knowledge student: {err}") from None

    def fit(self, model: nn.Module, trainer, data) -> FitResult:
        teacher, fixed, teacher_notes = self.teacher_outputs(trainer, data, model_device(model))
        t, w = self.temperature, self.soft_weight

        def soft_targets(batch_index: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
            return fixed[batch_index] if fixed is not None else F.softmax(logits(teacher, inputs) / t, dim=1)

        def loss_fn(student_logits: torch.Tensor, labels: torch.Tensor, batch_index: torch.Tensor,
                    inputs: torch.Tensor) -> torch.Tensor:
            soft = F.kl_div(F.log_softmax(student_logits / t, dim=1), soft_targets(batch_index, inputs),
                            reduction="batchmean")
            return (1 - w) * F.cross_entropy(student_logits, labels) + w * t * soft

        fit = trainer.fit(model, data, loss_fn=loss_fn)
        fit.notes["teacher"] = teacher_notes
        return fit

    def teacher_outputs(self, trainer, data, device) -> tuple[nn.Module, torch.Tensor | None, dict]:
        """(teacher, its soft targets softmax(teacher / T) of the training set or None, notes): fixed inputs
        get the targets once, up front; augmented ones need the teacher on each batch as the student sees it."""
        teacher_trainer = Trainer.from_config(self.teacher_train, trainer.seed, on_epoch=trainer.on_epoch)
        teacher, notes = cached_teacher(self.teacher, teacher_trainer, data, self.teacher_cache, device)
        augmented = getattr(data, "augment", None) is not None
        fixed = None if augmented else F.softmax(logits(teacher, data.train_x) / self.temperature, dim=1)
        return teacher, fixed, notes

    def export_state(self, model: nn.Module) -> dict:
        return self.student.export_state(model)

    def load_state(self, model: nn.Module, state: dict) -> None:
        self.student.load_state(model, state)

    def stored_params(self, model: nn.Module) -> int:
        return self.student.stored_params(model)

    def build_for_sizing(self, factory: ModelFactory, budget: int, seed: int) -> nn.Module:
        return self.student.build_for_sizing(factory, budget, seed)

    def planned_bytes(self, model: nn.Module, state_bytes: StateBytes) -> int:
        return self.student.planned_bytes(model, state_bytes)

    def keep_within_bytes(self, limit: int, state_bytes: StateBytes) -> None:
        self.student.keep_within_bytes(limit, state_bytes)
