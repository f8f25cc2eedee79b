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
Seeds:     `--seeds 0-8 --jobs 9` runs every method at each seed (`--set seed=N`), nine
           runs at a time in processes of their own, and writes "## Quality over seeds"
           instead: each seed's mean test accuracy per method, their mean and standard
           deviation, and the JSON line with those means, the mean parameter ratio, the
           fewest tasks with transfer in any seed and `per_seed` lines.
Hardware:  2 CPU cores; measured 10.4 minutes on an AMD EPYC (BENCHMARKS.md, the run of
           2026-12-02 00:55 UTC; 13.1 minutes at 2026-12-01 22:48 UTC), 18.8 minutes
           alone on an earlier machine, 39 minutes when it was shared by other work.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import statistics
import subprocess
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
SEEDS_HEADING = "## Quality over seeds"


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
    """Runs one recipe into `workdir`; returns its figures, plain JSON: per task the test
    accuracy, training steps and the source its best path descends from; the run's
    seconds, failed candidates, changed fingerprints, parameter ratio and tasks with
    transfer."""
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
        "seconds": seconds,
        "steps": steps,
        "failed": failed,
        "changed": sorted(observer.changed),
        "test": {t: system.paths[t].metrics.get("test_accuracy") for t in config.tasks},
        "origin": {t: system.paths[t].origin for t in config.tasks},
        "params_ratio": params_ratio(system),
        "transfer": transfer(system),
        "root": system.info.get("checkpoint") or system.info["root"],
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
    parser.add_argument(
        "--seeds", default="0", help="seeds to run every method with: 0, 0,3 or 0-8"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    parser.add_argument("--benchmarks", default="BENCHMARKS.md")
    parser.add_argument("--only", choices=list(METHODS), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)  # --only's figures, as JSON
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    recipes = dict(METHODS, mu2net=":".join(filter(None, [METHODS["mu2net"], args.variant])))
    base = FsPath(args.workdir)
    if args.only:  # one method at one seed, for a parent's --jobs
        (seed,) = seeds
        figures = run_method(recipes[args.only], base, with_seed(args.overrides, seed))
        FsPath(args.result).write_text(json.dumps(figures))
        return 0
    shutil.rmtree(base, ignore_errors=True)
    started = time.perf_counter()
    if seeds == [0] and args.jobs == 1:  # the bench: the main job as it runs
        results = {
            name: run_method(recipe, base / name, args.overrides)
            for name, recipe in recipes.items()
        }
        total = time.perf_counter() - started
        summary = seed_summary(results)
        if not args.no_write:
            write_section(args.benchmarks, HEADING, _table(results, summary, total, argv))
        print(json.dumps(summary))
        return 0
    runs = run_seeds(recipes, base, args, seeds)
    total = time.perf_counter() - started
    summary = seeds_summary(runs)
    if not args.no_write:
        text = _seeds_table(runs, summary, total, argv)
        write_section(args.benchmarks, SEEDS_HEADING, text)
    print(json.dumps(summary))
    return 0


def parse_seeds(spec: str) -> list[int]:
    """The seeds of `--seeds`: "0-8" gives 0 to 8, "0,3" gives 0 and 3."""
    seeds = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        seeds += range(int(first), int(last or first) + 1)
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds {spec!r}: give distinct seeds, e.g. 0-8 or 0,3")
    return seeds


def with_seed(overrides: list[str], seed: int) -> list[str]:
    """The `--set` overrides of one seed's run: the given ones, then `seed=N`."""
    return [*overrides, f"seed={seed}"]


def run_seeds(recipes: dict, base: FsPath, args, seeds: list[int]) -> dict[int, dict]:
    """Every method at every seed, `args.jobs` runs at a time (each in a process of its
    own when more than one), into base/seed<N>/<method>; figures by seed and method."""
    runs = [(seed, name) for seed in seeds for name in recipes]
    if args.jobs <= 1:
        done = [
            run_method(recipes[name], base / f"seed{seed}" / name, with_seed(args.overrides, seed))
            for seed, name in runs
        ]
    else:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda run: _in_own_process(base, args, *run), runs))
    by_seed: dict[int, dict] = {seed: {} for seed in seeds}
    for (seed, name), figures in zip(runs, done):
        by_seed[seed][name] = figures
    return by_seed


def _in_own_process(base: FsPath, args, seed: int, name: str) -> dict:
    workdir = base / f"seed{seed}" / name
    workdir.parent.mkdir(parents=True, exist_ok=True)
    result = workdir.parent / f"{name}.json"
    command = [sys.executable, __file__, "--only", name, "--seeds", str(seed)]
    command += ["--workdir", str(workdir), "--result", str(result), "--variant", args.variant]
    command += [f"--set={o}" for o in args.overrides]
    repo = str(FsPath(__file__).resolve().parents[1])  # keras_evomt, installed or not
    path = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{name} at seed {seed} failed:\n{done.stderr[-2000:]}")
    return json.loads(result.read_text())


