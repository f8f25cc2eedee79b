"""One process per work directory: an exclusive lock naming its holder.

Uses `fcntl.flock`, which the kernel releases when the holder dies, so a lock left
by a killed process is simply taken over; taking it removes the temporary files of
that process's unfinished atomic writes. A command that wrote nothing (it failed
before its first write) leaves no lock file behind, nor the directory it created.

Example:
    with WorkdirLock("runs/demo"):
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket

from keras_evomt.errors import UserInputError
from keras_evomt.workdir import WorkdirLayout


class WorkdirLock:
    """An exclusive lock on `workdir/lock` holding the holder's pid and host (JSON)."""

    def __init__(self, workdir: str | os.PathLike):
        self.layout = WorkdirLayout(workdir)
        self.file = self.layout.lock
        self._fd: int | None = None
        self._made: list[os.PathLike] = []  # the folders taking the lock created, deepest first

    def __enter__(self) -> WorkdirLock:
        self._made = [d for d in (self.file.parent, *self.file.parent.parents) if not d.exists()]
        for _ in range(100):
            fd = self._locked_fd()
            if fd is not None:
                break
        else:
            raise UserInputError(f"could not take the lock {self.file}: it keeps being removed.")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._fd = fd
        # Only a lock holder writes there, so these are a killed holder's unfinished writes.
        for leftover in self.layout.write_leftovers():
            with contextlib.suppress(OSError):  # a leftover is never worth a failed start
                leftover.unlink()
        return self

    def _locked_fd(self) -> int | None:
        """A descriptor of the lock file, locked; None when a holder that wrote nothing
        removed the file (or its folder) between our open and lock: then try again."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace") or "{}"
            os.close(fd)
            try:
                who = json.loads(holder)
            except ValueError:
                who = {}
            raise UserInputError(
                f"{self.file.parent} is in use by another evomt process (pid "
                f"{who.get('pid', '?')} on host {who.get('host', '?')}).",
                hint="wait for it to finish, or stop it; a killed process's lock is taken over.",
            ) from None
        try:
            named = os.stat(self.file)
        except FileNotFoundError:
            named = None
        held = os.fstat(fd)
        if named is None or (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
            os.close(fd)  # a removed file: locking it excludes no one
            return None
        return fd

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        try:
            wrote_nothing = [p.name for p in self.file.parent.iterdir()] == [self.file.name]
        except OSError:
            wrote_nothing = False
        if wrote_nothing:  # removed while held; a process that opened it first retries
            with contextlib.suppress(OSError):
                self.file.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        for directory in self._made if wrote_nothing else []:
            try:
                os.rmdir(directory)  # only while empty: another command may have begun there
            except OSError:
                break
