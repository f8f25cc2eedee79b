"""Where a task's examples come from: the `Loader` contract and the user-data loaders.

A loader serves the three splits of a task ("train", "validation", "test") as finite
tf.data.Datasets of `{"image", "label"}` dicts, in a deterministic order, undecorated
(no shuffling, resizing or batching: `pipeline.py` does that). Validation is always
carved from training data, never from test:
- numpy arrays and image directories (size and labels known): a stratified random
  fraction of the training examples, drawn with a fixed seed (`carve`);
- a tf.data.Dataset (size may be unknown): every k-th training example (k = 1 / fraction),
  offset by the seed, so the carving needs no pass over the data.
When no test data is given, the test split is carved from training data the same way,
disjoint from validation. TFDS data lives in `tfds_source.py`.

Example:
    loader = ArrayLoader.from_train_test(x, y, None, None, validation_fraction=0.1, seed=0)
    ds = loader.load("validation")
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from keras_evomt.errors import UserInputError, op_error_text

SPLITS = ("train", "validation", "test")


class Loader:
    """Serves a task's splits. Subclasses implement `load` and `num_examples`."""

    def load(self, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """Finite dataset of {"image", "label"}; `shuffle_seed` may shuffle files (TFDS)."""
        raise NotImplementedError

    def num_examples(self, split: str) -> int | None:
        """Size of `split` when known without reading the data, else None."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        """One human-readable spec string per split."""
        raise NotImplementedError

    def labels(self, split: str) -> np.ndarray | None:
        """Every label of `split` when known without reading the images, else None."""
        return None

    def is_present(self) -> bool:
        """Whether the data is available locally (no download needed)."""
        return True

    def missing(self) -> list:
        """A `MissingDataError` for data that is neither here nor prepared on first use."""
        return []

    def prepare(self, download: bool = False) -> str:
        """Makes the data available locally; returns a message."""
        return "nothing to prepare: the data is built in"

    def unreadable(self, split: str) -> list[tuple[str, str]]:
        """(file, why) for each file of `split` that does not decode, where the source
        reads files one by one; a scan made only after reading failed."""
        return []


def carve(
    labels: np.ndarray, fraction: float, seed: int, parts: int = 1
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Stratified, seeded carving of `parts` disjoint held-out index sets.

    Each class contributes round(fraction * its count) examples to each part (at least one
    when it has more examples than parts). Returns (kept indices, [held-out indices, ...]),
    all sorted, so the original order is kept inside each split.

    Example:
        keep, (val,) = carve(np.array([0, 0, 1, 1, 1]), 0.4, seed=0)
    """
    if not 0.0 < fraction < 1.0 / (parts + 1):
        raise UserInputError(
            f"validation_fraction must be in (0, {1.0 / (parts + 1):.2f}). Received: {fraction!r}"
        )
    rng = np.random.default_rng(seed)
    held: list[list[np.ndarray]] = [[] for _ in range(parts)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        per_part = int(round(fraction * len(members)))
        if per_part == 0 and len(members) > parts:
            per_part = 1
        for p in range(parts):
            held[p].append(members[p * per_part : (p + 1) * per_part])
    held_sets = [np.sort(np.concatenate(h)).astype(np.int64) for h in held]
    mask = np.ones(len(labels), bool)
    for h in held_sets:
        mask[h] = False
    return np.flatnonzero(mask), held_sets


# === numpy arrays ===


def check_arrays(x: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validates image / label arrays; returns them as numpy arrays."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "buif":
        raise UserInputError(
            f"{what} images must be numbers (uint8, or floats). Received: dtype {x.dtype}"
        )
    if y.dtype.kind not in "buif":
        raise UserInputError(
            f"{what} labels must be integers 0..K-1 (map class names to integers first). "
            f"Received: dtype {y.dtype}"
        )
    if x.dtype.kind == "f" and x.size and not np.isfinite([x.min(), x.max()]).all():
        raise UserInputError(f"{what} images hold NaN or infinite values")
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 2, 3, 4)):
        raise UserInputError(
            f"{what} images must have shape (N, H, W) or (N, H, W, C) with C in 1..4. "
            f"Received: shape {x.shape}"
        )
    if y.ndim == 2 and y.shape[1] == 1:  # (N, 1), as keras.datasets gives them
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x):
        raise UserInputError(
            f"{what} labels must have shape (N,) matching the {len(x)} images. "
            f"Received: shape {y.shape}",
            hint="one-hot labels: pass y.argmax(axis=1)" if y.ndim == 2 else None,
        )
    if len(x) == 0:
        raise UserInputError(f"{what} split is empty (0 examples)")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise UserInputError(f"{what} labels must be integers. Received: dtype {y.dtype}")
        y = y.astype(np.int64)
    return x, y


