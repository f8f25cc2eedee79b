"""Errors the product raises on purpose.

`UserInputError` means the input was wrong (exit status 2 on the command line);
`EvomtError` means the work itself failed (exit status 1). Both carry a message
that says what was wrong and what to do, so the command line can print it as is.

Example:
    raise UserInputError("unknown task 'cifar11'", hint="did you mean 'cifar10'?")
"""

from __future__ import annotations

import difflib
import re
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


class MissingDataError(UserInputError):
    """A task's data is not prepared locally (exit status 2).

    `missing` lists one MissingDataError per task when several are reported together.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        task: str = "",
        dataset: str = "",
        manual: bool = False,
        size_bytes: int | None = None,
        data_dir: str = "",
        missing: list[MissingDataError] | None = None,
    ):
        super().__init__(message, hint)
        self.task, self.dataset, self.manual = task, dataset, manual
        self.size_bytes, self.data_dir = size_bytes, data_dir
        self.missing = missing or [self]

    @classmethod
    def combined(
        cls, errors: list[MissingDataError], recipe: str | None = None
    ) -> MissingDataError:
        """One error listing every task whose data is missing, and how to prepare them.

        Example:
            raise MissingDataError.combined(errors, recipe="recipes/mu2net_69.py")
        """
        missing = [m for error in errors for m in error.missing]
        manual = [m for m in missing if m.manual]
        rest = [m for m in missing if not m.manual]
        data_dir = missing[0].data_dir
        lines = [f"the data of {len(missing)} task(s) is not prepared in {data_dir}:"]
        if manual:
            lines.append(
                "  need a manual download first (files into "
                f"{data_dir}/downloads/manual, see tensorflow.org/datasets/catalog): "
                + ", ".join(
                    m.task if m.task.startswith(m.dataset) else f"{m.task} ({m.dataset})"
                    for m in manual
                )
            )
        if rest:
            lines.append("  can be downloaded: " + ", ".join(m.task for m in rest))
            known = [m.size_bytes for m in rest if m.size_bytes]
            unknown = len(rest) - len(known)
            space = f"about {_size(sum(known))}" if known else ""
            if unknown:
                space += (" plus " if space else "") + (
                    f"unknown for {unknown} (TFDS knows no sizes offline; see their catalog pages)"
                )
            lines.append(f"  disk space: {space}")
        target = f"--recipe {recipe}" if recipe else " ".join(m.task for m in rest[:5])
        option = f" --data-dir {data_dir}" if data_dir else ""
        hint = (
            f"Prepare the rest with: evomt data prepare {target} --download{option}"
            if rest
            else None
        )
        return cls("\n".join(lines), hint, data_dir=data_dir, missing=missing)


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
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    return f"did you mean: {', '.join(matches)}?" if matches else ""


def op_error_text(error: BaseException) -> str:
    """A TensorFlow error's own words, without the graph and iterator names around them.

    Example:
        op_error_text(err)  # 'jpeg::Uncompress failed. Invalid JPEG data or crop window.'
    """
    text = str(getattr(error, "message", error)).strip().split("\n")[0]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    _, found, after = text.partition("transformation with iterator: ")
    if found:  # "Iterator::Root::...::ParallelMapV2: <the op's message>"
        text = after.split(": ", 1)[-1]
    return re.sub(r"\s*\[Op:[^\]]*\]( name:.*)?$", "", text).strip()
