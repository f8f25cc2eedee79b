"""The task registry: the reference's 69 tasks, in order, plus the offline tasks.

It makes the `Task`s; their names, groups, splits and class counts are plain data in
`catalog.py`, which needs no TensorFlow.

Groups, in the order µ2Net introduces them (`mu2Net.ipynb`): "vit" (3), "vtab_full" (23),
"vdd" (10), "chars" (8), "vtab_1k" (25); then "offline" (digits, lfw_faces, textures,
fashion_mnist). Splits follow the table in docs/method.md; VTAB splits and label
definitions follow google-research/task_adaptation (`task_adaptation/data/*.py`), VTAB-1k
takes the first 800 examples of VTAB's train split and the first 200 of its val split.

`get_task` also accepts: "private:NAME" (a private task), "tfds:NAME" (any TFDS
image-classification dataset, reference split rule), "dir:PATH" (one subfolder per class,
or `train/`, `test/` [and `validation/`] subfolders holding those), "npz:PATH" (arrays
x_train, y_train[, x_test, y_test]), and "NAME=SOURCE" to give any of them a name
("flowers=dir:/data/flowers"; unnamed, dir and npz tasks are named by absolute path).

Example:
    list_tasks("vit")             # ["imagenet2012", "cifar100", "cifar10"]
    task = get_task("clevr/count_all/1k", data_dir="/data/tfds")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from keras_evomt.data import offline, vtab
from keras_evomt.data.catalog import (
    _REFERENCE_TASKS,
    _splits,
    absolute_spec,
    default_splits,
    list_tasks,
    missing_path_error,
    split_name,
)
from keras_evomt.data.catalog import registered_splits as catalog_splits
from keras_evomt.data.npz import npz_task
from keras_evomt.data.task import Task
from keras_evomt.data.tfds_source import (
    TfdsLoader,
    is_prepared,
    missing_data_error,
    open_builder,
    plain_example,
)
from keras_evomt.errors import MissingDataError, UserInputError, closest

_OFFLINE: dict[str, Callable[..., Task]] = {
    "digits": offline.digits_task,
    "lfw_faces": offline.lfw_faces_task,
    "textures": offline.textures_task,
}


def get_task(name: str, data_dir: str | None = None, download: bool = False) -> Task:
    """The task called `name`; never touches the data (that happens on first use).

    Example:
        task = get_task("cifar100")  # Task(name='cifar100', num_classes=100, ...)
    """
    if not isinstance(name, str) or not name:
        raise UserInputError(f"a task name must be a non-empty string. Received: {name!r}")
    if name.startswith("private:"):
        task = get_task(name[len("private:") :], data_dir=data_dir, download=download)
        task.private = True
        return task
    user_name, source = split_name(name)
    if user_name is not None:
        task = get_task(source, data_dir=data_dir, download=download)
        task.name = user_name
        return task
    if name in _OFFLINE:
        return _OFFLINE[name]()
    if name == "fashion_mnist":
        return _fashion_mnist_task(data_dir, download)
    if name in _REFERENCE_TASKS:
        return tfds_task(name, data_dir=data_dir, download=download)
    kind, _, rest = name.partition(":")
    if rest and kind == "tfds":
        return tfds_task(rest, data_dir=data_dir, download=download)
    if rest and kind in ("dir", "npz"):
        name = absolute_spec(name)  # one name per data set, wherever the command runs
        rest = name.partition(":")[2]
        if not os.path.exists(rest):
            raise missing_path_error(kind, rest)
        try:
            return Task.from_directory(name, rest) if kind == "dir" else npz_task(name, rest)
        except MissingDataError:
            raise
        except UserInputError as error:  # say which of a run's tasks it is about
            if rest in error.message:
                raise
            raise UserInputError(f"{name}: {error.message}", hint=error.hint) from None
    named, sep, source = name.partition("=")
    if sep and source.partition(":")[0] in ("tfds", "dir", "npz"):
        raise UserInputError(
            f"task name {named!r} (in {name!r}) is not a name: a name is letters, digits, '_', "
            "'.' and '-', starting with a letter, digit or '_'",
            hint=f"e.g. mine={source}",
        )
    raise UserInputError(
        f"unknown task {name!r}",
        hint=closest(name, list_tasks())
        or "see `evomt data list`; user data: [NAME=]tfds:NAME, [NAME=]dir:PATH or [NAME=]npz:PATH",
    )


def registered_splits(name: str, data_dir: str | None, download: bool):
    """The catalog's splits of a registered TFDS task, TFDS judging what is prepared."""
    return catalog_splits(name, data_dir, download, prepared=_tfds_prepared)


def _tfds_prepared(ref: str, data_dir: str | None) -> bool:
    return is_prepared(open_builder(ref, data_dir))


