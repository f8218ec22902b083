"""Where a pruned layer's surviving weights are: relative indices or a bitmap, whichever is smaller.

- relative (Han et al. 2015): the kept weights in row-major order, each a float32 value and a
  uint8 holding gap - 1, the gap to the previous entry's position (the first's from position -1).
  A gap over 256 is bridged by filler entries (value 0, gap 256), each costing a value and an
  index. A filler reads back as pruned, and so does a kept weight that is exactly 0 at a gap of
  256: the predictions are the same.
- bitmap: one bit per weight of the layer (uint8, lowest bit first), and the kept values in
  row-major order.

A layer's encoded state is {"values", "gaps"} or {"values", "bits"}: keys of the same length, so
that the two encodings serialize alike but for their tensors' sizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MAX_GAP = 256      # a uint8 holds gap - 1
VALUE_BYTES = 4    # float32
_BIT_VALUES = 1 << torch.arange(8)


@dataclass(frozen=True)
class PositionCosts:
    """Bytes of values and positions of one layer's kept weights, in each encoding."""

    kept: int
    fillers: int
    relative: int
    bitmap: int

    @property
    def chosen(self) -> str:
        return "bitmap" if self.bitmap < self.relative else "relative"


def bitmap_bytes(kept: int, numel: int) -> int:
    return VALUE_BYTES * kept + math.ceil(numel / 8)


def _gaps(positions: torch.Tensor) -> torch.Tensor:
    return torch.diff(positions, prepend=positions.new_tensor([-1]))


def position_costs(mask: torch.Tensor) -> PositionCosts:
    """The cost of each encoding for this (flat) mask."""
    positions = mask.nonzero().flatten()
    fillers = int(((_gaps(positions) - 1) // MAX_GAP).sum())
    kept = len(positions)
    return PositionCosts(kept, fillers, (VALUE_BYTES + 1) * (kept + fillers), bitmap_bytes(kept, mask.numel()))


def encode(weight: torch.Tensor, mask: torch.Tensor) -> dict:
    """The kept values of a flat weight and where they are, in the smaller encoding for this flat mask
    (host tensors, wherever the weight lives)."""
    weight, mask = weight.cpu(), mask.cpu()
    positions = mask.nonzero().flatten()
    values = weight[positions].float()
    if position_costs(mask).chosen == "bitmap":
        padded = torch.zeros(8 * math.ceil(mask.numel() / 8), dtype=torch.int64)
        padded[:mask.numel()] = mask
        return {"values": values, "bits": (padded.view(-1, 8) * _BIT_VALUES).sum(1).to(torch.uint8)}
    gaps = _gaps(positions)
    fillers = (gaps - 1) // MAX_GAP
    kept_at = torch.cumsum(fillers + 1, 0) - 1  # each kept weight comes after its fillers
    entries = int(kept_at[-1]) + 1 if len(kept_at) else 0
    entry_gaps = torch.full((entries,), MAX_GAP, dtype=torch.int64)
    entry_gaps[kept_at] = gaps - MAX_GAP * fillers
    entry_values = torch.zeros(entries)
    entry_values[kept_at] = values
    return {"values": entry_values, "gaps": (entry_gaps - 1).to(torch.uint8)}


def decode(encoded: dict, numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row-major positions, values) of the kept weights of a layer of `numel` weights."""
    values = encoded["values"]
    if "bits" in encoded:
        mask = ((encoded["bits"].long()[:, None] >> torch.arange(8)) & 1).flatten()[:numel]
        return mask.nonzero().flatten(), values
    gaps = encoded["gaps"].long() + 1
    positions = torch.cumsum(gaps, 0) - 1
    kept = (gaps < MAX_GAP) | (values != 0)  # fillers dropped
    return positions[kept], values[kept]


def largest_encoding(kept: int, numel: int) -> dict:
    """Zero tensors of the sizes that `kept` of `numel` weights encode to at most: the bitmap's (its
    size is fixed) or the relative encoding's with the most fillers it can need, floor((numel - kept) / 256),
    whichever is smaller. The actual encoding, the smaller of the two, is never larger."""
    entries = kept + (numel - kept) // MAX_GAP
    if bitmap_bytes(kept, numel) < (VALUE_BYTES + 1) * entries:
        return {"values": torch.zeros(kept), "bits": torch.zeros(math.ceil(numel / 8), dtype=torch.uint8)}
    return {"values": torch.zeros(entries), "gaps": torch.zeros(entries, dtype=torch.uint8)}
