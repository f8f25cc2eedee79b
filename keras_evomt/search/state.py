"""The search's own state: `DIR/search/state.json`, committed atomically with the system.

It owns what the search needs to resume and nothing of the system itself: the
active task's population (with the generation's proposals), the offspring counts
and the next candidate number carried between iterations of a task, the position in
the task sequence, the random state and the committed length of
`search/candidates.jsonl`. A commit saves the system (a new numbered state) and then
writes this file naming that state, so a kill at any instant leaves a consistent pair.

The position, offspring counts and the candidate log's length as of the last finished
task iteration are also recorded per kept system state (`checkpoints`): if the newest
system state is damaged, the search goes on from an older one with the bookkeeping as
of that state.

Example:
    state = SearchState.open("runs/demo", seed=0) or SearchState.new(seed=0)
    state.position += 1
    state.commit("runs/demo", system, keep=3)
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from keras_evomt import store
from keras_evomt.errors import EvomtError
from keras_evomt.search.population import Population
from keras_evomt.workdir import WorkdirLayout

VERSION = 2
READABLE = (1, 2)  # version 1 kept offspring and the position in the system's info


@dataclasses.dataclass
class SearchState:
    """Population, offspring, sequence position, random state, journal length."""

    rng: np.random.Generator
    population: Population | None = None
    position: int = 0
    offspring: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    serials: dict[str, int] = dataclasses.field(default_factory=dict)  # next id per task
    candidates_log_bytes: int = 0
    system_state: int | None = None
    checkpoints: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # The config the task iteration in flight began with (flat, execution keys left
    # out): a resume under other settings is refused, so it stays bit-exact.
    iteration_config: dict[str, Any] | None = None
    legacy: bool = False  # read from a version 1 file: bookkeeping in the system's info

    @classmethod
    def new(cls, seed: int) -> SearchState:
        return cls(rng=np.random.default_rng(seed))

    @staticmethod
    def file(workdir: str | os.PathLike) -> FsPath:
        return WorkdirLayout(workdir).search_state

    @classmethod
    def open(cls, workdir: str | os.PathLike, seed: int) -> SearchState | None:
        """The committed state of `workdir`, or None if it has none."""
        path = cls.file(workdir)
        if not path.exists():
            return None
        data = store.read_workdir_json(
            path,
            "It is the search's committed state, which `evomt run` and `evolve` resume "
            "from: restore it from a backup. The saved system does not need it: eval, "
            "export and serve still work.",
        )
        if data.get("version") not in READABLE:
            raise EvomtError(
                f"{path} has version {data.get('version')}, this keras_evomt reads "
                f"{', '.join(map(str, READABLE))}."
            )
        return cls.from_dict(data, seed)

    @classmethod
    def from_dict(cls, data: dict[str, Any], seed: int) -> SearchState:
        state = cls.new(seed)
        if data.get("rng"):
            state.rng.bit_generator.state = data["rng"]
        population = data.get("population")
        state.population = Population.from_state(population) if population else None
        state.position = int(data.get("position", 0))
        state.offspring = dict(data.get("offspring", {}))
        state.serials = dict(data.get("serials", {}))
        state.candidates_log_bytes = int(data.get("candidates_log_bytes", 0))
        state.system_state = data.get("system_state")
        state.checkpoints = dict(data.get("checkpoints", {}))
        state.iteration_config = data.get("iteration_config")
        state.legacy = data.get("version") == 1
        return state

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "system_state": self.system_state,
            "population": self.population.get_state() if self.population else None,
            "position": self.position,
            "offspring": self.offspring,
            "serials": self.serials,
            "rng": self.rng.bit_generator.state,
            "candidates_log_bytes": self.candidates_log_bytes,
            "checkpoints": self.checkpoints,
            "iteration_config": self.iteration_config,
        }

    def adopt_legacy(self, info: dict[str, Any]) -> None:
        """Takes a version 1 work directory's bookkeeping out of the system's `info`."""
        if self.legacy:
            self.offspring = {**info.pop("offspring", {}), **self.offspring}
            info.pop("sequence_position", None)
            self.legacy = False

    def rewind_to(self, system_state: int, info: dict[str, Any]) -> None:
        """The bookkeeping as of an older system state (the newer one is damaged): the
        task iteration in flight starts again, and the candidate log is cut back to where
        that iteration began. `info`: that system's (version 1 kept it there). Candidate
        numbers do not go back: the abandoned candidates keep theirs in TensorBoard."""
        legacy = {"position": info.get("sequence_position", 0), **info}
        kept = self.checkpoints.get(str(system_state), legacy)
        if self.population:  # numbers only grow, so the newest ones are kept
            task = self.population.task
            self.serials[task] = max(self.serials.get(task, 0), self.population.serial)
        self.population = None
        self.iteration_config = None
        self.position = int(kept.get("position", 0))
        self.offspring = dict(kept.get("offspring", {}))
        # States committed before the log's length was kept per state keep the whole log.
        self.candidates_log_bytes = int(kept.get("candidates_log_bytes", self.candidates_log_bytes))

    def _iteration_log_bytes(self) -> int | None:
        """The candidate log's length when the task iteration in flight began (None:
        unknown, for states committed before it was kept)."""
        if self.population is None:
            return self.candidates_log_bytes
        if not self.checkpoints:  # the first commit of a run: its first iteration
            return 0 if self.position == 0 and not self.offspring else None
        return self.checkpoints[max(self.checkpoints, key=int)].get("candidates_log_bytes")

    def commit(self, workdir: str | os.PathLike, system, *, keep: int) -> None:
        """Saves `system` as a new state, then this file naming it (both atomic)."""
        log_bytes = self._iteration_log_bytes()
        self.system_state = system.save(workdir, keep=keep)
        kept = {"position": self.position, "offspring": self.offspring}
        if log_bytes is not None:
            kept["candidates_log_bytes"] = log_bytes
        # A copy: the search goes on changing its own dicts in place.
        self.checkpoints[str(self.system_state)] = copy.deepcopy(kept)
        for number in sorted(self.checkpoints, key=int)[:-keep]:
            del self.checkpoints[number]
        store.atomic_write_json(self.file(workdir), self.to_dict())


def committed_search(workdir: str | os.PathLike) -> tuple[SearchState | None, int]:
    """The work directory's committed search state (None without one), and how many
    system states a commit keeps (config.json's keep_states, at least 2), for commands
    that commit outside a search (`evomt abandon`, `check --drop-damaged-slots`).

    Example:
        state, keep = committed_search("runs/demo")
    """
    from keras_evomt.recipe import stored_config  # recipe imports this package

    config = stored_config(workdir)
    state = SearchState.open(workdir, int(config.seed) if config else 0)
    return state, max(2, int(config.keep_states)) if config else 3
