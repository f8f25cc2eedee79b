"""One candidate per device: a wave of candidates trained concurrently.

The reference places one candidate on each accelerator core, every core fed the
same batches. Here each local device gets its own trainer (its own traces) and a
thread; TensorFlow runs the threads' steps concurrently (it releases the GIL),
and a failing candidate only fails its own job.

Example:
    waves = Waves(["/device:GPU:0", "/device:GPU:1"])
    outcomes = waves.train(jobs, system)   # TrainResult or the exception, per job
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import tensorflow as tf

from keras_evomt.system import System
from keras_evomt.training.trainer import CandidateTrainer, TrainResult


class Job(Protocol):
    device: str

    def run(self, system: System, trainer: CandidateTrainer) -> TrainResult: ...


class Waves:
    """Trains up to len(devices) candidates at once, one per device."""

    def __init__(self, devices: list[str], *, jit_compile: bool = False, steps_per_call: int = 0):
        self.devices = list(devices)
        self.trainers = {
            d: CandidateTrainer(jit_compile=jit_compile, steps_per_call=steps_per_call or None)
            for d in self.devices
        }
        self._pool = ThreadPoolExecutor(len(self.devices), thread_name_prefix="candidate")

    def train(self, jobs: list[Job], system: System) -> list[TrainResult | BaseException]:
        """Runs `jobs` (at most one per device) concurrently; keeps their order."""
        if len({job.device for job in jobs}) != len(jobs):
            raise ValueError("a wave holds at most one candidate per device.")
        return [f.result() for f in [self._pool.submit(self._run, j, system) for j in jobs]]

    def _run(self, job: Job, system: System) -> Any:
        try:
            with tf.device(job.device):
                return job.run(system, self.trainers[job.device])
        except Exception as error:  # noqa: BLE001 - the job's own failure, reported back
            return error

    def clear(self) -> None:
        for trainer in self.trainers.values():
            trainer.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
