"""`evomt export`: one task's model, or several tasks in one model, as `.keras` or SavedModel.

Several tasks (`export_tasks`, `evomt export --all`) become one `MultiTaskModel` holding
each component once however many tasks use it: the SavedModel has one signature per task
and stores every shared weight once.

One task's model is a fresh `PathModel` over copies of the task's components, so the
artefact holds that task's layers only (not the whole system). `.keras` files load with
`keras.saving.load_model(path)` once `keras_evomt` is imported (its components are
registered serializable); a SavedModel (written with Keras's `ExportArchive`) loads with
`tf.saved_model.load(path)` and needs no keras_evomt at all.

The preprocessing contract (input size, value range, channels, classes, fingerprint)
travels with the model: always as `<out>.contract.json` beside it, and inside a
SavedModel also as `assets/contract.json` and a `contract` signature returning that JSON.

Example:
    export_task("runs/demo", "digits", "digits.keras")
    export_task("runs/demo", "digits", "serving/digits", fmt="savedmodel")
    served = tf.saved_model.load("serving/digits")
    logits = served.signatures["serving_default"](images=images)["logits"]
    export_tasks("runs/demo", None, "serving/all")  # every task, one signature each
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Any

import keras
import tensorflow as tf

from keras_evomt import __version__, store
from keras_evomt.components.base import copy_component
from keras_evomt.errors import UserInputError
from keras_evomt.export_target import check_target, contract_path, pending_path
from keras_evomt.multitask import ALL_PREFIX, MultiTaskModel, multitask_model, signature_keys
from keras_evomt.path import ROOT, PathModel
from keras_evomt.system import System

VALUE_RANGE = (-1.0, 1.0)


def export_task(
    workdir_or_system: str | os.PathLike | System,
    task: str,
    out: str | os.PathLike,
    fmt: str = "keras",
    *,
    overwrite: bool = False,
) -> FsPath:
    """Writes `task`'s model to `out` in format `fmt` ('keras' or 'savedmodel').

    Returns the path written; its contract is at `contract_path(out)`.
    """
    out = check_target(out, fmt, overwrite)
    system = (
        workdir_or_system
        if isinstance(workdir_or_system, System)
        else System.load(os.fspath(workdir_or_system))
    )
    if task == ROOT:
        raise UserInputError(
            "the root has no classification head; export a task: "
            f"{', '.join(system.paths) or 'no tasks yet'}."
        )
    model = standalone_model(system, task)
    contract = preprocessing_contract(system, task, fmt)
    return _write_export(model, contract, out, fmt, _stage_savedmodel)


def export_tasks(
    workdir_or_system: str | os.PathLike | System,
    tasks: Iterable[str] | None,
    out: str | os.PathLike,
    fmt: str = "savedmodel",
    *,
    overwrite: bool = False,
) -> FsPath:
    """Writes several tasks (None: all) as ONE model, each shared component stored once.

    'savedmodel': one signature per task, named by `signature_keys` (e.g.
    'dsprites/label_x_position' -> 'dsprites_label_x_position'; the first task's is also
    'serving_default'), each taking that task's `images` and returning its `logits`; and
    per image size S an `all_S` signature returning every task of that size, keyed by
    signature key, with the shared components run once. 'keras': one `.keras` file
    holding a `MultiTaskModel`, whose `call(images, tasks=None)` returns `{task: logits}`.
    The contract (every task's, and the key mapping) is `<out>.contract.json`, and in a
    SavedModel also `assets/contract.json`.

    Example:
        export_tasks("runs/demo", None, "serving/all")
        served = tf.saved_model.load("serving/all")
        served.signatures["digits"](images=images)["logits"]
    """
    out = check_target(out, fmt, overwrite)
    tasks = None if tasks is None else list(dict.fromkeys(tasks))
    system = (
        workdir_or_system
        if isinstance(workdir_or_system, System)
        else System.load(os.fspath(workdir_or_system), tasks=tasks)
    )
    tasks = list(system.paths) if tasks is None else tasks
    model = multitask_model(system, tasks, copy=True)
    contract = multitask_contract(system, tasks, fmt)
    return _write_export(model, contract, out, fmt, _stage_multitask_savedmodel)


def _write_export(model, contract: dict, out: FsPath, fmt: str, stage_savedmodel) -> FsPath:
    """Writes `model` as `fmt` to `out` and its contract beside it (readable by all)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = _stage_keras(model, out) if fmt == "keras" else stage_savedmodel(model, contract, out)
    try:
        # A kill from here until the contract is written leaves a model without a
        # contract (never a model beside another model's contract) and the pending
        # marker, by which a rerun knows the target for its own stopped export.
        store.atomic_write_json(pending_path(out), {"export": out.name, "format": fmt})
        contract_path(out).unlink(missing_ok=True)
        _swap_into_place(staged, out)
    finally:
        if staged.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            staged.unlink(missing_ok=True)
    store.atomic_write_json(contract_path(out), contract)
    _readable(contract_path(out))
    pending_path(out).unlink(missing_ok=True)
    return out


def multitask_contract(system: System, tasks: list[str], fmt: str) -> dict[str, Any]:
    """Every task's contract (with its signature key), the key mapping, `all_S` groups."""
    keys = signature_keys(tasks)
    by_size: dict[int, list[str]] = {}
    for task in tasks:
        by_size.setdefault(system.path(task).image_size, []).append(task)
    return {
        "format": fmt,
        "tasks": {
            t: {**preprocessing_contract(system, t, fmt), "signature": keys[t]} for t in tasks
        },
        "signatures_by_task": keys,
        "tasks_by_signature": {key: task for task, key in keys.items()},
        "all_signatures": {f"{ALL_PREFIX}{size}": group for size, group in by_size.items()},
        "serving_default": keys[tasks[0]],
        "unique_parameters": sum(
            system.params(c) for c in {c for t in tasks for c in system.path(t).components}
        ),
        "keras_evomt_version": __version__,
    }


def standalone_model(system: System, task: str) -> PathModel:
    """A new PathModel for `task` over copies of its components (weights copied)."""
    path = system.path(task)
    components = []
    for cid in path.components:
        components.append(copy_component(system.components[cid], name=cid))
    return PathModel(components, image_size=path.image_size, name=f"{_safe(task)}_model")


def preprocessing_contract(system: System, task: str, fmt: str) -> dict[str, Any]:
    """What the task's model expects and returns, as plain JSON."""
    path = system.path(task)
    size = path.image_size
    num_classes = system.num_classes(path)
    return {
        "task": task,
        "format": fmt,
        "input": {
            "name": "images",
            "dtype": "float32",
            "shape": [None, size, size, 3],
            "image_size": size,
            "channels": 3,
            "value_range": list(VALUE_RANGE),
            # The range the task's raw images were scaled from (None: not recorded).
            "source_value_range": system.value_range(task),
        },
        "preprocessing": (
            f"RGB (gray tiled to 3 channels, alpha dropped), values scaled from "
            f"source_value_range to [0, 1], resized bilinearly to {size}x{size}, then "
            "x * 2 - 1, clipped to [-1, 1] (keras_evomt.prepare_images does all of it)"
        ),
        "output": {
            "name": "logits",
            "dtype": "float32",
            "shape": [None, num_classes],
            "num_classes": num_classes,
            "class_names": system.class_names(task),
            "meaning": "unnormalised class scores; softmax gives probabilities",
        },
        "fingerprint": system.fingerprint(path),
        "path_id": path.id,
        "components": list(path.components),
        "metrics": {
            k: v
            for k, v in path.metrics.items()
            if isinstance(v, int | float) or k == "quality_rule"  # what validation_quality is
        },
        "keras_evomt_version": __version__,
    }


# === Writers ===
def _stage_keras(model: PathModel, out: FsPath) -> FsPath:
    """The .keras file written beside `out` under a temporary name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".keras", dir=out.parent)
    os.close(fd)
    try:
        model.save(tmp, overwrite=True)
        _readable(FsPath(tmp))
    except BaseException:
        os.unlink(tmp)
        raise
    return FsPath(tmp)


def _swap_into_place(staged: FsPath, out: FsPath) -> None:
    """Moves `staged` to `out`; an old folder at `out` is moved aside first and deleted
    after, so a kill leaves either export whole (the old one possibly under a hidden
    name), never a half-deleted one."""
    if out.is_dir() and not out.is_symlink():
        aside = FsPath(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, aside / out.name)
        os.replace(staged, out)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        if staged.is_dir() and out.exists():  # a file where the folder goes
            out.unlink()
        os.replace(staged, out)


def _stage_savedmodel(model: PathModel, contract: dict[str, Any], out: FsPath) -> FsPath:
    size = contract["input"]["image_size"]
    text = json.dumps(contract, indent=1)
    archive = _new_archive()
    archive.add_endpoint(
        "serve",
        lambda images: {"logits": model(_in_range(images, size), training=False)},
        input_signature=[_images_spec(size)],
    )
    archive.add_endpoint("contract", lambda: {"contract": tf.constant(text)}, input_signature=[])
    return _stage_archive(archive, text, out)


def _stage_multitask_savedmodel(
    model: MultiTaskModel, contract: dict[str, Any], out: FsPath
) -> FsPath:
    """One signature per task (its key), then one `all_<size>` per image size."""
    text = json.dumps(contract, indent=1)
    archive = _new_archive()
    for task, key in contract["signatures_by_task"].items():
        archive.add_endpoint(
            key,
            lambda images, task=task: {
                "logits": model(_in_range(images, model.image_sizes[task]), tasks=[task])[task]
            },
            input_signature=[_images_spec(model.image_sizes[task])],
        )
    keys = contract["signatures_by_task"]
    for name, tasks in contract["all_signatures"].items():
        archive.add_endpoint(
            name,
            lambda images, tasks=tasks: {
                keys[t]: y
                for t, y in model(
                    _in_range(images, model.image_sizes[tasks[0]]), tasks=tasks
                ).items()
            },
            input_signature=[_images_spec(model.image_sizes[tasks[0]])],
        )
    archive.add_endpoint("contract", lambda: {"contract": tf.constant(text)}, input_signature=[])
    return _stage_archive(archive, text, out)


def _new_archive() -> keras.export.ExportArchive:
    """An archive whose endpoints' captured variables are all it stores.

    `ExportArchive.track(model)` would also store the model's Keras variables, a second
    copy of every weight (Keras 3.15 on TensorFlow); a model without lookup tables needs
    no tracking, and each variable is then stored once.
    """
    return keras.export.ExportArchive()


def _in_range(images: tf.Tensor, size: int) -> tf.Tensor:
    """`images`, once checked to be a batch of `size` x `size` RGB images (a signature's
    function is called with whatever shape it is given) lying in VALUE_RANGE give or take
    a tenth of its width (as `pipeline.check_value_range`): a 0..255 batch would get
    confident wrong answers."""
    shape = tf.shape(images)
    padded = tf.pad(shape, [[0, 4]])  # a rank below 4 compares as zeros, not an error
    shaped = tf.debugging.Assert(
        tf.logical_and(
            tf.equal(tf.size(shape), 4), tf.reduce_all(tf.equal(padded[1:4], [size, size, 3]))
        ),
        [
            f"images must be a batch of {size}x{size} RGB images, shape (batch, {size}, "
            f"{size}, 3) (the contract's input.image_size); resize them, and tile gray ones "
            "to 3 channels. Received shape:",
            shape,
        ],
        summarize=4,
    )
    with tf.control_dependencies([shaped]):
        images = tf.identity(images)
    low, high = VALUE_RANGE
    middle, reach = (low + high) / 2, (high - low) / 2 + 0.1 * (high - low)
    check = tf.debugging.assert_less_equal(
        tf.reduce_max(tf.abs(images - middle)),
        tf.constant(reach, images.dtype),
        message=f"images must hold finite values in [{low:g}, {high:g}] (the contract's "
        "input.value_range); map the pixels' own range (input.source_value_range) onto it, "
        "e.g. scale 0..255 pixels as x / 127.5 - 1",
    )
    with tf.control_dependencies([check]):
        return tf.identity(images)


def _images_spec(size: int) -> tf.TensorSpec:
    return tf.TensorSpec((None, size, size, 3), tf.float32, name="images")


def _stage_archive(archive: keras.export.ExportArchive, text: str, out: FsPath) -> FsPath:
    """The SavedModel, with `text` as `assets/contract.json`, in a temporary folder
    beside `out`."""
    tmp = FsPath(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        archive.write_out(str(tmp), verbose=False)
        (tmp / "assets").mkdir(exist_ok=True)
        (tmp / "assets" / "contract.json").write_text(text)
        _readable(tmp, directory=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _readable(path: FsPath, directory: bool = False) -> None:
    """Temporary files and folders are private (0600/0700); exports are for others too."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod((0o777 if directory else 0o666) & ~umask)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)
