"""Inputs centred on the training split's mean, per channel (`train.center_inputs`, on by default).

The recipe's learning rate was set on MNIST, whose pixels average 0.13. Digits over noise or
photographs (`bg_rand`, `bg_img`, `bg_img_rot`) and `convex` average about 0.5: the squared
norm of the mean input is 5-8 times MNIST's, so the first layer's steps along that one direction
are as much larger, and SGD at lr 0.1 with momentum 0.9 oscillates there instead of learning
(training loss stuck near ln 10). Subtracting the mean gives every data set inputs of a similar
scale. One number per channel, from the training split alone, subtracted from every split; the
run records it (`dataset_notes.input_mean`): a checkpoint's model takes inputs centred by it.
"""
from __future__ import annotations

import dataclasses

from datasets.splits import DataSplits


def center_inputs(data: DataSplits) -> DataSplits:
    """`data` with the training split's per-channel mean subtracted from every split's images."""
    mean = data.train_x.mean(dim=(0, 2, 3), keepdim=True)
    return dataclasses.replace(data, train_x=data.train_x - mean, val_x=data.val_x - mean, test_x=data.test_x - mean,
                               notes={**data.notes, "input_mean": [round(float(m), 6) for m in mean.flatten()]})
