"""Proposing a generation: parents, mutation and the generation's data hyperparameters,
drawn from the search state. Makes the candidates' components; trains nothing.

All of a generation's candidates come from the population as it stood when the
generation began (offspring counts rise as parents are drawn, seeds rotate); they
are committed before any trains, so a resumed generation trains the same ones.

Example:
    proposer = Proposer(config, system, rng, MutationOptions())
    proposer.propose_generation(task, population, devices=[None])
    population.proposals  # [{"path": {...}, "device": None}, ...]
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Any

import numpy as np
import tensorflow as tf

from keras_evomt.path import ROOT, Path
from keras_evomt.search.config import generation_width
from keras_evomt.search.head_init import TrunkFeatures, start_head_by_ridge
from keras_evomt.search.mutation import (
    MutationOptions,
    keeps_parent_head,
    make_candidate,
    structure_hparams,
)
from keras_evomt.search.parents import choose_parent
from keras_evomt.search.population import Population
from keras_evomt.search.space import data_keys, model_keys, mutate
from keras_evomt.system import System


class Proposer:
    """Makes a generation's candidates from the population and the system."""

    def __init__(
        self,
        config,
        system: System,
        rng: np.random.Generator,
        options: MutationOptions,
        scope=contextlib.nullcontext,
    ):
        self.config, self.system, self.rng, self.options = config, system, rng, options
        self.scope = scope  # where new variables are made (the strategy's scope)

    def seeds(self, task: str) -> list[str]:
        """The first parents offered to a new iteration of `task`, shuffled."""
        if self.config.parents.seeds == "root":
            seeds = [ROOT]
        else:
            others = [
                p.id
                for t, p in self.system.paths.items()
                if t != task and t not in self.system.private_tasks
            ]
            seeds = [*others, ROOT]
        self.rng.shuffle(seeds)
        return seeds

    def propose_generation(self, task, population: Population, devices: list) -> None:
        """Fills `population.proposals` with the generation's candidates, the i-th's own
        variables on `devices[i % len(devices)]`."""
        population.generation_hparams = self._data_hparams(population)
        population.generation_seed = derived_seed(
            self.config.seed, task.name, f"generation/{population.serial}"
        )
        ranked = population.ranked_ids()
        trunks = TrunkFeatures()  # new heads of children with alike frozen layers: one pass
        for index in range(generation_width(self.config, population.generation)):
            device = devices[index % len(devices)]
            child, head_fit = self._propose(task, population, ranked, device, trunks)
            proposal = {"path": child.to_json(), "device": device}
            if head_fit is not None:
                proposal["head_init"] = head_fit
            population.proposals.append(proposal)
        population.candidate = 0

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

    def _propose(
        self, task, population: Population, ranked: list[str], device, trunks: TrunkFeatures
    ) -> tuple[Path, dict[str, float] | None]:
        """Picks a parent, mutates, makes the candidate (its own components on `device`);
        returns it and, when its new head was fit (`head_init="ridge"`), what the fit
        measured."""
        config = self.config
        seed_initializers(derived_seed(config.seed, task.name, population.serial))
        pid = choose_parent(ranked, population.seeds, population.offspring, self.rng)
        population.offspring[pid] = population.offspring.get(pid, 0) + 1
        parent = self.known_path(pid, population)
        space = config.space.to_dict()
        hparams = {**config.defaults.to_dict(), **parent.hparams}
        hparams.update(structure_hparams(self.system, parent))
        hparams = mutate(hparams, space, self.rng, keys=model_keys(space))
        hparams.update(population.generation_hparams)
        with _on(device), self.scope():
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
        head_fit = None
        if self.options.head_init == "ridge" and not keeps_parent_head(
            self.system, parent, task.name
        ):
            examples = int(config.parents.probe_examples)
            head_fit = start_head_by_ridge(
                self.system,
                child,
                task,
                examples=examples,
                batch_size=config.batch_size,
                cache=trunks,
            )
        child.id = population.new_id()
        return child, head_fit

    def known_path(self, pid: str | None, population: Population) -> Path | None:
        """A member of the population, a task's kept path or the root, by id."""
        if pid == ROOT:
            return self.system.root
        member = population.path(pid) if pid else None
        return member or next((p for p in self.system.paths.values() if p.id == pid), None)

    def _ancestors(self, path: Path, population: Population) -> list[Path]:
        """`path`'s ancestors still in the system, closest first, ending with the root."""
        found: list[Path] = []
        seen = {path.id}
        ancestor = self.known_path(path.parent, population)
        while ancestor is not None and ancestor.id not in seen and ancestor.id != ROOT:
            found.append(ancestor)
            seen.add(ancestor.id)
            ancestor = self.known_path(ancestor.parent, population)
        return [*found, self.system.root] if path.id != ROOT else found


def seed_initializers(seed: int) -> None:
    """Seeds Keras's initializers (they draw their seeds from Python's `random`).

    Not `keras.utils.set_random_seed`: its `tf.random.set_seed` clears TensorFlow's
    eager kernel cache, which costs ~0.7 s per candidate (BENCHMARKS.md).
    """
    random.seed(seed)
    np.random.seed(seed)


def derived_seed(seed: int, task: str, serial: int | str) -> int:
    digest = hashlib.sha256(f"{seed}/{task}/{serial}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _on(device: str | None):
    return tf.device(device) if device else contextlib.nullcontext()
