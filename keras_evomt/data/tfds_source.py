"""TFDS-backed splits: offline by default, failing fast with what to do.

`tfds.load(..., download=True)` blocks for minutes retrying the network when there is
none, so nothing here downloads unless asked (`download=True`, or
`evomt data prepare NAME --download`). A dataset that is not prepared fails on first use
with a UserInputError that says how to prepare it.

A split is a `TfdsSplit`: a dataset reference ("clevr:3.*.*"; alternatives separated by
"|" as in "oxford_iiit_pet:3.*.*|4.*.*", the first prepared one wins, else the first the
installed TFDS can build), a TFDS split string ("train[:90%]") and optionally `take`
(VTAB-1k's train800 / val200 are the first 800 / 200 examples of VTAB's splits).

Example:
    loader = TfdsLoader("cifar100", {"train": TfdsSplit("cifar100:3.*.*", "train[:98%]"),
                                     ...}, derive=None, data_dir=None)
    ds = loader.load("train")  # {"image": uint8 (32, 32, 3), "label": int64}
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import tensorflow as tf

from keras_evomt.data.catalog import TfdsSplit, default_splits  # noqa: F401 - as before
from keras_evomt.data.sources import Loader
from keras_evomt.errors import EvomtError, MissingDataError, UserInputError, closest


@contextlib.contextmanager
def quiet_tfds() -> Iterator[None]:
    """Silences TFDS's warning about every dataset that is not prepared, and removes the
    empty temporary folder TFDS makes (and leaves) for each builder of such a dataset."""
    from absl import logging as absl_logging

    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        with _contained_temp_files():
            yield
    finally:
        absl_logging.set_verbosity(verbosity)


_TEMPDIR_SWAP = threading.RLock()  # `tempfile.tempdir` is one per process


@contextlib.contextmanager
def _contained_temp_files() -> Iterator[None]:
    """Python's temporary files and folders go into one folder, removed at the end."""
    with _TEMPDIR_SWAP, tempfile.TemporaryDirectory(prefix="evomt-tfds-") as folder:
        outer, tempfile.tempdir = tempfile.tempdir, folder
        try:
            yield
        finally:
            tempfile.tempdir = outer


def is_prepared(builder: Any) -> bool:
    """Whether the builder's data is in its data dir."""
    with quiet_tfds():
        return builder.is_prepared()


def open_builder(ref: str, data_dir: str | None) -> Any:
    """The TFDS builder for `ref` ("name[/config][:version[|version...]]")."""
    with quiet_tfds():
        return _open_builder(ref, data_dir)


def _open_builder(ref: str, data_dir: str | None) -> Any:
    import tensorflow_datasets as tfds

    name, _, versions = ref.partition(":")
    candidates = [f"{name}:{v}" for v in versions.split("|")] if versions else [name]
    built, errors = [], []
    for candidate in candidates:
        try:
            builder = tfds.builder(candidate, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError as err:
            hint = closest(name, tfds.list_builders(with_community_datasets=False))
            raise UserInputError(f"unknown TFDS dataset '{name}'", hint=hint or None) from err
        except (AssertionError, ValueError) as err:
            errors.append(str(err).splitlines()[0])
            continue
        if is_prepared(builder):
            return builder
        built.append(builder)
    if built:
        return built[0]
    raise UserInputError(f"TFDS cannot build '{ref}': {'; '.join(errors)}")


def missing_data_error(task: str, ref: str, builder: Any) -> MissingDataError:
    """The error for a TFDS dataset that is not prepared locally."""
    data_dir = builder.data_dir_root if hasattr(builder, "data_dir_root") else builder.data_dir
    name = ref.partition(":")[0]
    manual = bool(getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None))
    hint = (
        f"Prepare it with: evomt data prepare {task} --download --data-dir {data_dir}\n"
        f"(or: tfds build {name} --data_dir {data_dir})"
    )
    if manual:
        hint += (
            f"\n{name} needs a manual download first: place its files in "
            f"{data_dir}/downloads/manual (see tensorflow.org/datasets/catalog/"
            f"{name.split('/')[0]})."
        )
    try:
        size = int(builder.info.download_size) + int(builder.info.dataset_size) or None
    except Exception:  # noqa: BLE001 - offline TFDS often has no size information
        size = None
    return MissingDataError(
        f"TFDS dataset '{ref}' is not prepared in {data_dir}",
        hint=hint,
        task=task,
        dataset=name,
        manual=manual,
        size_bytes=size,
        data_dir=str(data_dir),
    )


