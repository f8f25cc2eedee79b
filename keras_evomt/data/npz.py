"""A task from a .npz file of numpy.savez (`npz:PATH`), read without pickle.

Arrays: `x_train`, `y_train`, optionally `x_test`, `y_test`, and two settings a file
can carry: `value_range` (the pixels' [low, high] when they are not 0-255 or 0-1
floats) and `num_classes`.

Example:
    numpy.savez("mine.npz", x_train=x, y_train=y, value_range=[0, 16])
    task = npz_task("npz:/data/mine.npz", "/data/mine.npz")
"""

from __future__ import annotations

import re
import zipfile

import numpy as np

from keras_evomt.data.task import Task
from keras_evomt.errors import UserInputError

ARRAYS = ("x_train", "y_train", "x_test", "y_test")
SETTINGS = {"value_range": "[low, high]", "num_classes": "N"}


def npz_task(name: str, path: str) -> Task:
    """The task called `name` whose arrays (and settings) `path` holds."""
    return _train_task(name, path, _open(path))


def _train_task(name: str, path: str, arrays) -> Task:
    missing = {"x_train", "y_train"} - set(arrays.files)
    if missing:
        test_only = {"x_test", "y_test"} <= set(arrays.files)
        raise UserInputError(
            f"{path} must hold arrays x_train and y_train (optionally x_test, y_test, "
            f"value_range, num_classes). Received: {sorted(arrays.files)}",
            hint="test arrays alone serve `evomt eval --split test`" if test_only else None,
        )
    return _task(name, path, arrays, ARRAYS)


def npz_test_task(name: str, path: str) -> Task:
    """For evaluation on a test split: `path` may hold `x_test` and `y_test` alone.

    Such a file's task has the test arrays as every split, so only its test split is
    meaningful; a file with train arrays gives `npz_task`'s task.

    Example:
        numpy.savez("held_out.npz", x_test=x, y_test=y)
        task = npz_test_task("digits", "held_out.npz")
    """
    arrays = _open(path)
    if "x_train" in arrays.files:
        return _train_task(name, path, arrays)
    if not {"x_test", "y_test"} <= set(arrays.files):
        raise UserInputError(
            f"{path} must hold arrays x_test and y_test (or x_train and y_train) to evaluate "
            f"a task on. Received: {sorted(arrays.files)}"
        )
    return _task(name, path, arrays, ("x_test", "y_test"), test_only=True)


def _task(name: str, path: str, arrays, keys: tuple[str, ...], test_only: bool = False) -> Task:
    loaded = {k: _array(arrays, k, path) for k in (*keys, *SETTINGS) if k in arrays.files}
    settings = {k: _setting(loaded.pop(k), k, path) for k in SETTINGS if k in loaded}
    if test_only:
        x, y = loaded["x_test"], loaded["y_test"]
        loaded = {"x_train": x, "y_train": y, "x_test": x, "y_test": y, "validation": (x, y)}
    try:
        return Task.from_arrays(name, **loaded, **settings, source=f"npz:{path}")
    except UserInputError as error:
        key = next((k for k in SETTINGS if k in (error.hint or "")), None)
        if key is None:
            raise
        named = re.search(rf"{key}=(\[[\d., -]+\])", error.hint)  # a value the check found
        value = named.group(1) if named else SETTINGS[key]
        raise UserInputError(
            error.message, hint=f"save it beside the arrays: numpy.savez(..., {key}={value})"
        ) from error


def _open(path: str):
    try:
        arrays = np.load(path)  # allow_pickle=False: a file never runs code
    except OSError as err:
        raise UserInputError(f"cannot read arrays from {path}: {err}") from err
    except (ValueError, zipfile.BadZipFile) as err:  # a pickle, or a damaged archive
        # numpy takes any other bytes for a pickle; never suggest loading one.
        why = "not an archive of numpy.savez" if "pickle" in str(err) else f"damaged ({err})"
        raise UserInputError(
            f"cannot read arrays from {path}: it is {why}",
            hint="save the arrays with numpy.savez(path, x_train=..., y_train=..., ...)",
        ) from err
    if not hasattr(arrays, "files"):
        raise UserInputError(f"{path} holds one array; save named arrays with numpy.savez")
    return arrays


def _array(arrays, key: str, path: str) -> np.ndarray:
    try:
        return arrays[key]
    except ValueError as err:
        if "pickle" in str(err) or "Object arrays" in str(err):
            raise UserInputError(
                f"{key} in {path} holds Python objects; save plain numeric arrays."
            ) from err
        raise UserInputError(f"cannot read {key} from {path}: {err}") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise UserInputError(f"cannot read {key} from {path}: the file is damaged ({err})") from err


def _setting(value: np.ndarray, key: str, path: str):
    if key == "value_range":
        if value.shape != (2,) or value.dtype.kind not in "uif":
            raise UserInputError(
                f"value_range in {path} must be two numbers (low, high), e.g. [0, 16]. "
                f"Received: {value!r}"
            )
        return tuple(float(v) for v in value)
    if value.shape != () or value.dtype.kind not in "ui":
        raise UserInputError(f"num_classes in {path} must be one whole number. Received: {value!r}")
    return int(value)
