"""The active task's population and the search's counters: the search's own state.

Everything here is plain JSON (`get_state` / `set_state`), committed with the
generation's proposals and after every trained candidate, so a killed search
resumes exactly where it stopped.

A generation is proposed whole (`proposals`: its candidates, drawn from the members
as they stood when it began), then trained, then concluded in order: only then do
the improved candidates join `members`.

Example:
    population = Population.start("digits", seeds=["textures", "root"], incumbent=None)
    population.add(path, quality=0.9, score=0.9)
    population.ranked_ids()  # best first
"""

from __future__ import annotations

import dataclasses
from typing import Any

from keras_evomt.path import Path
from keras_evomt.search.scoring import validation_quality


@dataclasses.dataclass
class Population:
    """The active task's candidates (members), offspring counts, seeds and counters.

    Example:
        population = Population.start("digits", ["root"], incumbent=None)
        population.new_id()  # 'digits#0'
    """

    task: str
    members: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    offspring: dict[str, int] = dataclasses.field(default_factory=dict)
    seeds: list[str] = dataclasses.field(default_factory=list)
    generation: int = 0
    candidate: int = 0
    serial: int = 0
    generation_hparams: dict[str, Any] | None = None
    generation_seed: int = 0
    consecutive_failures: int = 0
    proposals: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_by_generation: list[float] = dataclasses.field(default_factory=list)

    @classmethod
    def start(
        cls,
        task: str,
        seeds: list[str],
        incumbent: Path | None,
        incumbent_score: float | None = None,
        incumbent_quality: float | None = None,
        offspring: dict[str, int] | None = None,
        serial: int = 0,
    ) -> Population:
        """A new iteration's population: the task's kept path (on a revisit) as its
        member, `offspring` counts carried over from earlier iterations of the task,
        and new ids numbered from `serial` (the task's next id over all its visits), so
        no id names two candidates. `incumbent_quality` and `incumbent_score` are the kept
        path's under the search's rule (default: as it was stored)."""
        population = cls(
            task=task, seeds=list(seeds), offspring=dict(offspring or {}), serial=serial
        )
        if incumbent is not None:
            quality = incumbent_quality
            if quality is None:
                quality = validation_quality(incumbent.metrics)
            population.members[incumbent.id] = {
                "path": incumbent.to_json(),
                "quality": quality,
                "score": quality if incumbent_score is None else incumbent_score,
            }
            number = candidate_number(incumbent.id)
            if number is not None:  # never before the kept path, whatever `serial` says
                population.serial = max(serial, number + 1)
        return population

    def new_id(self) -> str:
        self.serial += 1
        return f"{self.task}#{self.serial - 1}"

    def add(self, path: Path, quality: float, score: float) -> None:
        self.members[path.id] = {"path": path.to_json(), "quality": quality, "score": score}

    def ranked_ids(self) -> list[str]:
        """Member ids, best score first; ties keep their age order, older first (the
        reference's stable sort)."""
        return sorted(self.members, key=lambda pid: -self.members[pid]["score"])

    def paths(self) -> list[Path]:
        return [Path.from_json(m["path"]) for m in self.members.values()]

    def path(self, pid: str) -> Path | None:
        member = self.members.get(pid)
        return Path.from_json(member["path"]) if member else None

    def best(self) -> Path:
        """The member with the best score; of tied ones the newest (as the reference's
        `get_best_path`)."""
        if not self.members:
            raise ValueError(f"the population of '{self.task}' is empty.")
        newest_first = list(reversed(self.members))
        return self.path(max(newest_first, key=lambda pid: self.members[pid]["score"]))

    def proposed_paths(self) -> list[Path]:
        """The paths of the generation's proposals (their components must be kept)."""
        return [Path.from_json(p["path"]) for p in self.proposals]

    def get_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Population:
        return cls(**state)


def candidate_number(pid: str) -> int | None:
    """The number of a candidate id (`"digits#3"` -> 3); None for the root or a path
    named otherwise."""
    number = pid.rsplit("#", 1)[-1]
    return int(number) if "#" in pid and number.isdigit() else None
