"""The system on disk: a JSON manifest plus each component's weights, stored once.

Why not `.keras`: nested models that share layers save but do not load (Keras
3.15), and a `.keras` file may name arbitrary classes. Here a state is
`system/manifest-<N>.json` (schema-checked, allow-listed component classes) and
content-addressed `system/weights/<id>-<sha>.npz` files (no pickle), written
aside, fsynced and renamed, the manifest last. The last `keep` states stay
loadable; if the newest is corrupt, loading falls back to the one before.
A damaged file blocks only the tasks whose paths use it (`load(tasks=...)` reads only
theirs), and the optimizer slots, which only training needs, are read only when asked
(`slots=True`, or `load_slots`). A full disk raises `DiskFullError`.

Example:
    number = save(system_dir("runs/demo"), state, components, slots)
    loaded = load(system_dir("runs/demo"))   # LoadedState(number, components, ...)
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import re
import tempfile
import weakref
from collections.abc import Callable, Collection
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, TypeVar

import jsonschema
import numpy as np

from keras_evomt.errors import CorruptStateError, DiskFullError, UserInputError
from keras_evomt.workdir import WorkdirLayout

if TYPE_CHECKING:  # Keras is imported only where components are built (`evomt check` needs none)
    from keras_evomt.components.base import Component

SCHEMA_VERSION = 1
T = TypeVar("T")
_MANIFEST = re.compile(r"^manifest-(\d{8})\.json$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_SAFE_FILE = re.compile(r"^weights/[A-Za-z0-9_][A-Za-z0-9_.\-]*\.npz$")
# Digests of components' weights, computed once: weights change only through the
# trainer, which calls `forget` first. Change weights by hand? Call `forget` too.
_digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Weight files known good: path -> (size, mtime_ns) when written or last verified.
_verified: dict[str, tuple[int, int]] = {}

_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_PATH = {
    "type": "object",
    "required": ["task", "components", "hparams", "metrics", "parent", "origin", "id"],
    "properties": {
        "task": {"type": "string"},
        "components": {"type": "array", "items": {"type": "string"}},
        "hparams": {"type": "object"},
        "metrics": {"type": "object"},
        "parent": {"type": ["string", "null"]},
        "origin": {"type": ["string", "null"]},
        "id": {"type": "string"},
    },
    "additionalProperties": False,
}
_SYSTEM = {
    "type": "object",
    "required": ["info", "root", "tasks", "active_task", "private_tasks", "next_id"],
    "properties": {
        "info": {"type": "object"},
        "root": {"anyOf": [_PATH, {"type": "null"}]},
        "tasks": {"type": "array", "items": _PATH},
        "active_task": {"type": ["string", "null"]},
        "private_tasks": {"type": "array", "items": {"type": "string"}},
        "next_id": {"type": "integer", "minimum": 0},
    },
}
_CONFIG_VALUE = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "state", "system", "components"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "state": {"type": "integer", "minimum": 1},
        "system": _SYSTEM,
        "components": {
            "type": "object",
            "propertyNames": {"pattern": _SAFE_ID.pattern},
            "additionalProperties": {
                "type": "object",
                "required": ["class", "config", "build", "params", "sha256", "file"],
                "properties": {
                    "class": {"type": "string"},
                    "config": {"type": "object", "additionalProperties": _CONFIG_VALUE},
                    "build": {"type": "object", "additionalProperties": _CONFIG_VALUE},
                    "params": {"type": "integer", "minimum": 0},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "slots_sha256": {"type": ["string", "null"]},
                    "file": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    },
}


@dataclasses.dataclass
class LoadedState:
    """What `load` returns: the state's number, structure, components and slots."""

    number: int
    system_state: dict[str, Any]
    components: dict[str, Component]
    slots: dict[str, list[np.ndarray]]
    warnings: list[str]
    params: dict[str, int] = dataclasses.field(default_factory=dict)
    entries: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def digest(component: Component) -> str:
    """sha256 of the component's weights (cached; see `forget`)."""
    sha = _digests.get(component)
    if sha is None:
        sha = _digests[component] = weights_digest(component.get_weights())
    return sha


def forget(component: Component) -> None:
    """Drops the cached digest of `component` (its weights are about to change)."""
    _digests.pop(component, None)


def system_dir(workdir: str | os.PathLike) -> FsPath:
    return WorkdirLayout(workdir).system


