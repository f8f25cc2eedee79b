"""Memory and requests/s of `evomt serve`: every task in one process vs one process per task.

For each system measured, side by side in one run:
- one `evomt serve` process with all its tasks (the shared components held once), and
- one `evomt serve --tasks T` process per task (each loads only that task's components:
  what serving one exported task-model per process costs),
both answering the same requests (JSON, one image each, round-robin over the tasks, from a
few client threads over loopback). Resident memory (VmRSS) is read after every task has
answered once (traced). The one-process server also answers the tasks in one request each
(`/v1/tasks:predict` naming them all: the shared prefix runs once). The "## Serving"
section of BENCHMARKS.md is replaced with the figures and the exact command.

Usage:
    python tools/bench_serve.py                         # builds offline_mini:smoke first
    python tools/bench_serve.py --workdir runs/smoke --synthetic vit_s16 --requests 300
    python tools/bench_serve.py --workdir runs/smoke --no-write
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

import numpy as np
from benchmarks_md import write_section

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

SECTION = "## Serving"
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# === Systems ===
def smoke_system(workdir: str) -> str:
    """The main job's recipe, variant smoke (two tasks, about a minute on 2 cores)."""
    subprocess.run(
        [sys.executable, "-m", "keras_evomt.cli", "run", "recipes/offline_mini.py:smoke"]
        + ["--workdir", workdir, "--quiet"],
        check=True,
        cwd=ROOT_DIR,
        stdout=subprocess.DEVNULL,
    )
    return workdir


def synthetic_system(workdir: str, root: str, num_tasks: int) -> str:
    """`root` at 32 px (big weights, little compute) shared by `num_tasks` tasks, each with
    its own top encoder block, final norm and head (random weights: serving does not care)."""
    import keras

    from keras_evomt.system import System

    keras.utils.set_random_seed(0)
    system = System.create(root, image_size=32)
    for i in range(num_tasks):
        task = f"task{i}"
        system.start_task(task)
        path = system.new_task_path(task, 10)
        path.components[-3] = system.clone(path.components[-3])
        path.id = f"{task}#0"
        system.end_task(path)
    system.save(workdir)
    return workdir


def system_figures(workdir: str) -> dict:
    from keras_evomt.system import System

    system = System.load(workdir, tasks=())
    tasks = list(system.paths)
    per_task = sum(system.params(c) for t in tasks for c in system.path(t).components)
    unique = sum(system.params(c) for c in {c for t in tasks for c in system.path(t).components})
    return {
        "tasks": tasks,
        "root": system.info.get("root"),
        "sizes": {t: system.path(t).image_size for t in tasks},
        "unique_params": unique,
        "per_task_params": per_task,
    }


# === Servers and clients ===
def start(workdir: str, tasks: list[str] | None = None) -> tuple[subprocess.Popen, int]:
    command = [sys.executable, "-m", "keras_evomt.cli", "serve", "--workdir", workdir]
    command += ["--port", "0"] + (["--tasks", ",".join(tasks)] if tasks else [])
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT_DIR)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"evomt serve exited ({process.returncode})")
        match = re.search(r"at http://127\.0\.0\.1:(\d+)", line)
        if match:
            return process, int(match.group(1))
    raise RuntimeError("evomt serve did not start in 300 s")


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=60)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as file:
        kb = int(re.search(r"VmRSS:\s+(\d+)", file.read()).group(1))
    return kb / 1024


def post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def rate(jobs: list[tuple[str, bytes]], clients: int) -> float:
    """Requests/s for `jobs` (url, body) sent by `clients` threads."""
    start_time = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda job: post(*job), jobs))
    return len(jobs) / (time.perf_counter() - start_time)


