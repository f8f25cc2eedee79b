"""The work directory's layout: every file and folder a run keeps under `--workdir`.

    DIR/config.json               the config pinned on the first run (`recipe.pin_config`)
    DIR/tasks.json                task specs given to `evomt evolve --task`
    DIR/lock                      the exclusive lock of the running command (`workdir_lock`)
    DIR/system/                   the saved system: manifests and weights (`store`)
    DIR/search/state.json         the search's committed state (`search/state.py`)
    DIR/search/candidates.jsonl   one line per finished candidate (`search/journal.py`)
    DIR/tb/TASK/                  TensorBoard logs (`observe`)
    DIR/reports/                  `evomt report`'s pictures and summary

Example:
    layout = WorkdirLayout("runs/demo")
    layout.search_state  # PosixPath('runs/demo/search/state.json')
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path as FsPath


@dataclasses.dataclass(frozen=True)
class WorkdirLayout:
    """Where each file of a work directory lives (paths only: nothing is read or made)."""

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

    @property
    def tb(self) -> FsPath:
        return self.root / "tb"

    @property
    def reports(self) -> FsPath:
        return self.root / "reports"
