"""Where an export goes: the target's checks and the files beside it, without
TensorFlow, so that `evomt export` refuses a bad target before loading anything.

Example:
    out = check_target("exports/digits.keras", "keras", overwrite=False)
    contract_path(out)  # exports/digits.keras.contract.json
"""

from __future__ import annotations

import os
from pathlib import Path as FsPath

from keras_evomt.errors import UserInputError, closest

FORMATS = ("keras", "savedmodel")


def check_target(out: str | os.PathLike, fmt: str, overwrite: bool) -> FsPath:
    """`out` as a path, after checking it suits `fmt` and may be written.

    Example:
        check_target("exports/digits.keras", "keras", overwrite=False)
    """
    if fmt not in FORMATS:
        raise UserInputError(
            f"unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.",
            hint=closest(fmt, FORMATS) or None,
        )
    out = FsPath(out)
    if fmt == "keras" and out.suffix != ".keras":
        raise UserInputError(
            f"a Keras model file must end in '.keras'. Received: out={out}",
            hint=f"use {out.with_suffix('.keras')}, or --format savedmodel.",
        )
    if fmt == "savedmodel" and out.suffix == ".keras":
        raise UserInputError(
            f"a SavedModel is a directory, not a '.keras' file. Received: out={out}",
            hint=f"use {out.with_suffix('')}.",
        )
    if overwrite or pending_path(out).exists():  # the rerun of an export that stopped
        return out
    if out.exists() and not contract_path(out).exists():
        raise UserInputError(
            f"{out} already exists without its contract ({contract_path(out).name}): an "
            "export that stopped before it finished, or another file.",
            hint="check what it is, then export again with --overwrite, or choose another path.",
        )
    for target in (out, contract_path(out)):
        if target.exists():
            raise UserInputError(
                f"{target} already exists; choose another path or overwrite it (--overwrite)."
            )
    return out


def pending_path(out: str | os.PathLike) -> FsPath:
    """The marker an export keeps beside `out` while it replaces the model and contract:
    `<out>.export-pending`."""
    out = FsPath(out)
    return out.with_name(out.name + ".export-pending")


def contract_path(out: str | os.PathLike) -> FsPath:
    """Where the contract of an export to `out` is written: `<out>.contract.json`."""
    out = FsPath(out)
    return out.with_name(out.name + ".contract.json")
