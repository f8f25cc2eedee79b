"""The task catalog: names, groups, splits and class counts of the registered tasks.

Plain data, no TensorFlow: `evomt data list` and name checks read it without importing
TensorFlow or TFDS. The registry (`registry.py`) makes `Task`s from it. The class counts
are those TFDS's metadata gives (and VTAB's label definitions derive); a test compares
them with the tasks the registry builds.

Example:
    list_tasks("vit")               # ["imagenet2012", "cifar100", "cifar10"]
    NUM_CLASSES["clevr/count_all"]  # 8
    describe_tasks()[0]["present"]  # whether imagenet2012 is prepared in the TFDS data dir
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from keras_evomt.errors import UserInputError, closest


@dataclasses.dataclass(frozen=True)
class TfdsSplit:
    """A split of a TFDS dataset: `dataset` ref, TFDS `split` string, optional `take`."""

    dataset: str
    split: str
    take: int | None = None

    def __str__(self) -> str:
        text = f"{self.dataset} {self.split}"
        return text if self.take is None else f"{text} first {self.take}"


def default_splits(split_names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The reference's rule for TFDS datasets without a dedicated entry.

    test: the `test` split, else a 5% slice of train; validation: the `validation` split,
    else the next 5% slice of train; train: the rest of train.

    Example:
        default_splits(["train", "test"])
        # {"test": "test", "validation": "train[0%:5%]", "train": "train[5%:]"}
    """
    if "train" not in split_names:
        raise UserInputError(f"a 'train' split is needed. Received splits: {sorted(split_names)}")
    used, out = 0, {}
    for key in ("test", "validation"):
        if key in split_names:
            out[key] = key
        else:
            out[key] = f"train[{used}%:{used + 5}%]"
            used += 5
    out["train"] = f"train[{used}%:]"
    return out


Prepared = Callable[[str, "str | None"], bool]


