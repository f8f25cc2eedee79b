"""Recipes and their configs: load `recipe.py[:variant]`, apply `--set key=value`,
and pin the resolved config to the work directory.

A recipe is a Python file with `get_config(variant)` returning a ConfigDict (as in
big_vision). Overrides must name an existing key and keep its type (ConfigDict
checks the type); the first run writes `DIR/config.json`, later runs must agree.

Example:
    config = load_recipe("recipes/offline_mini.py:smoke", ["generations=1"])
    config = pin_config(config, "runs/demo")
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import logging
import os
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path as FsPath
from typing import Any

import ml_collections

from keras_evomt import store
from keras_evomt.data.catalog import (
    absolute_spec,
    check_one_source_per_name,
    missing_path_error,
    moved_data,
    name_and_source,
    split_name,
    task_spec,
)
from keras_evomt.errors import EvomtError, UserInputError, closest
from keras_evomt.workdir import WorkdirLayout

_log = logging.getLogger(__name__)

# A checkout's recipes/, found by name (`evomt run offline_mini`); an installed package has
# none, and recipes are then named by their file path.
RECIPES_DIR = FsPath(__file__).resolve().parent.parent / "recipes"

# Keys added to the config since work directories were first pinned, each with the value
# that does what earlier versions did (steps_per_call: any value gives the same weights):
# a config pinned before a key existed reads as having that value.
LATER_KEYS: dict[str, Any] = {
    "first_generation_candidates": 0,
    "first_generation_validations": 0,
    "mutation.adapters": False,
    "training.steps_per_call": 0,
    "score.quality": "accuracy",
    "parents.seed_order": "shuffle",
    "parents.probe_examples": 1024,
    "parents.probe_estimate": "holdout",
    "mutation.head_init": "zeros",
}


def load_recipe(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
    """The config of `path/to/recipe.py[:variant]` (or a recipe name in recipes/)."""
    path, _, variant = spec.partition(":")
    file = FsPath(path)
    if not file.exists() and (RECIPES_DIR / file.name).exists():
        file = RECIPES_DIR / file.name
    if not file.exists() and (RECIPES_DIR / f"{path}.py").exists():
        file = RECIPES_DIR / f"{path}.py"
    if file.is_file() and file.suffix != ".py":
        raise UserInputError(
            f"{path} is not a recipe: a recipe is a Python file (.py) with a "
            "get_config(variant) function.",
            hint="for example `evomt run recipes/offline_mini.py --workdir runs/demo`",
        )
    if not file.exists() or file.suffix != ".py":
        known = sorted(p.stem for p in RECIPES_DIR.glob("*.py"))
        if not known:  # an installed package: there is no recipes/ folder beside it
            raise UserInputError(
                f"recipe '{path}' not found.",
                hint="give the path of a recipe file: FILE.py[:variant]",
            )
        raise UserInputError(
            f"recipe '{path}' not found; recipes: {', '.join(known)}.",
            hint=closest(FsPath(path).stem, known) or None,
        )
    module_spec = importlib.util.spec_from_file_location(f"evomt_recipe_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except EvomtError:
        raise
    except Exception as error:  # noqa: BLE001 - the user's file: say where it failed
        raise _recipe_failure(file, error) from error
    if not hasattr(module, "get_config"):
        raise UserInputError(f"{file} has no get_config(variant) function.")
    try:
        config = module.get_config(variant or None)
    except EvomtError:
        raise
    except ValueError as error:  # a recipe's own refusal, e.g. of an unknown variant
        raise UserInputError(f"{file.name}: {error}") from None
    except Exception as error:  # noqa: BLE001
        raise _recipe_failure(file, error) from error
    config = apply_overrides(config, overrides)
    config.lock()  # from here on, no key can be added by mistake
    return config


def _recipe_failure(file: FsPath, error: Exception) -> UserInputError:
    """`error`, raised while running the recipe `file`, with the recipe's line it came from."""
    own = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if os.path.abspath(frame.filename) == os.path.abspath(file)
    ]
    where = f", line {own[-1].lineno}: {own[-1].line}" if own else ""
    return UserInputError(
        f"recipe {file} failed{where}\n{type(error).__name__}: {error}",
        hint="fix the recipe (--debug shows the whole traceback).",
    )


