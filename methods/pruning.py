"""`pruning`: magnitude pruning (Han et al. 2015) down to the budget.

Train dense; then, in `rounds` prune/retrain rounds, remove the smallest-magnitude weights
(kernel entries for a convolution; per compressed layer, or over all of them at once) until only
the budget is left, retraining with the mask fixed after each cut. Every phase keeps its
best-validation epoch. The checkpoint stores each compressed layer's surviving values and their
positions (relative indices or a bitmap, whichever is smaller for the layer:
methods/kept_positions.py), and the rest of the state dict (biases, batch norm, layers kept
dense): `params_stored` counts the kept values and every other parameter (the paper's
convention), `bytes_on_disk` also pays for the positions and fillers.

Under a byte budget the size of the checkpoint is known only at the last cut, so the plan at
build time (`planned_bytes`) assumes the largest encoding the budgeted weights can need; the last
cut then keeps as many weights as the actual encoding fits in the byte budget.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.compression.budget import largest_fitting
from bench.compression.model_factory import params_of
from bench.errors import UserError
from bench.training.trainer import FitResult
from layers.masked import load_state_with_kept, masked, masked_layers, state_with_kept
from methods.allocation import connections_per_layer, plan_layers, planned_connections, swap_layers
from bench.compression.method import StateBytes
from methods.base import LayerwiseMethod
from methods.kept_positions import decode, encode, largest_encoding, position_costs

SCOPES = ("layer", "global")
ENCODED_PARTS = ("values", "gaps", "bits")  # methods/kept_positions.py
# torch.save aligns every record of its archive to 64 bytes, so tensors of other sizes than planned
# can shift each record's padding by up to that much: the plan allows for it.
RECORD_ALIGNMENT = 64


class MagnitudePruning(LayerwiseMethod):
    def __init__(self, scope: str = "layer", rounds: int = 1, retrain_epochs: int | None = None, keep_dense=()):
        super().__init__(keep_dense)
        if scope not in SCOPES:
            raise UserError(f"pruning: scope={scope!r} is not one of {', '.join(SCOPES)}")
        if int(rounds) < 1:
            raise UserError(f"pruning: rounds={rounds!r} must be a whole number >= 1")
        if retrain_epochs is not None and int(retrain_epochs) < 1:
            raise UserError(f"pruning: retrain_epochs={retrain_epochs!r} must be >= 1 (or null for train.epochs)")
        self.scope, self.rounds, self.retrain_epochs = scope, int(rounds), retrain_epochs
        self.kept_per_layer: list[int] = []  # per compressed layer: planned by `compress`, final after the last cut
        self.byte_limit: tuple[int, StateBytes] | None = None  # under a byte budget, from `keep_within_bytes`

    def compress(self, model: nn.Module, budget: int, seed: int) -> nn.Module:
        """Every planned layer masked, all its weights kept until the first cut."""
        plan = plan_layers(model, budget, "pruning", self.keep_dense)
        self.kept_per_layer = planned_connections(plan)
        return swap_layers(model, plan.sites, lambda site, keep: masked(site.layer), self.kept_per_layer)

    def stored_params(self, model: nn.Module) -> int:
        """What the pruned model stores: the kept weights, and every other parameter (biases, what is left dense)."""
        weights = sum(layer.weight.numel() for layer in masked_layers(model).values())
        return params_of(model) - weights + sum(self.kept_per_layer)

    def planned_bytes(self, model: nn.Module, state_bytes: StateBytes) -> int:
        """The checkpoint of the planned weights in the largest encoding they can need, plus what other
        tensor sizes can add to the records' alignment padding."""
        layers = masked_layers(model)
        state = state_with_kept(model, {name: largest_encoding(kept, layer.weight.numel())
                                        for (name, layer), kept in zip(layers.items(), self.kept_per_layer)})
        return state_bytes(state) + RECORD_ALIGNMENT * (len(state) + 1)  # + 1: the pickled structure

    def keep_within_bytes(self, limit: int, state_bytes: StateBytes) -> None:
        self.byte_limit = (limit, state_bytes)

    def fit(self, model: nn.Module, trainer, data) -> FitResult:
        phases = [trainer.fit(model, data, phase="train")]
        for r in range(1, self.rounds + 1):
            self.prune_round(model, r)
            phases.append(trainer.fit(model, data, epochs=self.retrain_epochs, phase=self.phase_name(r)))
        return self.fit_result(model, phases)

    def prune_round(self, model: nn.Module, r: int) -> None:
        """Round r of `rounds` keeps density ** (r / rounds) of the weights: geometric, ending at the budget."""
        if r == self.rounds:
            self.prune_to_budget(model)
            return
        layers = masked_layers(model)
        density = sum(self.kept_per_layer) / sum(layer.weight.numel() for layer in layers.values())
        self.prune(model, [round(k * density ** (r / self.rounds - 1)) for k in self.kept_per_layer])

    def phase_name(self, r: int) -> str:
        return "retrain" if self.rounds == 1 else f"retrain {r}/{self.rounds}"

    def fit_result(self, model: nn.Module, phases: list[FitResult]) -> FitResult:
        """The run's result from its phases' (training, then each retraining): the last phase's selection,
        and what the cuts kept."""
        layers = masked_layers(model)
        kept = [int(layer.mask.sum()) for layer in layers.values()]
        costs = [position_costs(layer.mask.flatten()) for layer in layers.values()]
        notes = {"pruning": {"scope": self.scope, "rounds": self.rounds, "layers": list(layers), "kept_per_layer": kept,
                             "positions": [{"encoding": c.chosen, "relative_bytes": c.relative,
                                            "bitmap_bytes": c.bitmap, "fillers": c.fillers} for c in costs],
                             "phases": [{"phase": p.history[0]["phase"], "best_epoch": p.best_epoch,
                                         "best_val_error": p.best_val_error} for p in phases]}}
        last = phases[-1]
        return FitResult(last.best_epoch, last.best_val_error, sum(p.epochs_run for p in phases),
                         sum(p.seconds for p in phases), [m for p in phases for m in p.history], notes)

    @torch.no_grad()
    def prune_to_budget(self, model: nn.Module) -> None:
        """The last cut: to the planned weights, or under a byte budget to as many as fit in it."""
        if self.byte_limit is not None:
            self.kept_per_layer = self._most_within_bytes(model)
        self.prune(model, self.kept_per_layer)

    def _most_within_bytes(self, model: nn.Module) -> list[int]:
        """Weights to keep per layer: the largest parameter budget, split as at build, whose checkpoint
        (the actual encoding of the cut it makes) fits the byte limit. The search starts at the planned
        cut, which fits by its bound under scope=layer (a global cut can move weights to a layer whose
        encoding costs more per weight, and then keeps fewer)."""
        limit, state_bytes = self.byte_limit
        layers = masked_layers(model).values()
        weights = [layer.weight.numel() for layer in layers]
        others = params_of(model) - sum(weights)  # biases and what is left dense, stored in full
        left = [int(layer.mask.sum()) for layer in layers]  # what earlier rounds removed stays removed

        def keep_for(params: int) -> list[int] | None:
            if params - others < len(weights):  # fewer than every other parameter and one weight per layer
                return None
            return [min(k, n) for k, n in zip(connections_per_layer(params - others, weights), left)]

        def bytes_at(params: int) -> int | None:
            keep = keep_for(params)
            return None if keep is None else state_bytes(self._state(model, self.masks(model, keep)))

        params, _ = largest_fitting(bytes_at, sum(self.kept_per_layer) + others, sum(left) + others, limit)
        if not params:
            raise UserError(f"method=pruning: not even the smallest cut fits the byte budget of {limit:,} bytes")
        return keep_for(params)

    def masks(self, model: nn.Module, keep: list[int]) -> list[torch.Tensor]:
        """Masks of the largest-magnitude weights: `keep[i]` in layer i, or sum(keep) over all layers."""
        layers = masked_layers(model).values()
        magnitudes = [(layer.weight.detach().abs() * layer.mask).flatten() for layer in layers]
        if self.scope == "layer":
            masks = [_largest(m, k) for m, k in zip(magnitudes, keep)]
        else:
            masks = _largest(torch.cat(magnitudes), sum(keep)).split([m.numel() for m in magnitudes])
        return [mask.view_as(layer.mask) for mask, layer in zip(masks, layers)]

    @torch.no_grad()
    def prune(self, model: nn.Module, keep: list[int]) -> None:
        """Keep the largest-magnitude weights: `keep[i]` in layer i, or sum(keep) over all layers."""
        for layer, mask in zip(masked_layers(model).values(), self.masks(model, keep)):
            layer.set_mask(mask)

    def export_state(self, model: nn.Module) -> dict:
        return self._state(model, [layer.mask for layer in masked_layers(model).values()])

    def _state(self, model: nn.Module, masks: list[torch.Tensor]) -> dict:
        """Each compressed layer's kept values and their positions (methods/kept_positions.py) under
        `masks`, and the rest of the state dict."""
        layers = masked_layers(model)
        return state_with_kept(model, {name: encode(layer.weight.detach().flatten(), mask.flatten())
                                       for (name, layer), mask in zip(layers.items(), masks)})

    def load_state(self, model: nn.Module, state: dict) -> None:
        encoded = load_state_with_kept(model, state, ENCODED_PARTS)
        for name, layer in masked_layers(model).items():
            layer.load_kept(*decode(encoded[name], layer.weight.numel()))


def _largest(values: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of exactly k entries of largest value."""
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[torch.topk(values, k, sorted=False).indices] = True
    return mask