def tfds_task(name: str, *, data_dir: str | None = None, download: bool = False) -> Task:
    """A registered TFDS task, or any TFDS image-classification dataset.

    Unregistered names use the reference's split rule: test = the test split (else 5% of
    train), validation = the validation split (else the next 5% of train), train = the rest
    of train. Their split names are read from the prepared data.

    Example:
        task = tfds_task("beans", data_dir="/data/tfds")  # as get_task("tfds:beans")
    """
    splits = registered_splits(name, data_dir, download)
    if splits is None:
        return _other_tfds_task(name, data_dir, download)
    derivation = vtab.DERIVATIONS.get(name.removesuffix("/1k"))
    loader = TfdsLoader(name, splits, derive=plain_example(), data_dir=data_dir, download=download)
    features = loader.builder("train").info.features
    class_names = None
    if derivation is not None:
        loader.derive, num_classes = derivation.build(features)
    else:
        num_classes = features["label"].num_classes
        names = list(getattr(features["label"], "names", None) or [])
        class_names = names if len(names) == num_classes else None
    return Task(
        name,
        num_classes=num_classes,
        source=f"tfds:{splits['train'].dataset}",
        loader=loader,
        class_names=class_names,
    )


def _other_tfds_task(name: str, data_dir: str | None, download: bool) -> Task:
    import tensorflow_datasets as tfds

    builder = open_builder(name, data_dir)
    if not is_prepared(builder):
        if not download:
            raise missing_data_error(f"tfds:{name}", name, builder)
        builder.download_and_prepare()
        builder = open_builder(name, data_dir)
    info = builder.info
    image_key, label_key = (info.supervised_keys or ("image", "label"))[:2]
    features = info.features
    label = features[label_key] if label_key in features else None
    if image_key not in features or not isinstance(label, tfds.features.ClassLabel):
        raise UserInputError(
            f"TFDS dataset {name!r} is not an image classification dataset "
            f"(features: {sorted(features)}, supervised keys: {info.supervised_keys})"
        )
    rule = default_splits(list(info.splits))
    splits = _splits(name, rule["train"], rule["validation"], rule["test"])
    loader = TfdsLoader(
        f"tfds:{name}",
        splits,
        derive=plain_example(image_key, label_key),
        data_dir=data_dir,
        download=download,
    )
    return Task(
        f"tfds:{name}",
        num_classes=label.num_classes,
        source=f"tfds:{name}",
        loader=loader,
        class_names=list(label.names),
    )


def _fashion_mnist_task(data_dir: str | None, download: bool) -> Task:
    rule = default_splits(["train", "test"])
    splits = _splits("fashion_mnist:3.*.*", rule["train"], rule["validation"], rule["test"])
    loader = TfdsLoader(
        "fashion_mnist",
        splits,
        derive=plain_example(),
        data_dir=data_dir,
        download=download,
        prepare_fn=lambda dl: offline.prepare_fashion_mnist(data_dir, download=dl),
    )
    label = loader.builder("train").info.features["label"]
    return Task(
        "fashion_mnist",
        num_classes=label.num_classes,
        source="tfds:fashion_mnist:3.*.*",
        loader=loader,
        class_names=list(label.names),
    )


def missing_data(
    specs: Iterable[str], data_dir: str | None = None, download: bool = False
) -> list[MissingDataError]:
    """One `MissingDataError` per task among `specs` whose data is not prepared; fast,
    offline (nothing is read or downloaded). Unknown names and missing `dir:`/`npz:`
    paths raise one UserInputError naming them all.

    Example:
        missing = missing_data(config.tasks, data_dir="/data/tfds")
    """
    missing, refused = [], []
    for spec in dict.fromkeys(specs):
        try:
            missing.extend(get_task(spec, data_dir=data_dir, download=download).missing_data())
        except MissingDataError as error:  # tfds:NAME reads its metadata from the data
            missing.append(error)
        except UserInputError as error:
            named = split_name(spec.removeprefix("private:"))[0]
            told = not named or f"'{named}'" in error.message
            shown = error.message if told else f"task '{named}': {error.message}"
            refused.append(UserInputError(shown, hint=error.hint))
    if len(refused) == 1:
        raise refused[0]
    if refused:
        hints = dict.fromkeys(e.hint for e in refused if e.hint)
        raise UserInputError(
            f"{len(refused)} tasks cannot be used:\n"
            + "\n".join(f"  {e.message}" for e in refused),
            hint="\n".join(hints) or None,
        )
    return missing


def prepare_task(name: str, data_dir: str | None = None, download: bool = False) -> str:
    """Makes a task's data available locally; returns what was done.

    Offline sources need nothing; `fashion_mnist` is converted from Debian's files;
    TFDS datasets are downloaded and prepared only with `download=True`.

    Example:
        prepare_task("fashion_mnist", data_dir="/data/tfds")
    """
    return get_task(name, data_dir=data_dir, download=download).prepare(download=download)
