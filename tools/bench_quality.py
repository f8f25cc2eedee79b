"""The main job's quality beside its baselines, at equal training steps per task.

Runs, one after the other in this process, on the same tasks, root and data defaults:
µ2Net (`recipes/offline_mini.py`, the main job), fine-tune-all and independent models
(`recipes/baselines.py`, which train each task for as many steps as the search spends
on it). Writes the table to BENCHMARKS.md ("## Quality at equal steps") and prints one
JSON line last:

    {"mean_test_accuracy": {"mu2net": .., "finetune_all": .., "independent": ..},
     "params_per_task_ratio": ..,   # µ2Net's accounted params per task / a full model's
     "tasks_with_transfer": ..,     # best path descends from another task's, or shares
                                    # a component added by an earlier task
     "fingerprints_changed": ..,    # tasks whose fingerprint another task changed
     "equal_steps": true}           # every method trained each task for as many steps

Command:   python tools/bench_quality.py [--workdir /tmp/bench_quality] [--variant pairs]
           [--no-write]
Hardware:  2 CPU cores; measured 10.4 minutes on an AMD EPYC (BENCHMARKS.md, the run of
           2026-12-02 00:55 UTC; 13.1 minutes at 2026-12-01 22:48 UTC), 18.8 minutes
           alone on an earlier machine, 39 minutes when it was shared by other work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path as FsPath

import tensorflow as tf
from benchmarks_md import cpu_model, write_section

from keras_evomt.observe import Observer
from keras_evomt.recipe import load_recipe
from keras_evomt.search import Search
from keras_evomt.search.journal import CandidateJournal
from keras_evomt.system import System

METHODS = {
    "mu2net": "offline_mini",
    "finetune_all": "baselines:finetune_all",
    "independent": "baselines:independent",
}
HEADING = "## Quality at equal steps"


class _Fingerprints(Observer):
    """Records every finished task's fingerprint, and re-checks the other tasks' (a task's
    own revisit may change its own path)."""

    def __init__(self, workdir, search_ref):
        super().__init__(workdir, quiet=True)
        self.search_ref = search_ref
        self.at_finish: dict[str, str] = {}
        self.changed: set[str] = set()

    def task_finished(self, task, *args, **kwargs):
        super().task_finished(task, *args, **kwargs)
        system = self.search_ref[0].system
        for earlier, fingerprint in self.at_finish.items():
            if earlier != task and system.fingerprint(earlier) != fingerprint:
                self.changed.add(earlier)
        self.at_finish[task] = system.fingerprint(task)


def run_method(recipe: str, workdir: FsPath, overrides: list[str]) -> dict:
    """Runs one recipe into `workdir`; returns its per-task figures."""
    config = load_recipe(recipe, overrides)
    started = time.perf_counter()
    ref: list = []
    observer = _Fingerprints(workdir, ref)
    with Search(config, workdir, observer=observer) as search:
        ref.append(search)
        search.run()
    seconds = time.perf_counter() - started
    system = System.load(workdir)
    records = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
    steps = {t: sum(r.get("steps", 0) for r in records if r["task"] == t) for t in config.tasks}
    failed = sum("failed" in r for r in records)
    return {
        "system": system,
        "seconds": seconds,
        "steps": steps,
        "failed": failed,
        "changed": sorted(observer.changed),
        "test": {t: system.paths[t].metrics.get("test_accuracy") for t in config.tasks},
    }


def transfer(system: System) -> list[str]:
    """Tasks whose best path descends from another task's path (on a revisit, possibly a
    task introduced after it), or shares a component added by an earlier task."""
    tasks = list(system.paths)
    found = []
    for index, task in enumerate(tasks):
        path = system.paths[task]
        earlier = set(tasks[:index])
        shared = {
            cid
            for cid in path.components
            if cid not in system.root.components and system.users(cid) & earlier
        }
        if path.origin in set(tasks) - {task} or shared:
            found.append(task)
    return found


def params_ratio(system: System) -> float:
    """Mean over tasks of accounted params / the params of a full model for the task."""
    root = sum(system.params(c) for c in system.root.components)
    ratios = []
    for path in system.paths.values():
        full = root + system.params(path.components[-1])  # the root and the task's head
        ratios.append(system.accounted_params(path) / full)
    return sum(ratios) / len(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/bench_quality")
    parser.add_argument(
        "--variant", default="", help="of recipes/offline_mini.py for µ2Net, e.g. pairs"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--benchmarks", default="BENCHMARKS.md")
    args = parser.parse_args(argv)
    base = FsPath(args.workdir)
    shutil.rmtree(base, ignore_errors=True)
    started = time.perf_counter()
    recipes = dict(METHODS, mu2net=":".join(filter(None, [METHODS["mu2net"], args.variant])))
    results = {
        name: run_method(recipe, base / name, args.overrides) for name, recipe in recipes.items()
    }
    total = time.perf_counter() - started
    mu2net = results["mu2net"]
    tasks = list(mu2net["test"])
    means = {name: sum(r["test"][t] for t in tasks) / len(tasks) for name, r in results.items()}
    equal = all(r["steps"] == mu2net["steps"] for r in results.values())
    summary = {
        "mean_test_accuracy": {k: round(v, 4) for k, v in means.items()},
        "params_per_task_ratio": round(params_ratio(mu2net["system"]), 4),
        "tasks_with_transfer": len(transfer(mu2net["system"])),
        "fingerprints_changed": sum(len(r["changed"]) for r in results.values()),
        "equal_steps": equal,
    }
    if not args.no_write:
        write_section(args.benchmarks, HEADING, _table(results, summary, total, argv))
    print(json.dumps(summary))
    return 0


def _table(results: dict, summary: dict, total: float, argv) -> str:
    mu2net = results["mu2net"]
    system = mu2net["system"]
    tasks = list(mu2net["test"])
    command = "python tools/bench_quality.py" + "".join(f" {a}" for a in (argv or []))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    root = system.info.get("checkpoint") or system.info["root"]
    steps = ", ".join(f"{t} {mu2net['steps'][t]}" for t in tasks)
    lines = [
        HEADING,
        "",
        f"Written by `tools/bench_quality.py` ({stamp}).",
        f"Command: `{command}`. Machine: {cpu_model()} ({platform.machine()}), "
        f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; "
        f"whole run {total / 60:.1f} min.",
        f"Tasks: {', '.join(tasks)}; root `{root}`. "
        f"Training steps per task (every method): {steps}.",
        "",
        "| task | "
        + " | ".join(f"{name} test acc %" for name in results)
        + " | µ2Net descends from |",
        "|---|" + "---|" * (len(results) + 1),
    ]
    for task in tasks:
        cells = [f"{100 * r['test'][task]:.1f}" for r in results.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + f" | {system.paths[task].origin} |")
    means = summary["mean_test_accuracy"]
    lines.append(
        "| **mean** | " + " | ".join(f"**{100 * means[n]:.1f}**" for n in results) + " | |"
    )
    lines += [
        "",
        "| method | minutes | failed candidates |",
        "|---|---|---|",
        *(f"| {n} | {r['seconds'] / 60:.1f} | {r['failed']} |" for n, r in results.items()),
        "",
        f"µ2Net's accounted parameters per task over a full model's: "
        f"{summary['params_per_task_ratio']:.2f}; tasks with transfer: "
        f"{summary['tasks_with_transfer']} ({', '.join(transfer(system)) or 'none'}); "
        f"fingerprints changed: {summary['fingerprints_changed']}; equal steps: "
        f"{summary['equal_steps']}.",
        "",
        "JSON: `" + json.dumps(summary) + "`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
