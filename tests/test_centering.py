"""The recipe's input scale (datasets/centering.py): statistics of the training split alone, applied to all."""
import torch

from bench.compression.model_factory import TransformedInputs
from datasets.centering import MNIST_PIXEL_STD, center_inputs, input_transform
from datasets.splits import DataSplits


def splits(offset: float) -> DataSplits:
    generator = torch.Generator().manual_seed(0)
    x = [torch.rand(n, 3, 4, 4, generator=generator) * torch.tensor([1, 0.5, 0]).view(1, 3, 1, 1) + offset
         for n in (50, 20, 20)]
    y = torch.zeros(50, dtype=torch.int64)
    return DataSplits("toy", x[0], y, x[1], y[:20], x[2], y[:20], num_classes=2)


def test_every_split_takes_the_training_splits_mean_and_scale():
    data = splits(0.4)
    centred = center_inputs(data)
    assert torch.allclose(centred.train_x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-6)
    assert torch.allclose(centred.train_x.std(dim=(0, 2, 3))[:2], torch.full((2,), MNIST_PIXEL_STD), atol=1e-5)
    assert centred.notes["input_scale"][2] == 1  # a constant channel: centred, not scaled
    assert torch.allclose(centred.train_x[:, 2], torch.zeros(50, 4, 4), atol=1e-6)
    mean = data.train_x.mean(dim=(0, 2, 3), keepdim=True)
    scale = torch.tensor(centred.notes["input_scale"]).view(1, 3, 1, 1)
    assert torch.allclose(centred.val_x, (data.val_x - mean) * scale, atol=1e-6)  # not the split's own statistics
    assert torch.allclose(centred.test_x, (data.test_x - mean) * scale, atol=1e-6)
    assert centred.notes["input_mean"] == mean.flatten().tolist()  # exact: a checkpoint applies them again
    assert data.train_x.min() >= 0.4  # the loader's tensors are left alone


def test_a_run_without_the_test_set_leaves_it_untouched():
    data = splits(0.0)
    assert center_inputs(data, with_test=False).test_x is data.test_x


def test_a_model_behind_the_recorded_transform_sees_the_very_inputs_it_trained_on():
    data = splits(0.4)
    centred = center_inputs(data)
    assert input_transform(data) is None  # nothing applied, nothing to keep
    seen = []
    behind = TransformedInputs(lambda x: seen.append(x), input_transform(centred))
    behind(data.test_x)
    assert torch.equal(seen[0], centred.test_x)  # the same bits, not merely close
