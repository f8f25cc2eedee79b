"""Console output: the status table and progress lines (rich).

Example:
    status_table(*summary.status(system))
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _count(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def status_table(rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    """Prints one row per task, then the system's totals."""
    table = Table(title="keras_evomt system", title_justify="left")
    for header in ("task", "val acc %", "test acc %", "own params", "accounted", "path len",
                   "descends from", "fingerprint"):
        left = header in ("task", "descends from", "fingerprint")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(row["task"] + (" (private)" if row["private"] else ""),
                      _pct(row["validation_accuracy"]), _pct(row["test_accuracy"]),
                      _count(row["own_params"]), _count(row["accounted_params"]),
                      str(row["path_length"]), str(row["descends_from"] or "-"),
                      row["fingerprint"][:12])
    console.print(table)
    console.print(f"{totals['tasks']} tasks, {_count(totals['total_params'])} unique parameters "
                  f"(root {totals['root']}: {_count(totals['root_params'])}, "
                  f"{totals['root_weights']}), {totals['components']} components"
                  + (f", active task: {totals['active_task']}" if totals["active_task"] else ""))
