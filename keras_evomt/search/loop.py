"""The continual loop: task iterations and generations, committed after each step.

A `Search` owns a work directory. `run()` goes through the config's task sequence,
`evolve(task)` does one task iteration. A generation is proposed whole by the
`Proposer` (every parent drawn from the population as it stood when the generation
began), committed, trained by the configured executor (`distribute.executor`:
inline, one per local device, or Ray actors), then concluded in order: the improved
candidates join the population. Each commit (`SearchState.commit`) writes the
system (all components, the proposals' included) and then `search/state.json`
(naming that system state) atomically, so killing the process at any instant and
rerunning loses at most the candidates in flight, and ends in the same system.

Example:
    search = Search(config, "runs/demo")
    system = search.run()
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path as FsPath
from typing import Any

import keras
import tensorflow as tf

from keras_evomt import store
from keras_evomt.data.task import is_read_failure
from keras_evomt.errors import CorruptStateError, EvomtError, MissingDataError, UserInputError
from keras_evomt.executors import CandidateJob, DataSpec, make_executor
from keras_evomt.executors.base import failure_reason
from keras_evomt.observe import CandidateLog, Observer
from keras_evomt.path import ROOT, Path
from keras_evomt.recipe import only_paths_differ
from keras_evomt.search.config import (
    check_root,
    executor_name,
    generation_validations,
    iteration_settings,
    validate,
)
from keras_evomt.search.journal import CandidateJournal
from keras_evomt.search.mutation import MutationOptions
from keras_evomt.search.population import Population, candidate_number
from keras_evomt.search.probe import probe_sources
from keras_evomt.search.proposer import Proposer, seed_initializers
from keras_evomt.search.scoring import Scorer, joins_population, validation_quality
from keras_evomt.search.state import SearchState
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer, TrainResult, distribute
from keras_evomt.training import steps_per_round as reference_steps
from keras_evomt.workdir import WorkdirLayout

__all__ = ["Search", "evolve", "seed_initializers"]


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
        distribute.set_threads(config.training.threads)
        self.strategy = distribute.strategy_from_config(config.distribute)
        self.trainer = trainer or CandidateTrainer(
            strategy=self.strategy,
            jit_compile=config.training.jit_compile,
            steps_per_call=config.training.get("steps_per_call", 0),
        )
        self.is_chief = distribute.is_chief(self.strategy)
        self._tasks: dict[str, Any] = dict(tasks or {})
        self._named: set[str] = set()  # tasks found by name (remote executors look them up)
        if config.training.deterministic:
            tf.config.experimental.enable_op_determinism()
        # Once per process, fresh or resumed: tf.data's seeded ops combine it with their own.
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.system, self.state = self._open()
        # After the system exists: starting an executor (Ray) may draw from `random`,
        # which seeds Keras's initializers.
        name = executor_name(config)
        if name != "inline":
            self.observer.message(f"starting the {name} executor (distribute.executor) ...")
        self.executor = make_executor(name, config, self.trainer)
        if name != "inline":
            width = len(self.executor.devices)
            self.observer.message(
                f"{name} executor: {width} {'candidate' if width == 1 else 'candidates'} at a time"
            )
        root_size = sum(self.system.params(c) for c in self.system.root.components)
        bases = {k: v for k, v in config.score.items() if k != "quality"}  # quality: trainer's
        self.scorer = Scorer(**{**bases, "ref_params": config.score.ref_params or root_size})
        options = MutationOptions(**config.mutation.to_dict())
        self.proposer = Proposer(config, self.system, self.state.rng, options, self.strategy.scope)
        self.candidates_log = CandidateJournal(WorkdirLayout(self.workdir).candidates)
        if self.is_chief:  # lines past the committed state are redone by this run
            self.candidates_log.truncate(self.state.candidates_log_bytes)
        self._logs: dict[int, CandidateLog] = {}
        from keras_evomt.recipe import stored_config  # recipe imports this package

        try:
            pinned = stored_config(self.workdir)
        except EvomtError:  # unreadable: `evomt run` says so; from Python it is not needed
            pinned = None
        self._pinned = pinned
        self._pinned_rule = pinned.score.quality if pinned is not None else None

    # === Public ===
    def run(self) -> System:
        """Runs (or resumes) the config's whole task sequence."""
        sequence = [t for _ in range(self.config.task_iterations) for t in self.config.tasks]
        if self.state.position >= len(sequence) and self.state.population is None:
            self.observer.message(
                f"every task of this run is done ({len(sequence)} task iterations); nothing "
                f"to run. To add a task: evomt evolve --workdir {self.workdir} --task NAME."
            )
        with _data_context(self.config):
            missing = []
            for name in dict.fromkeys(sequence[self.state.position :]):
                try:
                    self._task(name)  # every task's data checked before any training
                except MissingDataError as error:
                    missing.append(error)  # all of them, so the user prepares them at once
            if missing:
                raise MissingDataError.combined(missing)
            while self.state.position < len(sequence):
                self._evolve(sequence[self.state.position], advance_sequence=True)
        return self.system

    def evolve(self, task: Any) -> Path:
        """One iteration of `task` (a name or a data.Task); resumes one in flight."""
        with _data_context(self.config):
            return self._evolve(task)

    def close(self) -> None:
        """Flushes the TensorBoard logs and stops the executor (threads, Ray actors)."""
        self.observer.close()
        self.executor.close()

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # === A task iteration ===
    def _evolve(self, task: Any, *, advance_sequence: bool = False) -> Path:
        task = self._task(task)
        with _naming_unreadable_files(task):
            population = self._population_for(task)
            while population.generation < self.config.generations:
                self._generation(task, population)
        best = population.best()
        earlier = self.system.paths.get(task.name)  # the task's kept path: earlier visits'
        best.metrics.update(self._progress(earlier, population))
        kept = {ROOT, best.id, *(p.id for p in self.system.paths.values())}
        self.state.offspring[task.name] = {
            pid: n for pid, n in population.offspring.items() if pid in kept
        }
        self.state.serials[task.name] = population.serial
        # A kept path no candidate beat keeps the facts of the data it was trained on:
        # this visit's data (another pixel range, other examples) did not make it.
        unchanged = earlier is not None and best.id == earlier.id
        if unchanged and "test_accuracy" in earlier.metrics:
            best.metrics["test_accuracy"] = earlier.metrics["test_accuracy"]
        kept_before = self.system.total_params()
        self.system.end_task(best)
        if not unchanged:
            self.system.set_class_names(task.name, getattr(task, "class_names", None))
            self.system.set_value_range(task.name, getattr(task, "value_range", None))
            self.system.set_split_sizes(task.name, _split_sizes(task))
        self.trainer.clear()  # locks changed: the traced steps' templates are stale
        self.executor.clear()
        if not unchanged or "test_accuracy" not in best.metrics:
            with _naming_unreadable_files(task):
                self._test(task, best)
        added = self.system.total_params() - kept_before  # the system's growth: 0 if unchanged
        self.state.population = None
        self.state.iteration_config = None
        if advance_sequence:  # in the same commit, so a crash cannot repeat the task
            self.state.position += 1
        self._commit()
        self.observer.task_finished(
            task.name,
            best.metrics,
            added,
            self.system.total_params(),
            len(self.system.paths),
            task_candidates=population.serial,
            all_candidates=sum(self.state.serials.values()),
        )
        return best

    def _progress(self, earlier: Path | None, population: Population) -> dict[str, list]:
        """The task's best score by generation over all its visits, and one `visits` entry
        a visit (its generations and quality rule), so a reader sees where the rule changed."""
        before = list(earlier.metrics.get("best_by_generation", [])) if earlier else []
        visits = list(earlier.metrics.get("visits", [])) if earlier else []
        if before and not visits:  # kept by a version that recorded no visits: its rule
            # is the one `_quality_of` assumes
            rule = earlier.metrics.get(
                "quality_rule", self._pinned_rule or self.config.score.quality
            )
            visits = [{"generations": len(before), "quality_rule": rule}]
        this = {
            "generations": len(population.best_by_generation),
            "quality_rule": self.config.score.quality,
        }
        return {
            "best_by_generation": before + list(population.best_by_generation),
            "visits": [*visits, this],
        }

    def _population_for(self, task) -> Population:
        name, private = task.name, getattr(task, "private", False)
        in_flight = self.state.population
        if in_flight:
            if in_flight.task != name:
                # What resumes it is config.json's settings, not this command's --set.
                _, sets = self._settings_changed(self._pinned or self.config)
                raise UserInputError(
                    f"task '{in_flight.task}' is in flight in {self.workdir}; finish it "
                    f"first: `evomt evolve --workdir {self.workdir} --task {in_flight.task}"
                    f"{sets}`.",
                    hint=f"or drop it: `evomt abandon --workdir {self.workdir}`",
                )
            self._check_same_settings(in_flight.task)
            self.observer.message(
                f"{name}: resuming its task iteration where it stopped, at generation "
                f"{in_flight.generation + 1} of {self.config.generations}, candidate "
                f"{in_flight.candidate + 1} (state {self.system.loaded_state})"
            )
            return in_flight
        incumbent = self.system.paths.get(name)
        # Before anything changes: a kept path that cannot be rescored under this rule stops here.
        quality = self._quality_of(incumbent) if incumbent else None
        self.system.start_task(name, private=private or name in self.config.private_tasks)
        population = Population.start(
            name,
            self._ordered_seeds(task),
            incumbent,
            self._score(quality, incumbent) if incumbent else None,
            incumbent_quality=quality,
            offspring=self.state.offspring.get(name),
            serial=self._next_serial(name),
        )
        self.state.population = population
        self.state.iteration_config = iteration_settings(self.config)
        self._commit()
        return population

    def _check_same_settings(self, task: str) -> None:
        """A resumed iteration must run under the settings it began with (an `evolve
        --set` is not pinned in config.json), or it would not be the run it was."""
        shown, sets = self._settings_changed(self.config)
        if shown:
            raise UserInputError(
                f"task '{task}' is in flight in {self.workdir} and began with other settings: "
                f"{shown}.",
                hint=f"resume it as it began: `evomt evolve --workdir {self.workdir} --task "
                f"{task}{sets}`, or drop it: `evomt abandon --workdir {self.workdir}`",
            )

    def _settings_changed(self, config) -> tuple[str, str]:
        """The in-flight iteration's settings that `config` changes: as `key (now, began
        with then)` and as the ` --set key=then` that restore them."""
        began = self.state.iteration_config
        if began is None:  # committed before the settings were kept
            return "", ""
        now = iteration_settings(config)
        # Keys one version lacks (added or dropped since) cannot be compared; data that
        # moved (recipe.pin_config took it) is the same data.
        differ = sorted(
            k
            for k in set(began) & set(now)
            if began[k] != now[k] and not (k == "tasks" and only_paths_differ(began[k], now[k]))
        )
        shown = ", ".join(f"{k} ({now[k]!r}, began with {began[k]!r})" for k in differ)
        sets = "".join(f" --set {k}={json.dumps(began[k], separators=(',', ':'))}" for k in differ)
        return shown, sets

    def _ordered_seeds(self, task) -> list[str]:
        """The iteration's seeds: shuffled (the reference), or with `parents.seed_order =
        "probe"` best first by probe (search/probe.py), the probes logged as lines of
        search/candidates.jsonl, committed with the new population."""
        seeds = self.proposer.seeds(task.name)
        if self.config.parents.seed_order != "probe" or len(seeds) < 2:
            return seeds
        known = {p.id: p for p in self.system.paths.values()} | {ROOT: self.system.root}
        examples = int(self.config.parents.probe_examples)
        estimate = self.config.parents.probe_estimate
        measured = "validation" if estimate == "holdout" else "leave-one-out"
        probes = probe_sources(
            self.system,
            [known[pid] for pid in seeds],
            task,
            train_examples=examples,
            validation_examples=min(examples, self.config.validation_examples),
            batch_size=self.config.batch_size,
            score=self._score,
            estimate=estimate,
        )
        self.state.candidates_log_bytes = self.candidates_log.append(
            [p.record(task.name, 0, rank) for rank, p in enumerate(probes)]
        )
        ranking = ", ".join(
            f"{p.source} {100 * p.accuracy:.1f}% (score {p.score:.4f})" for p in probes
        )
        self.observer.message(
            f"{task.name}: sources probed on {probes[0].train_examples} training and "
            f"{probes[0].validation_examples} validation examples ({measured} accuracy), "
            f"best score (accuracy x size term) first: {ranking}"
        )
        return [p.source for p in probes]

    def _next_serial(self, task: str) -> int:
        """The number of `task`'s next candidate: after every earlier one (a state
        written before the numbers were kept: after the last one in the candidate log)."""
        if task in self.state.serials or task not in self.system.paths:
            return self.state.serials.get(task, 0)
        numbers = [
            candidate_number(r.get("id", ""))
            for r in self.candidates_log.read()
            if r.get("task") == task
        ]
        return max((n for n in numbers if n is not None), default=-1) + 1

    # === A generation ===
    def _generation(self, task, population: Population) -> None:
        """Proposes the whole generation, trains it, then concludes it in order."""
        if not population.proposals:
            self.proposer.propose_generation(task, population, self.executor.devices)
            self._commit()
        total = len(population.proposals)
        self.executor.start_generation(
            population.proposed_paths()[population.candidate :], self.system
        )
        width = len(self.executor.devices)
        while population.candidate < total:
            wave = range(population.candidate, min(total, population.candidate + width))
            jobs = [self._job(task, population, i) for i in wave]
            for job, outcome in zip(jobs, self.executor.train(jobs, self.system)):
                if is_read_failure(outcome):  # the data's fault: no candidate is charged
                    raise task.read_error(outcome) from outcome
                population.proposals[job.index]["outcome"] = _outcome(outcome)
                failed = isinstance(outcome, BaseException)
                population.consecutive_failures = (population.consecutive_failures + 1) * failed
                population.candidate += 1
                self._logs[job.index] = job.log
            self._commit()
            self._stop_after_failures(task, population)
        self._conclude_generation(task, population)

    def _job(self, task, population: Population, index: int) -> CandidateJob:
        """The training job of proposal `index`: its data and its log."""
        config = self.config
        proposal = population.proposals[index]
        child = Path.from_json(proposal["path"])
        batch = config.batch_size * self.trainer.replicas  # the global batch
        data = DataSpec(
            task=task.name if task.name in self._named else "",
            data_dir=config.data.data_dir,
            download=bool(config.data.download),
            mock_examples=int(config.data.get("mock_examples", 0)),
            hparams=dict(population.generation_hparams),
            seed=population.generation_seed,
            image_size=child.image_size,
            batch_size=batch,
            validation_examples=config.validation_examples,
        )
        steps = config.steps_per_validation or reference_steps(
            task.num_train_examples, batch, config.examples_per_validation
        )
        rounds = generation_validations(config, population.generation)
        log = self.observer.candidate_started(
            task.name,
            child.id,
            step_total=rounds * steps,
            label=f"{task.name} gen {population.generation + 1}/{config.generations} cand "
            f"{index + 1}/{len(population.proposals)}",
            training=True,
        )
        return CandidateJob(
            child,
            index,
            task,
            data,
            rounds,
            steps,
            log,
            proposal.get("device"),
            quality=config.score.quality,
        )

    def _conclude_generation(self, task, population: Population) -> None:
        """Adds the improved candidates in proposal order, logs every candidate (one JSON
        line each in search/candidates.jsonl) and commits the generation's end."""
        records = []
        for index, proposal in enumerate(population.proposals):
            child = Path.from_json(proposal["path"])
            record = self._conclude(task, population, child, index, proposal["outcome"])
            if "head_init" in proposal:
                record["head_init"] = proposal["head_init"]
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
        self.state.candidates_log_bytes = self.candidates_log.append(
            [{**record, "hparams": child.hparams} for record, child in records]
        )
        self._commit()
        for index, (record, child) in enumerate(records):
            log = self._logs.pop(index, None) or self.observer.candidate_started(
                task.name, child.id, step_total=1, label=task.name
            )
            log.finished(record, child.hparams)
        self.observer.generation_finished(task.name, population.serial, best)

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
            "validation_accuracy": outcome.get("accuracy", outcome["quality"]),
            "validation_quality": outcome["quality"],
            # The rule it was trained under (an outcome committed before a resume keeps its own).
            "quality_rule": outcome.get("quality_rule", self.config.score.quality),
            "validation_rounds": outcome["rounds"],
        }
        if "validation_loss" in outcome:
            child.metrics["validation_loss"] = outcome["validation_loss"]
        if outcome.get("examples"):  # with the loss, what another rule rescores it from
            child.metrics["validation_examples"] = outcome["examples"]
        quality = self._quality_of(child)
        score = self._score(quality, child)
        joined = joins_population(
            score,
            parent_member["score"] if parent_member else None,
            same_task=parent_member is not None,
        )
        if joined:
            population.add(child, quality, score)
        record.update(
            quality=outcome["quality"],
            quality_rule=child.metrics["quality_rule"],
            validation_accuracy=child.metrics["validation_accuracy"],
            score=score,
            joined=joined,
            seconds=outcome["seconds"],
            steps=outcome["steps"],
            accounted_params=self.system.accounted_params(
                child, root_shares=self.scorer.root_shares
            ),
        )
        if "validation_loss" in outcome:
            record["validation_loss"] = outcome["validation_loss"]
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

    def _quality_of(self, path: Path) -> float:
        """`path`'s quality under this search's rule (rescored if it was kept under
        another). A path of a version that kept no rule was scored under the rule pinned
        in config.json, if there is one, else under this one."""
        rule = self.config.score.quality
        assumed = self._pinned_rule or rule
        quality = validation_quality(
            path.metrics, rule, assumed_rule=assumed, what=f"{path.id} (task '{path.task}')"
        )
        scored_by = path.metrics.get("quality_rule", assumed)
        if scored_by != rule:
            self.observer.message(
                f"{path.id} was scored by quality rule {scored_by!r}; under {rule!r} (from "
                f"its validation accuracy, loss and count) its quality is {quality:.4f}."
            )
        return quality

    def _score_of(self, path: Path) -> float:
        return self._score(self._quality_of(path), path)

    def _score(self, quality: float, path: Path) -> float:
        """The score of `path` at `quality`: its parameters and FLOPs as this system counts them."""
        return self.scorer.score(
            quality,
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

    # === Tasks ===
    def _task(self, task: Any):
        if not isinstance(task, str):
            if not hasattr(task, "check") or not hasattr(task, "num_classes"):
                raise UserInputError(
                    f"a task must be a task name or a keras_evomt Task. Received: "
                    f"{type(task).__name__}",
                    hint="wrap arrays as Task.from_arrays(name, x_train, y_train)",
                )
            task.check(self.config.root.image_size)
            self._check_classes(task)
            self._tasks[task.name] = task
            return task
        if task not in self._tasks:
            from keras_evomt.data import get_task

            data = self.config.data
            try:
                self._tasks[task] = get_task(
                    task, data_dir=data.data_dir or None, download=data.download
                )
            except UserInputError as error:
                if task not in self.system.paths or not error.message.startswith("unknown task"):
                    raise
                raise UserInputError(
                    f"the data of task '{task}' is not known here: it was added with its "
                    "data as a Task (e.g. Task.from_arrays), which the work directory "
                    "does not keep",
                    hint=f"pass the Task again: evolve(workdir, Task.from_arrays('{task}', "
                    "x, y), config)",
                ) from None
            self._tasks[task].check(self.config.root.image_size)
            self._check_classes(self._tasks[task])
            self._named.add(task)
        return self._tasks[task]

    def _check_classes(self, task) -> None:
        """A revisited task's data must have the classes its kept path scores, and its
        pixel range."""
        from keras_evomt.data.task import check_same_classes, check_same_range

        kept = self.system.paths.get(task.name)
        if kept is not None and self.system.num_classes(kept) != task.num_classes:
            raise UserInputError(
                f"task '{task.name}' has {self.system.num_classes(kept)} classes in this "
                f"system, but the data given for it now has {task.num_classes}",
                hint="a task keeps its data: give the new data a name of its own (arrays "
                "in which some class has no example take num_classes; a folder keeps a "
                "subfolder for every class)",
            )
        names = getattr(task, "class_names", None)
        check_same_classes(task.name, self.system.class_names(task.name), names)
        value_range = getattr(task, "value_range", None)
        extremes = getattr(task, "pixel_extremes", None)  # a Task's; user-made tasks may lack it
        check_same_range(task.name, self.system.value_range(task.name), value_range, extremes)
        before, now = self.system.split_sizes(task.name), _split_sizes(task)
        changed = [s for s in before if now.get(s) is not None and now[s] != before[s]]
        if changed:
            what = ", ".join(f"{s} {before[s]:,} -> {now[s]:,} examples" for s in changed)
            self.observer.message(
                f"warning: task '{task.name}' is given other data than at its last visit "
                f"({what}): its kept path's score was measured on the earlier examples, so "
                "candidates are compared with it on unequal terms. Give new data a name of "
                "its own to grow a separate task."
            )

    # === State ===
    def _open(self) -> tuple[System, SearchState]:
        state = SearchState.open(self.workdir, self.config.seed)
        if state is not None:
            try:
                system = System.load(self.workdir, state=state.system_state, slots=True)
            except CorruptStateError as error:
                system = self._recover(state, error)
            check_root(self.config.root, system.info, self.workdir)
            state.adopt_legacy(system.info)
            return system, state
        state = SearchState.new(self.config.seed)
        if store.manifest_numbers(store.system_dir(self.workdir)):  # else never committed
            system = System.load(self.workdir, slots=True)
            check_root(self.config.root, system.info, self.workdir)
            return system, state
        root = self.config.root
        system = System.create(
            root.name,
            image_size=root.image_size,
            patch_size=root.patch_size,
            checkpoint=root.checkpoint or None,
        )
        return system, state

    def _recover(self, state: SearchState, error: CorruptStateError) -> System:
        """The search's system state is damaged: go on from the newest good one. The task
        iteration in flight restarts; the sequence goes on from where that state was."""
        system = System.load(
            self.workdir, slots=True
        )  # falls back, or fails if nothing is loadable
        self.observer.message(
            f"warning: {error.message}; going on from state {system.loaded_state} "
            "(the task iteration in flight starts again)."
        )
        state.rewind_to(system.loaded_state, system.info)
        system.abandon_task()
        return system

    def _commit(self) -> None:
        if self.is_chief:  # multi-worker: only the chief writes the work directory
            self.state.commit(self.workdir, self.system, keep=max(2, self.config.keep_states))


def evolve(
    workdir_or_system: Any, task: Any, config, workdir: str | os.PathLike | None = None, **kwargs
) -> Path:
    """One µ2Net task iteration on the system in a work directory; returns the task's new
    path. The grown system is on disk: `System.load(workdir)` reads it.

    A `System` may be passed with `workdir=` to start an empty work directory from it;
    the object passed in is not changed.

    A task given as a spec ("flowers=dir:/data/flowers") is remembered in the work
    directory, as `evomt evolve --task` remembers it: a revisit may name it alone
    ("flowers"), and `evomt eval --task flowers` finds its data.

    Example:
        evolve("runs/demo", Task.from_arrays("mine", x, y), config)
        system = System.load("runs/demo")
    """
    from keras_evomt.workdir_lock import WorkdirLock

    if isinstance(workdir_or_system, System):
        if workdir is None:
            raise UserInputError("evolve(system, task, config, workdir=...) needs a workdir.")
    else:
        workdir = workdir_or_system
    with WorkdirLock(workdir):
        if isinstance(workdir_or_system, System):
            _start_workdir(workdir_or_system, config, workdir)
        with _remembered(workdir, task) as task, Search(config, workdir, **kwargs) as search:
            return search.evolve(task)


def _start_workdir(system: System, config, workdir: str | os.PathLike) -> None:
    """Saves `system` as the work directory's first state (a directory holding a system
    takes only that system, loaded from it)."""
    if store.system_dir(workdir).exists():
        if getattr(system, "loaded_from", None) != os.fspath(workdir):
            raise UserInputError(
                f"{workdir} already holds a system: pass the work "
                "directory instead of a System to evolve it."
            )
        return
    validate(config)  # before the system is written there
    check_root(config.root, system.info, workdir)
    system.save(workdir)


@contextlib.contextmanager
def _remembered(workdir: str | os.PathLike, task: Any):
    """A task named by a string as its full spec (a name alone finds the spec the work
    directory remembers), remembered there for the span of the search."""
    if not isinstance(task, str):
        yield task
        return
    from keras_evomt.recipe import remembered_task_spec, resolved_task_spec

    spec = resolved_task_spec(workdir, task)
    with remembered_task_spec(workdir, spec):
        yield spec


def _split_sizes(task: Any) -> dict[str, int | None]:
    """The task's split sizes, where known without reading the data."""
    known = getattr(task, "known_examples", None)
    return {s: known(s) for s in ("train", "validation", "test")} if known else {}


def _outcome(result: TrainResult | BaseException) -> dict[str, Any]:
    """A trained candidate's result as plain data (stored in the search state)."""
    if isinstance(result, BaseException):
        return {"failed": failure_reason(result)}
    outcome = {
        "quality": result.quality,
        "accuracy": result.accuracy,
        "examples": result.validation_examples,
        "quality_rule": result.quality_rule,
        "rounds": result.rounds,
        "seconds": result.seconds,
        "steps": result.steps,
    }
    if math.isfinite(result.validation_loss):  # JSON has no NaN or infinity
        outcome["validation_loss"] = result.validation_loss
    return outcome


def _data_context(config):
    """Mock TFDS data for the `tiny` recipe variants (`data.mock_examples` > 0)."""
    if config.data.get("mock_examples", 0) <= 0:
        return contextlib.nullcontext()
    from keras_evomt.data.mock import mock_data

    return mock_data(num_examples=config.data.mock_examples)


@contextlib.contextmanager
def _naming_unreadable_files(task):
    """Data that fails to read (a damaged file beyond the checks' sample) stops the
    search with the files to mend, before any candidate is charged with it."""
    try:
        yield
    except tf.errors.OpError as error:
        if is_read_failure(error):
            raise task.read_error(error) from error
        raise
