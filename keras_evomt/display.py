"""Console output: the status table and progress lines (rich).

Example:
    status_table(*summary.status(system))
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _count(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return f"{value:.0f}"


def search_line(position: dict[str, Any] | None) -> None:
    """Where the search stands (summary.search_position), under the status table."""
    if position is None:
        return
    done, total = position["run_iterations_done"], position["run_iterations"]
    parts = [f"evomt run: {done} of {total} task iterations done"] if total else []
    flight = position["in_flight"]
    if flight:
        trained = flight["candidates_trained"]
        parts.append(
            f"in flight: {flight['task']}, generation {flight['generation']} of "
            f"{flight['generations']} ({trained} of its candidates trained); rerunning "
            "resumes it, `evomt abandon` drops it"
        )
    if parts:
        console.print("; ".join(parts), soft_wrap=True)


def status_table(rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    """Prints one row per task, then the system's totals."""
    table = Table(title="keras_evomt system", title_justify="left")
    for header in (
        "task",
        "val acc %",
        "test acc %",
        "own params",
        "accounted",
        "path len",
        "descends from",
        "fingerprint",
    ):
        left = header in ("task", "descends from", "fingerprint")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(
            row["task"] + (" (private)" if row["private"] else ""),
            _pct(row["validation_accuracy"]),
            _pct(row["test_accuracy"]),
            _count(row["own_params"]),
            _count(row["accounted_params"]),
            str(row["path_length"]),
            str(row["descends_from"] or "-"),
            row["fingerprint"][:12],
        )
    console.print(table)
    console.print(
        f"{totals['tasks']} {'task' if totals['tasks'] == 1 else 'tasks'}, "
        f"{_count(totals['total_params'])} unique parameters "
        f"(root {totals['root']}: {_count(totals['root_params'])}, "
        f"{totals['root_weights']}), {totals['components']} components"
        + (f", active task: {totals['active_task']}" if totals["active_task"] else "")
    )


LOG_PROGRESS_EVERY_S = 60.0
_last_logged_progress = 0.0


def progress(text: str) -> None:
    """A transient progress line: overwritten in a terminal; in a log, one line a minute
    at most (a long candidate still shows it is alive)."""
    if console.is_terminal:
        console.print(text.ljust(100)[:100], end="\r")
        return
    global _last_logged_progress
    now = time.monotonic()
    if now - _last_logged_progress >= LOG_PROGRESS_EVERY_S:
        _last_logged_progress = now
        console.print(text, soft_wrap=True)


def candidate_line(record: dict[str, Any]) -> None:
    """One line per finished candidate."""
    if record.get("failed"):
        outcome = f"FAILED ({record['failed']})"
    else:
        accuracy = record.get("validation_accuracy", record["quality"])
        outcome = f"validation {100 * accuracy:.2f}% score {record['score']:.4f} " + (
            "joined" if record["joined"] else "dropped"
        )
    console.print(
        f"{record['task']} gen {record['generation'] + 1} cand "
        f"{record['candidate'] + 1}: {record['id']} from {record['parent']}: "
        f"{outcome} [{record['seconds']:.1f}s]".ljust(100)
    )


def task_line(task: str, metrics: dict[str, Any], params_added: int, total: int) -> None:
    validation = _pct(metrics.get("validation_accuracy"))
    console.print(
        f"[bold]{task} done[/bold]: validation {validation}%, "
        f"test {_pct(metrics.get('test_accuracy'))}%, {'-' if params_added < 0 else '+'}"
        f"{_count(abs(params_added))} params (system: {_count(total)})"
    )


def task_table(rows: list[dict[str, Any]]) -> None:
    """The registered tasks (evomt data list)."""
    table = Table(title="registered tasks", title_justify="left")
    table.add_column("task", no_wrap=True)
    table.add_column("classes", justify="right", no_wrap=True)
    for header in ("train", "validation", "test"):
        table.add_column(header, overflow="fold", max_width=34)
    table.add_column("present", no_wrap=True)
    for row in rows:
        splits = row.get("splits", {})
        table.add_row(
            row["name"],
            str(row["num_classes"]),
            str(splits.get("train", "")),
            str(splits.get("validation", "")),
            str(splits.get("test", "")),
            "yes" if row["present"] else "no",
        )
    console.print(table)


def comparison_table(
    workdir: str, rows: list[dict[str, Any]], others: dict[str, list[dict[str, Any]]]
) -> None:
    """Test accuracy and accounted parameters per task, this run beside the others."""
    table = Table(title="beside other runs (test acc % / accounted params)", title_justify="left")
    table.add_column("task", no_wrap=True)
    for name in (workdir, *others):
        table.add_column(name, justify="right", no_wrap=True)
    by_run = [{r["task"]: r for r in rows}] + [{r["task"]: r for r in o} for o in others.values()]
    for task in dict.fromkeys([r["task"] for rs in [rows, *others.values()] for r in rs]):
        cells = []
        for run in by_run:
            row = run.get(task)
            cells.append(
                "-"
                if row is None
                else f"{_pct(row['test_accuracy'])} / {_count(row['accounted_params'])}"
            )
        table.add_row(task, *cells)
    from keras_evomt.summary import common_tasks, means

    shared = common_tasks(rows, *others.values())
    cells = []
    for run in [rows, *others.values()]:
        figures = means(run, shared)
        cells.append(
            f"{_pct(figures['mean_test_accuracy'])} / {_count(figures['params_per_task'])}"
        )
    table.add_section()
    table.add_row(f"mean ({len(shared)} common)", *cells)
    console.print(table)
