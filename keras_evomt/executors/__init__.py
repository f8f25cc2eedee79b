"""Executors: where a generation's candidates train, chosen by `distribute.executor`.

An executor takes a wave of a generation's candidate jobs and returns, per job, a
`TrainResult` or the exception that failed it. It never chooses candidates (the
proposer does) and the trainer never knows which executor runs it.

- `inline`: one candidate at a time in this process (the default).
- `devices`: one candidate per local device, concurrently (the reference's layout).
- `ray`: one candidate per Ray actor, on this host or a cluster (`pip install
  keras_evomt[ray]`).

Example:
    executor = make_executor("inline", config, trainer)
    outcomes = executor.train(jobs, system)
"""

from keras_evomt.executors.base import (
    CandidateJob,
    DataSpec,
    Executor,
    executor_names,
    make_executor,
    register_executor,
)

__all__ = [
    "CandidateJob",
    "DataSpec",
    "Executor",
    "executor_names",
    "make_executor",
    "register_executor",
]
