"""Dropping the task iteration in flight: `evomt abandon`.

A killed search resumes its task iteration as it began (its settings, its proposals), so
a task started by mistake (wrong data, wrong settings) would have to run to its end.
Abandoning it commits the system as it was when the iteration began: the task's kept
path, if any, stays; its candidates and their components are dropped, and the candidate
log is cut back to where the iteration began. Their TensorBoard runs stay, as they do
when a damaged state is rewound.

Example:
    task = abandon_iteration("runs/demo")  # "flowers"
"""

from __future__ import annotations

import os

from keras_evomt.errors import UserInputError
from keras_evomt.workdir import WorkdirLayout


def abandon_iteration(workdir: str | os.PathLike) -> str:
    """Drops the task iteration in flight in `workdir`; returns its task.

    Example:
        task = abandon_iteration("runs/demo")  # "flowers"
    """
    from keras_evomt.search.journal import CandidateJournal
    from keras_evomt.search.state import committed_search
    from keras_evomt.system import System
    from keras_evomt.workdir_lock import WorkdirLock

    with WorkdirLock(workdir):
        state, keep = committed_search(workdir)
        if state is None or state.population is None:
            raise UserInputError(f"no task iteration is in flight in {workdir}: nothing to abandon")
        task = state.population.task
        system = System.load(os.fspath(workdir), state=state.system_state, slots=True)
        state.rewind_to(state.system_state, system.info)
        system.abandon_task()
        if task not in system.paths:  # a new task leaves nothing behind, not even privacy
            system.private_tasks.discard(task)
        state.commit(workdir, system, keep=keep)
        CandidateJournal(WorkdirLayout(workdir).candidates).truncate(state.candidates_log_bytes)
        return task
