"""Pretrains the offline main job's root: vit_mini on Fashion-MNIST.

Sharing frozen layers is worth something only if they hold features: this trains the
small root (vit_mini: 32 px, patch 8, 4 blocks of width 64) on Fashion-MNIST, which is
not one of the main job's tasks, and writes it as a ready root. It ships as
`keras_evomt/pretrained/vit_mini_fashion_mnist.npz` (sha256 in SHA256SUMS beside it), and
`recipes/offline_mini.py` starts from it as `builtin:vit_mini_fashion_mnist`.

Command:   python tools/pretrain_root.py --out keras_evomt/pretrained/vit_mini_fashion_mnist.npz
           then: cd keras_evomt/pretrained && sha256sum vit_mini_fashion_mnist.npz > SHA256SUMS
Data:      Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist): the 60,000
           training images, 28 px gray resized to 32 px and tiled to RGB in [-1, 1]; the
           10,000 test images only to report accuracy.
Training:  Keras fit, AdamW (lr 1e-3, weight decay 1e-4, cosine decay), batch 128,
           8 epochs, random horizontal flips and shifts of up to 2 px, seed 0, TF op
           determinism, a linear head dropped after training.
Hardware:  2 CPU cores; measured here: 28 minutes with the machine shared by other work
           (load average about 8), 150-290 s an epoch.
Result:    measured here: 85.7% Fashion-MNIST test accuracy (recorded in the file's
           header); 147,520 parameters, 611,529 bytes, sha256 ea1bf36b76ce198d...
           (keras_evomt/pretrained/SHA256SUMS).
"""

from __future__ import annotations

import argparse
import json
import sys

import keras
import numpy as np
import tensorflow as tf

from keras_evomt.components import ClassificationHead, checkpoints, roots
from keras_evomt.data.offline import FASHION_MNIST_DIR, fashion_mnist_files_present, read_idx

ROOT = "vit_mini"
IMAGE_SIZE = 32


def load(split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST `split` ('train' or 't10k') as 32 px RGB in [-1, 1]."""
    images = read_idx(f"{FASHION_MNIST_DIR}/{split}-images-idx3-ubyte.gz")[:limit]
    labels = read_idx(f"{FASHION_MNIST_DIR}/{split}-labels-idx1-ubyte.gz")[:limit]
    x = tf.image.resize(images[..., None].astype("float32"), (IMAGE_SIZE, IMAGE_SIZE))
    x = tf.repeat(x / 127.5 - 1.0, 3, axis=-1).numpy()
    return x, labels.astype("int32")


def pretrain(
    out: str, *, epochs: int, batch_size: int, limit: int | None, seed: int
) -> dict[str, float]:
    """Trains the root with a temporary head, writes the ready root; returns figures."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train = load("train", limit)
    x_test, y_test = load("t10k", limit)
    parts = roots.build_root(ROOT, image_size=IMAGE_SIZE)
    head = ClassificationHead(10, name=roots.HEAD)
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(2 / IMAGE_SIZE, 2 / IMAGE_SIZE, seed=seed),
        ]
    )
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    hidden = augment(inputs)
    for _, component in parts:
        hidden = component(hidden)
    model = keras.Model(inputs, head(hidden))
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    source = (
        f"tools/pretrain_root.py: Fashion-MNIST train ({len(x_train)} images), "
        f"{epochs} epochs, seed {seed}; test accuracy {accuracy:.4f}"
    )
    spec = roots.root_spec(ROOT, image_size=IMAGE_SIZE)
    path = checkpoints.save_root(parts, spec, out, root=ROOT, source=source)
    params = sum(c.param_count() for _, c in parts)
    return {"test_accuracy": float(accuracy), "params": params, "out": str(path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the ready root (.npz)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not fashion_mnist_files_present():
        print(
            f"error: Fashion-MNIST's files are not in {FASHION_MNIST_DIR}; "
            "install them with `apt-get install dataset-fashion-mnist`.",
            file=sys.stderr,
        )
        return 2
    figures = pretrain(
        args.out, epochs=args.epochs, batch_size=args.batch_size, limit=args.limit, seed=args.seed
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
