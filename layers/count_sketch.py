"""The count-sketch S (m x n): column j of S has one entry sign(j) in row bucket(j), both seeded hashes.

S is never materialised: S x and W S^T are scatter-adds over the n input coordinates.
"""
from __future__ import annotations

import torch

from layers.hashing import bucket_and_sign


class CountSketch:
    def __init__(self, in_features: int, sketch_size: int, seed: int, layer: int):
        rows, signs = bucket_and_sign(in_features, sketch_size, seed, layer)
        self.in_features, self.sketch_size = in_features, sketch_size
        self.rows = torch.from_numpy(rows)
        self.signs = torch.from_numpy(signs).float()

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """S x for every row of x: (N, n) -> (N, m)."""
        out = x.new_zeros(x.shape[0], self.sketch_size)
        return out.index_add_(1, self.rows, x * self.signs)

    def compress_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """W S^T: (out, n) -> (out, m); W S^T S x approximates W x."""
        return self.apply(weight)
