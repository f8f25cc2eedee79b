"""The continual loop: task iterations, generations, candidates; committed after each.

A `Search` owns a work directory. `run()` goes through the config's task sequence,
`evolve(task)` does one task iteration. A generation is proposed whole (every parent
drawn from the population as it stood when the generation began), committed, trained
candidate by candidate (or a wave per device), then concluded in order: the improved
candidates join the population. Each commit writes the system (all components, the
proposals' included) and then `search/state.json` (naming that system state)
atomically, so killing the process at any instant and rerunning loses at most the
candidate in flight, and ends in the same system.

Example:
    search = Search(config, "runs/demo")
    system = search.run()
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import random
from pathlib import Path as FsPath
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_evomt import store
from keras_evomt.errors import CorruptStateError, EvomtError, MissingDataError, UserInputError
from keras_evomt.observe import CandidateLog, Observer
from keras_evomt.path import ROOT, Path
from keras_evomt.search.config import validate
from keras_evomt.search.journal import CandidateJournal
from keras_evomt.search.mutation import MutationOptions, make_candidate, structure_hparams
from keras_evomt.search.parents import choose_parent
from keras_evomt.search.population import Population
from keras_evomt.search.scoring import Scorer, joins_population
from keras_evomt.search.space import data_keys, model_keys, mutate
from keras_evomt.system import System
from keras_evomt.training import (
    CandidateTrainer,
    NonFiniteLoss,
    TrainResult,
    distribute,
    steps_per_round,
)
from keras_evomt.training.waves import Waves

STATE_VERSION = 1


class Search:
    """Runs µ2Net's search over a work directory, resumably."""

    def __init__(
        self,
        config,
        workdir: str | os.PathLike,
        *,
        observer: Observer | None = None,
        trainer: CandidateTrainer | None = None,
        tasks: dict[str, Any] | None = None,
    ):
        validate(config)
        self.config = config
        self.workdir = FsPath(workdir)
        self.observer = observer or Observer(workdir, log_every_steps=config.log_every_steps)
        self.strategy = distribute.strategy_from_config(config.distribute)
        self.trainer = trainer or CandidateTrainer(
            strategy=self.strategy,
            jit_compile=config.training.jit_compile,
            steps_per_call=config.training.get("steps_per_call", 0),
        )
        self.devices: list[str | None] = [None]
        self.waves: Waves | None = None
        if config.distribute.mode == "candidates":
            if self.trainer.replicas > 1:
                raise UserInputError(
                    "distribute.mode=candidates places whole candidates on "
                    "devices: use it with distribute.strategy=default."
                )
            self.devices = distribute.candidate_devices(config.distribute)
            self.waves = Waves(
                self.devices,
                jit_compile=config.training.jit_compile,
                steps_per_call=config.training.get("steps_per_call", 0),
            )
        self.is_chief = distribute.is_chief(self.strategy)
        self.options = MutationOptions(**config.mutation.to_dict())
        self._tasks: dict[str, Any] = dict(tasks or {})
        if config.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        # Once per process, fresh or resumed: tf.data's seeded ops combine it with their own.
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.system, self.state = self._open()
        root_size = sum(self.system.params(c) for c in self.system.root.components)
        self.scorer = Scorer(
            **{**config.score.to_dict(), "ref_params": config.score.ref_params or root_size}
        )
        self.rng = np.random.default_rng(config.seed)
        if self.state.get("rng"):
            self.rng.bit_generator.state = self.state["rng"]
        self.candidates_log = CandidateJournal(self.workdir / "search" / "candidates.jsonl")
        if self.is_chief:  # lines past the committed state are redone by this run
            self.candidates_log.truncate(self.state.get("candidates_log_bytes", 0))
        self._logs: dict[int, CandidateLog] = {}

    # === Public ===
    def run(self) -> System:
        """Runs (or resumes) the config's whole task sequence."""
        sequence = [t for _ in range(self.config.task_iterations) for t in self.config.tasks]
        self.state.setdefault("position", 0)
        with _data_context(self.config):
            missing = []
            for name in dict.fromkeys(sequence[self.state["position"] :]):
                try:
                    self._task(name)  # every task's data checked before any training
                except MissingDataError as error:
                    missing.append(error)  # all of them, so the user prepares them at once
            if missing:
                raise MissingDataError.combined(missing)
            while self.state["position"] < len(sequence):
                self._evolve(sequence[self.state["position"]], advance_sequence=True)
        return self.system

    def evolve(self, task: Any) -> Path:
        """One iteration of `task` (a name or a data.Task); resumes one in flight."""
        with _data_context(self.config):
            return self._evolve(task)

    def close(self) -> None:
        """Flushes the TensorBoard logs and stops the device threads."""
        self.observer.close()
        if self.waves:
            self.waves.close()

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _evolve(self, task: Any, *, advance_sequence: bool = False) -> Path:
        task = self._task(task)
        population = self._population_for(task.name, getattr(task, "private", False))
        generations = self.config.generations
        while population.generation < generations:
            self._generation(task, population)
        best = population.best()
        best.metrics["best_by_generation"] = list(population.best_by_generation)
        kept = {ROOT, best.id, *(p.id for p in self.system.paths.values())}
        self.system.info.setdefault("offspring", {})[task.name] = {
            pid: n for pid, n in population.offspring.items() if pid in kept
        }
        self.system.end_task(best)
        self.trainer.clear()  # locks changed: the traced steps' templates are stale
        if self.waves:
            self.waves.clear()
        self._test(task, best)
        added = self.system.own_params(best)
        self.state["population"] = None
        if advance_sequence:  # in the same commit, so a crash cannot repeat the task
            self.state["position"] += 1
            self.system.info["sequence_position"] = self.state["position"]
        self._commit()
        self.observer.task_finished(
            task.name, best.metrics, added, self.system.total_params(), len(self.system.paths)
        )
        return best

    # === A task iteration ===
    def _population_for(self, name: str, private: bool) -> Population:
        in_flight = self.state.get("population")
        if in_flight:
            if in_flight["task"] != name:
                raise UserInputError(
                    f"task '{in_flight['task']}' is in flight in {self.workdir}; finish it "
                    f"first: `evomt evolve --workdir {self.workdir} --task {in_flight['task']}`."
                )
            return Population.from_state(in_flight)
        self.system.start_task(name, private=private or name in self.config.private_tasks)
        incumbent = self.system.paths.get(name)
        seeds = self._seeds(name)
        self.rng.shuffle(seeds)
        population = Population.start(
            name,
            seeds,
            incumbent,
            self._score_of(incumbent) if incumbent else None,
            offspring=self.system.info.get("offspring", {}).get(name),
        )
        self.state["population"] = population.get_state()
        self._commit()
        return population

    def _seeds(self, name: str) -> list[str]:
        if self.config.parents.seeds == "root":
            return [ROOT]
        others = [
            p.id
            for t, p in self.system.paths.items()
            if t != name and t not in self.system.private_tasks
        ]
        return [*others, ROOT]

    def _generation(self, task, population: Population) -> None:
        """Proposes the whole generation, trains it, then concludes it in order."""
        if not population.proposals:
            self._propose_generation(task, population)
        validation: dict[int, Any] = {}
        total = len(population.proposals)
        while population.candidate < total:
            wave = range(population.candidate, min(total, population.candidate + len(self.devices)))
            jobs = [self._job(task, population, i, validation) for i in wave]
            outcomes = (
                self.waves.train(jobs, self.system) if self.waves else [self._train_inline(jobs[0])]
            )
            for job, outcome in zip(jobs, outcomes):
                population.proposals[job.index]["outcome"] = _outcome(outcome)
                failed = isinstance(outcome, BaseException)
                population.consecutive_failures = (population.consecutive_failures + 1) * failed
                population.candidate += 1
                self._logs[job.index] = job.log
            self.state["population"] = population.get_state()
            self._commit()
            self._stop_after_failures(task, population)
        self._conclude_generation(task, population)

    def _propose_generation(self, task, population: Population) -> None:
        """All of a generation's candidates, from the population as it stood when the
        generation began (offspring counts rise as parents are drawn, seeds rotate);
        committed before any trains, so a resumed generation trains the same ones."""
        population.generation_hparams = self._data_hparams(population)
        population.generation_seed = _derived_seed(
            self.config.seed, task.name, f"generation/{population.serial}"
        )
        ranked = population.ranked_ids()
        for index in range(self.config.candidates_per_generation):
            device = self.devices[index % len(self.devices)]
            child = self._propose(task, population, ranked, device)
            population.proposals.append({"path": child.to_json(), "device": device})
        population.candidate = 0
        self.state["population"] = population.get_state()
        self._commit()

    def _data_hparams(self, population: Population) -> dict[str, Any]:
        """Sampled once per generation (ds_* and image_size) from the task's best path so
        far, this iteration's candidates included, with the default µ."""
        space = self.config.space.to_dict()
        start = {**self.config.defaults.to_dict(), "image_size": self.config.root.image_size}
        best = population.best() if population.members else self.system.paths.get(population.task)
        if best is not None:
            start.update(best.hparams)
        mu = float(self.config.defaults["_mu_"])
        sampled = mutate(start, space, self.rng, keys=data_keys(space), mu=mu)
        keys = set(data_keys(space)) | {k for k in sampled if k.startswith("ds_")}
        return {k: sampled[k] for k in sorted(keys)}

    def _propose(self, task, population: Population, ranked: list[str], device) -> Path:
        """Picks a parent, mutates, makes the candidate (its own components on `device`)."""
        config = self.config
        seed_initializers(_derived_seed(config.seed, task.name, population.serial))
        pid = choose_parent(ranked, population.seeds, population.offspring, self.rng)
        population.offspring[pid] = population.offspring.get(pid, 0) + 1
        parent = self._known_path(pid, population)
        space = config.space.to_dict()
        hparams = {**config.defaults.to_dict(), **parent.hparams}
        hparams.update(structure_hparams(self.system, parent))
        hparams = mutate(hparams, space, self.rng, keys=model_keys(space))
        hparams.update(population.generation_hparams)
        with _on(device), self.strategy.scope():
            child = make_candidate(
                self.system,
                parent,
                task.name,
                task.num_classes,
                hparams,
                self.rng,
                self.options,
                ancestors=self._ancestors(parent, population),
            )
        child.id = population.new_id()
        return child

    def _job(self, task, population: Population, index: int, validation: dict) -> CandidateJob:
        """The training job of proposal `index`: its data pipelines and its log."""
        config = self.config
        proposal = population.proposals[index]
        child = Path.from_json(proposal["path"])
        size = child.image_size
        batch = config.batch_size * self.trainer.replicas  # the global batch
        if size not in validation:
            validation[size] = task.eval_dataset(
                "validation",
                image_size=size,
                batch_size=batch,
                max_examples=config.validation_examples,
            )
        # Every candidate of a generation sees the same batches (as the reference's
        # devices do): a fresh pipeline from the generation's seed (its random ops are
        # stateless, seeded from it), also after a resume.
        train_data = task.train_dataset(
            population.generation_hparams,
            image_size=size,
            batch_size=batch,
            seed=population.generation_seed,
        )
        steps = config.steps_per_validation or steps_per_round(
            task.num_train_examples, batch, config.examples_per_validation
        )
        log = self.observer.candidate_started(
            task.name,
            child.id,
            step_total=config.validations * steps,
            label=f"{task.name} gen {population.generation + 1}/{config.generations} cand "
            f"{index + 1}/{len(population.proposals)}",
        )
        return CandidateJob(
            child,
            index,
            train_data,
            validation[size],
            config.validations,
            steps,
            log,
            proposal.get("device"),
        )

    def _train_inline(self, job: CandidateJob):
        try:
            return job.run(self.system, self.trainer)
        except Exception as error:  # noqa: BLE001 - recorded as the candidate's failure
            return error

    def _conclude_generation(self, task, population: Population) -> None:
        """Adds the improved candidates in proposal order, logs every candidate (one JSON
        line each in search/candidates.jsonl) and commits the generation's end."""
        records = []
        for index, proposal in enumerate(population.proposals):
            child = Path.from_json(proposal["path"])
            record = self._conclude(task, population, child, index, proposal["outcome"])
            population.history.append(record)
            records.append((record, child))
        best = (
            max(m["score"] for m in population.members.values())
            if population.members
            else float("nan")
        )
        population.best_by_generation.append(best)
        population.generation += 1
        population.candidate = 0
        population.proposals = []
        population.generation_hparams = None
        self.system.gc(keep=population.paths())
        self.state["candidates_log_bytes"] = self.candidates_log.append(
            [{**record, "hparams": child.hparams} for record, child in records]
        )
        self.state["population"] = population.get_state()
        self._commit()
        for index, (record, child) in enumerate(records):
            log = self._logs.pop(index, None) or self.observer.candidate_started(
                task.name, child.id, step_total=1, label=task.name
            )
            log.finished(record, child.hparams)
        self.observer.generation_finished(task.name, population.generation - 1, best)

    def _conclude(self, task, population: Population, child: Path, index: int, outcome) -> dict:
        parent = child.parent
        parent_member = population.members.get(parent)  # same-task parents are members
        record = {
            "task": task.name,
            "generation": population.generation,
            "candidate": index,
            "id": child.id,
            "parent": parent,
            "image_size": child.image_size,
        }
        if "failed" in outcome:
            record.update(failed=outcome["failed"], score=None, joined=False, seconds=0.0)
            return record
        child.metrics = {
            "validation_accuracy": outcome["quality"],
            "validation_rounds": outcome["rounds"],
        }
        score = self._score_of(child)
        joined = joins_population(
            score,
            parent_member["score"] if parent_member else None,
            same_task=parent_member is not None,
        )
        if joined:
            population.add(child, outcome["quality"], score)
        record.update(
            quality=outcome["quality"],
            score=score,
            joined=joined,
            seconds=outcome["seconds"],
            steps=outcome["steps"],
            accounted_params=self.system.accounted_params(
                child, root_shares=self.scorer.root_shares
            ),
        )
        return record

    def _stop_after_failures(self, task, population: Population) -> None:
        if population.consecutive_failures >= self.config.max_consecutive_failures:
            last = population.proposals[population.candidate - 1]["outcome"]["failed"]
            raise EvomtError(
                f"{population.consecutive_failures} candidates of '{task.name}' failed in a "
                f"row; the last: {last}.",
                hint="check the data and the learning rates (--set space.opt_lr=...), "
                "then rerun the same command.",
            )

    def _score_of(self, path: Path) -> float:
        return self.scorer.score(
            path.metrics.get("validation_accuracy", 0.0),
            accounted_params=self.system.accounted_params(
                path, root_shares=self.scorer.root_shares
            ),
            flops=self.system.flops(path),
        )

    def _test(self, task, best: Path) -> None:
        try:
            data = task.eval_dataset(
                "test",
                image_size=best.image_size,
                batch_size=self.config.batch_size * self.trainer.replicas,
            )
            best.metrics["test_accuracy"] = self.trainer.accuracy(self.system, best, data)
        except UserInputError as error:
            self.observer.message(f"no test accuracy for {task.name}: {error.message}")

    def _known_path(self, pid: str | None, population: Population) -> Path | None:
        """A member of the population, a task's kept path or the root, by id."""
        if pid == ROOT:
            return self.system.root
        member = population.path(pid) if pid else None
        return member or next((p for p in self.system.paths.values() if p.id == pid), None)

    def _ancestors(self, path: Path, population: Population) -> list[Path]:
        """`path`'s ancestors still in the system, closest first, ending with the root."""
        found: list[Path] = []
        seen = {path.id}
        ancestor = self._known_path(path.parent, population)
        while ancestor is not None and ancestor.id not in seen and ancestor.id != ROOT:
            found.append(ancestor)
            seen.add(ancestor.id)
            ancestor = self._known_path(ancestor.parent, population)
        return [*found, self.system.root] if path.id != ROOT else found

    # === Tasks ===
    def _task(self, task: Any):
        if not isinstance(task, str):
            task.check(self.config.root.image_size)
            self._tasks[task.name] = task
            return task
        if task not in self._tasks:
            from keras_evomt.data import get_task

            data = self.config.data
            self._tasks[task] = get_task(
                task, data_dir=data.data_dir or None, download=data.download
            )
            self._tasks[task].check(self.config.root.image_size)
        return self._tasks[task]

    # === State ===
    def _open(self) -> tuple[System, dict[str, Any]]:
        state_file = self.workdir / "search" / "state.json"
        if state_file.exists():
            import json

            try:
                state = json.loads(state_file.read_text())
            except ValueError as error:
                raise EvomtError(f"{state_file} is not readable JSON ({error}).") from None
            if state.get("version") != STATE_VERSION:
                raise EvomtError(
                    f"{state_file} has version {state.get('version')}, "
                    f"this keras_evomt reads {STATE_VERSION}."
                )
            try:
                return System.load(self.workdir, state=state["system_state"], slots=True), state
            except CorruptStateError as error:
                return self._recover(state, error), state
        if store.system_dir(self.workdir).exists():
            return System.load(self.workdir, slots=True), {"version": STATE_VERSION}
        root = self.config.root
        system = System.create(
            root.name,
            image_size=root.image_size,
            patch_size=root.patch_size,
            checkpoint=root.checkpoint or None,
        )
        return system, {"version": STATE_VERSION}

    def _recover(self, state: dict[str, Any], error: CorruptStateError) -> System:
        """The search's system state is damaged: go on from the newest good one. The task
        iteration in flight restarts; the sequence goes on from where that state was."""
        system = System.load(
            self.workdir, slots=True
        )  # falls back, or fails if nothing is loadable
        self.observer.message(
            f"warning: {error.message}; going on from state {system.loaded_state} "
            "(the task iteration in flight starts again)."
        )
        state["population"] = None
        state["position"] = system.info.get("sequence_position", 0)
        system.abandon_task()
        return system

    def _commit(self) -> None:
        if not self.is_chief:  # multi-worker: only the chief writes the work directory
            return
        self.state["system_state"] = self.system.save(
            self.workdir, keep=max(2, self.config.keep_states)
        )
        self.state["rng"] = self.rng.bit_generator.state
        self.state["version"] = STATE_VERSION
        store.atomic_write_json(self.workdir / "search" / "state.json", self.state)


