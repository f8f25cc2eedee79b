"""The in-process executors: `inline` (one candidate at a time) and `devices` (one
candidate per local device, concurrently).

Example:
    executor = InlineExecutor(config, CandidateTrainer())
    [result] = executor.train([job], system)
"""

from __future__ import annotations

from keras_evomt.errors import UserInputError
from keras_evomt.executors.base import CandidateJob
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer, TrainResult, distribute
from keras_evomt.training.waves import Waves


class InlineExecutor:
    """Trains one candidate at a time with the chief's trainer (and its strategy)."""

    def __init__(self, config, trainer: CandidateTrainer):
        self.trainer = trainer
        self.devices: list[str | None] = [None]
        self._validation: dict = {}

    def start_generation(self, jobs: list[CandidateJob], system: System) -> None:
        pass

    def train(self, jobs: list[CandidateJob], system: System) -> list[TrainResult | BaseException]:
        outcomes: list[TrainResult | BaseException] = []
        for job in jobs:
            try:
                outcomes.append(job.run(system, self.trainer, self._validation))
            except Exception as error:  # noqa: BLE001 - recorded as the candidate's failure
                outcomes.append(error)
        return outcomes

    def clear(self) -> None:
        self.trainer.clear()
        self._validation.clear()

    def close(self) -> None:
        pass


class DevicesExecutor:
    """One candidate per local device (`distribute.devices`, default: all), each device
    with its own trainer and thread."""

    def __init__(self, config, trainer: CandidateTrainer):
        if trainer.replicas > 1:
            raise UserInputError(
                "distribute.executor=devices places whole candidates on devices: use it "
                "with distribute.strategy=default."
            )
        self.devices = distribute.candidate_devices(config.distribute)
        self.waves = Waves(
            self.devices,
            jit_compile=config.training.jit_compile,
            steps_per_call=config.training.steps_per_call,
        )
        self._validation: dict = {}

    def start_generation(self, jobs: list[CandidateJob], system: System) -> None:
        pass

    def train(self, jobs: list[CandidateJob], system: System) -> list[TrainResult | BaseException]:
        return self.waves.train([_Placed(job, self._validation) for job in jobs], system)

    def clear(self) -> None:
        self.waves.clear()
        self._validation.clear()

    def close(self) -> None:
        self.waves.close()


class _Placed:
    """A job as `Waves` runs it: on its device, with the executor's validation cache."""

    def __init__(self, job: CandidateJob, cache: dict):
        self.job, self.cache, self.device = job, cache, job.device

    def run(self, system: System, trainer: CandidateTrainer) -> TrainResult:
        return self.job.run(system, trainer, self.cache)
