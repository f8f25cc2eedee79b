"""The Ray actor that trains candidates: one per accelerator (or CPU share).

The executor gives each actor the environment TensorFlow reads at import (a CPU actor
sees no GPU); the actor sets TensorFlow's threads before its first op, as the chief
does, so both train identically.

Each actor keeps one `CandidateTrainer` (its traces survive across candidates) and
the generation's shared, frozen components, rebuilt once per generation from the
object store. Only registered component classes are rebuilt.

Example (what `RayExecutor` does):
    actor = ray.remote(CandidateActor).remote(settings)
    ray.get(actor.train.remote(job, shared_ref, own, None))
"""

from __future__ import annotations

import os
from typing import Any


class CandidateActor:
    """Trains one candidate per call; returns its own trained weights, slots, metrics."""

    def __init__(self, settings: dict[str, Any]):
        import keras
        import tensorflow as tf

        from keras_evomt.training import CandidateTrainer

        threads = int(settings.get("threads", 0))
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        if settings.get("deterministic"):
            tf.config.experimental.enable_op_determinism()
        precision = settings.get("precision", "float32")
        if precision == "auto":  # by this actor's own devices, as the chief does by its
            from keras_evomt.training.distribute import default_precision, gpu_descriptions

            kind = "tpu" if settings.get("tpu") else "default"
            precision = default_precision(kind, gpu_descriptions())
        keras.mixed_precision.set_global_policy(precision)
        keras.utils.set_random_seed(int(settings.get("seed", 0)))
        strategy = None
        if settings.get("tpu"):  # the chip Ray gave this actor (TPU_VISIBLE_CHIPS)
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        self.trainer = CandidateTrainer(
            strategy=strategy,
            jit_compile=bool(settings.get("jit_compile")),
            steps_per_call=int(settings.get("steps_per_call", 0)),
        )
        self._generation: str | None = None
        self._shared: dict[str, Any] = {}
        self._tasks: dict[str, Any] = {}
        self._validation: dict = {}

    def ready(self) -> int:
        return os.getpid()

    def clear(self) -> None:
        self.trainer.clear()
        self._validation.clear()

    def train(self, job: dict, shared: dict, own: dict, task=None) -> dict[str, Any]:
        """`shared`: {cid: component} of the generation (frozen); `own`: the candidate's
        own components with their slots; `task`: a data.Task when it has no name."""
        try:
            return self._train(job, shared, own, task)
        except Exception as error:  # noqa: BLE001 - the candidate's own failure
            from keras_evomt.executors.base import failure_reason

            return {"failed": failure_reason(error), "pid": os.getpid()}

    def _train(self, job: dict, shared: dict, own: dict, task) -> dict[str, Any]:
        from keras_evomt.executors.base import DataSpec, build_component
        from keras_evomt.path import ROOT, Path
        from keras_evomt.system import System

        if job["generation"] != self._generation:
            self._generation, self._shared = job["generation"], {}
        path = Path.from_json(job["path"])
        components = {}
        for cid in path.components:
            if cid in own:
                components[cid] = build_component(cid, own[cid])
            else:
                if cid not in self._shared:
                    self._shared[cid] = build_component(cid, shared[cid])
                components[cid] = self._shared[cid]
        system = System()
        system.components = components
        system.slots = {
            cid: [s.copy() for s in own[cid]["slots"]] for cid in own if own[cid]["slots"]
        }
        frozen = [cid for cid in path.components if cid not in own]
        system.set_state(
            {
                "info": {},
                "root": Path(ROOT, frozen, {"image_size": path.image_size}, id=ROOT).to_json(),
                "tasks": [],
                "active_task": path.task,
                "private_tasks": [],
                "next_id": 0,
            }
        )
        data = DataSpec(**job["data"])
        with data.mock_context():
            if task is None:
                task = self._task(data)
            train, validation = data.datasets(task, self._validation)
            result = self.trainer.train(
                system,
                path,
                train,
                validation,
                rounds=job["rounds"],
                steps_per_round=job["steps"],
                quality=job["quality"],
            )
        return {
            "result": result.__dict__,
            "own": {
                cid: {"weights": components[cid].get_weights(), "slots": system.slots.get(cid)}
                for cid in own
            },
            "pid": os.getpid(),
        }

    def _task(self, data):
        if data.task not in self._tasks:
            from keras_evomt.data import get_task

            self._tasks[data.task] = get_task(
                data.task, data_dir=data.data_dir or None, download=data.download
            )
        return self._tasks[data.task]
