"""Training throughput of one candidate on this machine's accelerator: ours vs plain Keras.

For one candidate of ViT-B/16 at 224 px (and ViT-L/16 at 384 px while the time budget
lasts and memory allows), batch 64, it measures images/s of our `CandidateTrainer` and of
plain Keras `fit` on the same layers and trainable set (the embeddings and the bottom half
of the blocks shared and frozen, the top half, the final norm and a new head the
candidate's own), in float32 and mixed bfloat16, with and without XLA, and the fraction of
the chip's peak FLOP/s that this is. Each measurement: a warm-up run (trace, compile), a
short and a long run; a step = (long - short) / (steps between), so set-up cancels. The
rows run in order of interest; a row that would not fit in what is left of `--budget` is
skipped (and says so). On a machine without a GPU it runs the same rows at a tiny size
(vit_tiny and vit_mini at 32 px, batch 8): a check that the tool works, not a benchmark.

It rewrites only the "## Accelerator throughput" section of `--output` and prints, as its
LAST line, one JSON object with the rows.

    pip install -e .   # if keras_evomt is not installed
    python tools/bench_accelerator.py                    # GPU: about 6 minutes at most
    python tools/bench_accelerator.py --output /tmp/B.md --seconds 1   # CPU check

Peak FLOP/s (dense, per chip) come from a table of known GPUs by device name; float32
counts against the TF32 peak when TensorFlow runs float32 matmuls in TF32 (its default on
NVIDIA GPUs since Ampere), else against the plain float32 peak; other chips: "unknown".
FLOPs per image: forward FLOPs of every component, plus twice those of each component from
the lowest trainable one up (the backward pass), multiply-add = 2.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path as FsPath

import click
import keras
import numpy as np
import tensorflow as tf
from benchmarks_md import write_section

from keras_evomt.path import PathModel
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer

REPO = FsPath(__file__).resolve().parents[1]
SECTION = "## Accelerator throughput"
NUM_CLASSES, TASK = 10, "bench"
HPARAMS = {"opt_lr": 0.01, "opt_momentum": 0.9, "opt_lr_schedule": "constant"}
ACCELERATOR_MODELS = "vit_b16@224,vit_l16@384"
CPU_MODELS = "vit_tiny@32,vit_mini@32"
# Dense TFLOP/s per chip: bfloat16, TF32, float32 (vendor data sheets, SXM parts).
PEAK_TFLOPS = {
    "H100 PCIe": (756.0, 378.0, 51.0),
    "H200": (989.0, 494.0, 67.0),
    "H100": (989.0, 494.0, 67.0),
    "A100": (312.0, 156.0, 19.5),
}


# === The device ===
def device() -> dict:
    """Kind ('GPU' or 'CPU'), name and peak TFLOP/s by precision (None: unknown)."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {"kind": "CPU", "name": platform.processor() or "CPU", "peak": {}}
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    peaks = next((p for key, p in PEAK_TFLOPS.items() if key in name), None)
    if peaks is None:
        return {"kind": "GPU", "name": name, "peak": {}}
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    return {
        "kind": "GPU",
        "name": name,
        "peak": {"mixed_bfloat16": peaks[0], "float32": peaks[1] if tf32 else peaks[2]},
        "float32_peak": "TF32" if tf32 else "float32",
    }


# === One candidate, two trainers ===
def candidate(root: str, image_size: int, precision: str):
    """A system and a candidate whose top half of blocks, final norm and head are its own."""
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    system = System.create(root, image_size=image_size)
    system.start_task(TASK)
    path = system.new_task_path(TASK, NUM_CLASSES, HPARAMS)
    blocks = [i for i, cid in enumerate(path.components) if "block" in cid]
    for index in blocks[len(blocks) // 2 :]:  # the final norm and head are already its own
        path.components[index] = system.clone(path.components[index])
    return system, path


def train_flops_per_image(system: System, path) -> float:
    shapes = system.input_shapes(path.components, path.image_size)
    forward = [system.components[c].flops(s) for c, s in zip(path.components, shapes)]
    trainable = [system.is_trainable(c, TASK) for c in path.components]
    lowest = trainable.index(True)
    return float(sum(forward) + 2 * sum(forward[lowest:]))


def synthetic_data(image_size: int, batch_size: int):
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, image_size, image_size, 3), np.float32)
    labels = rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32)
    one = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
    return one.cache().repeat().prefetch(tf.data.AUTOTUNE), one


