"""`pruning`: magnitude pruning (Han et al. 2015) down to the budget.

Train dense; then, in `rounds` prune/retrain rounds, remove the smallest-magnitude weights
(per layer, or over all layers at once) until only the budget is left, retraining with the
mask fixed after each cut. Every phase keeps its best-validation epoch. The checkpoint stores
the surviving values, their positions (relative indices or a bitmap, whichever is smaller for
the layer: methods/kept_positions.py) and the biases: `params_stored` counts the kept values and
biases (the paper's convention), `bytes_on_disk` also pays for the positions and fillers.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.architecture import MLP, MLPSpec
from bench.errors import UserError
from bench.trainer import FitResult
from methods.base import Method
from methods.kept_positions import decode, encode, position_costs
from methods.masked_linear import MaskedLinear
from methods.random_edge_removal import connections_per_layer

SCOPES = ("layer", "global")


class MagnitudePruning(Method):
    def __init__(self, scope: str = "layer", rounds: int = 1, retrain_epochs: int | None = None):
        if scope not in SCOPES:
            raise UserError(f"pruning: scope={scope!r} is not one of {', '.join(SCOPES)}")
        if int(rounds) < 1:
            raise UserError(f"pruning: rounds={rounds!r} must be a whole number >= 1")
        if retrain_epochs is not None and int(retrain_epochs) < 1:
            raise UserError(f"pruning: retrain_epochs={retrain_epochs!r} must be >= 1 (or null for train.epochs)")
        self.scope, self.rounds, self.retrain_epochs = scope, int(rounds), retrain_epochs
        self.kept_per_layer: list[int] = []  # the per-layer split of the budget, set by `build`

    def build(self, spec: MLPSpec, budget: int, seed: int) -> nn.Module:
        self.kept_per_layer = connections_per_layer(spec, budget, method="pruning")
        return MLP(spec, lambda index, fan_in, fan_out: MaskedLinear(fan_in, fan_out))

    def stored_params(self, model: nn.Module) -> int:
        """What the pruned model stores: the kept weights and every bias."""
        return sum(self.kept_per_layer) + sum(layer.out_features for layer in model.layers)

    def fit(self, model: nn.Module, trainer, data) -> FitResult:
        phases = [trainer.fit(model, data, phase="train")]
        total = sum(layer.weight.numel() for layer in model.layers)
        density = sum(self.kept_per_layer) / total
        for r in range(1, self.rounds + 1):
            # round r keeps density ** (r / rounds) of the weights: geometric, ending exactly at the budget
            scale = 1.0 if r == self.rounds else density ** (r / self.rounds - 1)
            self.prune(model, [round(k * scale) for k in self.kept_per_layer])
            phase = "retrain" if self.rounds == 1 else f"retrain {r}/{self.rounds}"
            phases.append(trainer.fit(model, data, epochs=self.retrain_epochs, phase=phase))
        kept = [int(layer.mask.sum()) for layer in model.layers]
        costs = [position_costs(layer.mask.flatten()) for layer in model.layers]
        notes = {"pruning": {"scope": self.scope, "rounds": self.rounds, "kept_per_layer": kept,
                             "positions": [{"encoding": c.chosen, "relative_bytes": c.relative,
                                            "bitmap_bytes": c.bitmap, "fillers": c.fillers} for c in costs],
                             "phases": [{"phase": p.history[0]["phase"], "best_epoch": p.best_epoch,
                                         "best_val_error": p.best_val_error} for p in phases]}}
        last = phases[-1]
        return FitResult(last.best_epoch, last.best_val_error, sum(p.epochs_run for p in phases),
                         sum(p.seconds for p in phases), [m for p in phases for m in p.history], notes)

    def masks(self, model: nn.Module, keep: list[int]) -> list[torch.Tensor]:
        """Masks of the largest-magnitude weights: `keep[i]` in layer i, or sum(keep) over all layers."""
        magnitudes = [(layer.weight.detach().abs() * layer.mask).flatten() for layer in model.layers]
        if self.scope == "layer":
            masks = [_largest(m, k) for m, k in zip(magnitudes, keep)]
        else:
            masks = _largest(torch.cat(magnitudes), sum(keep)).split([m.numel() for m in magnitudes])
        return [mask.view_as(layer.mask) for mask, layer in zip(masks, model.layers)]

    @torch.no_grad()
    def prune(self, model: nn.Module, keep: list[int]) -> None:
        """Keep the largest-magnitude weights: `keep[i]` in layer i, or sum(keep) over all layers."""
        for layer, mask in zip(model.layers, self.masks(model, keep)):
            layer.set_mask(mask)

    def export_state(self, model: nn.Module) -> dict:
        return self._state(model, [layer.mask for layer in model.layers])

    def _state(self, model: nn.Module, masks: list[torch.Tensor]) -> dict:
        """Per layer: kept values and their positions (methods/kept_positions.py), and the bias."""
        state = {}
        for i, (layer, mask) in enumerate(zip(model.layers, masks)):
            encoded = encode(layer.weight.detach().flatten(), mask.flatten())
            state.update({f"layers.{i}.{part}": tensor for part, tensor in encoded.items()})
            state[f"layers.{i}.bias"] = layer.bias.detach()
        return state

    def load_state(self, model: nn.Module, state: dict) -> None:
        for i, layer in enumerate(model.layers):
            encoded = {part: state[f"layers.{i}.{part}"] for part in ("values", "gaps", "bits")
                       if f"layers.{i}.{part}" in state}
            positions, values = decode(encoded, layer.weight.numel())
            layer.load_kept(positions, values, state[f"layers.{i}.bias"])


def _largest(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of exactly k entries of largest value."""
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[torch.topk(values, k, sorted=False).indices] = True
    return mask
