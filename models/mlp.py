"""`mlp3`, `mlp5`, ...: fully connected ReLU nets, as in the HashedNets paper.

Dropout on the input and after every hidden ReLU, as in the HashedNets authors' code; the
rates come from the training recipe (`conf/model/mlp3.yaml` interpolates `train.dropout_*`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from models.widths import scaled_width


class MLP(nn.Module):
    def __init__(self, input_shape, num_classes: int, hidden, dropout_input: float = 0.0,
                 dropout_hidden: float = 0.0, width: float = 1.0):
        super().__init__()
        widths = [math.prod(input_shape), *(scaled_width(h, width) for h in hidden), num_classes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.drop_input = nn.Dropout(dropout_input)
        self.drop_hidden = nn.Dropout(dropout_hidden)
        self.input_dims = len(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the image's dimensions, the last ones, so that a population's (members, batch, ...) inputs flatten
        # alike; an input already flat is taken as it is
        x = self.drop_input(x.flatten(-self.input_dims) if x.dim() > self.input_dims else x)
        for layer in self.layers[:-1]:
            x = self.drop_hidden(torch.relu(layer(x)))
        return self.layers[-1](x)