def weights_digest(arrays: list[np.ndarray]) -> str:
    """sha256 over dtype, shape and bytes of each array, in order."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# === Atomic writes ===
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` so that a crash leaves either the old or the new file.

    A full disk raises `DiskFullError` (the directory and the bytes needed), with the
    partial file removed.
    """
    path = FsPath(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        if error.errno in _DISK_FULL:
            raise DiskFullError(str(path.parent), len(data)) from None
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        FsPath(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in _DISK_FULL:
            raise DiskFullError(str(path.parent), len(data)) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode())


def _fsync_dir(directory: FsPath) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# === Save ===
def save(
    directory: str | os.PathLike,
    system_state: dict[str, Any],
    components: dict[str, Component],
    slots: dict[str, list[np.ndarray]],
    *,
    keep: int = 3,
) -> int:
    """Commits one state; returns its number. Weight files already on disk are reused."""
    if keep < 1:
        raise UserInputError(f"keep must be at least 1. Received: keep={keep}")
    directory = FsPath(directory)
    (directory / "weights").mkdir(parents=True, exist_ok=True)
    number = max(manifest_numbers(directory), default=0) + 1
    try:
        entries = {
            cid: _save_component(directory, cid, component, slots.get(cid))
            for cid, component in components.items()
        }
    except DiskFullError:  # say what the whole state needs, not the file that failed
        needed = _unwritten_bytes(directory, components, slots)
        raise DiskFullError(str(directory), needed) from None

    manifest = {
        "schema_version": SCHEMA_VERSION,
        "state": number,
        "system": system_state,
        "components": entries,
    }
    atomic_write_json(manifest_file(directory, number), manifest)
    _prune(directory, keep)
    return number


def _unwritten_bytes(
    directory: FsPath, components: dict[str, Component], slots: dict[str, list[np.ndarray]]
) -> int:
    """About the bytes the components without a weight file on disk still need."""
    total = 0
    for cid, component in components.items():
        if not any((directory / "weights").glob(f"{cid}-{digest(component)[:16]}*.npz")):
            arrays = [*component.get_weights(), *slots.get(cid, [])]
            total += sum(np.asarray(a).nbytes for a in arrays)
    return total + 64 * 1024  # manifest and zip headers


def _save_component(
    directory: FsPath, cid: str, component: Component, slots: list[np.ndarray] | None
) -> dict[str, Any]:
    if not _SAFE_ID.match(cid):
        raise UserInputError(f"component id {cid!r} is not a safe file name.")
    from keras_evomt.components.base import config_of, registered_name

    sha = digest(component)
    slots_sha = weights_digest(slots) if slots else None
    name = f"weights/{cid}-{sha[:16]}" + (f"-{slots_sha[:8]}" if slots_sha else "") + ".npz"
    file = directory / name
    if not _intact(file, sha, slots_sha):
        arrays = {f"w{i}": w for i, w in enumerate(component.get_weights())}
        arrays.update({f"s{i}": s for i, s in enumerate(slots or [])})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(file, buffer.getvalue())
        _remember(file)
    return {
        "class": registered_name(type(component)),
        "config": config_of(component),
        "build": _jsonable(component.get_build_config()),
        "params": component.param_count(),
        "sha256": sha,
        "slots_sha256": slots_sha,
        "file": name,
    }


def _intact(file: FsPath, sha: str, slots_sha: str | None) -> bool:
    """Whether `file` exists and holds those weights: a file written (or checked) by this
    process and unchanged since is trusted; any other is read and checked once, so a
    damaged shared file is rewritten at the next save instead of reused."""
    try:
        stat = file.stat()
    except FileNotFoundError:
        return False
    if _verified.get(str(file)) == (stat.st_size, stat.st_mtime_ns):
        return True
    try:
        weights, slots = _read_arrays(file)
    except Exception:  # noqa: BLE001 - any damage means: write it again
        return False
    good = (
        weights_digest(weights) == sha and (weights_digest(slots) if slots else None) == slots_sha
    )
    if good:
        _remember(file)
    return good


def _remember(file: FsPath) -> None:
    stat = file.stat()
    _verified[str(file)] = (stat.st_size, stat.st_mtime_ns)


def _read_arrays(
    file: FsPath, *, weights: bool = True, slots: bool = True
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The weights and optimizer slots stored in `file`; each part is read only if asked
    (they are separate members of the .npz, so a damaged slot never blocks inference)."""
    with np.load(file, allow_pickle=False) as data:
        keys = data.files
        read = [("w", weights), ("s", slots)]
        parts = [
            [data[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) for k in keys))]
            if wanted
            else []
            for prefix, wanted in read
        ]
    return parts[0], parts[1]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _prune(directory: FsPath, keep: int) -> None:
    numbers = manifest_numbers(directory)
    for number in numbers[:-keep]:
        manifest_file(directory, number).unlink(missing_ok=True)
    referenced = set()
    for number in numbers[-keep:]:
        try:
            manifest = json.loads(manifest_file(directory, number).read_text())
            referenced.update(e["file"] for e in manifest["components"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # an unreadable kept state: delete nothing it might need
    for file in (directory / "weights").glob("*.npz"):
        if f"weights/{file.name}" not in referenced:
            file.unlink(missing_ok=True)


def manifest_numbers(directory: str | os.PathLike) -> list[int]:
    """The numbers of the kept states in a system directory, oldest first."""
    directory = FsPath(directory)
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for f in directory.iterdir() if (m := _MANIFEST.match(f.name)))


def manifest_file(directory: str | os.PathLike, number: int) -> FsPath:
    """The manifest of state `number` in a system directory."""
    return FsPath(directory) / f"manifest-{number:08d}.json"


def read_workdir_json(file: FsPath, remedy: str) -> Any:
    """A work directory's JSON file; damaged: a CorruptStateError naming it, with `remedy`.

    Example:
        read_workdir_json(WorkdirLayout("runs/demo").tasks, "restore it from a backup")
    """
    try:
        return json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise CorruptStateError(f"{file} is not readable JSON ({error}).", hint=remedy) from None


def read_manifest(directory: str | os.PathLike, number: int) -> dict[str, Any]:
    """State `number`'s manifest: readable JSON, schema-checked, every path's components
    listed; else `CorruptStateError`.

    Example:
        manifest = read_manifest(system_dir("runs/demo"), manifest_numbers(...)[-1])
    """
    path = manifest_file(directory, number)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CorruptStateError(f"{path.name} is not readable JSON: {error}") from None
    try:
        jsonschema.validate(manifest, MANIFEST_SCHEMA)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise CorruptStateError(
            f"{path.name} fails its schema at {where}: {error.message[:200]}"
        ) from None
    system = manifest["system"]
    for kept in [system["root"] or {"components": []}, *system["tasks"]]:
        missing = [c for c in kept["components"] if c not in manifest["components"]]
        if missing:
            raise CorruptStateError(
                f"{_path_name(kept)} uses components the manifest does not list: {missing[:5]}"
            )
    return manifest


def newest_good(
    directory: str | os.PathLike, read: Callable[[int], T], *, state: int | None = None
) -> tuple[T, list[str]]:
    """`read(number)` of state `state`, or of the newest state it does not find corrupt
    (`CorruptStateError`), and a warning for each newer state passed over.

    Example:
        manifest, warnings = newest_good(directory, lambda n: read_manifest(directory, n))
    """
    directory = FsPath(directory)
    numbers = manifest_numbers(directory)[::-1]
    if not numbers:
        workdir = directory.parent
        raise UserInputError(
            f"no saved system in {directory}: run `evomt run RECIPE --workdir {workdir}` first."
        )
    if state is not None:
        if state not in numbers:
            raise CorruptStateError(
                f"state {state} is not among the kept states {numbers} in {directory}."
            )
        numbers = [state]
    warnings: list[str] = []
    failures: list[tuple[int, CorruptStateError]] = []
    for number in numbers:
        try:
            return read(number), warnings
        except CorruptStateError as error:
            warnings.append(f"state {number} is unusable ({error.message})")
            failures.append((number, error))
    workdir = directory.parent
    slots_only = all(getattr(error, "slots_only", False) for _, error in failures)
    if state is not None:
        head = f"{directory}: "
    elif slots_only:
        head = f"no state in {directory} loads for training: "
    else:
        head = f"no loadable state in {directory}: "
    still = (
        "Only optimizer (momentum) slots are damaged: every task still loads for inference "
        "(eval, export, serve), but training resumes from them. "
        if slots_only
        else _still_loading(failures[0][1])
    )
    without_backup = (
        f" Without one, `evomt check --workdir {workdir} --drop-damaged-slots` lets "
        "training go on without them."
        if slots_only
        else ""
    )
    raise CorruptStateError(
        head + _grouped(failures),
        hint=f"`evomt check --workdir {workdir}` lists the damaged files and the tasks they "
        f"affect. {still}Restore the damaged files from a backup.{without_backup}",
    )


def _grouped(failures: list[tuple[int, CorruptStateError]]) -> str:
    """The states' reasons, each told once: "states 10, 9 and 8 are unusable (...)"."""
    groups: dict[str, list[tuple[int, CorruptStateError]]] = {}
    for number, error in failures:
        groups.setdefault(getattr(error, "reason", error.message), []).append((number, error))
    parts = []
    for same in groups.values():
        numbers = [str(number) for number, _ in same]
        states = (
            f"state {numbers[0]} is"
            if len(numbers) == 1
            else f"states {', '.join(numbers[:-1])} and {numbers[-1]} are"
        )
        parts.append(f"{states} unusable ({same[0][1].message})")  # the newest's users
    return "; ".join(parts)


def _still_loading(newest: CorruptStateError) -> str:
    """Which tasks of the newest state a damaged component leaves loadable, and how."""
    users, tasks = getattr(newest, "users", None), getattr(newest, "tasks", None)
    if users is None or tasks is None:
        return ""
    spared = [t for t in tasks if t not in users]
    if not spared:
        return "Every task uses that component, so none loads as it was saved. "
    return (
        f"Tasks that do not use it still load ({', '.join(spared)}): System.load(workdir, "
        f"tasks={spared!r}), evomt export (or serve) --tasks {','.join(spared)}, or evomt "
        f"eval --task {spared[0]}. "
    )


# === Load ===
def load(
    directory: str | os.PathLike,
    *,
    state: int | None = None,
    tasks: Collection[str] | None = None,
    slots: bool = True,
) -> LoadedState:
    """Loads state `state`, or the newest good one, falling back past corrupt states.

    With `tasks`, only the components those tasks' paths use are read and checked; the
    others are structure only (configured, not built, no weights): enough for figures
    and fingerprints of a system far larger than memory. With `slots=False` the
    optimizer slots are not read (inference needs none; see `load_slots`).
    """
    directory = FsPath(directory)
    loaded, warnings = newest_good(
        directory, lambda number: _load_state(directory, number, tasks, slots), state=state
    )
    loaded.warnings = warnings
    return loaded


def _load_state(
    directory: FsPath, number: int, tasks: Collection[str] | None = None, slots: bool = True
) -> LoadedState:
    manifest = read_manifest(directory, number)
    system = manifest["system"]
    needed = (
        None
        if tasks is None
        else {c for kept in system["tasks"] if kept["task"] in tasks for c in kept["components"]}
    )
    components, found = {}, {}
    for cid, entry in manifest["components"].items():
        if needed is not None and cid not in needed:
            components[cid] = _structure_only(cid, entry)
            continue
        try:
            components[cid], found_slots = _load_component(directory, cid, entry, slots)
        except CorruptStateError as error:
            users = users_of(system, cid)
            damaged = CorruptStateError(
                f"{error.message} (used by {', '.join(users) or 'no task'})"
            )
            damaged.reason, damaged.users = error.message, users
            damaged.slots_only = getattr(error, "slots_only", False)
            damaged.tasks = [kept["task"] for kept in system["tasks"]]
            raise damaged from None
        if found_slots:
            found[cid] = found_slots
    params = {cid: entry["params"] for cid, entry in manifest["components"].items()}
    entries = {cid: manifest["components"][cid] for cid in components if components[cid].built}
    return LoadedState(number, system, components, found, [], params, entries)


def users_of(system_state: dict[str, Any], cid: str) -> list[str]:
    """The tasks (and 'root') whose saved path uses component `cid`."""
    paths = [system_state["root"] or {"components": []}, *system_state["tasks"]]
    return [p.get("task", "root") for p in paths if cid in p["components"]]


def load_slots(
    directory: str | os.PathLike, entries: dict[str, dict[str, Any]]
) -> dict[str, list[np.ndarray]]:
    """The optimizer slots of the manifest `entries` (component id -> entry), checked.

    Example:
        slots = load_slots(system_dir("runs/demo"), {cid: manifest["components"][cid]})
    """
    directory = FsPath(directory)
    found = {}
    for cid, entry in entries.items():
        if not entry.get("slots_sha256"):
            continue
        found[cid] = _checked_slots(_safe_file(directory, entry["file"], cid), entry)
    return found


def _path_name(path: dict[str, Any]) -> str:
    return f"path '{path.get('id') or path.get('task', 'root')}'"


def _allowed_class(cid: str, entry: dict[str, Any]) -> type[Component]:
    from keras_evomt.components.base import PACKAGE, component_class

    name = entry["class"]
    cls = component_class(name)
    is_lambda = name.rsplit(">", 1)[-1] == "Lambda"  # Keras's code-carrying layer
    if cls is None and name.startswith(f"{PACKAGE}>") and not is_lambda:
        # A class registered as components are, which this process has not imported.
        raise UserInputError(
            f"component {cid} is a {name.split('>', 1)[1]}, a class this process has not "
            "registered: import the module that defines it first.",
            hint="from Python, import it before loading; on the command line: "
            "`evomt --import MODULE COMMAND ...` (a module name, or a .py file)",
        )
    if cls is None:
        kind = "Lambda layers carry code and are" if is_lambda else "it is"
        raise CorruptStateError(
            f"component {cid} names class '{name}': {kind} not a "
            "registered keras_evomt component, refused."
        )
    return cls


def _structure_only(cid: str, entry: dict[str, Any]) -> Component:
    cls = _allowed_class(cid, entry)
    try:
        component = cls.from_config(dict(entry["config"], name=cid.rsplit(".", 1)[0]))
    except Exception as error:  # noqa: BLE001 - a config that does not build is corrupt
        raise CorruptStateError(
            f"component {cid} ({entry['class']}) cannot be configured: {error}"
        ) from None
    _digests[component] = entry["sha256"]
    return component


def _load_component(directory: FsPath, cid: str, entry: dict[str, Any], with_slots: bool = True):
    name = entry["class"]
    cls = _allowed_class(cid, entry)
    file = _safe_file(directory, entry["file"], cid)
    try:
        weights, _ = _read_arrays(file, slots=False)
    except ValueError:  # numpy's message suggests loading it unsafely: never
        raise CorruptStateError(
            f"{entry['file']} is not a plain .npz of arrays (damaged, or it holds pickled "
            "objects); refused."
        ) from None
    except Exception as error:  # noqa: BLE001 - zipfile and zlib raise their own errors
        raise CorruptStateError(f"{entry['file']} cannot be read: {error}") from None
    if weights_digest(weights) != entry["sha256"]:
        raise CorruptStateError(
            f"{entry['file']} does not match its sha256 (truncated or altered)."
        )
    slots = _checked_slots(file, entry) if with_slots else []
    try:
        component = cls.from_config(dict(entry["config"], name=cid.rsplit(".", 1)[0]))
        component.build_from_config(entry["build"])
        component.set_weights(weights)
    except Exception as error:  # noqa: BLE001 - a config that does not build is corrupt
        raise CorruptStateError(
            f"component {cid} ({name}) cannot be rebuilt from its config: {error}"
        ) from None
    _digests[component] = entry["sha256"]
    if with_slots:  # a file is trusted (see `_intact`) only once all of it was checked
        _remember(file)
    return component, slots


def _checked_slots(file: FsPath, entry: dict[str, Any]) -> list[np.ndarray]:
    """The optimizer slots in `file` (none when it holds none and the entry names none),
    checked; damaged ones raise a CorruptStateError marked `slots_only`."""
    sha = entry.get("slots_sha256")
    try:
        _, slots = _read_arrays(file, weights=False)
        damaged = bool(slots or sha) and weights_digest(slots) != sha
        reason = "do not match their sha256."
    except Exception as error:  # noqa: BLE001 - zipfile and zlib raise their own errors
        damaged, reason = True, f"unreadable ({error})"
    if damaged:
        error = CorruptStateError(f"{entry['file']}: optimizer slots {reason}")
        error.slots_only = True
        raise error
    return slots


def _safe_file(directory: FsPath, name: str, cid: str) -> FsPath:
    if not _SAFE_FILE.match(name) or ".." in name:
        raise CorruptStateError(
            f"component {cid} points to '{name}', outside {directory / 'weights'}; refused."
        )
    file = (directory / name).resolve()
    if directory.resolve() / "weights" != file.parent:
        raise CorruptStateError(
            f"component {cid} points to '{name}', which leaves {directory}; refused."
        )
    return file
