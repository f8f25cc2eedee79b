"""Errors the product raises on purpose.

`UserInputError` means the input was wrong (exit status 2 on the command line);
`EvomtError` means the work itself failed (exit status 1). Both carry a message
that says what was wrong and what to do, so the command line can print it as is.

Example:
    raise UserInputError("unknown task 'cifar11'", hint="did you mean 'cifar10'?")
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EvomtError(Exception):
    """A failure of the work itself (exit status 1)."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n{hint}")


class UserInputError(EvomtError):
    """Bad input from the user (exit status 2)."""


class CorruptStateError(EvomtError):
    """A stored state failed its checks (checksum, schema, allow-list)."""


class DiskFullError(EvomtError):
    """The disk filled up while writing: nothing committed was touched (exit status 1)."""

    def __init__(self, directory: str, needed_bytes: int):
        self.directory = directory
        self.needed_bytes = needed_bytes
        super().__init__(
            f"no space left on the device of {directory}: about {_size(needed_bytes)} more "
            "is needed. The last committed state is intact.",
            hint="free some space (or move the work directory) and rerun the same command "
            "to resume.",
        )


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n} GB"


def closest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A 'did you mean' hint for `name` among `choices`, or '' if none is close.

    Example:
        closest("cifar11", ["cifar10", "mnist"])  # "did you mean: cifar10?"
    """
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f"did you mean: {', '.join(matches)}?" if matches else ""
