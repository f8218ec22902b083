"""A linear layer with a fixed 0/1 connection mask: masked weights are exactly zero and stay so."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """nn.Linear whose weight is multiplied by a boolean mask (a non-persistent buffer).

    Masked weights are set to zero and get zero gradient, so SGD (with momentum or weight
    decay) keeps them at exactly zero; the forward multiplies by the mask all the same.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features)
        self.register_buffer("mask", torch.ones(out_features, in_features, dtype=torch.bool), persistent=False)

    @torch.no_grad()
    def set_mask(self, mask: torch.Tensor) -> None:
        self.mask.copy_(mask)
        self.weight.mul_(self.mask)

    def kept_weights(self) -> torch.Tensor:
        """The surviving weights, row-major (the order of `flat_positions`)."""
        return self.weight.detach()[self.mask]

    def flat_positions(self) -> torch.Tensor:
        """Row-major indices of the surviving weights, int32."""
        return self.mask.flatten().nonzero().flatten().to(torch.int32)

    @torch.no_grad()
    def load_kept(self, positions: torch.Tensor, values: torch.Tensor, bias: torch.Tensor) -> None:
        mask = torch.zeros(self.mask.numel(), dtype=torch.bool)
        mask[positions.long()] = True
        self.mask.copy_(mask.view_as(self.mask))
        self.weight.zero_().view(-1)[positions.long()] = values
        self.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kept={int(self.mask.sum())}"
