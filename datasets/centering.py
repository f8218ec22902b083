"""Inputs brought to one scale (`train.center_inputs`, on by default): per channel, the training split's
mean subtracted and its standard deviation made MNIST's (0.3081).

The recipe (lr 0.1, momentum 0.9) is the HashedNets authors' for MNIST, whose pixels average 0.13
with a standard deviation of 0.31. Digits over noise or photographs (`bg_rand`, `bg_img`,
`bg_img_rot`) and `convex` average about 0.5: the squared norm of the mean input is 5-8 times
MNIST's, the first layer's steps along that one direction as much larger, and SGD oscillates there
instead of learning (training loss stuck near ln 10 on `bg_rand`). Centring alone fixes those; `convex`
(black and white regions, pixel deviation 0.49) then steps too far and diverges, hence the scale.
Both numbers come from the training split alone and apply to every split; the run records them
(`dataset_notes.input_mean`, `input_scale`) and its checkpoint keeps them: a rebuilt model takes the
data set's own inputs (bench/compression/model_factory.py TransformedInputs).
"""
from __future__ import annotations

import copy

import torch

from datasets.splits import DataSplits

MNIST_PIXEL_STD = 0.3081  # the standard deviation of MNIST's training pixels in [0, 1]
CONSTANT_STD = 1e-6  # a channel deviating less is constant (to float32's rounding of its mean): centred, not scaled


def center_inputs(data: DataSplits, with_test: bool = True) -> DataSplits:
    """`data` with every split's images x -> (x - mean) * scale, mean and scale per channel from the
    training split, scale = MNIST_PIXEL_STD / its standard deviation (1 for a constant channel).

    `with_test=False` (a tuning trial, which never reads the test set) leaves the test split untouched."""
    mean = data.train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = data.train_x.std(dim=(0, 2, 3), keepdim=True)
    scale = torch.where(std > CONSTANT_STD, MNIST_PIXEL_STD / std, torch.ones_like(std))
    centred = copy.copy(data)  # not dataclasses.replace: its label checks would read the test split again
    centred.train_x, centred.val_x = (data.train_x - mean) * scale, (data.val_x - mean) * scale
    if with_test:
        centred.test_x = (data.test_x - mean) * scale
    # exact (float32 as Python floats): a checkpoint's model applies them again, to the same bits
    centred.notes = {**data.notes, "input_mean": mean.flatten().tolist(), "input_scale": scale.flatten().tolist()}
    return centred


def input_transform(data: DataSplits) -> dict | None:
    """The transform `center_inputs` applied to `data`, for the model's checkpoint, or None."""
    if "input_mean" not in data.notes:
        return None
    return {"mean": data.notes["input_mean"], "scale": data.notes["input_scale"]}