def bodies(sizes: dict[str, int], seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    return {
        task: json.dumps(
            {"instances": rng.uniform(-1, 1, (1, size, size, 3)).round(3).tolist()}
        ).encode()
        for task, size in sizes.items()
    }


def measure(workdir: str, requests: int, clients: int, rounds: int) -> dict:
    """Both configurations up at once, measured in alternating rounds (best round each)."""
    figures = system_figures(workdir)
    tasks, body = figures["tasks"], bodies(figures["sizes"])
    url = "http://127.0.0.1:%d/v1/models/%s:predict"

    def jobs(ports: dict[str, int]) -> list[tuple[str, bytes]]:
        chosen = [tasks[i % len(tasks)] for i in range(requests)]
        return [(url % (ports[task], task), body[task]) for task in chosen]

    one, port = start(workdir)
    started = [start(workdir, [task]) for task in tasks]
    try:
        ports = {task: p for task, (_, p) in zip(tasks, started)}
        for task in tasks:
            post(url % (port, task), body[task])
            post(url % (ports[task], task), body[task])
        one_rss = rss_mb(one.pid)
        many_rss = sum(rss_mb(process.pid) for process, _ in started)
        multi_jobs = []
        if len(set(figures["sizes"].values())) == 1:  # one request can carry every task
            multi = json.dumps({"tasks": tasks, **json.loads(body[tasks[0]])}).encode()
            multi_url = f"http://127.0.0.1:{port}/v1/tasks:predict"
            post(multi_url, multi)
            multi_jobs = [(multi_url, multi)] * (requests // len(tasks))
        rates: dict[str, list[float]] = {"one": [], "many": [], "multi": []}
        for _ in range(rounds):
            rates["one"].append(rate(jobs(dict.fromkeys(tasks, port)), clients))
            rates["many"].append(rate(jobs(ports), clients))
            if multi_jobs:
                rates["multi"].append(rate(multi_jobs, clients))
    finally:
        stop([one] + [process for process, _ in started])
    return {
        **figures,
        "one_rss": one_rss,
        "many_rss": many_rss,
        "one_rate": max(rates["one"]),
        "many_rate": max(rates["many"]),
        "multi_rate": max(rates["multi"], default=None),
    }


# === Report ===
def section(results: list[tuple[str, dict]], args, command: str, seconds: float) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    import tensorflow as tf

    intro = (
        "Resident memory and requests/s of `evomt serve` with every task in one process vs "
        "one `evomt serve --tasks T` process per task (each loads only its task's "
        "components). Requests: JSON, one image each, round-robin over the tasks, "
        f"{args.requests} per round from {args.clients} client threads over loopback, "
        "after each task answered once; both configurations run at once and are measured "
        f"in {args.rounds} alternating rounds, the best round of each kept. Memory: VmRSS "
        "after that warm-up, summed over the per-task processes. *All tasks per request*: "
        "`/v1/tasks:predict` naming every task, so the shared prefix runs once per image "
        "(-: the tasks take different image sizes)."
    )
    lines = [
        SECTION,
        "",
        textwrap.fill(intro, 88),
        "",
        f"Command: `{command}`",
        "",
        textwrap.fill(
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average {load} "
            f"(other work on the machine lowers the figures); TensorFlow {tf.__version__}; "
            f"{datetime.date.today()}; whole run {seconds:.0f} s.",
            88,
        ),
        "",
        "| system | tasks | parameters held once / per task summed | resident MB, one "
        "process | resident MB, one per task | requests/s, one process | requests/s, one "
        "per task | task answers/s, all tasks per request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        name = f"{name} ({r['root']}: {', '.join(r['tasks'])})"
        multi = f"{r['multi_rate'] * len(r['tasks']):,.0f}" if r["multi_rate"] else "-"
        lines.append(
            f"| {name} | {len(r['tasks'])} | {r['unique_params']:,} / {r['per_task_params']:,} "
            f"| {r['one_rss']:,.0f} | {r['many_rss']:,.0f} | {r['one_rate']:,.1f} "
            f"| {r['many_rate']:,.1f} | {multi} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", help="A grown system (default: build offline_mini:smoke).")
    parser.add_argument("--synthetic", metavar="ROOT", help="Also a ROOT shared by --num-tasks.")
    parser.add_argument("--num-tasks", type=int, default=4)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds; best kept.")
    parser.add_argument("--no-write", action="store_true", help="Print, do not write.")
    args = parser.parse_args()
    command = shlex.join(["python", "tools/bench_serve.py", *sys.argv[1:]])
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_serve.") as tmp:
        workdir = args.workdir or smoke_system(os.path.join(tmp, "smoke"))
        systems = [("offline_mini:smoke" if not args.workdir else "--workdir", workdir)]
        if args.synthetic:
            synthetic = synthetic_system(
                os.path.join(tmp, "synthetic"), args.synthetic, args.num_tasks
            )
            systems.append(("synthetic, 32 px, own top block per task", synthetic))
        results = [
            (name, measure(path, args.requests, args.clients, args.rounds))
            for name, path in systems
        ]
    text = section(results, args, command, time.perf_counter() - begin)
    print(text)
    if not args.no_write:
        write_section(os.path.join(ROOT_DIR, "BENCHMARKS.md"), SECTION, text)


if __name__ == "__main__":
    main()