def tfds_data_dir(data_dir: str | None = None) -> str:
    """The TFDS data directory: `data_dir`, else $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.path.expanduser(
        data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    )


def tfds_files_present(ref: str, data_dir: str | None = None) -> bool:
    """Whether TFDS dataset `ref` ("name[/config][:version[|version...]]") is prepared in
    the data dir, read from the files TFDS writes (no TFDS, no TensorFlow).

    Example:
        tfds_files_present("cifar10:3.*.*", "/data/tfds")  # /data/tfds/cifar10/3.0.2/ holds it
    """
    name, _, versions = ref.partition(":")
    root = os.path.join(tfds_data_dir(data_dir), *name.split("/"))
    folders = [root] if "/" in name else [root, *_subfolders(root)]  # a default config
    patterns = versions.split("|") if versions else ["*"]
    return any(
        os.path.isfile(os.path.join(folder, version, "dataset_info.json"))
        for folder in folders
        for version in _subfolders(folder, full=False)
        if any(fnmatch.fnmatch(version, pattern) for pattern in patterns)
    )


def _subfolders(folder: str, full: bool = True) -> list[str]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_dir())
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names] if full else names


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


def _cifar10_splits(data_dir: str | None, download: bool, prepared: Prepared) -> Splits:
    """Validation on CIFAR-10.1 when it is available; offline, a 2% slice of train."""
    if download or prepared("cifar10_1:1.*.*", data_dir):
        return {
            "train": TfdsSplit("cifar10:3.*.*", "train"),
            "validation": TfdsSplit("cifar10_1:1.*.*", "test"),
            "test": TfdsSplit("cifar10:3.*.*", "test"),
        }
    return _splits("cifar10:3.*.*", "train[:98%]", "train[98%:]", "test")


def registered_splits(
    name: str, data_dir: str | None, download: bool, prepared: Prepared | None = None
) -> Splits | None:
    """The splits of a registered TFDS task (µ2Net's table), else None. `prepared(ref,
    data_dir)` says whether a dataset is prepared (default: `tfds_files_present`)."""
    if name == "imagenet2012":
        return {
            "train": TfdsSplit("imagenet2012:5.*.*", "train"),
            "validation": TfdsSplit("imagenet_v2:3.*.*", "test"),
            "test": TfdsSplit("imagenet2012:5.*.*", "validation"),
        }
    if name == "cifar100":
        return _splits("cifar100:3.*.*", "train[:98%]", "train[98%:]", "test")
    if name == "cifar10":
        return _cifar10_splits(data_dir, download, prepared or tfds_files_present)
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


_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def split_name(spec: str) -> tuple[str | None, str]:
    """("flowers", "dir:/data/flowers") for "flowers=dir:/data/flowers"; (None, spec) for a
    spec without a user-given name (a path may hold "=": only a plain name before it counts).

    Example:
        split_name("mine=npz:/data/mine.npz")  # ("mine", "npz:/data/mine.npz")
    """
    user_name, sep, source = spec.partition("=")
    if sep and source and _USER_NAME.match(user_name):
        if "=" in source.partition(":")[0]:
            raise UserInputError(
                f"task {spec!r} gives two names: a task takes one, NAME=SOURCE "
                f"(e.g. {user_name}={source.rpartition('=')[2]})."
            )
        return user_name, source
    return None, spec


def name_and_source(spec: str) -> tuple[str, str]:
    """The task name a spec gives and the data it names, as `get_task` names them
    (unnamed `dir:` and `npz:` paths made absolute; "private:" ignored).

    Example:
        name_and_source("flowers=dir:data/flowers")  # ("flowers", "dir:/home/me/data/flowers")
    """
    user_name, source = split_name(absolute_spec(spec.removeprefix("private:")))
    kind, _, rest = source.partition(":")
    if rest and kind == "tfds" and rest in _REFERENCE_TASKS:  # `get_task` names it "x"
        source = rest
    return (user_name or source), source


def absolute_spec(spec: str) -> str:
    """`spec` with a relative `dir:` or `npz:` path made absolute (from the current
    folder), so that it names the same data from anywhere.

    Example:
        absolute_spec("flowers=dir:data/flowers")  # "flowers=dir:/home/me/data/flowers"
    """
    private = "private:" if spec.startswith("private:") else ""
    user_name, source = split_name(spec.removeprefix("private:"))
    kind, _, rest = source.partition(":")
    if rest and kind in ("dir", "npz"):
        source = f"{kind}:{os.path.abspath(os.path.expanduser(rest))}"
    return f"{private}{user_name + '=' if user_name else ''}{source}"


def check_one_source_per_name(specs: Iterable[str]) -> None:
    """Refuses specs that give one task name two different data sources: a task keeps
    its data, so a revisit or an `evolve` must name the same data.

    Example:
        check_one_source_per_name(["a=dir:/x", "a=dir:/y"])  # UserInputError
    """
    sources: dict[str, str] = {}
    for spec in specs:
        if not isinstance(spec, str):
            continue
        name, source = name_and_source(spec)
        known = sources.setdefault(name, source)
        if known != source:
            kind, _, path = known.partition(":")
            moving = kind in ("dir", "npz") and os.path.exists(path)
            raise UserInputError(
                f"task '{name}' already has its data ({known}); a task keeps its data, so "
                f"it cannot take {source}",
                hint=f"give the new data a name of its own, e.g. {name}_2={source}"
                + (
                    f". Data that moved is taken at its new place once {path} is gone"
                    if moving
                    else ""
                ),
            )


def missing_path_error(kind: str, path: str) -> UserInputError:
    """The error for a `dir:`/`npz:` source whose path does not exist.

    Example:
        raise missing_path_error("dir", "/data/flowers")
    """
    return UserInputError(
        f"no data at {path}: the {'folder' if kind == 'dir' else 'file'} does not exist",
        hint="check the path; if the data moved, give its new place (NAME=dir:PATH or "
        "NAME=npz:PATH in the task list or `evomt evolve --task`, or `evomt eval --data`): "
        "a work directory takes it once the old place is gone",
    )


def moved_data(known: str, given: str) -> bool:
    """Whether `given` names the data of `known`'s task at a new place: the same task
    name and kind of source (`dir:` or `npz:`), the known path gone and the given one
    there. A task keeps its data; data that moved is the same data.

    Example:
        moved_data("flowers=dir:/old/flowers", "flowers=dir:/new/flowers")  # once /old is gone
    """
    if not (isinstance(known, str) and isinstance(given, str)):
        return False
    (name, source), (given_name, given_source) = name_and_source(known), name_and_source(given)
    kind, _, path = source.partition(":")
    given_kind, _, given_path = given_source.partition(":")
    return (
        split_name(absolute_spec(known.removeprefix("private:")))[0] is not None
        and (name, kind) == (given_name, given_kind)
        and kind in ("dir", "npz")
        and path != given_path
        and not os.path.exists(path)
        and os.path.exists(given_path)
    )


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


# Class counts: TFDS's ClassLabel sizes, or VTAB's derived label counts (`vtab.py`).
_BASE_CLASSES: dict[str, int] = {
    "imagenet2012": 1000,
    "cifar100": 100,
    "cifar10": 10,
    "caltech101": 102,
    "dtd": 47,
    "oxford_flowers102": 102,
    "oxford_iiit_pet": 37,
    "sun397": 397,
    "svhn_cropped": 10,
    "patch_camelyon": 2,
    "eurosat": 10,
    "resisc45": 45,
    "diabetic_retinopathy_detection/btgraham-300": 5,
    "clevr/count_cylinders": 11,
    "clevr/count_all": 8,
    "clevr/closest_object_distance": 6,
    "dmlab": 6,
    "dsprites/label_x_position": 16,
    "dsprites/label_orientation": 16,
    "kitti/closest_object_distance": 5,
    "kitti/count_vehicles": 4,
    "kitti/closest_vehicle_distance": 4,
    "smallnorb/label_category": 5,
    "smallnorb/label_lighting": 6,
    "smallnorb/label_azimuth": 18,
    "smallnorb/label_elevation": 9,
    "visual_domain_decathlon/imagenet12": 1000,
    "visual_domain_decathlon/svhn": 10,
    "visual_domain_decathlon/cifar100": 100,
    "visual_domain_decathlon/gtsrb": 43,
    "visual_domain_decathlon/daimlerpedcls": 2,
    "visual_domain_decathlon/omniglot": 1623,
    "visual_domain_decathlon/ucf101": 101,
    "visual_domain_decathlon/aircraft": 100,
    "visual_domain_decathlon/dtd": 47,
    "visual_domain_decathlon/vgg-flowers": 102,
    "emnist/digits": 10,
    "emnist/letters": 37,
    "kmnist": 10,
    "mnist": 10,
    "omniglot": 1623,
    "cmaterdb/bangla": 10,
    "cmaterdb/devanagari": 10,
    "cmaterdb/telugu": 10,
    "digits": 10,
    "lfw_faces": 2,
    "textures": 3,
    "fashion_mnist": 10,
}
NUM_CLASSES: dict[str, int] = {
    name: _BASE_CLASSES[name.removesuffix("/1k")] for name in list_tasks()
}

# The offline tasks (`offline.py`): source, split specs, and the module the data comes with.
_HELD_OUT = {
    "train": "train arrays minus held out",
    "validation": "10% of train arrays, stratified, seed 0",
    "test": "test arrays",
}
_TILE_BANDS = {  # offline.texture_tiles
    "train": "tile rows above validation",
    "validation": "the eighth of tile rows above test",
    "test": "the bottom quarter of tile rows",
}
_OFFLINE_SOURCES: dict[str, tuple[str, str]] = {
    "digits": ("sklearn:digits", "sklearn"),
    "lfw_faces": ("skimage:lfw_subset", "skimage"),
    "textures": ("skimage:brick,grass,gravel", "skimage"),
}
FASHION_MNIST = "fashion_mnist:3.*.*"


def describe_tasks(data_dir: str | None = None) -> list[dict[str, Any]]:
    """One dict per registered task: name, source, num_classes, splits, present; read
    from the catalog and the TFDS data dir's files alone (no TensorFlow).

    Example:
        [d["name"] for d in describe_tasks() if d["present"]]  # tasks usable offline
    """
    rows = []
    for name in list_tasks():
        if name in _OFFLINE_SOURCES:
            source, module = _OFFLINE_SOURCES[name]
            splits = dict(_TILE_BANDS if name == "textures" else _HELD_OUT)
            present = importlib.util.find_spec(module) is not None
        else:
            refs = _tfds_splits(name, data_dir)
            source = f"tfds:{refs['train'].dataset}"
            splits = {split: str(ref) for split, ref in refs.items()}
            datasets = dict.fromkeys(ref.dataset for ref in refs.values())
            present = all(tfds_files_present(ref, data_dir) for ref in datasets)
        rows.append(
            {
                "name": name,
                "source": source,
                "num_classes": NUM_CLASSES[name],
                "splits": splits,
                "present": present,
            }
        )
    return rows


def _tfds_splits(name: str, data_dir: str | None) -> Splits:
    if name == "fashion_mnist":
        rule = default_splits(["train", "test"])
        return _splits(FASHION_MNIST, rule["train"], rule["validation"], rule["test"])
    splits = registered_splits(name, data_dir, download=False)
    assert splits is not None, name  # every registered TFDS task has splits
    return splits