def evolve(
    system_or_workdir: Any, task: Any, config, workdir: str | os.PathLike | None = None, **kwargs
) -> Path:
    """One µ2Net task iteration on the system in `workdir`; returns the task's new path.

    Example:
        evolve("runs/demo", Task.from_arrays("mine", x, y), config)
    """
    if isinstance(system_or_workdir, System):
        if workdir is None:
            raise UserInputError("evolve(system, task, config, workdir=...) needs a workdir.")
        if store.system_dir(workdir).exists():
            if getattr(system_or_workdir, "loaded_from", None) != os.fspath(workdir):
                raise UserInputError(
                    f"{workdir} already holds a system: pass the work "
                    "directory instead of a System to evolve it."
                )
        else:
            system_or_workdir.save(workdir)
    else:
        workdir = system_or_workdir
    with Search(config, workdir, **kwargs) as search:
        path = search.evolve(task)
    if isinstance(system_or_workdir, System):
        _adopt(system_or_workdir, search.system)
    return path


def _adopt(target: System, source: System) -> None:
    target.components, target.slots = source.components, source.slots
    target.set_state(source.get_state())


@dataclasses.dataclass
class CandidateJob:
    """A proposed candidate with everything needed to train it."""

    child: Path
    index: int
    train_data: Any
    validation_data: Any
    rounds: int
    steps: int
    log: CandidateLog
    device: str | None

    def run(self, system: System, trainer: CandidateTrainer) -> TrainResult:
        return trainer.train(
            system,
            self.child,
            self.train_data,
            self.validation_data,
            rounds=self.rounds,
            steps_per_round=self.steps,
            on_step=self.log.step,
            on_round=self.log.round,
            progress_every=self.log.observer.log_every_steps,
        )


