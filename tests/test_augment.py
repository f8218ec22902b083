"""Random crops and flips of training batches (datasets/augment.py), and the trainer applying them."""
import torch
from torch import nn

from bench.training.trainer import Trainer
from datasets.augment import TensorAugment
from datasets.splits import DataSplits


def batch(n=64, channels=3, side=8, seed=0):
    """Images with no zero pixel, so that padding shows as zeros."""
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed)) + 0.1


def generator(seed):
    return torch.Generator().manual_seed(seed)


def test_no_crop_and_no_flip_is_the_identity():
    x = batch()
    assert torch.equal(TensorAugment(crop_padding=0, flip=False)(x, generator(0)), x)


def test_shape_kept_and_the_same_generator_seed_gives_the_same_batch():
    x, augment = batch(), TensorAugment(crop_padding=2, flip=True)
    a, b, c = augment(x, generator(1)), augment(x, generator(1)), augment(x, generator(2))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_same_generator_gives_the_same_batch_on_every_device(device):
    x, augment = batch(), TensorAugment(crop_padding=2, flip=True)
    assert torch.equal(augment(x.to(device), generator(1)).cpu(), augment(x, generator(1)))


def test_flip_mirrors_some_images_left_to_right_and_leaves_the_others():
    x = batch()
    out = TensorAugment(crop_padding=0, flip=True)(x, generator(0))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image exactly one of the two
    assert 10 < sum(mirrored) < 54  # about half of 64


def test_crop_shifts_each_image_by_its_own_offset_and_pads_with_zeros():
    x, p = batch(), 2
    out = TensorAugment(crop_padding=p, flip=False)(x, generator(0))
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    offsets = []
    for o, image in zip(out, padded):
        found = [(top, left) for top in range(2 * p + 1) for left in range(2 * p + 1)
                 if torch.equal(o, image[:, top:top + 8, left:left + 8])]
        assert len(found) == 1  # a window of the zero-padded image
        offsets.append(found[0])
    assert len(set(offsets)) > 10  # offsets differ between images
    shifted = [i for i, offset in enumerate(offsets) if offset != (p, p)]
    assert shifted and all((out[i] == 0).any() for i in shifted)  # the padding shows as zeros
    assert all(not (out[i] == 0).any() for i, offset in enumerate(offsets) if offset == (p, p))


def test_trainer_applies_the_augment_to_training_batches_only_and_reproducibly():
    x = batch(n=40, channels=1, side=4)
    y = torch.arange(40) % 2
    seen = []

    def recording(images, rng):
        seen.append((images.shape, rng.initial_seed()))
        return TensorAugment(crop_padding=1, flip=True)(images, rng)

    data = DataSplits("toy", x, y, x[:10], y[:10], x[:10], y[:10], num_classes=2, augment=recording)
    trainer = Trainer(epochs=2, batch_size=16, lr=0.1, momentum=0.0, lr_decay=1.0, weight_decay=0.0,
                      patience=5, seed=3)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        trainer.fit(model, data)
        weights.append(model[1].weight.detach().clone())
    assert len(seen) == 2 * 2 * 3  # two fits, two epochs, batches of 16 + 16 + 8
    assert [shape[0] for shape, _ in seen[:3]] == [16, 16, 8]
    assert len({seed for _, seed in seen}) == 1  # one generator, seeded from the trainer's seed
    assert torch.equal(weights[0], weights[1])
