"""`rer`: random edge removal (Ciresan et al. 2011) at the budget.

Every compressed layer (nn.Linear or nn.Conv2d) keeps exactly its share of the budget's
connections (kernel entries for a convolution), chosen by a hash of the position salted by the
seed and the layer's qualified name (the mask is regenerated from the seed, not stored); biases
are kept in full. Removed weights are exactly zero through training (layers/masked.py); kept
weights start at the dense layer's init scaled to the kept fan-in.
"""
from __future__ import annotations

import torch
from torch import nn

from methods.compressible import Site, layer_salt
from layers.hashing import hash_positions
from layers.masked import load_state_with_kept, masked, masked_layers, state_with_kept
from methods.allocation import plan_layers, planned_connections, swap_layers
from methods.base import LayerwiseMethod

MASK_PURPOSE = 2  # hash purpose id, distinct from HashedNets' buckets (0)


def random_mask(numel: int, keep: int, seed: int, salt: int) -> torch.Tensor:
    """Exactly `keep` True entries of `numel` (flat): the positions with the smallest seeded hash."""
    scores = hash_positions(0, numel, seed, salt, MASK_PURPOSE)
    mask = torch.zeros(numel, dtype=torch.bool)
    mask[torch.topk(scores, keep, largest=False, sorted=False).indices] = True
    return mask


class RandomEdgeRemoval(LayerwiseMethod):
    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        plan = plan_layers(model, budget, "rer", self.keep_dense)

        def removed_edges(site: Site, keep: int) -> nn.Module:
            layer = masked(site.layer)
            layer.set_mask(random_mask(site.weights, keep, seed, layer_salt(site.name)))
            with torch.no_grad():  # init range 1/sqrt(kept fan-in), so outputs start at a dense layer's scale
                layer.weight.mul_((site.weights / keep) ** 0.5)
            return layer

        return swap_layers(model, plan.sites, removed_edges, planned_connections(plan))

    def export_state(self, model: nn.Module) -> dict:
        """The kept weights of each compressed layer (row-major within its seeded mask), and the rest of
        the state dict: biases, batch norm, layers kept dense."""
        return state_with_kept(model, {name: {"kept_weights": layer.kept_weights()}
                                       for name, layer in masked_layers(model).items()})

    def load_state(self, model: nn.Module, state: dict) -> None:
        kept = load_state_with_kept(model, state, ("kept_weights",))
        for name, layer in masked_layers(model).items():
            layer.load_kept(layer.flat_positions(), kept[name]["kept_weights"])
