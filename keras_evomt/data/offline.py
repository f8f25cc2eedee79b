"""Real data that works with no network: digits, lfw_faces, textures, fashion_mnist.

- `digits`: scikit-learn's `load_digits` (1,797 8x8 gray images, values 0..16, 10 classes).
- `lfw_faces`: scikit-image's `lfw_subset` (100 faces, 100 non-faces, 25x25 gray), 2 classes.
- `textures`: non-overlapping 32x32 tiles of scikit-image's texture photos (brick, grass,
  gravel; one class each). Each photo's tile rows are split in bands: test the bottom
  quarter, validation the eighth above it, train the rest, so no pixel is in two splits
  and validation is held out as test is.
- `fashion_mnist`: Debian's `dataset-fashion-mnist` files, converted into the TFDS data dir
  as the TFDS dataset `fashion_mnist` (same features, version and splits as TFDS's own
  builder, which rejects Debian's re-compressed files by checksum).

The test splits of digits and lfw_faces are stratified, with a fixed seed; their
validation is then carved from the rest (Task.from_arrays).

Example:
    task = digits_task()
    prepare_fashion_mnist(data_dir="/data/tfds")  # then get_task("fashion_mnist", ...)
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from keras_evomt.data.sources import carve
from keras_evomt.data.task import Task
from keras_evomt.data.tfds_source import is_prepared, open_builder, quiet_tfds
from keras_evomt.errors import EvomtError, UserInputError

SPLIT_SEED = 0
TEST_FRACTION = 0.2
TEXTURES = ("brick", "grass", "gravel")  # The texture photos scikit-image ships (0.26).
TEXTURE_TILE = 32
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _require(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"this task needs {package}: pip install {package}") from err


def _split_test(name: str, x: np.ndarray, y: np.ndarray, **kwargs) -> Task:
    keep, (test,) = carve(y, TEST_FRACTION, SPLIT_SEED)
    return Task.from_arrays(name, x[keep], y[keep], x[test], y[test], seed=SPLIT_SEED, **kwargs)


def digits_task(name: str = "digits", private: bool = False) -> Task:
    """scikit-learn's 8x8 handwritten digits, 10 classes.

    Example:
        digits_task().num_train_examples  # 1295
    """
    datasets = _require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    x = digits.images.astype(np.uint8)
    return _split_test(
        name,
        x,
        digits.target.astype(np.int64),
        num_classes=10,
        value_range=(0.0, 16.0),
        class_names=[str(c) for c in digits.target_names],
        private=private,
        source="sklearn:digits",
    )


def lfw_faces_task(name: str = "lfw_faces", private: bool = False) -> Task:
    """Faces (label 1) vs non-faces (label 0) from scikit-image's LFW subset.

    Example:
        lfw_faces_task().class_names  # ["non-face", "face"]
    """
    data = _require("skimage.data", "scikit-image")
    images = np.asarray(data.lfw_subset(), np.float32)  # 100 faces, then 100 non-faces.
    labels = np.array([1] * 100 + [0] * 100, np.int64)
    return _split_test(
        name,
        images,
        labels,
        num_classes=2,
        value_range=(0.0, 1.0),
        class_names=["non-face", "face"],
        private=private,
        source="skimage:lfw_subset",
    )


def texture_tiles(image: np.ndarray, tile: int = TEXTURE_TILE) -> dict[str, np.ndarray]:
    """Split name -> tiles: a grid of non-overlapping tiles whose rows are split in bands,
    top to bottom train, validation (an eighth of the rows), test (the bottom quarter).

    Validation is held out as test is: tiles carved at random from the training rows
    would have training tiles beside them.

    Example:
        tiles = texture_tiles(np.zeros((512, 512), np.uint8))  # 160, 32 and 64 tiles
    """
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    grid = image[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile, *image.shape[2:])
    grid = np.moveaxis(grid, 2, 1).reshape(rows, cols, tile, tile, *image.shape[2:])
    test_rows, validation_rows = max(1, rows // 4), max(1, rows // 8)
    if rows < test_rows + validation_rows + 1:
        raise UserInputError(
            f"a texture image needs at least 3 rows of {tile}-pixel tiles. "
            f"Received: shape {image.shape}"
        )
    bands = {
        "train": grid[: rows - test_rows - validation_rows],
        "validation": grid[rows - test_rows - validation_rows : rows - test_rows],
        "test": grid[rows - test_rows :],
    }
    return {split: band.reshape(-1, tile, tile, *image.shape[2:]) for split, band in bands.items()}


def textures_task(name: str = "textures", private: bool = False) -> Task:
    """One class per scikit-image texture photo (brick, grass, gravel), 32x32 tiles.

    Example:
        textures_task().num_classes  # 3
    """
    data = _require("skimage.data", "scikit-image")
    parts = {split: ([], []) for split in ("train", "validation", "test")}
    for label, texture in enumerate(TEXTURES):
        tiles = texture_tiles(np.asarray(getattr(data, texture)(), np.uint8))
        for split, (images, labels) in parts.items():
            images.append(tiles[split])
            labels.append(np.full(len(tiles[split]), label, np.int64))
    (x_train, y_train), validation, (x_test, y_test) = (
        (np.concatenate(images), np.concatenate(labels)) for images, labels in parts.values()
    )
    return Task.from_arrays(
        name,
        x_train,
        y_train,
        x_test,
        y_test,
        validation=validation,
        num_classes=len(TEXTURES),
        value_range=(0.0, 255.0),
        class_names=list(TEXTURES),
        seed=SPLIT_SEED,
        private=private,
        source="skimage:" + ",".join(TEXTURES),
    )


# === Fashion-MNIST from Debian's files ===


def read_idx(path: str) -> np.ndarray:
    """Reads a (gzipped) IDX file: uint8 images (N, H, W) or labels (N,).

    Example:
        read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # (10000,)
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise UserInputError(f"{path} is not a uint8 IDX file (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise UserInputError(f"{path} is truncated: {array.size} values for shape {shape}")
    return array.reshape(shape)


def fashion_mnist_files_present(source_dir: str = FASHION_MNIST_DIR) -> bool:
    """Whether the four Fashion-MNIST IDX files are in `source_dir`."""
    files = [f for pair in FASHION_MNIST_FILES.values() for f in pair]
    return all(os.path.isfile(os.path.join(source_dir, f)) for f in files)


def _local_fashion_mnist_builder(source_dir: str, data_dir: str | None):
    """TFDS's fashion_mnist builder, reading the IDX files of `source_dir` directly."""
    import tensorflow_datasets as tfds

    base = tfds.builder_cls("fashion_mnist")

    class LocalFashionMnist(base, skip_registration=True):
        name = "fashion_mnist"
        # No checksums file to look up (and TFDS's lookup of one for a class outside
        # tensorflow_datasets needs the importlib_resources backport).
        code_path = None

        def _split_generators(self, dl_manager):
            del dl_manager  # Nothing to download: the files are local.
            return {
                split: self._generate_examples(
                    os.path.join(source_dir, images), os.path.join(source_dir, labels)
                )
                for split, (images, labels) in FASHION_MNIST_FILES.items()
            }

        def _generate_examples(self, images_path, labels_path):
            images, labels = read_idx(images_path), read_idx(labels_path)
            if len(images) != len(labels):
                raise UserInputError(
                    f"{images_path} holds {len(images)} images but {labels_path} "
                    f"holds {len(labels)} labels"
                )
            for index, (image, label) in enumerate(zip(images, labels)):
                yield index, {"image": image[..., np.newaxis], "label": int(label)}

    return LocalFashionMnist(data_dir=data_dir)


def prepare_fashion_mnist(
    data_dir: str | None = None, source_dir: str = FASHION_MNIST_DIR, download: bool = False
) -> str:
    """Writes TFDS's `fashion_mnist` into `data_dir` from local IDX files (or downloads).

    Example:
        prepare_fashion_mnist("/data/tfds")  # "fashion_mnist prepared in /data/tfds/..."
    """
    import tensorflow_datasets as tfds

    prepared = open_builder("fashion_mnist", data_dir)
    if is_prepared(prepared):
        return f"fashion_mnist: already prepared in {prepared.data_dir}"
    if fashion_mnist_files_present(source_dir):
        with quiet_tfds():
            builder = _local_fashion_mnist_builder(source_dir, data_dir)
        tfds.disable_progress_bar()  # a local conversion: no download bars
        try:
            builder.download_and_prepare()
        finally:
            tfds.enable_progress_bar()
        return f"fashion_mnist: prepared in {builder.data_dir} from {source_dir}"
    if download:
        try:
            prepared.download_and_prepare()
        except Exception as err:  # TFDS raises many kinds; say what failed.
            raise EvomtError(f"downloading fashion_mnist failed: {err}") from err
        return f"fashion_mnist: downloaded and prepared in {prepared.data_dir}"
    raise UserInputError(
        f"fashion_mnist is not prepared and its files are not in {source_dir}",
        hint="install them with `apt-get install dataset-fashion-mnist`, "
        "or download with `evomt data prepare fashion_mnist --download`",
    )
