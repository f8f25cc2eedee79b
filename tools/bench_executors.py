"""The same search with the `inline` executor and with `ray` (2 CPU actors) on this machine.

Each run is a fresh process timed from `Search(...)` (Ray's start and its actors'
included) to the end of the search: vit_mini at 32 px on digits then textures,
`--generations` x `--candidates` candidates of 2 rounds of `--steps` steps. The runs
alternate (inline, ray, inline, ray, ...) so both see the same load. A last, short
ray run SIGKILLs one actor mid-candidate. Rewrites the "## Executors" section of
BENCHMARKS.md; the last line printed is JSON:
{"same_system", "throughput_ratio" (ray candidates/hour over inline's),
 "actor_kill" ("retried" or "failed_candidate_only"),
 "shipped_bytes_ratio" (bytes shipped per candidate over the bytes of the weights
 each candidate needs)}.

    python tools/bench_executors.py

Hardware, time: any CPU host; about 6 minutes on 2 CPU cores.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time

import click
from benchmarks_md import write_section

SECTION = "## Executors"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(executor: str, generations: int, candidates: int, steps: int, kill: bool) -> dict:
    """One search in this process; its timing, what it grew and what Ray shipped."""
    from keras_evomt.observe import Observer
    from keras_evomt.search import Search, default_config
    from keras_evomt.search.journal import CandidateJournal, is_probe
    from keras_evomt.system import System

    config = default_config()
    config.tasks = ["digits", "textures"]
    config.root.name, config.root.image_size, config.root.patch_size = "vit_mini", 32, 8
    config.generations, config.candidates_per_generation = generations, candidates
    config.validations, config.steps_per_validation = 2, steps
    config.batch_size, config.validation_examples = 32, 256
    config.training.deterministic = True
    config.distribute.executor, config.distribute.ray_actors = executor, 2
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        search = Search(config, workdir, observer=Observer(workdir, quiet=True))
        if kill:
            _kill_an_actor_mid_candidate(search.executor)
        with search:
            search.run()
        seconds = time.perf_counter() - start
        system = System.load(workdir)
        lines = CandidateJournal(os.path.join(workdir, "search", "candidates.jsonl")).read()
    done = sum(not is_probe(r) for r in lines)  # trained candidates, not source probes
    return {
        "executor": executor,
        "seconds": seconds,
        "candidates": done,
        "per_hour": done / seconds * 3600,
        "fingerprints": {t: system.fingerprint(t) for t in system.paths},
        "lines": [{k: v for k, v in r.items() if k != "seconds"} for r in lines],
        "failed": sum("failed" in r for r in lines),
        "stats": getattr(search.executor, "stats", None),
        "retried": getattr(search.executor, "retried", None),
        "load": os.getloadavg()[1],  # the host's 5-minute load average at the end
    }


def _kill_an_actor_mid_candidate(executor) -> None:
    victim = executor.pids[0]

    def kill():
        while executor.stats["candidates"] < 1:
            time.sleep(0.01)
        time.sleep(0.5)  # the first candidate traces for seconds
        os.kill(victim, signal.SIGKILL)

    threading.Thread(target=kill, daemon=True).start()


def _run(executor: str, generations: int, candidates: int, steps: int, kill=False) -> dict:
    args = [sys.executable, __file__, "--child", executor, "--generations", str(generations)]
    args += ["--candidates", str(candidates), "--steps", str(steps)]
    args += ["--kill"] if kill else []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{executor} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--generations", default=2, show_default=True)
@click.option("--candidates", default=4, show_default=True, help="Per generation.")
@click.option("--steps", default=20, show_default=True, help="Steps per validation round.")
@click.option("--repeats", default=2, show_default=True, help="Alternating pairs of runs.")
@click.option("--write/--no-write", default=True, show_default=True)
@click.option("--child", type=click.Choice(["inline", "ray"]), hidden=True, default=None)
@click.option("--kill", is_flag=True, hidden=True)
def main(generations, candidates, steps, repeats, write, child, kill) -> None:
    if child:
        print(json.dumps(globals()["child"](child, generations, candidates, steps, kill)))
        return
    runs: dict[str, list[dict]] = {"inline": [], "ray": []}
    for _ in range(repeats):
        for executor in ("inline", "ray"):
            runs[executor].append(_run(executor, generations, candidates, steps))
            r = runs[executor][-1]
            print(f"{executor:>6}: {r['per_hour']:7.0f} candidates/hour ({r['seconds']:.1f} s)")
    killed = _run("ray", 1, 2, steps, kill=True)
    reference = runs["inline"][0]
    same = all(
        r["fingerprints"] == reference["fingerprints"] and r["lines"] == reference["lines"]
        for r in runs["inline"] + runs["ray"]
    )
    rate = {
        e: sum(r["candidates"] for r in rs) / sum(r["seconds"] for r in rs) * 3600
        for e, rs in runs.items()
    }
    stats = runs["ray"][0]["stats"]
    shipped = (stats["shared_bytes"] + stats["own_bytes"]) / stats["needed_bytes"]
    outcome = {
        "same_system": same,
        "throughput_ratio": round(rate["ray"] / rate["inline"], 3),
        "actor_kill": "retried"
        if killed["retried"] and not killed["failed"]
        else "failed_candidate_only",
        "shipped_bytes_ratio": round(shipped, 3),
    }
    if write:
        _write(runs, rate, killed, stats, outcome, generations, candidates, steps, repeats)
    print(json.dumps(outcome))


def _write(runs, rate, killed, stats, outcome, generations, candidates, steps, repeats):
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    per = stats["candidates"]
    lines = [
        SECTION,
        "",
        f"Command: `python tools/bench_executors.py` ({datetime.date.today()}; {machine}; "
        f"Python {platform.python_version()}).",
        "",
        f"The same search (vit_mini, 32 px, digits then textures, {generations} generations "
        f"x {candidates} candidates x 2 rounds of {steps} steps, batch 32, op determinism) "
        "in a fresh process per run, timed from `Search(...)` to its end (Ray's start and "
        f"its 2 CPU actors included); {repeats} alternating pairs of runs.",
        "",
        "| executor | runs | seconds per run | host load (5 min) | candidates/hour | vs inline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for executor, rs in runs.items():
        seconds = ", ".join(f"{r['seconds']:.1f}" for r in rs)
        load = ", ".join(f"{r.get('load', float('nan')):.1f}" for r in rs)
        lines.append(
            f"| {executor} | {len(rs)} | {seconds} | {load} | {rate[executor]:,.0f} | "
            f"{rate[executor] / rate['inline']:.2f}x |"
        )
    lines += [
        "",
        f"- Same system: {outcome['same_system']} (task fingerprints and candidates.jsonl "
        "without `seconds`, every run).",
        f"- Shipped per candidate: {(stats['shared_bytes'] + stats['own_bytes']) / per:,.0f} "
        f"bytes (the generation's frozen components once, plus the candidate's own weights "
        f"and slots) for {stats['needed_bytes'] / per:,.0f} bytes of weights each candidate "
        f"uses: ratio {outcome['shipped_bytes_ratio']}.",
        f"- Actor killed mid-candidate (1 generation x 2 candidates of digits and textures): "
        f"{outcome['actor_kill']} ({killed['retried']} call retried on the restarted actor, "
        f"{killed['failed']} candidates failed, {killed['seconds']:.1f} s).",
    ]
    write_section(os.path.join(REPO, "BENCHMARKS.md"), SECTION, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
