"""Lazy package attributes (PEP 562): a package names the module each public name lives
in, and that module is imported on first use, so `import keras_evomt` (and the commands
that need no TensorFlow) stay fast.

Example:
    _WHERE = {"System": "keras_evomt.system"}
    __getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`, whose names live where `where` says
    (a name mapped to `package` itself is its submodule of that name)."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if where[name] == package:  # the package's own submodule of that name
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where})

    return __getattr__, __dir__
