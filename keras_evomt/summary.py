"""What `evomt status` shows: one row per task and the system's totals.

Example:
    rows, totals = status(read_structure("runs/demo"))  # or a loaded System
    rows[0]["task"], rows[0]["fingerprint"]
"""

from __future__ import annotations

import os
from typing import Any

from keras_evomt.system import System


def status(system: System) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-task rows (in arrival order) and system totals, as plain JSON data."""
    rows = []
    for task, path in system.paths.items():
        rows.append(
            {
                "task": task,
                "validation_accuracy": path.metrics.get("validation_accuracy"),
                "test_accuracy": path.metrics.get("test_accuracy"),
                "own_params": system.own_params(path),
                "accounted_params": round(system.accounted_params(path)),
                "path_length": len(path.components),
                "parent": path.parent,
                "descends_from": path.origin,
                "image_size": path.image_size,
                "flops": system.flops(path),
                "private": task in system.private_tasks,
                "fingerprint": system.fingerprint(path),
            }
        )
    totals = {
        "tasks": len(system.paths),
        "components": len(system.kept_component_ids()),
        "total_params": system.total_params(),
        "root_params": sum(system.params(c) for c in system.root.components) if system.root else 0,
        "root": system.info.get("root"),
        "root_weights": system.info.get("checkpoint") or "random init (no checkpoint)",
        "active_task": system.active_task,
    }
    return rows, totals


def means(rows: list[dict[str, Any]], tasks: list[str] | None = None) -> dict[str, Any]:
    """Mean test accuracy and accounted parameters per task over `tasks` (default: all
    rows), the figures `evomt status --compare` sets beside each other.

    Example:
        means(rows)  # {'tasks': 3, 'mean_test_accuracy': 0.91, 'params_per_task': 52031.0}
    """
    chosen = [r for r in rows if tasks is None or r["task"] in tasks]
    accuracies = [r["test_accuracy"] for r in chosen if r["test_accuracy"] is not None]
    return {
        "tasks": len(chosen),
        "mean_test_accuracy": sum(accuracies) / len(accuracies) if accuracies else None,
        "params_per_task": (
            sum(r["accounted_params"] for r in chosen) / len(chosen) if chosen else None
        ),
    }


def common_tasks(*runs: list[dict[str, Any]]) -> list[str]:
    """Tasks present in every run, in the first run's order."""
    shared = set.intersection(*({r["task"] for r in rows} for rows in runs))
    return [r["task"] for r in runs[0] if r["task"] in shared]


def search_position(workdir: str | os.PathLike) -> dict[str, Any] | None:
    """Where the work directory's search stands, from its committed state: how many of
    `evomt run`'s task iterations are done, and the iteration in flight, if any (None
    for a system without a search state).

    Example:
        search_position("runs/demo")["in_flight"]  # {"task": "textures", "generation": 3, ...}
    """
    from keras_evomt import store
    from keras_evomt.errors import EvomtError
    from keras_evomt.workdir import WorkdirLayout

    layout = WorkdirLayout(workdir)
    if not layout.search_state.exists():
        return None
    try:  # damaged files are `evomt check`'s to report; the status table stands without
        state = store.read_workdir_json(layout.search_state, "")
        config = store.read_workdir_json(layout.config, "") if layout.config.exists() else {}
    except EvomtError:
        return None
    if not (isinstance(state, dict) and isinstance(config, dict)):
        return None
    tasks = config.get("tasks")
    position = {
        "run_iterations_done": int(state.get("position", 0)),
        "run_iterations": len(tasks) * int(config.get("task_iterations", 1))
        if isinstance(tasks, list)
        else None,
        "in_flight": None,
    }
    population = state.get("population")
    if population:
        began = state.get("iteration_config") or {}
        position["in_flight"] = {
            "task": population["task"],
            "generation": int(population.get("generation", 0)) + 1,
            "generations": began.get("generations", config.get("generations")),
            "candidates_trained": int(population.get("candidate", 0)),
        }
    return position