def _outcome(result: TrainResult | BaseException) -> dict[str, Any]:
    """A trained candidate's result as plain data (stored in the search state)."""
    if isinstance(result, BaseException):
        return {"failed": _failure_reason(result)}
    return {
        "quality": result.quality,
        "rounds": result.rounds,
        "seconds": result.seconds,
        "steps": result.steps,
    }


def _on(device: str | None):
    return tf.device(device) if device else contextlib.nullcontext()


def _data_context(config):
    """Mock TFDS data for the `tiny` recipe variants (`data.mock_examples` > 0)."""
    if config.data.get("mock_examples", 0) <= 0:
        return contextlib.nullcontext()
    from keras_evomt.data.mock import mock_data

    return mock_data(num_examples=config.data.mock_examples)


def seed_initializers(seed: int) -> None:
    """Seeds Keras's initializers (they draw their seeds from Python's `random`).

    Not `keras.utils.set_random_seed`: its `tf.random.set_seed` clears TensorFlow's
    eager kernel cache, which costs ~0.7 s per candidate (BENCHMARKS.md).
    """
    random.seed(seed)
    np.random.seed(seed)


def _derived_seed(seed: int, task: str, serial: int) -> int:
    digest = hashlib.sha256(f"{seed}/{task}/{serial}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _failure_reason(error: Exception) -> str:
    if isinstance(error, NonFiniteLoss):
        return str(error)
    if isinstance(error, tf.errors.ResourceExhaustedError):
        return "out of memory"
    return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
