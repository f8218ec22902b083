"""`lenet5`: LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as commonly trained on MNIST.

conv 5x5 (6) - pool 2 - conv 5x5 (16) - pool 2 - fc 120 - fc 84 - fc classes. The first conv is
padded by 2 on 28x28 inputs (the classic MNIST setup) and not at all on 32x32 ones, so both reach
16x5x5 features; other sizes are refused. No dropout: the recipe's `train.dropout_*` is for the
MLPs, and the conv nets are trained as published, without it.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.errors import UserError
from models.widths import scaled_width

PADDING_BY_SIZE = {28: 2, 32: 0}  # input height and width -> the first conv's padding


class LeNet5(nn.Module):
    def __init__(self, input_shape, num_classes: int, width: float = 1.0):
        super().__init__()
        channels, height, width_px = input_shape
        if height != width_px or height not in PADDING_BY_SIZE:
            raise UserError(f"lenet5 takes 28x28 or 32x32 inputs (any channel count), "
                            f"not {'x'.join(map(str, input_shape))}")
        c1, c2, f1, f2 = (scaled_width(w, width) for w in (6, 16, 120, 84))
        self.conv1 = nn.Conv2d(channels, c1, 5, padding=PADDING_BY_SIZE[height])
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * 5 * 5, f1)
        self.fc2 = nn.Linear(f1, f2)
        self.fc3 = nn.Linear(f2, num_classes)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        x = torch.relu(self.fc1(x.flatten(-3)))  # -3: a population's (members, batch, ...) too
        x = torch.relu(self.fc2(x))
        return self.fc3(x)