def apply_overrides(
    config: ml_collections.ConfigDict, overrides: list[str]
) -> ml_collections.ConfigDict:
    """Applies 'key=value' strings; unknown keys and type changes are input errors."""
    config = ml_collections.ConfigDict(config.to_dict())  # a copy
    keys = list(flatten(config.to_dict()))
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep:
            raise UserInputError(f"--set expects key=value. Received: {override!r}")
        key = key.strip()
        if key not in keys and not _is_section(config, key):
            raise UserInputError(
                f"unknown config key '{key}'.",
                hint=closest(key, keys) or "see the recipe's get_config.",
            )
        value = _parse(text)
        parent, _, leaf = key.rpartition(".")
        target = config if not parent else _section(config, parent)
        old = target[leaf]
        if isinstance(old, ml_collections.ConfigDict):
            names = [f"{key}.{k}" for k in old]
            inner = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise UserInputError(
                f"--set {key}: '{key}' is a section, not a value; set its keys: {inner}."
            )
        if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(old, list) and isinstance(value, tuple):
            value = list(value)
        if isinstance(old, list) and isinstance(value, str):  # tasks=digits,textures
            items = text.strip().removeprefix("[").removesuffix("]").split(",")
            value = [_parse(item.strip()) for item in items if item.strip()]
        elif isinstance(old, list) and not isinstance(value, list):  # image_size=24
            value = [value]
        if type(old) is not type(value) and old is not None:
            kind = _KINDS.get(type(old).__name__, f"a {type(old).__name__}")
            raise UserInputError(f"--set {key}: expected {kind} (now {old!r}). Received: {text!r}")
        target[leaf] = value
    return config


# Where and how a run executes, not what it searches: a resumed run may change them (other
# machines, other devices, data moved). The executors grow the same system.
EXECUTION_KEYS = frozenset(
    {
        "distribute.executor",
        "distribute.mode",
        "distribute.devices",
        "distribute.cpu_devices",
        "distribute.ray_address",
        "distribute.ray_actors",
        "distribute.ray_timeout_s",
        "distribute.tpu",
        "distribute.tpu_zone",
        "distribute.tpu_project",
        "training.threads",
        "training.steps_per_call",
        "data.data_dir",
        "data.download",
        "log_every_steps",
    }
)


def _with_absolute_tasks(config):
    """`config` (a ConfigDict or the dict of a pinned one) with its tasks' relative
    `dir:`/`npz:` paths made absolute, so that the pinned task list names the same data
    when a later command runs from another folder."""
    tasks = config.get("tasks")
    if not isinstance(tasks, (list, tuple)):
        return config
    absolute = [absolute_spec(t) if isinstance(t, str) else t for t in tasks]
    if absolute == list(tasks):
        return config
    if isinstance(config, ml_collections.ConfigDict):
        config = config.copy_and_resolve_references()
    config["tasks"] = absolute
    return config


def pin_config(
    config: ml_collections.ConfigDict, workdir: str | os.PathLike
) -> ml_collections.ConfigDict:
    """Writes DIR/config.json on the first run; later, refuses a config that differs, and
    returns the pinned one with `config`'s EXECUTION_KEYS.

    Example:
        config = pin_config(load_recipe("offline_mini.py"), "runs/demo")
    """
    file = WorkdirLayout(workdir).config
    config = _with_absolute_tasks(config)
    resolved = json.loads(config.to_json_best_effort())
    if not file.exists():
        store.atomic_write_json(file, resolved)
        return config
    _take_moved_data(file, resolved.get("tasks"))
    pinned, wanted = flatten(_read_pinned(file)), flatten(resolved)
    differ = sorted(
        k
        for k in set(pinned) | set(wanted)
        if pinned.get(k) != wanted.get(k) and k not in EXECUTION_KEYS
    )
    if differ:
        shown = ", ".join(f"{k} ({pinned.get(k)!r} -> {wanted.get(k)!r})" for k in differ[:6])
        if len(differ) > 6:
            shown += f" and {len(differ) - 6} more"
        hint = "rerun with the same recipe and --set values, or use a new --workdir."
        if "tasks" in differ and only_paths_differ(pinned["tasks"], wanted["tasks"]):
            hint += (
                " A relative dir:/npz: path in the task list names data from the folder "
                "a command runs in: run it from the first run's folder. "
                + _moving_hint(pinned["tasks"], wanted["tasks"])
            )
        raise UserInputError(
            f"{workdir} was started with another config; differing keys: {shown}.", hint=hint
        )
    config = ml_collections.ConfigDict(_read_pinned(file))
    for key in EXECUTION_KEYS & set(wanted):
        parent, _, leaf = key.rpartition(".")
        (_section(config, parent) if parent else config)[leaf] = wanted[key]
    return config


