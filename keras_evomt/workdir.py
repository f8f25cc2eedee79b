"""The work directory's layout: every file and folder a run keeps under `--workdir`.

    DIR/config.json               the config pinned on the first run (`recipe.pin_config`)
    DIR/tasks.json                task specs given to `evomt evolve --task`
    DIR/lock                      the exclusive lock of the running command (`workdir_lock`)
    DIR/system/                   the saved system: manifests and weights (`store`)
    DIR/search/state.json         the search's committed state (`search/state.py`)
    DIR/search/candidates.jsonl   one line per finished candidate (`search/journal.py`)
    DIR/tb/TASK/                  TensorBoard logs (`observe`); TASK/LAST_N per candidate
    DIR/reports/                  `evomt report`'s pictures and summary

Example:
    layout = WorkdirLayout("runs/demo")
    layout.search_state  # PosixPath('runs/demo/search/state.json')
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from pathlib import Path as FsPath

_PLAIN_RUN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*")


@dataclasses.dataclass(frozen=True)
class WorkdirLayout:
    """Where each file of a work directory lives (paths; nothing is made or read but
    the listing of `write_leftovers`)."""

    root: FsPath

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", FsPath(root))

    @property
    def config(self) -> FsPath:
        return self.root / "config.json"

    @property
    def tasks(self) -> FsPath:
        return self.root / "tasks.json"

    @property
    def lock(self) -> FsPath:
        return self.root / "lock"

    @property
    def system(self) -> FsPath:
        return self.root / "system"

    @property
    def search(self) -> FsPath:
        return self.root / "search"

    @property
    def search_state(self) -> FsPath:
        return self.search / "state.json"

    @property
    def candidates(self) -> FsPath:
        return self.search / "candidates.jsonl"

    def write_leftovers(self) -> list[FsPath]:
        """Temporary files of atomic writes a killed process left (`.NAME.*.tmp`) where
        only the lock holder writes: system/, system/weights/ and search/."""
        found = []
        for directory in (self.system, self.system / "weights", self.search):
            if directory.is_dir():
                found += sorted(f for f in directory.glob(".*.tmp") if f.is_file())
        return found

    @property
    def tb(self) -> FsPath:
        return self.root / "tb"

    @property
    def tb_system(self) -> FsPath:
        """The system's TensorBoard run (its growth, task by task)."""
        return self.tb / "system"

    def tb_task(self, task: str) -> FsPath:
        """The task's TensorBoard run (`tb_run_name`)."""
        return self.tb / tb_run_name(task)

    def tb_candidate(self, task: str, candidate_id: str) -> FsPath:
        """A candidate's run, inside its task's: `tb/digits/digits_3` for `digits#3`."""
        run = self.tb_task(task)
        return run / f"{run.name}_{candidate_id.rpartition('#')[2]}"

    @property
    def reports(self) -> FsPath:
        return self.root / "reports"


def tb_run_name(task: str) -> str:
    """The folder of `task`'s TensorBoard run, relative to `tb/`.

    A plain or registry name is used as it is (`digits`, `kitti/count_vehicles`). An
    unnamed `dir:` or `npz:` task, named by its source, becomes one folder: the name
    with other characters replaced by `_`, then 8 hex digits of its sha256, so that two
    sources never share a run.

    Example:
        tb_run_name("npz:/data/mine.npz")  # 'npz_data_mine.npz-<8 hex digits>'
    """
    if _PLAIN_RUN.fullmatch(task):
        return task
    readable = re.sub(r"[^A-Za-z0-9_.\-]+", "_", task).strip("_.")[-80:]
    return f"{readable}-{hashlib.sha256(task.encode()).hexdigest()[:8]}"
