"""SGD with momentum and weight decay for stacked parameters, each member with its own learning rate,
momentum and weight decay: bench/training/sgd.py's step, member by member, in one tensor operation a parameter.

The buffers start at zero: 0 * momentum + the first gradient is that gradient, as the single-run
step's clone of it. Members are selected (`select`) with the model's tensors when some finish.
"""
from __future__ import annotations

import torch
from torch import nn


class PopulationSGD:
    def __init__(self, model: nn.Module, lr: list[float], momentum: list[float], weight_decay: list[float]):
        self.model = model
        device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
        self.lr_values = list(lr)  # Python floats, decayed as the single run's; a step uses them in the model's dtype
        self.lr = torch.tensor(lr, device=device, dtype=dtype)
        self.momentum = torch.tensor(momentum, device=device, dtype=dtype)
        self.weight_decay = torch.tensor(weight_decay, device=device, dtype=dtype)
        self.decays = any(weight_decay)
        self.buffers: dict[str, torch.Tensor] = {}
        self._attach()

    def _attach(self) -> None:
        """Give layers that fold their weight's gradient into their own momentum buffer (layers/stacked_linear.py)
        the members' momentum and weight decay; their weights are then stepped from those buffers."""
        self.folded: dict[str, nn.Module] = {}
        for name, module in self.model.named_modules():
            if hasattr(module, "fold_weight_gradient"):
                module.attach(self.momentum, self.weight_decay if self.decays else None)
                self.folded[f"{name}.weight" if name else "weight"] = module

    def zero_grad(self) -> None:
        for param in self.model.parameters():
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for name, param in self.model.named_parameters():
            shape = (-1,) + (1,) * (param.dim() - 1)  # a member's value against its rows
            if name in self.folded:  # its buffer already holds momentum * buffer + gradient (+ decay)
                param.addcmul_(self.lr.view(shape), self.folded[name].momentum_buffer, value=-1)
                continue
            grad = param.grad
            if grad is None:
                continue
            if self.decays:
                grad = grad + self.weight_decay.view(shape) * param
            buffer = self.buffers.get(name)
            if buffer is None:
                buffer = self.buffers[name] = torch.zeros_like(param)
            buffer.mul_(self.momentum.view(shape)).add_(grad)
            param.addcmul_(self.lr.view(shape), buffer, value=-1)

    def decay_lr(self, factors: list[float]) -> None:
        self.lr_values = [lr * factor for lr, factor in zip(self.lr_values, factors)]
        self.lr = torch.tensor(self.lr_values, device=self.lr.device, dtype=self.lr.dtype)

    @torch.no_grad()
    def select(self, index: list[int]) -> None:
        """Keep the members at positions `index`, after the model's tensors were selected alike."""
        rows = torch.tensor(index, dtype=torch.long, device=self.lr.device)
        self.lr_values = [self.lr_values[i] for i in index]
        self.lr, self.momentum, self.weight_decay = self.lr[rows], self.momentum[rows], self.weight_decay[rows]
        self.buffers = {name: buffer[rows] for name, buffer in self.buffers.items()}
        self._attach()
