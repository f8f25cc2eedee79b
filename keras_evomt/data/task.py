"""`Task`: a named image-classification task and its input pipelines.

A task knows its splits (train / validation / test; validation is always carved from
training data), its class count (read from the source wherever the source knows it) and
builds the reference input pipelines (`pipeline.py`) for a path's `ds_*` hyperparameters.
Tasks of the registry (named, TFDS, offline) are made by `registry.get_task`/`tfds_task`.

Example:
    task = Task.from_arrays("toy", x_train, y_train)       # x: (N, H, W[, C]), y: (N,)
    task.check(image_size=32)                              # clear errors before training
    train = task.train_dataset(DATA_HPARAM_DEFAULTS, image_size=32, batch_size=8, seed=0)
    images, labels = next(iter(train))                     # (8, 32, 32, 3) in [-1, 1], (8,)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from keras_evomt.data import pipeline
from keras_evomt.data.sources import (
    SPLITS,
    ArrayLoader,
    DatasetLoader,
    Loader,
    check_arrays,
    check_element_spec,
    directory_loader,
    split_layout,
)
from keras_evomt.errors import UserInputError, closest, op_error_text

CHECK_SAMPLE = 256
FEW_EXAMPLES = 3  # a class with fewer training examples gets a warning
_log = logging.getLogger("keras_evomt")


class Task:
    """A classification task: name, class count, splits and input pipelines.

    Args:
        name: the task's name (unique inside a system).
        num_classes: size of the task's head.
        source: where the data comes from, e.g. "tfds:cifar10:3.*.*" or "arrays".
        loader: serves the raw splits (see `sources.Loader`).
        private: a private task's paths are never seeds for other tasks.
        value_range: (low, high) pixel values of the source images, mapped to [-1, 1].
        class_names: optional names of the classes.
    """

    def __init__(
        self,
        name: str,
        *,
        num_classes: int,
        source: str,
        loader: Loader,
        private: bool = False,
        value_range: tuple[float, float] = (0.0, 255.0),
        class_names: list[str] | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise UserInputError(f"a task name must be a non-empty string. Received: {name!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise UserInputError(
                f"num_classes must be an int. Received: num_classes={num_classes!r}"
            )
        if num_classes < 2:
            raise UserInputError(
                f"a task needs at least 2 classes. Received: num_classes={num_classes}"
            )
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise UserInputError(
                f"value_range must be (low, high) with high > low. Received: {value_range}"
            )
        self.name = name
        self.num_classes = int(num_classes)
        self.source = source
        self.private = bool(private)
        self.value_range = (low, high)
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != self.num_classes:
                raise UserInputError(
                    f"class_names must name each of the {self.num_classes} classes, in label "
                    f"order. Received: {len(class_names)} names",
                    hint="pass num_classes as well when some class has no example",
                )
        self.class_names = class_names
        self._loader = loader

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, num_classes={self.num_classes}, source={self.source!r})"

    # === Facts ===

    @property
    def splits(self) -> dict[str, str]:
        """Spec string of each split, e.g. {"train": "cifar100:3.*.* train[:98%]", ...}."""
        return self._loader.describe()

    @property
    def present(self) -> bool:
        """Whether the data is available locally, without a download."""
        return self._loader.is_present()

    @functools.cached_property
    def num_train_examples(self) -> int:
        """Number of examples in the train split (used for the training budget)."""
        return self.num_examples("train")

    def num_examples(self, split: str) -> int:
        """Number of examples of `split`, from metadata when known, else by counting."""
        split = _check_split(split)
        n = self._known_examples(split)
        if n is None:
            ds = self._loader.load(split)
            n = int(ds.reduce(np.int64(0), lambda count, _: count + 1))
        return n

    def missing_data(self) -> list:
        """`MissingDataError`s for data that is not here (and not prepared on first use);
        reads no examples and downloads nothing."""
        return self._loader.missing()

    def describe(self) -> dict[str, Any]:
        """Name, source, class count, split specs and local presence, as plain data."""
        return {
            "name": self.name,
            "source": self.source,
            "num_classes": self.num_classes,
            "splits": self.splits,
            "present": self.present,
        }

    def examples(self, split: str) -> tf.data.Dataset:
        """The raw examples of `split`: {"image", "label"} in source form, in order.

        Example:
            labels = [int(ex["label"]) for ex in task.examples("test").as_numpy_iterator()]
        """
        return self._loader.load(_check_split(split))

    def prepare(self, download: bool = False) -> str:
        """Makes the data available locally (converting local files, or downloading)."""
        return self._loader.prepare(download=download)

    # === Pipelines ===

    def train_dataset(
        self, hparams: Mapping[str, Any], *, image_size: int, batch_size: int, seed: int
    ) -> tf.data.Dataset:
        """Infinite training batches: (float32 (B, S, S, 3) in [-1, 1], int32 (B,)).

        Shuffled with `seed` (deterministic given the seed), augmented per the `ds_*`
        entries of `hparams` (missing ones take DATA_HPARAM_DEFAULTS), drop_remainder.

        Example:
            ds = task.train_dataset({"ds_crop": False}, image_size=224, batch_size=64, seed=1)
        """
        hparams = pipeline.data_hparams(hparams)
        pipeline.check_size("image_size", image_size)
        pipeline.check_size("batch_size", batch_size)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise UserInputError(f"seed must be an int. Received: seed={seed!r}")
        ds = self._loader.load("train", shuffle_seed=int(seed))
        return pipeline.train_pipeline(
            ds,
            hparams,
            image_size=image_size,
            batch_size=batch_size,
            seed=int(seed),
            value_range=self.value_range,
            num_examples=self._known_examples("train", ds),
        )

    def eval_dataset(
        self,
        split: str,
        *,
        image_size: int,
        batch_size: int,
        max_examples: int | None = None,
        shuffle_seed: int | None = None,
    ) -> tf.data.Dataset:
        """Finite, ordered, unaugmented batches of `split` ("validation", "test" or "train").

        The first `max_examples` examples when given; the last batch may be smaller. With
        `shuffle_seed`, a seeded sample instead, drawn as training batches are (files
        shuffled where the source has several, examples in a bounded buffer).

        Example:
            ds = task.eval_dataset("validation", image_size=224, batch_size=64, max_examples=10_000)
        """
        split = _check_split(split)
        pipeline.check_size("image_size", image_size)
        pipeline.check_size("batch_size", batch_size)
        ds = self._loader.load(split, shuffle_seed=shuffle_seed)
        n = self._known_examples(split, ds)
        if shuffle_seed is not None:
            ds = pipeline.seeded_sample(ds, n, shuffle_seed)
        if max_examples is not None:
            pipeline.check_size("max_examples", max_examples)
            ds = ds.take(max_examples)
            n = max_examples if n is None else min(n, max_examples)
        return pipeline.eval_pipeline(
            ds,
            image_size=image_size,
            batch_size=batch_size,
            value_range=self.value_range,
            num_examples=n,
        )

    def known_examples(self, split: str) -> int | None:
        """The size of `split` when known without reading its examples, else None.

        Example:
            get_task("digits").known_examples("validation")  # 143
        """
        return self._known_examples(_check_split(split))

    def _known_examples(self, split: str, ds: tf.data.Dataset | None = None) -> int | None:
        n = self._loader.num_examples(split)
        if n is None:
            cardinality = int((ds if ds is not None else self._loader.load(split)).cardinality())
            n = cardinality if cardinality >= 0 else None
        return n

    # === Validation ===

    def check(self, image_size: int) -> None:
        """Validates the task before training; raises UserInputError saying what is wrong.

        Checks that every split is present and non-empty, that images have rank 2 or 3
        with 1 to 4 channels and plausible values, and that the labels of a sample of
        each split lie in [0, num_classes); then runs the preprocessing once. Classes
        with no or few training examples (where the source lists its labels) get a
        warning (`thin_class_warnings`).

        Example:
            get_task("cifar10").check(image_size=384)
        """
        pipeline.check_size("image_size", image_size)
        for split in SPLITS:
            sample = self._sample(split)
            self._check_images(split, sample)
            labels = np.array([int(ex["label"]) for ex in sample])
            bad = labels[(labels < 0) | (labels >= self.num_classes)]
            if bad.size:
                raise UserInputError(
                    f"task '{self.name}': {split} labels must lie in [0, {self.num_classes}) "
                    f"(num_classes={self.num_classes}). Received label {int(bad[0])} in a sample "
                    f"of {len(labels)} examples",
                    hint="pass num_classes to match the data, or fix the labels",
                )
        try:
            ds = self.eval_dataset(
                "validation", image_size=image_size, batch_size=2, max_examples=2
            )
            next(iter(ds))
        except tf.errors.InvalidArgumentError as err:
            raise UserInputError(
                f"task '{self.name}': preprocessing failed: {op_error_text(err)}"
            ) from err
        train_labels = self._loader.labels("train")
        if train_labels is not None:
            for warning in thin_class_warnings(
                self.name, train_labels, self.num_classes, self.class_names
            ):
                _log.warning(warning)

    def read_error(self, error: tf.errors.OpError, split: str | None = None) -> UserInputError:
        """The error to raise when reading `split` (None: any split) failed with `error`:
        it names the files that do not decode, where the source reads files.

        Example:
            raise task.read_error(err, "train") from err
        """
        where = f"the {split} split" if split else "its data"
        bad = [
            f"{file} ({why})"
            for s in ([split] if split else SPLITS)
            for file, why in self._loader.unreadable(s)
        ]
        if not bad:
            return UserInputError(
                f"task '{self.name}': reading {where} failed: {op_error_text(error)}"
            )
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        return UserInputError(
            f"task '{self.name}': {len(bad)} image file{'s' * (len(bad) > 1)} of {where} "
            f"do{'es' * (len(bad) == 1)} not decode: {shown}",
            hint="remove or replace them (truncated or damaged files), then rerun the command.",
        )

    def pixel_extremes(self, split: str = "train") -> tuple[float, float]:
        """The least and largest pixel values of a sample of `split`, as the source holds
        them (before scaling).

        Example:
            Task.from_arrays("t", x_uint8, y).pixel_extremes()  # (0.0, 255.0)
        """
        images = [np.asarray(ex["image"]) for ex in self._sample(_check_split(split))]
        return min(float(i.min()) for i in images), max(float(i.max()) for i in images)

    def _sample(self, split: str) -> list[dict[str, np.ndarray]]:
        try:
            sample = list(self._loader.load(split).take(CHECK_SAMPLE).as_numpy_iterator())
        except tf.errors.OpError as err:
            raise self.read_error(err, split) from err
        if not sample:
            raise UserInputError(
                f"task '{self.name}': the {split} split is empty ({self.splits.get(split)})"
            )
        return sample

    def _check_images(self, split: str, sample: list[dict[str, np.ndarray]]) -> None:
        for ex in sample:
            shape = np.shape(ex["image"])
            if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, 2, 3, 4)):
                raise UserInputError(
                    f"task '{self.name}': {split} images must have shape (H, W) or (H, W, C) "
                    f"with C in 1..4. Received: image shape {shape}"
                )
            if min(shape[:2]) < 1:
                raise UserInputError(f"task '{self.name}': empty {split} image of shape {shape}")
        first = np.asarray(sample[0]["image"])
        if np.issubdtype(first.dtype, np.floating) and self.value_range[1] > 1.0:
            peak = max(float(np.max(ex["image"])) for ex in sample)
            if peak <= 1.0:
                raise UserInputError(
                    f"task '{self.name}': {split} images are floats in [0, 1] but the task "
                    f"expects values in {self.value_range}",
                    hint="pass value_range=(0, 1)",
                )

    # === Constructors for user data ===

    @classmethod
    def from_arrays(
        cls,
        name: str,
        x_train: Any,
        y_train: Any,
        x_test: Any = None,
        y_test: Any = None,
        *,
        validation: tuple[Any, Any] | None = None,
        num_classes: int | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
        value_range: tuple[float, float] | None = None,
        class_names: list[str] | None = None,
        private: bool = False,
        source: str = "arrays",
    ) -> Task:
        """A task from numpy arrays: images (N, H, W) or (N, H, W, C), int labels (N,).

        Validation (unless given as `validation=(x, y)`, which needs test arrays) and test
        (without test arrays) are carved from the train arrays: stratified, disjoint,
        deterministic given `seed`. `num_classes` defaults to max label + 1;
        `value_range` to (0, 255), or (0, 1) for float images <= 1.

        Example:
            task = Task.from_arrays("digits8", x, y, num_classes=10, value_range=(0, 16))
        """
        x_train, y_train = check_arrays(x_train, y_train, "train")
        if (x_test is None) != (y_test is None):
            raise UserInputError("give both x_test and y_test, or neither")
        all_labels = [y_train]
        if x_test is not None:
            x_test, y_test = check_arrays(x_test, y_test, "test")
            all_labels.append(y_test)
        if validation is not None:
            validation = check_arrays(*validation, "validation")
            all_labels.append(validation[1])
        labels = np.concatenate(all_labels)
        if labels.min() < 0:
            raise UserInputError(f"labels must be >= 0. Received: label {int(labels.min())}")
        if num_classes is None and class_names is not None:
            num_classes = len(class_names)  # the names say how many classes there are
            if labels.max() >= num_classes:
                raise UserInputError(
                    f"class_names names {num_classes} classes, but the labels reach "
                    f"{int(labels.max())}: give one name per class, in label order"
                )
        if num_classes is None:
            num_classes = int(labels.max()) + 1
            if num_classes > int(y_train.max()) + 1:
                raise UserInputError(
                    f"test or validation labels reach {num_classes - 1}, but train labels "
                    f"only {int(y_train.max())}: no model trained on them can predict those "
                    "classes.",
                    hint=f"check the labels, or pass num_classes={num_classes} if that is intended",
                )
        elif labels.max() >= num_classes:
            raise UserInputError(
                f"labels must lie in [0, {num_classes}) (num_classes={num_classes}). "
                f"Received: label {int(labels.max())}"
            )
        given = {"x_train": x_train, "x_test": x_test}
        if validation is not None:
            given["validation"] = validation[0]
        if value_range is None:
            value_range = _infer_value_range(x_train)
            for what, x in given.items():  # the range read from x_train must hold them too
                if x is not None:
                    pipeline.check_value_range(
                        value_range,
                        [x],
                        f"{what} (range read from x_train) holds",
                        hint="give every split in the same range (e.g. all uint8 0..255, or "
                        "all floats in [0, 1])",
                    )
        else:
            pipeline.check_value_range(
                value_range,
                [x for x in given.values() if x is not None],
                hint="pass the pixels' own range, e.g. value_range=(0, 255), or leave it out",
            )
        pipeline.check_range_used(value_range, [x for x in given.values() if x is not None])
        loader = ArrayLoader.from_train_test(
            x_train,
            y_train,
            x_test,
            y_test,
            validation_fraction=validation_fraction,
            seed=seed,
            validation=validation,
        )
        return cls(
            name,
            num_classes=num_classes,
            source=source,
            loader=loader,
            private=private,
            value_range=value_range,
            class_names=class_names,
        )

    @classmethod
    def from_dataset(
        cls,
        name: str,
        train_ds: tf.data.Dataset,
        test_ds: tf.data.Dataset | None = None,
        *,
        num_classes: int,
        validation_fraction: float = 0.1,
        seed: int = 0,
        value_range: tuple[float, float] = (0.0, 255.0),
        class_names: list[str] | None = None,
        private: bool = False,
    ) -> Task:
        """A task from finite, unbatched tf.data.Datasets of (image, label) or dicts.

        The datasets must yield the same order on every pass. Validation (and test,
        without `test_ds`) is every k-th train example, k = round(1 / validation_fraction).

        Example:
            task = Task.from_dataset("mine", tf.data.Dataset.from_tensor_slices((x, y)),
                                     num_classes=5)
        """
        if not isinstance(train_ds, tf.data.Dataset):
            raise UserInputError(f"train_ds must be a tf.data.Dataset. Received: {type(train_ds)}")
        check_element_spec(train_ds, "train")
        if test_ds is not None:
            if not isinstance(test_ds, tf.data.Dataset):
                raise UserInputError(
                    f"test_ds must be a tf.data.Dataset. Received: {type(test_ds)}"
                )
            check_element_spec(test_ds, "test")
        loader = DatasetLoader.from_train_test(
            train_ds, test_ds, validation_fraction=validation_fraction, seed=seed
        )
        return cls(
            name,
            num_classes=num_classes,
            source="dataset",
            loader=loader,
            private=private,
            value_range=value_range,
            class_names=class_names,
        )

    @classmethod
    def from_directory(
        cls,
        name: str,
        directory: str,
        *,
        test_directory: str | None = None,
        validation_directory: str | None = None,
        validation_fraction: float = 0.1,
        seed: int = 0,
        private: bool = False,
    ) -> Task:
        """A task from image folders: one subfolder of images per class.

        Class names are the sorted subfolder names (the Keras convention); a class folder's
        images are found in its subfolders too; hidden files and folders are ignored. A
        `directory` holding `train/` and optionally `validation/` and `test/`, each with one
        folder per class, uses them as the splits; a split not given (validation, test)
        is carved from train, stratified, with `seed`. Images are decoded at their own
        size, to RGB; files that are not JPEG, PNG, GIF or BMP images are skipped with one
        warning.

        Example:
            task = Task.from_directory("flowers", "/data/flowers")  # train/, test/ inside
        """
        directory = source = str(directory)
        layout = None if test_directory is not None else split_layout(directory)
        if layout is not None:
            directory, test_directory = layout["train"], layout.get("test")
            validation_directory = validation_directory or layout.get("validation")
        loader, class_names = directory_loader(
            directory,
            None if test_directory is None else str(test_directory),
            validation_directory=None
            if validation_directory is None
            else str(validation_directory),
            validation_fraction=validation_fraction,
            seed=seed,
        )
        return cls(
            name,
            num_classes=len(class_names),
            source=f"directory:{source}",
            loader=loader,
            private=private,
            class_names=class_names,
        )


def is_read_failure(error: object) -> bool:
    """Whether `error` is a failure of reading or preprocessing data in tf.data (a file
    that does not decode, an image that does not resize), not of a model.

    Example:
        if is_read_failure(err): raise task.read_error(err) from err
    """
    return isinstance(error, tf.errors.OpError) and "transformation with iterator" in str(error)


def thin_class_warnings(
    task: str, train_labels: np.ndarray, num_classes: int, class_names: list[str] | None = None
) -> list[str]:
    """What to warn of classes that training never sees (an empty class folder, labels
    with gaps) or sees fewer than FEW_EXAMPLES times.

    Example:
        thin_class_warnings("mine", np.array([0, 0, 0, 5, 5, 5]), 6)  # labels 1-4: none
    """
    counts = np.bincount(np.asarray(train_labels, np.int64), minlength=num_classes)
    counts = counts[:num_classes]

    def listed(labels: np.ndarray, with_counts: bool = False) -> str:
        if class_names:
            shown = [f"'{class_names[k]}' (label {k})" for k in labels]
        else:
            shown = [f"label {k}" if with_counts else str(k) for k in labels]
        if with_counts:
            shown = [f"{name}: {counts[k]}" for name, k in zip(shown, labels)]
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        plain = not class_names and not with_counts
        return ("labels " if plain else "") + ", ".join(shown[:5]) + more

    warnings = []
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        fix = (
            "add examples of it, or drop it (an image folder's: remove the folder; the "
            "classes after it then move down one label)"
            if class_names
            else "if those classes do not exist, number the labels 0..K-1 without gaps"
        )
        warnings.append(
            f"task '{task}': {empty.size} of {num_classes} classes "
            f"{'has' if empty.size == 1 else 'have'} no training example "
            f"({listed(empty)}). The model still gets an output for each, which training "
            f"never asks for: {fix}."
        )
    few = np.flatnonzero((counts > 0) & (counts < FEW_EXAMPLES))
    if few.size:
        warnings.append(
            f"task '{task}': {few.size} {'class has' if few.size == 1 else 'classes have'} "
            f"fewer than {FEW_EXAMPLES} training "
            f"examples ({listed(few, with_counts=True)}). The search can hardly learn them, "
            "and their validation and test accuracy is mostly chance: add examples."
        )
    return warnings


def check_same_classes(task: str, kept: list[str] | None, given: list[str] | None) -> None:
    """Refuses data whose classes sit at other label indices than those `task`'s model
    was trained on (a class folder removed shifts every label after it).

    Example:
        check_same_classes("flowers", ["daisy", "rose"], ["daisy", "rose"])  # passes
    """
    if not kept or not given:
        return
    moved = [i for i, (a, b) in enumerate(zip(kept, given)) if a != b]
    if moved:
        shown = ", ".join(f"{i}: {kept[i]} -> {given[i]}" for i in moved[:4])
        more = f" and {len(moved) - 4} more" if len(moved) > 4 else ""
        hidden = [k for k in kept if k.startswith(".")]
        raise UserInputError(
            f"task '{task}' was trained on the classes {', '.join(kept)} (by label), but "
            f"this data has {', '.join(given)}: labels would mean other classes ({shown}{more})",
            hint=f"the task was trained when hidden folders ({', '.join(hidden)}) counted as "
            "classes; image folders now skip them: add the data as a task of its own"
            if hidden
            else "give the data every class the task was trained on (an empty class folder "
            "keeps its place), or add the changed data as a task of its own",
        )


def check_same_range(
    task: str,
    kept: list[float] | None,
    given: tuple[float, float] | None,
    extremes: Callable[[], tuple[float, float]] | None = None,
) -> None:
    """Refuses data read in another pixel range than `task`'s model was trained on, unless
    its values (`extremes()`: the least and largest, read only when the ranges differ) fill
    the range they are read in better than the kept one. Where `task` was trained on 0..16,
    uint8 0..16 read as 0..255 is refused; where it was trained on 0..255, the same photos
    as floats in [0, 1], read as such, pass (both scale to the same images).

    Example:
        check_same_range("digits8", [0, 16], (0, 16))  # passes
    """
    if kept is None or given is None or [float(v) for v in given] == [float(v) for v in kept]:
        return
    if extremes is not None:
        seen = extremes()
        if _fill(seen, given) > _fill(seen, kept):
            return
    low, high = (f"{float(v):g}" for v in kept)
    raise UserInputError(
        f"task '{task}' was trained on pixels in [{low}, {high}], but this data's pixels "
        f"are read as [{', '.join(f'{float(v):g}' for v in given)}]: its model would see "
        "them scaled otherwise",
        hint=f"give the range with the data: numpy.savez(..., value_range=[{low}, {high}]) "
        "(Task.from_arrays(..., value_range=...) from Python)",
    )


def _fill(extremes: tuple[float, float], value_range) -> float:
    """How much of `value_range` values from extremes[0] to extremes[1] span (0 if they
    leave it by more than its check allows)."""
    low, high = (float(v) for v in value_range)
    slack = 0.1 * (high - low)
    if extremes[0] < low - slack or extremes[1] > high + slack:
        return 0.0
    return (extremes[1] - extremes[0]) / (high - low)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise UserInputError(
            f"unknown split {split!r}; expected one of {list(SPLITS)}",
            hint=closest(str(split), SPLITS) or None,
        )
    return split


def _infer_value_range(x: np.ndarray) -> tuple[float, float]:
    if x.dtype == np.uint8:
        low, peak = (int(np.min(x)), int(np.max(x))) if x.size else (0, 255)
        if low < peak <= 25:  # under a tenth of 0..255: another range, e.g. digits' 0..16
            raise UserInputError(
                f"the images are uint8 with values up to {peak}: read as 0..255 they would be "
                "near-black images",
                hint=f"give their own range: value_range=(0, {max(peak, 1)}) (in an .npz file "
                f"an array value_range=[0, {max(peak, 1)}]; scikit-learn's digits: 0..16), "
                "or value_range=(0, 255) if they truly are that dark",
            )
        return (0.0, 255.0)
    if x.dtype == np.bool_:
        return (0.0, 1.0)
    low, peak = float(np.min(x)), float(np.max(x))
    if low >= 0.0 and peak <= 1.0:
        return (0.0, 1.0)
    if low >= -1.0 and peak <= 1.0:
        return (-1.0, 1.0)
    if low >= 0.0 and 128.0 < peak <= 255.0:  # 8-bit values held in another dtype
        return (0.0, 255.0)
    raise UserInputError(
        f"cannot tell the pixel range of images with values in [{low}, {peak}] "
        "(guessing would scale them wrongly)",
        hint="pass value_range=(low, high)",
    )
