"""The task registry: the reference's 69 tasks, in order, plus the offline tasks.

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
import re
from collections.abc import Callable, Iterable
from typing import Any

from keras_evomt.data import offline, vtab
from keras_evomt.data.task import Task
from keras_evomt.data.tfds_source import (
    TfdsLoader,
    TfdsSplit,
    default_splits,
    is_prepared,
    missing_data_error,
    open_builder,
    plain_example,
)
from keras_evomt.errors import MissingDataError, UserInputError, closest

Splits = dict[str, TfdsSplit]


def _splits(dataset: str, train: str, validation: str, test: str) -> Splits:
    return {
        "train": TfdsSplit(dataset, train),
        "validation": TfdsSplit(dataset, validation),
        "test": TfdsSplit(dataset, test),
    }


# === VTAB (task_adaptation) splits: dataset, train, val, test ===

_VTAB_DATASETS: dict[str, tuple[str, str, str, str]] = {
    "caltech101": ("caltech101:3.*.*", "train[:90%]", "train[90%:]", "test"),
    "cifar100": ("cifar100:3.*.*", "train[:90%]", "train[90%:]", "test"),
    "cifar10": ("cifar10:3.*.*", "train[:90%]", "train[90%:]", "test"),
    "dtd": ("dtd:3.*.*", "train", "validation", "test"),
    "oxford_flowers102": ("oxford_flowers102:2.*.*", "train", "validation", "test"),
    # VTAB pins 3.*.*; TFDS 4.9 only builds 4.0.0 (same images, labels and splits).
    "oxford_iiit_pet": ("oxford_iiit_pet:3.*.*|4.*.*", "train[:80%]", "train[80%:]", "test"),
    "sun397": ("sun397/tfds:4.*.*", "train", "validation", "test"),
    "svhn_cropped": ("svhn_cropped:3.*.*", "train[:90%]", "train[90%:]", "test"),
    "patch_camelyon": ("patch_camelyon:2.*.*", "train", "validation", "test"),
    "eurosat": ("eurosat/rgb:2.*.*", "train[:60%]", "train[60%:80%]", "train[80%:]"),
    "resisc45": ("resisc45:3.*.*", "train[:60%]", "train[60%:80%]", "train[80%:]"),
    "diabetic_retinopathy_detection/btgraham-300": (
        "diabetic_retinopathy_detection/btgraham-300:3.*.*",
        "train",
        "validation",
        "test",
    ),
    "clevr": ("clevr:3.*.*", "train[:90%]", "train[90%:]", "validation"),
    "dmlab": ("dmlab:2.0.1", "train", "validation", "test"),
    "dsprites": ("dsprites:2.*.*", "train[:80%]", "train[80%:90%]", "train[90%:]"),
    # VTAB uses kitti 3.1.0; the reference pins 3.2.0 (same labels and splits).
    "kitti": ("kitti:3.2.0", "train", "validation", "test"),
    "smallnorb": ("smallnorb:2.*.*", "train", "test[:50%]", "test[50%:]"),
}

VTAB_TASKS = [
    "caltech101",
    "dtd",
    "oxford_flowers102",
    "oxford_iiit_pet",
    "sun397",
    "svhn_cropped",
    "patch_camelyon",
    "eurosat",
    "resisc45",
    "diabetic_retinopathy_detection/btgraham-300",
    "clevr/count_cylinders",
    "clevr/count_all",
    "clevr/closest_object_distance",
    "dmlab",
    "dsprites/label_x_position",
    "dsprites/label_orientation",
    "kitti/closest_object_distance",
    "kitti/count_vehicles",
    "kitti/closest_vehicle_distance",
    "smallnorb/label_category",
    "smallnorb/label_lighting",
    "smallnorb/label_azimuth",
    "smallnorb/label_elevation",
]
VTAB_1K_TASKS = [f"{t}/1k" for t in VTAB_TASKS[:1] + ["cifar100", "cifar10"] + VTAB_TASKS[1:]]
VDD_CONFIGS = [
    "imagenet12",
    "svhn",
    "cifar100",
    "gtsrb",
    "daimlerpedcls",
    "omniglot",
    "ucf101",
    "aircraft",
    "dtd",
    "vgg-flowers",
]
CHARS_TASKS = [
    "emnist/digits",
    "emnist/letters",
    "kmnist",
    "mnist",
    "omniglot",
    "cmaterdb/bangla",
    "cmaterdb/devanagari",
    "cmaterdb/telugu",
]


def _vtab_splits(task: str, one_k: bool) -> Splits:
    base = task if task in _VTAB_DATASETS else task.split("/")[0]
    dataset, train, val, test = _VTAB_DATASETS[base]
    splits = _splits(dataset, train, val, test)
    if one_k:  # VTAB-1k: train800 / val200 are the first examples of VTAB's train / val.
        splits["train"] = TfdsSplit(dataset, train, take=800)
        splits["validation"] = TfdsSplit(dataset, val, take=200)
    return splits


def _chars_splits(task: str) -> Splits:
    if task == "omniglot":
        return _splits("omniglot:3.*.*", "train", "small1", "small2")
    if task.startswith("cmaterdb/"):
        return _splits(f"{task}:1.*.*", "train[20%:]", "train[:20%]", "test")
    version = {"emnist": "3.*.*", "kmnist": "3.*.*", "mnist": "3.*.*"}[task.split("/")[0]]
    rule = default_splits(["train", "test"])  # The "other TFDS" rule (train and test only).
    return _splits(f"{task}:{version}", rule["train"], rule["validation"], rule["test"])


def _cifar10_splits(data_dir: str | None, download: bool) -> Splits:
    """Validation on CIFAR-10.1 when it is available; offline, a 2% slice of train."""
    if download or is_prepared(open_builder("cifar10_1:1.*.*", data_dir)):
        return {
            "train": TfdsSplit("cifar10:3.*.*", "train"),
            "validation": TfdsSplit("cifar10_1:1.*.*", "test"),
            "test": TfdsSplit("cifar10:3.*.*", "test"),
        }
    return _splits("cifar10:3.*.*", "train[:98%]", "train[98%:]", "test")


def registered_splits(name: str, data_dir: str | None, download: bool) -> Splits | None:
    """The splits of a registered TFDS task (docs/method.md's table), else None."""
    if name == "imagenet2012":
        return {
            "train": TfdsSplit("imagenet2012:5.*.*", "train"),
            "validation": TfdsSplit("imagenet_v2:3.*.*", "test"),
            "test": TfdsSplit("imagenet2012:5.*.*", "validation"),
        }
    if name == "cifar100":
        return _splits("cifar100:3.*.*", "train[:98%]", "train[98%:]", "test")
    if name == "cifar10":
        return _cifar10_splits(data_dir, download)
    if name.startswith("visual_domain_decathlon/") and name.split("/")[1] in VDD_CONFIGS:
        # Its test split has no labels: the validation split is halved.
        return _splits(f"{name}:1.*.*", "train", "validation[:50%]", "validation[50%:]")
    if name in CHARS_TASKS:
        return _chars_splits(name)
    if name in VTAB_TASKS:
        return _vtab_splits(name, one_k=False)
    if name in VTAB_1K_TASKS:
        return _vtab_splits(name.removesuffix("/1k"), one_k=True)
    return None


_OFFLINE: dict[str, Callable[..., Task]] = {
    "digits": offline.digits_task,
    "lfw_faces": offline.lfw_faces_task,
    "textures": offline.textures_task,
}

GROUPS: dict[str, list[str]] = {
    "vit": ["imagenet2012", "cifar100", "cifar10"],
    "vtab_full": list(VTAB_TASKS),
    "vdd": [f"visual_domain_decathlon/{c}" for c in VDD_CONFIGS],
    "chars": list(CHARS_TASKS),
    "vtab_1k": list(VTAB_1K_TASKS),
    "offline": ["digits", "lfw_faces", "textures", "fashion_mnist"],
}
_REFERENCE_TASKS = frozenset(
    name for group, names in GROUPS.items() if group != "offline" for name in names
)


def list_tasks(group: str | None = None) -> list[str]:
    """Registered task names in reference order (the 69, then the offline tasks).

    Example:
        len(list_tasks()) - len(list_tasks("offline"))  # 69
    """
    if group is None:
        return [name for names in GROUPS.values() for name in names]
    if group not in GROUPS:
        raise UserInputError(
            f"unknown task group {group!r}; groups: {list(GROUPS)}",
            hint=closest(group, GROUPS) or None,
        )
    return list(GROUPS[group])


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
        # One name per data set, wherever the command runs: the absolute path.
        rest = os.path.abspath(os.path.expanduser(rest))
        name = f"{kind}:{rest}"
        return Task.from_directory(name, rest) if kind == "dir" else _npz_task(name, rest)
    raise UserInputError(
        f"unknown task {name!r}",
        hint=closest(name, list_tasks())
        or "see `evomt data list`; user data: [NAME=]tfds:NAME, [NAME=]dir:PATH or [NAME=]npz:PATH",
    )


_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def split_name(spec: str) -> tuple[str | None, str]:
    """("flowers", "dir:/data/flowers") for "flowers=dir:/data/flowers"; (None, spec) for a
    spec without a user-given name (a path may hold "=": only a plain name before it counts).

    Example:
        split_name("mine=npz:/data/mine.npz")  # ("mine", "npz:/data/mine.npz")
    """
    user_name, sep, source = spec.partition("=")
    if sep and source and _USER_NAME.match(user_name):
        return user_name, source
    return None, spec


def task_spec(name: str, specs: Iterable[str]) -> str:
    """The spec among `specs` (e.g. a config's task list) that defines task `name`, else
    `name` itself: `evomt eval --task flowers` finds "flowers=dir:/data/flowers".

    Example:
        task_spec("flowers", ["digits", "flowers=dir:/data/flowers"])  # "flowers=dir:..."
    """
    for spec in specs:
        bare = spec.removeprefix("private:")
        if split_name(bare)[0] == name:
            return spec
    return name


def tfds_task(name: str, *, data_dir: str | None = None, download: bool = False) -> Task:
    """A registered TFDS task, or any TFDS classification dataset (reference split rule)."""
    splits = registered_splits(name, data_dir, download)
    if splits is None:
        return _other_tfds_task(name, data_dir, download)
    derivation = vtab.DERIVATIONS.get(name.removesuffix("/1k"))
    loader = TfdsLoader(name, splits, derive=plain_example(), data_dir=data_dir, download=download)
    features = loader.builder("train").info.features
    if derivation is not None:
        loader.derive, num_classes = derivation.build(features)
    else:
        num_classes = features["label"].num_classes
    return Task(
        name, num_classes=num_classes, source=f"tfds:{splits['train'].dataset}", loader=loader
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


def _npz_task(name: str, path: str) -> Task:
    import numpy as np

    try:
        arrays = np.load(path)
    except OSError as err:
        raise UserInputError(f"cannot read arrays from {path}: {err}") from err
    missing = {"x_train", "y_train"} - set(arrays.files)
    if missing:
        raise UserInputError(
            f"{path} must hold arrays x_train and y_train (and optionally x_test, y_test). "
            f"Received: {sorted(arrays.files)}"
        )
    optional = {k: arrays[k] for k in ("x_test", "y_test") if k in arrays.files}
    return Task.from_arrays(
        name, arrays["x_train"], arrays["y_train"], **optional, source=f"npz:{path}"
    )


def missing_data(
    specs: Iterable[str], data_dir: str | None = None, download: bool = False
) -> list[MissingDataError]:
    """One `MissingDataError` per task among `specs` whose data is not prepared; fast,
    offline (nothing is read or downloaded). Unknown names raise UserInputError.

    Example:
        missing = missing_data(config.tasks, data_dir="/data/tfds")
    """
    missing = []
    for spec in dict.fromkeys(specs):
        try:
            missing.extend(get_task(spec, data_dir=data_dir, download=download).missing_data())
        except MissingDataError as error:  # tfds:NAME reads its metadata from the data
            missing.append(error)
    return missing


def describe_tasks(data_dir: str | None = None) -> list[dict[str, Any]]:
    """One dict per registered task: name, source, num_classes, splits, present.

    Example:
        [d["name"] for d in describe_tasks() if d["present"]]  # tasks usable offline
    """
    rows = []
    for name in list_tasks():
        try:
            rows.append(get_task(name, data_dir=data_dir).describe())
        except (UserInputError, ImportError) as err:
            rows.append(
                {
                    "name": name,
                    "source": "",
                    "num_classes": None,
                    "splits": {},
                    "present": False,
                    "error": str(err),
                }
            )
    return rows


def prepare_task(name: str, data_dir: str | None = None, download: bool = False) -> str:
    """Makes a task's data available locally; returns what was done.

    Offline sources need nothing; `fashion_mnist` is converted from Debian's files;
    TFDS datasets are downloaded and prepared only with `download=True`.

    Example:
        prepare_task("fashion_mnist", data_dir="/data/tfds")
    """
    return get_task(name, data_dir=data_dir, download=download).prepare(download=download)
