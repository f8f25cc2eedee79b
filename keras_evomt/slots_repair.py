"""Going on without damaged optimizer slots: `evomt check --drop-damaged-slots`.

A weight file keeps a component's weights and its optimizer (momentum) slots, each with
its own sha256. Damaged slots stop no inference, but training resumes from them, so a
search refuses to go on. Without a backup, this commits the search's state once more, as
it stands, with the damaged slots left out: clones of those components then start at
zero momentum (the search goes on as a different run would; no task's weights change).
Older kept states still name the damaged file until newer states replace them.

Example:
    dropped, state = drop_damaged_slots("runs/demo")
"""

from __future__ import annotations

import os

from keras_evomt import store
from keras_evomt.errors import CorruptStateError


def drop_damaged_slots(workdir: str | os.PathLike) -> tuple[list[str], int]:
    """The components whose damaged slots were left out, and the state committed without
    them (the loaded state, and no commit, when no slots are damaged).

    Example:
        dropped, state = drop_damaged_slots("runs/demo")  # (["head.3"], 12)
    """
    from keras_evomt.search.state import committed_search
    from keras_evomt.system import System
    from keras_evomt.workdir_lock import WorkdirLock

    directory = store.system_dir(workdir)
    with WorkdirLock(workdir):
        search, keep = committed_search(workdir)
        number = search.system_state if search else None
        system = System.load(os.fspath(workdir), state=number, slots=False)
        entries = store.read_manifest(directory, system.loaded_state)["components"]
        intact, dropped = {}, []
        for cid in system.components:
            try:
                intact.update(store.load_slots(directory, {cid: entries[cid]}))
            except CorruptStateError as error:
                if not getattr(error, "slots_only", False):
                    raise
                dropped.append(cid)
        if not dropped:
            return [], system.loaded_state
        system.slots = intact
        if search is None:  # a system made from Python
            return dropped, system.save(os.fspath(workdir), keep=keep)
        search.commit(workdir, system, keep=keep)
        return dropped, search.system_state