def seed_summary(results: dict) -> dict:
    """The JSON line of one seed's runs (the issue's keys)."""
    mu2net = results["mu2net"]
    tasks = list(mu2net["test"])
    means = {name: sum(r["test"][t] for t in tasks) / len(tasks) for name, r in results.items()}
    return {
        "mean_test_accuracy": {k: round(v, 4) for k, v in means.items()},
        "params_per_task_ratio": round(mu2net["params_ratio"], 4),
        "tasks_with_transfer": len(mu2net["transfer"]),
        "fingerprints_changed": sum(len(r["changed"]) for r in results.values()),
        "equal_steps": all(r["steps"] == mu2net["steps"] for r in results.values()),
    }


def seeds_summary(by_seed: dict[int, dict]) -> dict:
    """The JSON line over seeds: the mean of each seed's mean test accuracy (and the
    standard deviation of those means), the mean parameter ratio, the fewest tasks with
    transfer in any seed, every changed fingerprint, and each seed's own line."""
    per_seed = {seed: seed_summary(results) for seed, results in by_seed.items()}
    lines = list(per_seed.values())
    methods = list(lines[0]["mean_test_accuracy"])
    accuracy = {m: [line["mean_test_accuracy"][m] for line in lines] for m in methods}
    return {
        "seeds": list(per_seed),
        "mean_test_accuracy": {m: round(statistics.fmean(v), 4) for m, v in accuracy.items()},
        "sd_of_seed_means": {
            m: round(statistics.stdev(v), 4) if len(v) > 1 else 0.0 for m, v in accuracy.items()
        },
        "params_per_task_ratio": round(
            statistics.fmean(line["params_per_task_ratio"] for line in lines), 4
        ),
        "tasks_with_transfer": min(line["tasks_with_transfer"] for line in lines),
        "fingerprints_changed": sum(line["fingerprints_changed"] for line in lines),
        "equal_steps": all(line["equal_steps"] for line in lines),
        "per_seed": [{"seed": seed, **line} for seed, line in per_seed.items()],
    }


def _table(results: dict, summary: dict, total: float, argv) -> str:
    mu2net = results["mu2net"]
    tasks = list(mu2net["test"])
    lines = [
        HEADING,
        "",
        *_provenance(mu2net, total, argv),
        "",
        "| task | "
        + " | ".join(f"{name} test acc %" for name in results)
        + " | µ2Net descends from |",
        "|---|" + "---|" * (len(results) + 1),
    ]
    for task in tasks:
        cells = [f"{100 * r['test'][task]:.1f}" for r in results.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + f" | {mu2net['origin'][task]} |")
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
        f"{summary['tasks_with_transfer']} ({', '.join(mu2net['transfer']) or 'none'}); "
        f"fingerprints changed: {summary['fingerprints_changed']}; equal steps: "
        f"{summary['equal_steps']}.",
        "",
        "JSON: `" + json.dumps(summary) + "`",
    ]
    return "\n".join(lines)


def _provenance(mu2net: dict, total: float, argv) -> list[str]:
    """Where and how a run was made: the date, command, machine, tasks, root and steps."""
    tasks = list(mu2net["test"])
    command = "python tools/bench_quality.py" + "".join(f" {a}" for a in (argv or []))
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    steps = ", ".join(f"{t} {mu2net['steps'][t]}" for t in tasks)
    return [
        f"Written by `tools/bench_quality.py` ({stamp}).",
        f"Command: `{command}`. Machine: {cpu_model()} ({platform.machine()}), "
        f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
        f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; "
        f"whole run {total / 60:.1f} min.",
        f"Tasks: {', '.join(tasks)}; root `{mu2net['root']}`. "
        f"Training steps per task (every method): {steps}.",
    ]


def _seeds_table(by_seed: dict[int, dict], summary: dict, total: float, argv) -> str:
    first = next(iter(by_seed.values()))
    methods, tasks = list(first), list(first["mu2net"]["test"])
    lines = [
        SEEDS_HEADING,
        "",
        *_provenance(first["mu2net"], total, argv),
        "",
        "| seed | "
        + " | ".join(f"{m} mean test %" for m in methods)
        + " | µ2Net params ratio | tasks with transfer |",
        "|---|" + "---|" * (len(methods) + 2),
    ]
    for line in summary["per_seed"]:
        cells = [f"{100 * line['mean_test_accuracy'][m]:.2f}" for m in methods]
        lines.append(
            f"| {line['seed']} | "
            + " | ".join(cells)
            + f" | {line['params_per_task_ratio']:.2f} | {line['tasks_with_transfer']} |"
        )
    means = summary["mean_test_accuracy"]
    lines.append(
        "| **mean** | "
        + " | ".join(f"**{100 * means[m]:.2f}**" for m in methods)
        + f" | **{summary['params_per_task_ratio']:.2f}** | |"
    )
    lines += [
        "",
        "| method | " + " | ".join(tasks) + " | sd of a seed's mean |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for m in methods:
        per_task = [
            statistics.fmean(results[m]["test"][t] for results in by_seed.values()) for t in tasks
        ]
        lines.append(
            f"| {m} | "
            + " | ".join(f"{100 * a:.2f}" for a in per_task)
            + f" | {100 * summary['sd_of_seed_means'][m]:.2f} |"
        )
    lines += [
        "",
        "JSON: `" + json.dumps({k: v for k, v in summary.items() if k != "per_seed"}) + "`",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
