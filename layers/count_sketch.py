"""The count-sketch S (m x n): column j of S has one entry sign(j) in row bucket(j), both seeded hashes.

S is never materialised: S x is a scatter-add over the n input coordinates, and W~ S (an m-column
matrix spread over n columns) a gather. The tables are regenerated from the seed: buffers that
follow the module to its device but stay out of the state dict.
"""
from __future__ import annotations

import torch
from torch import nn

from layers.hashing import bucket_and_sign


class CountSketch(nn.Module):
    def __init__(self, in_features: int, sketch_size: int, seed: int, salt: int):
        super().__init__()
        rows, signs = bucket_and_sign(in_features, sketch_size, seed, salt)
        self.in_features, self.sketch_size = in_features, sketch_size
        self.register_buffer("rows", torch.from_numpy(rows), persistent=False)
        self.register_buffer("signs", torch.from_numpy(signs).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """S x for every row of x: (N, n) -> (N, m)."""
        out = x.new_zeros(x.shape[0], self.sketch_size)
        return out.index_add_(1, self.rows, x * self.signs)

    def compress_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """W S^T: (out, n) -> (out, m); W S^T S x approximates W x."""
        return self(weight)

    def expand(self, weight: torch.Tensor) -> torch.Tensor:
        """W~ S: (out, m) -> (out, n), the virtual weights of stored ones."""
        return weight[:, self.rows] * self.signs

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, sketch_size={self.sketch_size}"
