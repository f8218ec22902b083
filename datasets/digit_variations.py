"""The digit variations of Larochelle et al. 2007: rotation and backgrounds, vectorised over a batch."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ROTATION_BATCH = 8192


def rotate(images: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W) rotated counter-clockwise about their centre by `angles` (radians), bilinear."""
    out = np.empty_like(images)
    for start in range(0, len(images), ROTATION_BATCH):
        batch = torch.from_numpy(images[start:start + ROTATION_BATCH]).float().unsqueeze(1)
        angle = torch.from_numpy(np.asarray(angles[start:start + ROTATION_BATCH], dtype=np.float32))
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(cos)
        # affine_grid maps output coordinates to input ones: rotating by -angle there turns the image by +angle
        theta = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
        turned = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[start:start + ROTATION_BATCH] = turned.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def uniform_noise(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Background pixels uniform in [0, 1], as uint8 (each of the 256 levels equally likely)."""
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def over_background(digits: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """Digit pixels keep their value; every other (zero) pixel shows the background."""
    return np.where(digits > 0, digits, backgrounds)
