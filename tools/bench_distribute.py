"""Candidates per hour of the search under each distribution mode, on this machine.

Runs the same small search (vit_mini at 32 px on digits, `--candidates` candidates of
`--steps` steps x 2 validation rounds) in a fresh process per mode:
- default: one candidate at a time on one device;
- candidates: one candidate per device, `--devices` at a time (distribute.mode=candidates);
- mirrored: one candidate at a time, data-parallel over `--devices` replicas
  (per-replica batch as in default, so the global batch is `--devices` times larger).
On a CPU-only host the devices are logical CPU devices sharing the same cores, so the
figures show the modes' overhead; on a GPU host (`--gpus`) they show the scaling.
Rewrites the "## Distribution" section of BENCHMARKS.md; the last line printed is JSON.

    python tools/bench_distribute.py                 # 2 logical CPU devices
    python tools/bench_distribute.py --gpus          # every local GPU

Hardware, time: any; about 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import click
from benchmarks_md import write_section

SECTION = "## Distribution"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {
    "default": {},
    "candidates": {"distribute.mode": "candidates"},
    "mirrored": {"distribute.strategy": "mirrored"},
}


def child(mode: str, devices: int, gpus: bool, candidates: int, steps: int) -> dict:
    """Runs one mode's search in this process; returns its timing."""
    from keras_evomt.observe import Observer
    from keras_evomt.recipe import apply_overrides
    from keras_evomt.search import Search, default_config

    config = default_config()
    config.tasks = ["digits"]
    config.root.name, config.root.image_size, config.root.patch_size = "vit_mini", 32, 8
    config.generations, config.candidates_per_generation = 1, candidates
    config.validations, config.steps_per_validation = 2, steps
    config.batch_size, config.validation_examples = 32, 256
    if not gpus and mode != "default":
        config.distribute.cpu_devices = devices
    overrides = [f"{k}={v!r}" for k, v in MODES[mode].items()]
    config = apply_overrides(config, overrides)
    with tempfile.TemporaryDirectory() as workdir:
        search = Search(config, workdir, observer=Observer(workdir, quiet=True))
        start = time.perf_counter()
        search.evolve("digits")
        seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "seconds": seconds,
        "candidates": candidates,
        "per_hour": candidates / seconds * 3600,
        "replicas": search.trainer.replicas,
        "devices": len(search.executor.devices),
    }


@click.command()
@click.option("--devices", default=2, show_default=True, help="Logical CPU devices.")
@click.option("--gpus", is_flag=True, help="Use the local GPUs instead of CPU devices.")
@click.option("--candidates", default=4, show_default=True)
@click.option("--steps", default=20, show_default=True, help="Steps per validation round.")
@click.option("--write/--no-write", default=True, show_default=True)
@click.option("--child-mode", hidden=True, default=None)
def main(devices, gpus, candidates, steps, write, child_mode) -> None:
    if child_mode:
        print(json.dumps(child(child_mode, devices, gpus, candidates, steps)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    if not gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    results = []
    for mode in MODES:
        args = [
            sys.executable,
            __file__,
            "--child-mode",
            mode,
            "--devices",
            str(devices),
            "--candidates",
            str(candidates),
            "--steps",
            str(steps),
        ]
        args += ["--gpus"] if gpus else []
        done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(
            f"{mode:>10}: {results[-1]['per_hour']:8.0f} candidates/hour "
            f"({results[-1]['seconds']:.1f} s for {candidates})"
        )
    base = results[0]["per_hour"]
    if write:
        machine = f"{platform.machine()}, {os.cpu_count()} CPU cores" + (
            ", GPUs" if gpus else f", {devices} logical CPU devices on them"
        )
        command = "python tools/bench_distribute.py" + (" --gpus" if gpus else "")
        lines = [
            SECTION,
            "",
            f"Command: `{command}` ({datetime.date.today()}; {machine}; "
            f"Python {platform.python_version()}).",
            "",
            f"The same search (vit_mini, 32 px, digits, {candidates} candidates x 2 "
            f"rounds of {steps} steps, batch 32 per replica) in each mode. On CPU the "
            "logical devices share the same cores: this shows each mode's overhead, "
            "not its scaling.",
            "",
            "| mode | candidates at once | replicas each | seconds | candidates/hour "
            "| vs default |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['mode']} | {r['devices']} | {r['replicas']} | {r['seconds']:.1f} | "
            f"{r['per_hour']:,.0f} | {r['per_hour'] / base:.2f}x |"
            for r in results
        ]
        write_section(os.path.join(REPO, "BENCHMARKS.md"), SECTION, "\n".join(lines) + "\n")
    print(json.dumps({r["mode"]: round(r["per_hour"], 1) for r in results}))


if __name__ == "__main__":
    main()