def _moving_hint(pinned_tasks: list, wanted_tasks: list) -> str:
    unnamed = [
        old
        for old, new in zip(pinned_tasks, wanted_tasks)
        if isinstance(old, str)
        and old != new
        and split_name(old.removeprefix("private:"))[0] is None
    ]
    if unnamed:
        return (
            f"An unnamed task is named by its path ({unnamed[0]}), so its data cannot "
            "move: put it back there, or read it elsewhere with `evomt eval --data`."
        )
    return "A named task's data that moved is taken at its new place once its pinned path is gone."


def _take_moved_data(file: FsPath, tasks: Any) -> None:
    """Rewrites the pinned task list of `file` where `tasks` gives a task's data at a new
    place (`moved_data`), with a warning for each."""
    raw = store.read_workdir_json(file, _PINNED_REMEDY)
    pinned_tasks = raw.get("tasks")
    if not (isinstance(tasks, list) and isinstance(pinned_tasks, list)):
        return
    if len(tasks) != len(pinned_tasks):
        return
    moved = [i for i, (old, new) in enumerate(zip(pinned_tasks, tasks)) if moved_data(old, new)]
    if moved:
        raw["tasks"] = [
            _repointed(t, tasks[i]) if i in moved else t for i, t in enumerate(pinned_tasks)
        ]
        store.atomic_write_json(file, raw)
        for i in moved:
            _warn_moved(pinned_tasks[i], tasks[i])


def _repointed(known: str, moved: str) -> str:
    """`known` at `moved`'s place; a private task stays private."""
    private = "private:" if known.startswith("private:") else ""
    return private + moved.removeprefix("private:")


def _warn_moved(old: str, new: str) -> None:
    name, source = split_name(new.removeprefix("private:"))
    gone = split_name(old.removeprefix("private:"))[1].partition(":")[2]
    _log.warning(
        f"task '{name}' now reads its data from {source} ({gone} no longer exists); the "
        "work directory remembers the new place"
    )


def only_paths_differ(first: Any, second: Any) -> bool:
    """Whether two task lists differ only in the paths of their `dir:`/`npz:` sources."""
    if not (isinstance(first, list) and isinstance(second, list)) or len(first) != len(second):
        return False

    def kinds(specs: list) -> list:
        return [
            (split_name(s)[0], split_name(s)[1].partition(":")[0]) if isinstance(s, str) else s
            for s in specs
        ]

    return kinds(first) == kinds(second)


