"""`evomt check`: verify every checksum of a saved system, without TensorFlow.

Each kept state's manifest is read and checked as `store.load` reads it, and every
weight file it names is read once: its weights and its optimizer slots are checked
against their sha256 separately (damaged slots only matter to training; inference never
reads them). The work directory's own files are checked too: config.json, tasks.json and
search/state.json must be readable JSON, and search/candidates.jsonl must hold at least
the lines of the committed state.

Example:
    result = check_workdir("runs/demo")
    for item in result.damage:
        print(item.file, item.problem, item.tasks)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from keras_evomt import store
from keras_evomt.errors import UserInputError
from keras_evomt.workdir import WorkdirLayout


@dataclasses.dataclass
class Damage:
    """One damaged file: what is wrong, and the tasks (per kept state) it affects."""

    file: str
    problem: str
    tasks: list[str]
    slots_only: bool = False
    manifest: bool = False  # a state's manifest: which tasks it held is unknown
    affects: str = ""  # a work directory file: what it breaks (it holds no weights)
    in_newest: bool = True  # a weight file: whether the newest readable state names it


@dataclasses.dataclass
class CheckResult:
    """What `check_workdir` verified and what it found damaged."""

    states: int
    files: int  # weight files
    damage: list[Damage]
    tasks: list[str] = dataclasses.field(default_factory=list)  # in any readable state
    workdir_files: int = 0  # config.json, tasks.json, search/*: checked beside the weights
    newest_state: int | None = None  # the newest readable state

    def only_older_states(self) -> bool:
        """Whether the damage is all in weight files that only older states name: the
        newest state loads, for inference and training."""
        return bool(self.damage) and all(
            not (item.manifest or item.affects or item.in_newest) for item in self.damage
        )

    def unaffected(self) -> list[str]:
        """The tasks no damaged file's weights reach (optimizer slots aside)."""
        hit = {t for item in self.damage if not item.slots_only for t in item.tasks}
        return [t for t in self.tasks if t not in hit]


def check_workdir(workdir: str | os.PathLike) -> CheckResult:
    """Verifies every kept state's manifest and weight files of `workdir`'s system."""
    directory = store.system_dir(workdir)
    if not os.path.isdir(directory):
        raise UserInputError(
            f"--workdir {workdir} holds no system ({directory} does not exist): "
            f"run `evomt run RECIPE --workdir {workdir}` first."
        )
    numbers = store.manifest_numbers(directory)
    if not numbers:
        raise UserInputError(
            f"--workdir {workdir} holds no saved state ({directory} has no manifest): a "
            "run that stopped before its first save (`evomt run RECIPE --workdir "
            f"{workdir}` starts it over), or a system whose manifests were removed (restore "
            "them from a backup)."
        )
    damage: list[Damage] = []
    users: dict[str, set[str]] = {}  # file -> tasks using it in some readable state
    entries: dict[str, dict[str, Any]] = {}
    newest, newest_files = None, set()
    for number in numbers:
        try:
            manifest = store.read_manifest(directory, number)
        except store.CorruptStateError as error:
            name = store.manifest_file(directory, number).name
            problem = error.message.removeprefix(f"{name} ")
            damage.append(Damage(name, problem, [], manifest=True))
            continue
        newest, newest_files = number, {e["file"] for e in manifest["components"].values()}
        for cid, entry in manifest["components"].items():
            entries.setdefault(entry["file"], dict(entry, cid=cid))
            users.setdefault(entry["file"], set()).update(store.users_of(manifest["system"], cid))
    for file, entry in sorted(entries.items()):
        problem, slots_only = _check_file(directory, entry)
        if problem:
            damage.append(
                Damage(
                    file, problem, sorted(users[file]), slots_only, in_newest=file in newest_files
                )
            )
    checked, found = _check_workdir_files(WorkdirLayout(workdir))
    tasks = sorted(set().union(*users.values()) - {"root"}) if users else []
    return CheckResult(len(numbers), len(entries), damage + found, tasks, checked, newest)


_WORKDIR_JSON = {
    "config": "resuming (`evomt run`, `evolve`) and finding tasks' data by name (`eval`)",
    "tasks": "finding by name the data of tasks added with `evomt evolve --task`",
    "search_state": "resuming the search (`evomt run`, `evolve`); eval, export and serve "
    "still work",
}


def _check_workdir_files(layout: WorkdirLayout) -> tuple[int, list[Damage]]:
    """(files checked, damage found) of the work directory's JSON files and candidate log."""
    found: list[Damage] = []
    committed = None
    checked = 0
    for name, affects in _WORKDIR_JSON.items():
        file = getattr(layout, name)
        if not file.exists():
            continue
        checked += 1
        try:
            data = json.loads(file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            found.append(
                Damage(_relative(file, layout), f"not readable JSON ({error})", [], affects=affects)
            )
            continue
        if name == "search_state" and isinstance(data, dict):
            committed = data.get("candidates_log_bytes")
    log = layout.candidates
    checked += log.exists()
    size = log.stat().st_size if log.exists() else 0
    if isinstance(committed, int) and size < committed:
        found.append(
            Damage(
                _relative(log, layout),
                f"{size} bytes, shorter than the committed state's {committed}: lines of "
                "finished candidates are lost",
                [],
                affects="`evomt report`'s candidate tables and pictures",
            )
        )
    return checked, found


def _relative(file, layout: WorkdirLayout) -> str:
    return str(file.relative_to(layout.root))


def _check_file(directory, entry: dict[str, Any]) -> tuple[str | None, bool]:
    """(what is wrong with the entry's file or None, whether only its slots are damaged)."""
    try:
        file = store._safe_file(directory, entry["file"], entry["cid"])
    except store.CorruptStateError as error:
        return error.message, False
    if not file.exists():
        return "missing", False
    try:
        weights, _ = store._read_arrays(file, slots=False)
    except ValueError:  # numpy's message suggests loading it unsafely: never
        return "weights unreadable (not a plain .npz of arrays: damaged, or pickled)", False
    except Exception as error:  # noqa: BLE001 - zipfile, zlib and numpy raise their own
        return f"weights unreadable ({error})", False
    if store.weights_digest(weights) != entry["sha256"]:
        return "weights do not match their sha256", False
    try:
        store.load_slots(directory, {entry["cid"]: entry})
    except store.CorruptStateError as error:
        return error.message.split(": ", 1)[-1], True
    return None, False
