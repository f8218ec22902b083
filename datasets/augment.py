"""Random crops and horizontal flips of a training batch, on tensors, for the whole batch at once."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.errors import UserError

OPTIONS = ("crop_padding", "flip")


class TensorAugment:
    """Pad every image with `crop_padding` zero pixels per side, crop it back to H x W at a random
    offset, and mirror it left to right with probability 1/2 when `flip` is on; each image draws its own."""

    def __init__(self, crop_padding: int = 0, flip: bool = False):
        self.crop_padding, self.flip = crop_padding, flip

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A new batch like `x` (N, C, H, W); the same generator state gives the same batch."""
        n, channels, height, width = x.shape
        p = self.crop_padding
        # the random numbers come from the (CPU) generator; the indices then live with the data
        top = torch.randint(0, 2 * p + 1, (n, 1), generator=generator).to(x.device)
        left = torch.randint(0, 2 * p + 1, (n, 1), generator=generator).to(x.device)
        cols = torch.arange(width, device=x.device)
        if self.flip:
            mirrored = (torch.rand(n, 1, generator=generator) < 0.5).to(x.device)
            cols = torch.where(mirrored, cols.flip(0), cols)  # reading the columns backwards mirrors
        rows = top + torch.arange(height, device=x.device)  # (N, H) rows of the padded image
        cols = left + cols  # (N, W)
        padded = F.pad(x, (p, p, p, p))
        images = torch.arange(n, device=x.device)[:, None, None, None]
        planes = torch.arange(channels, device=x.device)[None, :, None, None]
        return padded[images, planes, rows[:, None, :, None], cols[:, None, None, :]]


def make_augment(options: dict | None) -> TensorAugment | None:
    """A TensorAugment from a data set's `augment` option ({crop_padding, flip}), or None for null."""
    if options is None:
        return None
    if not isinstance(options, dict) or set(options) - set(OPTIONS):
        raise UserError(f"dataset.augment={options!r}: expected null or a mapping with keys {', '.join(OPTIONS)}")
    crop_padding, flip = options.get("crop_padding", 0), options.get("flip", False)
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise UserError(f"dataset.augment.crop_padding={crop_padding!r}: expected a whole number of pixels >= 0")
    if not isinstance(flip, bool):
        raise UserError(f"dataset.augment.flip={flip!r}: expected true or false")
    return TensorAugment(crop_padding, flip)
