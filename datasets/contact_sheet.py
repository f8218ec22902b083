"""Write a PNG grid of samples with their labels, for a look at any data set.

    python -m datasets.contact_sheet rot --out rot.png
    python -m datasets.contact_sheet convex --split test --count 100 dataset.base=mnist5k data_root=DIR
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.errors import MissingConfigException  # noqa: E402

from bench.components import CONF_DIR, call_target  # noqa: E402
from bench.errors import UserError  # noqa: E402
from bench.storage.files import write_figure_atomically  # noqa: E402

CLASS_NAMES = {  # for two-class, clothing and object sets, where a bare number says little
    "rect": ["wide", "tall"], "convex": ["non-convex", "convex"],
    "fashion_mnist": ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def load_dataset(name: str, overrides: list[str]):
    """The data set `conf/dataset/NAME.yaml` builds, with Hydra-style OVERRIDES (e.g. dataset.seed=3)."""
    available = sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml"))
    if name not in available:
        raise UserError(f"unknown data set {name!r}; expected one of {', '.join(available)}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = compose("config", overrides=[f"dataset={name}", *overrides])
        except MissingConfigException as err:
            raise UserError(f"{str(err).splitlines()[0]}") from None
    return call_target(cfg.dataset), cfg.dataset.get("variation", name)


def write_contact_sheet(data, kind: str, split: str, count: int, out: Path) -> None:
    images, labels = getattr(data, f"{split}_x")[:count], getattr(data, f"{split}_y")[:count]
    cols = math.ceil(math.sqrt(len(labels)))
    rows = math.ceil(len(labels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.25 + 0.5), squeeze=False)
    names = CLASS_NAMES.get(kind)
    for ax, image, label in zip(axes.flat, images, labels.tolist()):
        # (C, H, W) -> (H, W, 3) for colour, (H, W) for grey (shown with the grey colour map)
        ax.imshow(image.permute(1, 2, 0).squeeze(2).numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(names[label] if names else str(label), fontsize=8, pad=2)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{data.name}: {split}, first {len(labels)} of {len(getattr(data, f'{split}_y')):,}", fontsize=10)
    write_figure_atomically(out, fig)
    plt.close(fig)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="a name from conf/dataset/, e.g. rot, convex, fashion_mnist")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. dataset.seed=3 data_root=DIR")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train")
    parser.add_argument("--count", type=int, default=64, help="how many samples (default 64)")
    parser.add_argument("--out", type=Path, help="PNG to write (default contact_sheets/DATASET_SPLIT.png)")
    args = parser.parse_args(argv)
    try:
        if args.count < 1:
            raise UserError(f"--count {args.count}: expected at least 1")
        data, kind = load_dataset(args.dataset, args.overrides)
        out = args.out or Path("contact_sheets") / f"{data.name}_{args.split}.png"
        write_contact_sheet(data, kind, args.split, args.count, out)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {out} ({data.name}, {args.split})")


if __name__ == "__main__":
    main(sys.argv[1:])
