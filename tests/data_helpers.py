"""Helpers shared by the tests of keras_evomt.data (tests/test_data_*.py)."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import tensorflow as tf

from keras_evomt.data.mock import mock_data as mock_tfds  # noqa: F401

SMALL = 16  # Image size used by the pipeline tests.


def id_images(n: int, size: int = 8, channels: int | None = 3) -> np.ndarray:
    """uint8 images whose pixels all equal their index (n <= 256), to trace examples."""
    assert n <= 256
    shape = (n, size, size) if channels is None else (n, size, size, channels)
    return np.broadcast_to(
        np.arange(n, dtype=np.uint8).reshape((n,) + (1,) * (len(shape) - 1)), shape
    ).copy()


def ids_of(ds: tf.data.Dataset) -> list[int]:
    """The ids (pixel [0, 0, 0]) of the raw examples of a loader dataset, in order."""
    return [int(np.asarray(ex["image"]).reshape(-1)[0]) for ex in ds.as_numpy_iterator()]


def write_idx(path: str, array: np.ndarray) -> None:
    """Writes a gzipped uint8 IDX file (the MNIST format)."""
    array = np.asarray(array, np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_fashion_mnist_files(directory: str, n_train: int = 40, n_test: int = 10) -> None:
    """Tiny Fashion-MNIST IDX files: image pixels equal the example's index."""
    os.makedirs(directory, exist_ok=True)
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        images = np.broadcast_to(
            (np.arange(n, dtype=np.uint8) + offset)[:, None, None], (n, 28, 28)
        )
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), np.arange(n) % 10)
