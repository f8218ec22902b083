"""The dense model of `model=...` for a data set, built from its config node through `_target_`.

A model node names a class and its options; the data set supplies `input_shape` (C, H, W) and
`num_classes` at build time. Its options may interpolate the training recipe (the MLPs take
their dropout from `train.dropout_*`), so the node is resolved against the recipe in force: the
run's, with its tuned hyperparameters, or a dark-knowledge teacher's own.
A checkpoint keeps the resolved node, the input shape and the class count, which rebuild it.
"""
from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from bench.components import call_target


class ModelFactory:
    def __init__(self, node: dict, input_shape, num_classes: int, root: DictConfig | None = None):
        self.node, self.input_shape, self.num_classes = dict(node), tuple(input_shape), int(num_classes)
        self.root = root  # the run's config, to resolve the node against another recipe; None once rebuilt

    @classmethod
    def from_config(cls, cfg: DictConfig, train_cfg, input_shape, num_classes: int) -> "ModelFactory":
        return cls(_resolved_model_node(cfg, train_cfg), input_shape, num_classes, cfg)

    @classmethod
    def from_record(cls, record: dict) -> "ModelFactory":
        return cls(record["node"], record["input_shape"], record["num_classes"])

    def as_record(self) -> dict:
        return {"node": self.node, "input_shape": list(self.input_shape), "num_classes": self.num_classes}

    def build(self, **options):
        """A freshly initialised dense model; `options` override the node's (e.g. width=0.5)."""
        return call_target({**self.node, **options, "input_shape": self.input_shape, "num_classes": self.num_classes})

    def params_ref(self) -> int:
        """The dense model's parameters: every weight and bias, counted on a model built without memory."""
        return params_of(self.build_on_meta())

    def build_on_meta(self, **options):
        """The model on the meta device: its shapes, no memory, no random numbers drawn."""
        with torch.device("meta"):
            return self.build(**options)

    def with_recipe(self, train_cfg) -> "ModelFactory":
        """The same model, its node resolved against another training recipe (a teacher's)."""
        if self.root is None:
            return self
        return ModelFactory.from_config(self.root, train_cfg, self.input_shape, self.num_classes)


def _resolved_model_node(cfg: DictConfig, train_cfg) -> dict:
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.train = train_cfg
        cfg.pop("hydra", None)
    return OmegaConf.to_container(cfg.model, resolve=True)


def params_of(model: nn.Module) -> int:
    """Every parameter of a model, counted once (a tied tensor is one tensor)."""
    return sum(p.numel() for p in model.parameters())