def ours_runner(system, path, xla: bool, train, validation):
    trainer = CandidateTrainer(jit_compile=xla)

    def run(steps: int) -> float:
        start = time.perf_counter()
        trainer.train(system, path, train, validation, rounds=1, steps_per_round=steps)
        return time.perf_counter() - start

    return run, trainer.steps_per_call


def keras_runner(system, path, xla: bool, train):
    """Plain Keras: a new PathModel over fresh components of the same configs and trainable
    set, compiled with SGD momentum 0.9 and clip-norm 1 (as ours), `fit` as it comes."""
    from keras_evomt.components.base import component_from_config, config_of

    components = []
    for cid in path.components:
        original = system.components[cid]
        component = component_from_config(type(original), config_of(original))
        component.build_from_config(original.get_build_config())
        component.trainable = system.is_trainable(cid, TASK)
        components.append(component)
    model = PathModel(components, name="plain_keras")
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=xla,
    )

    def run(steps: int) -> float:
        start = time.perf_counter()
        model.fit(train, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        return time.perf_counter() - start

    return run


def seconds_per_step(run, first: int, limit: float) -> tuple[float, float]:
    """Warm-up, a short run of `first` steps and a long one of about `limit` seconds;
    returns the seconds per step and those of the warm-up (trace, compile, `first` steps)."""
    warm_up = run(first)
    short = run(first)
    longer = max(2 * first, int(limit / max(short / first, 1e-6)) // first * first)
    long = run(longer)
    step = (long - short) / (longer - first)
    return (step if step > 0 else long / longer), warm_up


# === The rows ===
def rows_to_measure(models: str, precisions: tuple[str, ...], xla: tuple[bool, ...]):
    """(root, image size, precision, xla) in order of interest: bfloat16 and XLA first."""
    for spec in models.split(","):
        root, size = spec.split("@")
        for precision in precisions:
            for jit in xla:
                yield root, int(size), precision, jit


def measure_row(root, size, precision, xla, batch_size, limit, info) -> dict:
    system, path = candidate(root, size, precision)
    train, validation = synthetic_data(size, batch_size)
    flops = train_flops_per_image(system, path)
    ours, steps_per_call = ours_runner(system, path, xla, train, validation)
    plain = keras_runner(system, path, xla, train)
    row = {"model": f"{root}@{size}", "precision": precision, "xla": xla}
    row["steps_per_call"] = steps_per_call
    for name, run in (("ours", ours), ("keras", plain)):
        step, warm_up = seconds_per_step(run, steps_per_call, limit)
        row[f"{name}_images_s"] = round(batch_size / step, 1)
        row[f"{name}_first_call_s"] = round(warm_up, 1)
        peak = info["peak"].get(precision)
        row[f"{name}_peak_fraction"] = (
            round(batch_size / step * flops / (peak * 1e12), 4) if peak else "unknown"
        )
    row["ratio"] = round(row["ours_images_s"] / row["keras_images_s"], 3)
    row["train_flops_per_image"] = int(flops)
    return row


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| model | precision | XLA | ours images/s | Keras fit images/s | ours / Keras | "
        "ours % of peak | Keras % of peak | ours first call s | Keras first call s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(
                f"| {r['model']} | {r['precision']} | {'on' if r['xla'] else 'off'} | "
                f"{r['skipped']} | | | | | | |"
            )
            continue

        def pct(value):
            return f"{100 * value:.1f}%" if isinstance(value, float) else value

        lines.append(
            f"| {r['model']} | {r['precision']} | {'on' if r['xla'] else 'off'} | "
            f"{r['ours_images_s']:,.1f} | {r['keras_images_s']:,.1f} | {r['ratio']:.3f} | "
            f"{pct(r['ours_peak_fraction'])} | {pct(r['keras_peak_fraction'])} | "
            f"{r['ours_first_call_s']:,.1f} | {r['keras_first_call_s']:,.1f} |"
        )
    return lines


def section(rows, info, batch_size, command, seconds) -> str:
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if info["kind"] == "CPU":
        where = (
            f"no GPU or TPU on this machine ({info['name']}, {os.cpu_count()} CPUs): a tiny "
            "check that the tool runs, not accelerator figures. Run it on a GPU machine for "
            "those"
        )
    else:
        peak = info["peak"]
        where = f"{info['name']}; peak TFLOP/s " + (
            f"bfloat16 {peak['mixed_bfloat16']:g}, float32 {peak['float32']:g} "
            f"({info['float32_peak']})"
            if peak
            else "unknown (not in the tool's table)"
        )
    first = next((r for r in rows if "skipped" not in r), {})
    return "\n".join(
        [
            SECTION,
            "",
            "Written by `tools/bench_accelerator.py` (it rewrites only this section).",
            "",
            f"- Date: {date}. Device: {where}. TensorFlow {tf.__version__}, Keras "
            f"{keras.__version__}. Whole run: {seconds:.0f} s.",
            f"- Command: `{command}`",
            f"- One candidate (top half of the blocks, final norm and head its own), batch "
            f"{batch_size}, random data, SGD momentum 0.9, clip-norm 1. Ours: `CandidateTrainer`, "
            f"{first.get('steps_per_call', '-')} steps per traced call; plain Keras: `compile` "
            "+ `fit` of the same layers and trainable set. Step time = (long run - short run) "
            "/ steps between. % of peak counts forward FLOPs of all components plus twice "
            "those from the lowest trainable one up. First call: the seconds of the first "
            "traced call (tracing, the XLA compile where on, and its steps), paid once per "
            "architecture.",
            "",
            *table(rows),
            "",
        ]
    )


@click.command()
@click.option(
    "--models",
    default=None,
    help=f"root@image_size, comma-separated; default {ACCELERATOR_MODELS} on a GPU, "
    f"{CPU_MODELS} on a CPU.",
)
@click.option("--batch-size", type=int, default=None, help="Default 64 (GPU), 8 (CPU).")
@click.option(
    "--precisions",
    default="mixed_bfloat16,float32",
    show_default=True,
    help="Comma-separated Keras dtype policies.",
)
@click.option("--xla", type=click.Choice(["both", "on", "off"]), default="both", show_default=True)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Length of the long run of each measurement; default 5 (GPU), 1 (CPU).",
)
@click.option(
    "--budget",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds for the whole run: rows that would not fit are skipped.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=str(REPO / "BENCHMARKS.md"),
    show_default="BENCHMARKS.md",
    help="File whose Accelerator throughput section is written.",
)
def main(models, batch_size, precisions, xla, seconds, budget, output):
    """Images/s and % of peak FLOP/s of one candidate: ours vs plain Keras fit."""
    started = time.perf_counter()
    info = device()
    accelerator = info["kind"] != "CPU"
    models = models or (ACCELERATOR_MODELS if accelerator else CPU_MODELS)
    batch_size = batch_size or (64 if accelerator else 8)
    limit = seconds or (5.0 if accelerator else 1.0)
    jit = {"both": (True, False), "on": (True,), "off": (False,)}[xla]
    rows, longest = [], {}
    for root, size, precision, use_xla in rows_to_measure(
        models, tuple(precisions.split(",")), jit
    ):
        model = f"{root}@{size}"
        left = budget - (time.perf_counter() - started)
        # A larger model than any measured costs more: guess 3x the longest row so far.
        guess = longest.get(model, 3 * max(longest.values(), default=0.0))
        row = {"model": model, "precision": precision, "xla": use_xla}
        if guess > left:
            rows.append({**row, "skipped": f"skipped: {left:.0f} s left of --budget"})
            continue
        begun = time.perf_counter()
        try:
            row = measure_row(root, size, precision, use_xla, batch_size, limit, info)
        except tf.errors.ResourceExhaustedError:
            row["skipped"] = "out of memory"
        except Exception as error:  # noqa: BLE001 - one failing row must not lose the others
            row["skipped"] = f"failed: {type(error).__name__}: {str(error)[:80]}"
        longest[model] = max(longest.get(model, 0.0), time.perf_counter() - begun)
        rows.append(row)
        print(json.dumps(row), flush=True)
        keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")
    seconds_total = time.perf_counter() - started
    script = os.path.relpath(sys.argv[0], REPO) if sys.argv[0] else "tools/bench_accelerator.py"
    command = shlex.join(["python", script, *sys.argv[1:]])
    write_section(FsPath(output), SECTION, section(rows, info, batch_size, command, seconds_total))
    for line in table(rows):
        print(line)
    print(f"wrote the '{SECTION[3:]}' section of {output}")
    summary = {"device": info["name"], "kind": info["kind"], "batch_size": batch_size}
    print(json.dumps({**summary, "seconds": round(seconds_total, 1), "rows": rows}), flush=True)


if __name__ == "__main__":
    main()
