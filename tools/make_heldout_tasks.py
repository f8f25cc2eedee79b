"""Three offline image tasks the main job never saw, to check the method beyond its own.

The main job's recipe settings were chosen on digits, textures and lfw_faces; these tasks
test whether they hold elsewhere. Each is written as an `npz:` task (uint8 gray images,
`x_train`, `y_train`, `x_test`, `y_test`), made reproducibly from scikit-image:
- `photo_tiles`: which of six photos a 32x32 tile comes from (camera, moon, coins, clock,
  cell, hubble_deep_field in gray). A photo's bottom quarter of tile rows is test, the
  rest train: no pixel is in both. Up to 100 train and 30 test tiles a photo (coins and
  clock have 84 and 24): 568 train, 168 test.
- `shapes`: one circle, rectangle, triangle or ellipse of random size, gray level and
  place on a 32x32 white ground, with Gaussian noise (sd 24). 150 train, 50 test a class.
- `blobs`: 32x32 binary blob fields (`skimage.data.binary_blobs`) of three blob sizes
  (fractions 0.1, 0.2, 0.35 of the side), volume fraction 0.3-0.6, noise sd 48.
  150 train, 50 test a class.

Command:   python tools/make_heldout_tasks.py --out /tmp/heldout
           then e.g. `evomt run recipes/offline_mini.py --workdir W --set
           'tasks=["npz:/tmp/heldout/photo_tiles.npz", "npz:/tmp/heldout/shapes.npz",
           "npz:/tmp/heldout/blobs.npz"]'` (BENCHMARKS.md, "Tasks the main job never saw").
"""

from __future__ import annotations

import argparse
import os

import numpy as np

SIDE = 32
PHOTOS = ("camera", "moon", "coins", "clock", "cell", "hubble_deep_field")
SHAPES = ("circle", "rectangle", "triangle", "ellipse")
BLOB_SIZES = (0.1, 0.2, 0.35)


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        image = image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return image.astype(np.uint8)


def _noisy(image: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0.0, sd, image.shape), 0, 255).astype(np.uint8)


def photo_tiles(rng: np.random.Generator, train: int = 100, test: int = 30):
    """(x_train, y_train, x_test, y_test) of tiles, test from each photo's bottom rows."""
    import skimage.data

    splits = {"train": ([], []), "test": ([], [])}
    for label, name in enumerate(PHOTOS):
        image = _gray(getattr(skimage.data, name)())
        rows, cols = image.shape[0] // SIDE, image.shape[1] // SIDE
        tiles = image[: rows * SIDE, : cols * SIDE].reshape(rows, SIDE, cols, SIDE)
        tiles = tiles.transpose(0, 2, 1, 3)
        test_rows = max(1, rows // 4)
        bands = {"train": tiles[: rows - test_rows], "test": tiles[rows - test_rows :]}
        for split, count in (("train", train), ("test", test)):
            band = bands[split].reshape(-1, SIDE, SIDE)
            pick = rng.choice(len(band), size=min(count, len(band)), replace=False)
            splits[split][0].append(band[pick])
            splits[split][1].append(np.full(len(pick), label))
    return _join(splits)


def shapes(rng: np.random.Generator, train: int = 150, test: int = 50):
    """One random shape an image, labelled by its kind."""
    from skimage.draw import random_shapes

    def draw(kind: str) -> np.ndarray:
        image, _ = random_shapes(
            (SIDE, SIDE),
            max_shapes=1,
            min_shapes=1,
            shape=kind,
            min_size=10,
            max_size=28,
            channel_axis=None,
            intensity_range=(0, 200),
            allow_overlap=True,
            rng=int(rng.integers(2**31)),
        )
        return _noisy(image.astype(np.float32), 24.0, rng)

    return _by_class(SHAPES, draw, train, test)


def blobs(rng: np.random.Generator, train: int = 150, test: int = 50):
    """Binary blob fields, labelled by blob size."""
    from skimage.data import binary_blobs

    def draw(size: float) -> np.ndarray:
        field = binary_blobs(
            length=SIDE,
            blob_size_fraction=size,
            volume_fraction=float(rng.uniform(0.3, 0.6)),
            rng=int(rng.integers(2**31)),
        )
        return _noisy(field.astype(np.float32) * 200.0 + 28.0, 48.0, rng)

    return _by_class(BLOB_SIZES, draw, train, test)


def _by_class(kinds, draw, train: int, test: int):
    splits = {"train": ([], []), "test": ([], [])}
    for label, kind in enumerate(kinds):
        for split, count in (("train", train), ("test", test)):
            splits[split][0].append(np.stack([draw(kind) for _ in range(count)]))
            splits[split][1].append(np.full(count, label))
    return _join(splits)


def _join(splits):
    return tuple(
        np.concatenate(part).astype(np.uint8 if index == 0 else np.int64)
        for split in ("train", "test")
        for index, part in enumerate(splits[split])
    )


TASKS = {"photo_tiles": photo_tiles, "shapes": shapes, "blobs": blobs}


def write_tasks(out: str, seed: int = 0) -> dict[str, str]:
    """Writes every task as OUT/NAME.npz; returns {name: path}.

    Example:
        write_tasks("/tmp/heldout")["shapes"]  # '/tmp/heldout/shapes.npz'
    """
    os.makedirs(out, exist_ok=True)
    paths = {}
    for offset, (name, make) in enumerate(TASKS.items()):
        x_train, y_train, x_test, y_test = make(np.random.default_rng([seed, offset]))
        path = os.path.join(out, f"{name}.npz")
        np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/heldout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, path in write_tasks(args.out, args.seed).items():
        with np.load(path) as data:
            print(f"{name}: {len(data['y_train'])} train, {len(data['y_test'])} test -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
