"""`resnet20`: the CIFAR ResNet of He et al. 2016 (section 4.2), 6n+2 layers deep (20: n = 3).

conv 3x3 (16) - three stages of n basic blocks (16, 32, 64 channels; stages 2 and 3 start with
stride 2) - global average pooling - fc classes. Batch norm after every conv, so the convs have
no bias. Shortcuts are option A: the identity, subsampled and zero-padded in channels where a
stage changes shape, with no parameters, so every compressible layer is a conv of a block, the
stem or the classifier. Global average pooling takes any input size (28x28 gives 7x7 maps
before pooling, 32x32 gives 8x8). No dropout, as published.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from bench.errors import UserError
from models.widths import scaled_width

STAGE_CHANNELS = (16, 32, 64)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PadShortcut(nn.Module):
    """Option A: every `stride`-th pixel, zero channels added on both sides up to `out_channels`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        extra = out_channels - in_channels
        self.stride, self.pad = stride, (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        same_shape = stride == 1 and in_channels == out_channels
        self.shortcut = nn.Identity() if same_shape else PadShortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, input_shape, num_classes: int, depth: int = 20, width: float = 1.0):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise UserError(f"resnet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, ...), not {depth}")
        blocks = (depth - 2) // 6
        channels = [scaled_width(c, width) for c in STAGE_CHANNELS]
        self.conv1 = conv3x3(input_shape[0], channels[0])
        self.bn1 = nn.BatchNorm2d(channels[0])
        in_channels = channels[0]
        for stage, out_channels in enumerate(channels, start=1):
            first_stride = 1 if stage == 1 else 2
            layer = nn.Sequential(*(BasicBlock(in_channels if b == 0 else out_channels, out_channels,
                                               first_stride if b == 0 else 1) for b in range(blocks)))
            setattr(self, f"layer{stage}", layer)
            in_channels = out_channels
        self.fc = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # He et al.'s own code (fb.resnet.torch) and torchvision: N(0, 2 / (k * k * out_channels))
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(-2, -1)))  # global average pooling (-2, -1: a population's inputs too)