class ArrayLoader(Loader):
    """Splits held in memory as (images, labels) numpy arrays."""

    def __init__(
        self, arrays: Mapping[str, tuple[np.ndarray, np.ndarray]], specs: Mapping[str, str]
    ):
        self.arrays = dict(arrays)
        self.specs = dict(specs)

    @classmethod
    def from_train_test(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray | None,
        y_test: np.ndarray | None,
        *,
        validation_fraction: float,
        seed: int,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> ArrayLoader:
        """Carves validation (unless given) and test (when absent) from the training arrays."""
        has_test = x_test is not None
        if validation is not None and not has_test:
            raise UserInputError("a validation split needs a test split too: give x_test, y_test")
        how = f"{validation_fraction:.0%} of train arrays, stratified, seed {seed}"
        if validation is not None:
            arrays = {"train": (x_train, y_train), "validation": validation}
            specs = {
                "train": f"train arrays ({len(y_train)})",
                "validation": f"validation arrays ({len(validation[1])})",
            }
        else:
            keep, held = carve(y_train, validation_fraction, seed, parts=1 if has_test else 2)
            arrays = {
                "train": (x_train[keep], y_train[keep]),
                "validation": (x_train[held[0]], y_train[held[0]]),
            }
            specs = {
                "train": f"train arrays minus held out ({len(keep)})",
                "validation": f"{how} ({len(held[0])})",
            }
        if has_test:
            arrays["test"] = (x_test, y_test)
            specs["test"] = f"test arrays ({len(x_test)})"
        else:
            arrays["test"] = (x_train[held[1]], y_train[held[1]])
            specs["test"] = f"another {how} ({len(held[1])})"
        for split, (_, y) in arrays.items():
            if len(y) == 0:
                raise UserInputError(f"the {split} split is empty after carving: give more data")
        return cls(arrays, specs)

    def load(self, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
        x, y = self.arrays[split]
        return tf.data.Dataset.from_tensor_slices({"image": x, "label": y})

    def num_examples(self, split: str) -> int | None:
        return len(self.arrays[split][1])

    def labels(self, split: str) -> np.ndarray | None:
        return self.arrays[split][1]

    def describe(self) -> dict[str, str]:
        return dict(self.specs)


# === tf.data.Dataset and directories ===


@tf.autograph.experimental.do_not_convert
def as_example(*element: Any) -> dict[str, tf.Tensor]:
    """Map fn: (image, label, ...) or {"image", "label", ...} -> {"image", "label"}."""
    if len(element) == 1 and isinstance(element[0], Mapping):
        return {"image": element[0]["image"], "label": element[0]["label"]}
    return {"image": element[0], "label": element[1]}


def check_element_spec(ds: tf.data.Dataset, what: str) -> None:
    """Raises UserInputError unless `ds` yields (image, label) or {"image", "label"}."""
    spec = ds.element_spec
    if isinstance(spec, Mapping):
        missing = {"image", "label"} - set(spec)
        if missing:
            raise UserInputError(
                f"{what} dataset dicts need keys 'image' and 'label'. Received keys: {sorted(spec)}"
            )
        image, label = spec["image"], spec["label"]
    elif isinstance(spec, tuple) and len(spec) >= 2:
        image, label = spec[0], spec[1]
    else:
        raise UserInputError(
            f"{what} dataset must yield (image, label) pairs or dicts. Received: {spec}"
        )
    rank = image.shape.rank
    if rank is not None and rank not in (2, 3):
        hint = " (is it batched? pass an unbatched dataset: ds.unbatch())" if rank == 4 else ""
        raise UserInputError(
            f"{what} images must have shape (H, W) or (H, W, C){hint}. "
            f"Received: image shape {tuple(image.shape)}"
        )
    if rank == 3 and image.shape[-1] is not None and image.shape[-1] not in (1, 2, 3, 4):
        raise UserInputError(
            f"{what} images must have 1 to 4 channels. Received: image shape {tuple(image.shape)}"
        )
    if label.shape.rank not in (None, 0) or not (label.dtype.is_integer or label.dtype.is_floating):
        raise UserInputError(
            f"{what} labels must be integer scalars (sparse class ids). "
            f"Received: label spec {label}"
        )


@dataclasses.dataclass
class Part:
    """One split of a `DatasetLoader`: a base dataset and which indices of it to keep."""

    dataset: tf.data.Dataset
    keep: Callable[[tf.Tensor], tf.Tensor] | None
    count: int | None
    spec: str


def stride_keep(k: int, residues: tuple[int, ...], keep_residues: bool) -> Callable:
    """Predicate on an index: whether `i % k` is (or is not) in `residues`."""

    def keep(index: tf.Tensor) -> tf.Tensor:
        hit = tf.reduce_any(tf.equal(index % k, tf.constant(residues, tf.int64)))
        return hit if keep_residues else tf.logical_not(hit)

    return keep


def mask_keep(mask: np.ndarray) -> Callable:
    """Predicate on an index: `mask[i]`."""
    table = tf.constant(mask, tf.bool)
    return lambda index: tf.gather(table, index)


class DatasetLoader(Loader):
    """Splits taken from tf.data.Datasets, optionally filtered by index."""

    def __init__(self, parts: Mapping[str, Part]):
        self.parts = dict(parts)

    @classmethod
    def from_train_test(
        cls,
        train_ds: tf.data.Dataset,
        test_ds: tf.data.Dataset | None,
        *,
        validation_fraction: float,
        seed: int,
    ) -> DatasetLoader:
        """Carves validation (and test, when absent) as every k-th training example."""
        if not 0.0 < validation_fraction <= 0.5:
            raise UserInputError(
                f"validation_fraction must be in (0, 0.5]. Received: {validation_fraction!r}"
            )
        k = max(2, int(round(1.0 / validation_fraction)))
        if test_ds is None and k < 3:
            k = 3
        val_residue = seed % k
        test_residue = (seed + 1) % k
        held = (val_residue,) if test_ds is not None else (val_residue, test_residue)
        n = _cardinality(train_ds, "train")

        def count(residues: tuple[int, ...]) -> int | None:
            if n is None:
                return None
            return sum(n // k + (1 if n % k > r else 0) for r in residues)

        parts = {
            "train": Part(
                train_ds,
                stride_keep(k, held, keep_residues=False),
                None if n is None else n - count(held),
                "given train dataset minus the validation"
                + (" and test" if test_ds is None else "")
                + " examples",
            ),
            "validation": Part(
                train_ds,
                stride_keep(k, (val_residue,), keep_residues=True),
                count((val_residue,)),
                f"every {k}th example of the given train dataset (offset {val_residue})",
            ),
        }
        if test_ds is None:
            parts["test"] = Part(
                train_ds,
                stride_keep(k, (test_residue,), keep_residues=True),
                count((test_residue,)),
                f"every {k}th example of the given train dataset (offset {test_residue})",
            )
        else:
            parts["test"] = Part(test_ds, None, _cardinality(test_ds, "test"), "given test dataset")
        return cls(parts)

    def load(self, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
        part = self.parts[split]
        ds = part.dataset.map(as_example)
        if part.keep is not None:
            ds = ds.enumerate().filter(_index_filter(part.keep)).map(_drop_index)
        return ds

    def num_examples(self, split: str) -> int | None:
        return self.parts[split].count

    def describe(self) -> dict[str, str]:
        return {split: part.spec for split, part in self.parts.items()}


def _index_filter(keep: Callable[[tf.Tensor], tf.Tensor]) -> Callable:
    @tf.autograph.experimental.do_not_convert
    def fn(index: tf.Tensor, example: dict[str, tf.Tensor]) -> tf.Tensor:
        return keep(index)

    return fn


@tf.autograph.experimental.do_not_convert
def _drop_index(index: tf.Tensor, example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return example


def _cardinality(ds: tf.data.Dataset, what: str) -> int | None:
    n = int(ds.cardinality())
    if n == tf.data.INFINITE_CARDINALITY:
        raise UserInputError(f"the {what} dataset is infinite: pass it without .repeat()")
    return None if n < 0 else n


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# Image formats tf.io.decode_image does not read: skipped with a warning, not silently.
OTHER_IMAGE_EXTENSIONS = (".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".jp2", ".jxl")
OTHER_IMAGE_EXTENSIONS += (".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".svg")
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_log = logging.getLogger("keras_evomt")


class FileLoader(Loader):
    """Splits held as lists of image files and their labels, decoded when read.

    Images are decoded at their own size (the pipeline resizes them once, to the
    path's size), to RGB uint8; `keras.utils.image_dataset_from_directory` would resize
    every image to one fixed size first.
    """

    def __init__(
        self, files: Mapping[str, tuple[np.ndarray, np.ndarray]], specs: Mapping[str, str]
    ):
        self.files = dict(files)
        self.specs = dict(specs)

    def load(self, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
        paths, labels = self.files[split]
        ds = tf.data.Dataset.from_tensor_slices({"path": paths, "label": labels})
        return ds.map(_decode_file, num_parallel_calls=tf.data.AUTOTUNE)

    def num_examples(self, split: str) -> int | None:
        return len(self.files[split][1])

    def labels(self, split: str) -> np.ndarray | None:
        return self.files[split][1]

    def describe(self) -> dict[str, str]:
        return dict(self.specs)

    def unreadable(self, split: str) -> list[tuple[str, str]]:
        bad = []
        for path in self.files[split][0]:
            try:
                _decode_file({"path": tf.constant(path), "label": tf.constant(0)})
            except tf.errors.OpError as error:
                bad.append((str(path), op_error_text(error)))
        return bad


@tf.autograph.experimental.do_not_convert
def _decode_file(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    data = tf.io.read_file(example["path"])
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return {"image": tf.ensure_shape(image, [None, None, 3]), "label": example["label"]}


SPLIT_FOLDERS = {  # a split's folder names, as image-folder data sets name them
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "test": "test",
}


def split_layout(directory: str) -> dict[str, str] | None:
    """{"train": ...[, "validation": ...][, "test": ...]} when `directory`'s folders are
    `train/` and, optionally, `validation/` (or `val/`, `valid/`) and `test/` (hidden ones,
    such as `.ipynb_checkpoints`, ignored); else None (one folder per class).

    Example:
        split_layout("/data/flowers")  # {"test": "/data/flowers/test", "train": ...}
    """
    layout = split_folders(directory)
    if layout is not None and "train" not in layout:
        folders = visible_folders(directory)
        raise UserInputError(
            f"{directory} holds {' and '.join(f + '/' for f in folders)} but no train/",
            hint="put the training images in train/ (one folder per class), beside them"
            + (
                "; a test/ folder alone serves `evomt eval --split test`"
                if "test" in layout
                else ""
            ),
        )
    return layout


def split_folders(directory: str) -> dict[str, str] | None:
    """{split: folder} when every folder of `directory` names a split (train/,
    validation/ or val/ or valid/, test/; hidden ones ignored), train/ or not; else None.

    Example:
        split_folders("/data/held_out")  # {"test": "/data/held_out/test"}
    """
    import os

    if not os.path.isdir(directory):
        return None
    folders = visible_folders(directory)
    if not folders:
        return None
    if not set(folders) <= set(SPLIT_FOLDERS):
        _refuse_split_like_classes(directory, folders)
        return None
    splits = [SPLIT_FOLDERS[f] for f in folders]
    if len(set(splits)) < len(splits):
        raise UserInputError(
            f"{directory} holds {', '.join(f + '/' for f in folders)}: two of them name the "
            "validation split",
            hint="keep one validation folder (validation/, val/ or valid/)",
        )
    return {split: os.path.join(directory, f) for f, split in zip(folders, splits)}


_SPLIT_LIKE = {*SPLIT_FOLDERS, "training", "testing"}


def _refuse_split_like_classes(directory: str, folders: list[str]) -> None:
    """Folders that would be classes but are named like splits (Train/ and Test/, or
    training/, or train/ beside a class folder) would train a task that tells the
    folders apart: refused."""
    like = [f for f in folders if f.lower() in _SPLIT_LIKE]
    if not like:
        return
    raise UserInputError(
        f"{directory} holds {', '.join(f + '/' for f in folders)}: "
        f"{', '.join(f + '/' for f in like)} would be classes, named like splits",
        hint="a folder of splits holds exactly train/ and optionally validation/ (or val/, "
        "valid/) and test/, lower-case, each with one folder per class; a folder of "
        "classes holds only class folders",
    )


def visible_folders(directory: str) -> list[str]:
    """`directory`'s sub-folders, sorted, without hidden ones (names starting with '.').

    Example:
        visible_folders("/data/flowers")  # ["test", "train"], not ".ipynb_checkpoints"
    """
    import os

    return sorted(
        f
        for f in os.listdir(directory)
        if not f.startswith(".") and os.path.isdir(os.path.join(directory, f))
    )


def directory_loader(
    directory: str,
    test_directory: str | None,
    *,
    validation_fraction: float,
    seed: int,
    validation_directory: str | None = None,
) -> tuple[FileLoader, list[str]]:
    """A loader over image folders (one subfolder per class, the Keras convention).

    Validation (and test, without `test_directory`) is carved per class with a fixed seed
    unless its folder is given. Files that are not JPEG, PNG, GIF or BMP images are
    skipped, with one warning that names how many and the first few.
    Returns the loader and the class names.
    """
    paths, labels, class_names = _read_directory(directory, None)
    given = {"test": test_directory, "validation": validation_directory}
    carved = [split for split in ("validation", "test") if given[split] is None]
    files, specs = {}, {}
    if carved:
        keep, held = carve(labels, validation_fraction, seed, parts=len(carved))
        how = f"{validation_fraction:.0%} of {directory} (stratified, seed {seed})"
        for split, indices in zip(carved, held):
            files[split] = (paths[indices], labels[indices])
            specs[split] = f"{how} ({len(indices)})"
        paths, labels = paths[keep], labels[keep]
    files["train"] = (paths, labels)
    specs["train"] = f"{directory}" + (f" minus held out ({len(labels)})" if carved else "")
    for split, folder in given.items():
        if folder is not None:
            split_paths, split_labels, _ = _read_directory(folder, class_names)
            files[split] = (split_paths, split_labels)
            specs[split] = f"{folder} ({len(split_labels)})"
    for split, (_, split_labels) in files.items():
        if len(split_labels) == 0:
            raise UserInputError(f"the {split} split of {directory} is empty: give more images")
    return FileLoader(files, specs), class_names


def held_out_loader(folder: str, class_names: list[str] | None) -> tuple[FileLoader, list[str]]:
    """A loader whose every split is `folder`'s images (one folder per class): data that
    holds only the split `evomt eval` scores. Labels follow `class_names` (the trained
    task's) when given, else the sorted folder names. Returns the loader and the names.

    Example:
        loader, names = held_out_loader("/data/held_out/test", ["cat", "dog"])
    """
    paths, labels, names = _read_directory(folder, class_names)
    if len(labels) == 0:
        raise UserInputError(f"{folder} holds no image: give one folder of images per class")
    spec = f"{folder} ({len(labels)})"
    splits = ("train", "validation", "test")
    return FileLoader({s: (paths, labels) for s in splits}, {s: spec for s in splits}), names


def _visible_files(folder: str) -> list[tuple[str, str]]:
    """(folder, file name) of every file under `folder`, sorted by folder then name; hidden
    files and folders (names starting with '.') skipped."""
    import os

    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]  # not walked into
        found += [(root, f) for f in files if not f.startswith(".")]
    return sorted(found)


def _read_directory(
    directory: str, class_names: list[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import os

    if not os.path.isdir(directory):
        raise UserInputError(f"image directory not found: {directory}")
    found = visible_folders(directory)
    names = list(class_names) if class_names is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise UserInputError(
            f"{directory} has class folders the training data lacks: {unknown[:5]}",
            hint=f"the classes are: {', '.join(names)}",
        )
    paths, labels, skipped, other_formats = [], [], [], []
    for label, name in enumerate(names):
        for root, file in _visible_files(os.path.join(directory, name)):
            path = os.path.join(root, file)
            if file.lower().endswith(OTHER_IMAGE_EXTENSIONS):
                other_formats.append(os.path.relpath(path, directory))
            if not file.lower().endswith(IMAGE_EXTENSIONS):
                continue
            if _is_image(path):
                paths.append(path)
                labels.append(label)
            else:
                skipped.append(os.path.relpath(path, directory))
    if skipped:
        _log.warning(
            "skipped %d file%s in %s that %s not JPEG, PNG, GIF or BMP images: %s",
            len(skipped),
            "s" if len(skipped) > 1 else "",
            directory,
            "are" if len(skipped) > 1 else "is",
            _first_three(skipped),
        )
    if other_formats:
        _log.warning(
            "skipped %d image%s in %s in formats TensorFlow does not decode (it reads JPEG, "
            "PNG, GIF and BMP): %s. Convert them to use them, e.g. with Pillow: "
            "Image.open(f).save(f.rsplit('.', 1)[0] + '.png')",
            len(other_formats),
            "s" if len(other_formats) > 1 else "",
            directory,
            _first_three(other_formats),
        )
    loose = sorted(
        f
        for f in os.listdir(directory)
        if not f.startswith(".")
        and f.lower().endswith(IMAGE_EXTENSIONS + OTHER_IMAGE_EXTENSIONS)
        and os.path.isfile(os.path.join(directory, f))
    )
    if loose:
        _log.warning(
            "ignored %d image%s at the top of %s, outside any class folder: %s. Move them "
            "into the folder of their class",
            len(loose),
            "s" if len(loose) > 1 else "",
            directory,
            _first_three(loose),
        )
    if not paths:
        raise UserInputError(
            f"no images found in {directory}",
            hint="convert its images to PNG or JPEG (TensorFlow does not decode "
            f"{os.path.splitext(other_formats[0])[1]})"
            if other_formats
            else "expected one subfolder per class holding .jpg/.png/.bmp/.gif images",
        )
    return np.array(paths), np.array(labels, np.int64), names


def _first_three(files: list[str]) -> str:
    return ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")


def _is_image(path: str) -> bool:
    """Whether the file starts like a JPEG, PNG, GIF or BMP image (what TF decodes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(_MAGIC)
