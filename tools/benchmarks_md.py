"""BENCHMARKS.md: each bench tool owns one "## ..." section and rewrites only that one;
`cpu_model` names the processor a figure was measured on.

Example:
    write_section("BENCHMARKS.md", "## Input pipeline", "## Input pipeline\\n\\n| ... |")
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def write_section(path: str | os.PathLike, heading: str, text: str) -> None:
    """Replaces the `heading` section of `path` (up to the next '## ') or appends it."""
    path = Path(path)
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new.rstrip("\n") + "\n")
    os.replace(tmp, path)


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo ("unknown CPU" elsewhere): floating
    point, and with it which of two close candidates wins, can differ between CPUs."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"
