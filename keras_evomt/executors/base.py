"""A candidate's training job, the executor contract and the executors' registry.

Example:
    @register_executor("mine")
    class Mine:
        def __init__(self, config, trainer): ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from keras_evomt.components.base import (
    component_class,
    component_from_config,
    config_of,
    registered_name,
)
from keras_evomt.errors import UserInputError
from keras_evomt.observe import CandidateLog
from keras_evomt.path import Path
from keras_evomt.system import System, base_name
from keras_evomt.training import CandidateTrainer, NonFiniteLoss, TrainResult


@dataclasses.dataclass
class DataSpec:
    """Plain data that rebuilds a candidate's input pipelines anywhere: the task (by
    name, looked up in the data dir), the generation's data hyperparameters and seed."""

    task: str
    data_dir: str
    download: bool
    mock_examples: int
    hparams: dict[str, Any]
    seed: int
    image_size: int
    batch_size: int
    validation_examples: int

    def datasets(self, task, cache: dict) -> tuple[Any, Any]:
        """(train, validation) pipelines of `task`; validation cached in `cache`.

        Every candidate of a generation sees the same batches (as the reference's
        devices do): a fresh pipeline from the generation's seed (its random ops are
        stateless, seeded from it), also after a resume.
        """
        key = (task.name, self.image_size, self.batch_size, self.validation_examples)
        if key not in cache:
            cache[key] = task.eval_dataset(
                "validation",
                image_size=self.image_size,
                batch_size=self.batch_size,
                max_examples=self.validation_examples,
            )
        train = task.train_dataset(
            self.hparams, image_size=self.image_size, batch_size=self.batch_size, seed=self.seed
        )
        return train, cache[key]

    def mock_context(self):
        """Mock TFDS data for the `tiny` recipe variants (`data.mock_examples` > 0)."""
        if self.mock_examples <= 0:
            return contextlib.nullcontext()
        from keras_evomt.data.mock import mock_data

        return mock_data(num_examples=self.mock_examples)


@dataclasses.dataclass
class CandidateJob:
    """A proposed candidate with everything needed to train it."""

    child: Path
    index: int
    task: Any  # the data.Task (local executors); remote ones rebuild it from `data`
    data: DataSpec
    rounds: int
    steps: int
    log: CandidateLog
    device: str | None
    quality: str = "accuracy"  # the rule that picks the best round (training.quality)

    def run(self, system: System, trainer: CandidateTrainer, cache: dict) -> TrainResult:
        train_data, validation_data = self.data.datasets(self.task, cache)
        return trainer.train(
            system,
            self.child,
            train_data,
            validation_data,
            rounds=self.rounds,
            steps_per_round=self.steps,
            on_step=self.log.step,
            on_round=self.log.round,
            progress_every=self.log.observer.log_every_steps,
            quality=self.quality,
        )


class Executor(Protocol):
    """Trains waves of candidates. `devices`: one entry per candidate of a wave (where
    the chief places a proposal's new variables; None = the default device)."""

    devices: list[str | None]

    def start_generation(self, jobs: list[CandidateJob], system: System) -> None:
        """Called once per generation (and on resuming one) with all its jobs."""

    def train(self, jobs: list[CandidateJob], system: System) -> list[TrainResult | BaseException]:
        """At most len(devices) jobs; a result or the job's own failure each, in order."""

    def clear(self) -> None:
        """Locks changed (a task iteration ended): traced steps are stale."""

    def close(self) -> None: ...


class CandidateFailed(Exception):
    """A candidate failed where it trained (another process); the message is the reason."""


def failure_reason(error: BaseException) -> str:
    """A failed candidate's reason, one line (stored in the search state)."""
    if isinstance(error, NonFiniteLoss | CandidateFailed):
        return str(error)
    if isinstance(error, tf.errors.ResourceExhaustedError):
        return "out of memory"
    return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"


def describe_component(component, *, slots=None) -> dict[str, Any]:
    """A component as plain data (class, config, build config, weights) for another
    process; `build_component` makes it again."""
    return {
        "class": registered_name(type(component)),
        # Plain JSON, as the store keeps them (Keras's tracked lists do not pickle).
        "config": json.loads(json.dumps(config_of(component))),
        "build": json.loads(json.dumps(component.get_build_config())),
        "weights": component.get_weights(),
        "slots": slots,
    }


def build_component(cid: str, described: dict[str, Any]):
    """The component `describe_component` described; only registered classes."""
    cls = component_class(described["class"])
    if cls is None:
        raise UserInputError(f"component class {described['class']!r} is not registered.")
    component = component_from_config(cls, described["config"], name=base_name(cid))
    component.build_from_config(described["build"])
    component.set_weights(described["weights"])
    return component


def nbytes(described: dict[str, Any]) -> int:
    arrays = [*described["weights"], *(described["slots"] or [])]
    return sum(np.asarray(a).nbytes for a in arrays)


_REGISTRY: dict[str, Any] = {
    "inline": "keras_evomt.executors.local:InlineExecutor",
    "devices": "keras_evomt.executors.local:DevicesExecutor",
    "ray": "keras_evomt.executors.ray_executor:RayExecutor",
}


def register_executor(name: str):
    """Registers an executor class under `name` (`distribute.executor=name`)."""

    def register(cls):
        _REGISTRY[name] = cls
        return cls

    return register


def executor_names() -> list[str]:
    return list(_REGISTRY)


def make_executor(name: str, config, trainer: CandidateTrainer) -> Executor:
    """The executor `name` for a search `config`; `trainer` is the chief's own."""
    if name not in _REGISTRY:
        raise UserInputError(
            f"config distribute.executor={name!r} is invalid: use one of "
            f"{', '.join(executor_names())}."
        )
    target = _REGISTRY[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target(config, trainer)
