"""SGD with momentum and weight decay, computing what torch.optim.SGD computes, bit for bit (its
single-tensor path: the default on the CPU), in a few tensor operations a parameter.

Why not torch.optim.SGD: building any torch optimizer imports torch's compiler (its methods are
wrapped to keep torch.compile out), 1.3-2.4 s of every process here, and its step adds about
0.5 ms of Python per step of the training recipe (hooks, profiling, flags), about a tenth of an
`mlp3` step at batch 50. tests/test_sgd.py checks the equality against torch's.
"""
from __future__ import annotations

import torch
from torch import nn


class MomentumSGD:
    def __init__(self, params, lr: float, momentum: float, weight_decay: float = 0.0):
        self.params: list[nn.Parameter] = [p for p in params if p.requires_grad]
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            if self.weight_decay != 0:
                grad = grad.add(param, alpha=self.weight_decay)
            if self.momentum != 0:
                if self.buffers[i] is None:
                    self.buffers[i] = torch.clone(grad).detach()
                else:
                    self.buffers[i].mul_(self.momentum).add_(grad)
                grad = self.buffers[i]
            param.add_(grad, alpha=-self.lr)