def plain_example(image_key: str = "image", label_key: str = "label") -> Callable:
    """Map fn: TFDS example -> {"image", "label"}."""

    @tf.autograph.experimental.do_not_convert
    def fn(ex: dict[str, Any]) -> dict[str, Any]:
        return {"image": ex[image_key], "label": ex[label_key]}

    return fn


class TfdsLoader(Loader):
    """Splits read from TFDS with `download=False` unless asked otherwise."""

    def __init__(
        self,
        task: str,
        splits: Mapping[str, TfdsSplit],
        *,
        derive: Callable[[dict], dict],
        data_dir: str | None = None,
        download: bool = False,
        prepare_fn: Callable[[bool], str] | None = None,
    ):
        self.task = task
        self.splits = dict(splits)
        self.derive = derive
        self.data_dir = data_dir
        self.download = download
        self.prepare_fn = prepare_fn
        self._builders: dict[str, Any] = {}

    def builder(self, split: str) -> Any:
        ref = self.splits[split].dataset
        if ref not in self._builders:
            self._builders[ref] = open_builder(ref, self.data_dir)
        return self._builders[ref]

    def load(self, split: str, shuffle_seed: int | None = None) -> tf.data.Dataset:
        import tensorflow_datasets as tfds

        ref = self.splits[split]
        builder = self.builder(split)
        shuffle_files = shuffle_seed is not None and ref.take is None
        read_config = tfds.ReadConfig(shuffle_seed=shuffle_seed, try_autocache=False)

        def as_dataset():
            return builder.as_dataset(
                split=ref.split, shuffle_files=shuffle_files, read_config=read_config
            )

        try:
            ds = as_dataset()
        except AssertionError as err:  # TFDS's "could not find data" for unprepared data.
            if is_prepared(builder):
                raise
            if not (self.download or self.prepare_fn):
                raise missing_data_error(self.task, ref.dataset, builder) from err
            self.prepare(download=self.download)
            builder = self.builder(split)
            ds = as_dataset()
        except ValueError as err:  # TFDS's message names the available splits.
            raise UserInputError(
                f"split '{ref.split}' of '{ref.dataset}' cannot be read "
                f"(task '{self.task}', {split}): {str(err).splitlines()[0]}"
            ) from err
        if ref.take is not None:
            ds = ds.take(ref.take)
        return ds.map(self.derive, num_parallel_calls=tf.data.AUTOTUNE)

    def num_examples(self, split: str) -> int | None:
        ref = self.splits[split]
        info_splits = self.builder(split).info.splits
        if not info_splits:
            return None
        try:
            n = info_splits[ref.split].num_examples
        except (KeyError, ValueError):
            return None
        return n if ref.take is None else min(n, ref.take)

    def describe(self) -> dict[str, str]:
        return {split: str(ref) for split, ref in self.splits.items()}

    def datasets(self) -> list[str]:
        """The distinct dataset refs behind the splits, in split order."""
        return list(dict.fromkeys(ref.dataset for ref in self.splits.values()))

    def is_present(self) -> bool:
        try:
            return all(is_prepared(self.builder(split)) for split in self.splits)
        except UserInputError:
            return False

    def missing(self) -> list[MissingDataError]:
        if self.download or self.prepare_fn is not None:
            return []  # prepared on first use
        errors = []
        for ref in self.datasets():
            builder = open_builder(ref, self.data_dir)
            if not is_prepared(builder):
                errors.append(missing_data_error(self.task, ref, builder))
        manual = [e for e in errors if e.manual]
        return (manual or errors)[:1]  # one per task; a manual download first

    def prepare(self, download: bool = False) -> str:
        """Prepares every dataset behind the splits (`prepare_fn` decides, when given)."""
        if self.prepare_fn is not None and not self.is_present():
            message = self.prepare_fn(download)
            self._builders.clear()
            return message
        messages = []
        for ref in self.datasets():
            builder = open_builder(ref, self.data_dir)
            if is_prepared(builder):
                messages.append(f"{ref}: already prepared in {builder.data_dir}")
                continue
            if not download:
                raise missing_data_error(self.task, ref, builder)
            try:
                builder.download_and_prepare()
            except Exception as err:  # TFDS raises many kinds; say which dataset failed.
                raise EvomtError(
                    f"preparing TFDS dataset '{ref}' failed: {err}",
                    hint="check the network, or the manual download instructions of "
                    f"tensorflow.org/datasets/catalog/{ref.split('/')[0].split(':')[0]}",
                ) from err
            messages.append(f"{ref}: prepared in {builder.data_dir}")
        self._builders.clear()
        return "\n".join(messages)