@contextlib.contextmanager
def pinned(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> Iterator:
    """`pin_config` for the span of a command: a config this command pinned is taken back
    if the command fails before the search committed anything (a bad root name, say, or
    a recipe that does not fit a system made from Python), so a typo does not bind the
    directory to it.

    Example:
        with pinned(config, "runs/demo") as config:
            Search(config, "runs/demo").run()
    """
    with _undone_unless_searched(workdir, _restorer(WorkdirLayout(workdir).config)):
        yield pin_config(config, workdir)


@contextlib.contextmanager
def _undone_unless_searched(workdir: str | os.PathLike, undo) -> Iterator[None]:
    """Calls `undo` when the block fails before the search committed anything (its
    state file unchanged), then lets the error go on."""
    state = WorkdirLayout(workdir).search_state
    before = _stamp(state)
    try:
        yield
    except BaseException:
        if _stamp(state) == before:
            undo()
        raise


def _restorer(*files: FsPath):
    """A function that puts `files` back as they are now (one that did not exist is
    removed)."""
    kept = {file: file.read_bytes() if file.exists() else None for file in files}

    def restore() -> None:
        for file, data in kept.items():
            if data is None:
                file.unlink(missing_ok=True)
            elif not file.exists() or file.read_bytes() != data:
                store.atomic_write_bytes(file, data)

    return restore


def _stamp(file: FsPath) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of `file`, None if it does not exist: whether a command
    changed it (state writes replace the file, so the inode changes too)."""
    try:
        info = file.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def stored_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict | None:
    file = WorkdirLayout(workdir).config
    return ml_collections.ConfigDict(_read_pinned(file)) if file.exists() else None


_PINNED_REMEDY = (
    "It is the config the first `evomt run` pinned: restore it from a backup, or delete "
    "it and rerun `evomt run` with the first run's recipe and --set options, which "
    "writes it again."
)


def _read_pinned(file: FsPath) -> dict[str, Any]:
    """A pinned config, with the LATER_KEYS it predates at their earlier behaviour."""
    pinned = store.read_workdir_json(file, _PINNED_REMEDY)
    for key, value in LATER_KEYS.items():
        *sections, leaf = key.split(".")
        node = pinned
        for section in sections:
            node = node.setdefault(section, {})
        node.setdefault(leaf, value)
    return _with_absolute_tasks(pinned)  # a relative path pinned by an earlier version


def task_specs(workdir: str | os.PathLike) -> list[str]:
    """Every task spec the work directory has seen: the config's task list, then the
    specs given to `evomt evolve --task` (so `eval --task flowers` finds its data)."""
    config = stored_config(workdir)
    given = _given_specs(WorkdirLayout(workdir).tasks)
    return [*(config.tasks if config else []), *given]


def _given_specs(file: FsPath) -> list[str]:
    if not file.exists():
        return []
    return store.read_workdir_json(
        file,
        "It lists the task specs given to `evomt evolve --task`: restore it from a backup, "
        'or write them again as a JSON list (["flowers=dir:/data/flowers", ...]).',
    )


def resolved_task_spec(workdir: str | os.PathLike, task: str, planned: Iterable = ()) -> str:
    """`task` as its full spec: a name alone finds the spec the work directory remembers
    (`flowers` finds `flowers=dir:/data/flowers`); refused if it gives a known name, or one
    of the `planned` specs' names, another data source.

    Example:
        resolved_task_spec("runs/demo", "flowers")  # "flowers=dir:/data/flowers"
    """
    known = task_specs(workdir)
    spec = task_spec(task, known)
    kind, _, path = name_and_source(spec)[1].partition(":")
    if kind in ("dir", "npz") and not os.path.exists(path):  # before any other complaint
        raise missing_path_error(kind, path)
    moved_from = [k for k in [*planned, *known] if moved_data(k, spec)]
    kept = [k for k in [*planned, *known] if k not in moved_from]
    check_one_source_per_name([*kept, spec])
    return _repointed(moved_from[0], spec) if moved_from else spec


@contextlib.contextmanager
def remembered_task_spec(workdir: str | os.PathLike, spec: str) -> Iterator[None]:
    """Adds a spec given on the command line to the work directory's `tasks.json` (a
    relative `dir:`/`npz:` path made absolute: it names that data from any folder), so
    a rerun by name resumes it; taken back if the command fails before the search
    committed anything (a wrong path does not bind the name).

    Example:
        with remembered_task_spec("runs/demo", "flowers=dir:data/flowers"):
            search.evolve("flowers=dir:data/flowers")
    """
    layout = WorkdirLayout(workdir)
    spec = absolute_spec(spec)
    undo = _restorer(layout.tasks, layout.config)
    if layout.config.exists():  # a task of the recipe's list whose data moved
        pinned_tasks = stored_config(workdir).get("tasks") or []
        _take_moved_data(layout.config, [_moved_to(t, spec) for t in pinned_tasks])
    if spec not in task_specs(workdir):
        given = _given_specs(layout.tasks)
        moved = [old for old in given if moved_data(old, spec)]
        store.atomic_write_json(layout.tasks, [g for g in given if g not in moved] + [spec])
        for old in moved:
            _warn_moved(old, spec)
    with _undone_unless_searched(workdir, undo):
        yield


def _moved_to(known: Any, spec: str) -> Any:
    return _repointed(known, spec) if moved_data(known, spec) else known


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a text",
    "list": "a list, as a,b or [a, b]",  # [a, b] of bare words: a,b
}


def _parse(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text


def _section(config, dotted: str):
    for part in dotted.split("."):
        if not isinstance(config, ml_collections.ConfigDict):  # a value has no keys
            raise KeyError(dotted)
        config = config[part]
    return config


def _is_section(config, key: str) -> bool:
    try:
        _section(config, key)
        return True
    except (KeyError, AttributeError):
        return False
