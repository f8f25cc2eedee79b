"""Throughput of the training input pipeline, written into BENCHMARKS.md.

Measures examples/s of `Task.train_dataset` (decode, inception crop, flip, colour jitter,
resize, batch) at the reference image size (384) and batch (64), on offline data, for
three augmentation settings: none, the defaults (crop + flip) and every ds_* delta on.
The "## Input pipeline" section of BENCHMARKS.md is replaced (or appended) with the
results and the exact command; other sections are left alone.

Usage:
    python tools/bench_input.py                      # digits and fashion_mnist
    python tools/bench_input.py --task digits --batches 20 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time

from benchmarks_md import write_section

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SECTION = "## Input pipeline"
SETTINGS = {
    "none": {"ds_crop": False, "ds_flip_left_right": False},
    "default (crop + flip)": {},
    "all (crop, flip, 4 x jitter 0.1)": {
        "ds_brightness_delta": 0.1,
        "ds_contrast_delta": 0.1,
        "ds_saturation_delta": 0.1,
        "ds_hue_delta": 0.1,
    },
}


def measure(
    task, hparams: dict, image_size: int, batch_size: int, batches: int, warmup: int, repeats: int
) -> float:
    """Examples/s: the best of `repeats` windows of `batches` batches, after `warmup`
    batches (tracing, cache fill). The best window is the least disturbed by other work."""
    from keras_evomt.data import DATA_HPARAM_DEFAULTS

    ds = task.train_dataset(
        dict(DATA_HPARAM_DEFAULTS, **hparams), image_size=image_size, batch_size=batch_size, seed=0
    )
    iterator = iter(ds)
    for _ in range(warmup):
        next(iterator)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            images, _ = next(iterator)
        images.numpy()
        rates.append(batches * batch_size / (time.perf_counter() - start))
    return max(rates)


def section_text(rows: list[tuple], command: str) -> str:
    import tensorflow as tf

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        SECTION,
        "",
        "Throughput of the training pipeline (`Task.train_dataset`: decode, augment, resize,",
        "batch), examples/s on the CPU of the machine that ran it: the best of several",
        "windows of batches, after warm-up batches (tracing, cache fill).",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average {load}",
        "(other work on the machine lowers the figures); "
        f"TensorFlow {tf.__version__}; {datetime.date.today().isoformat()}.",
        "",
        "| task | image size | batch | augmentation | examples/s |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {t} | {s} | {b} | {a} | {e:,.0f} |" for t, s, b, a, e in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", nargs="+", default=["digits", "fashion_mnist"])
    parser.add_argument("--image-size", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20, help="batches per window")
    parser.add_argument("--repeats", type=int, default=3, help="windows; the best counts")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (fashion_mnist)")
    parser.add_argument("--output", default="BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="only print the results")
    args = parser.parse_args(argv)

    from keras_evomt.data import get_task

    rows = []
    for name in args.task:
        task = get_task(name, data_dir=args.data_dir)
        for label, hparams in SETTINGS.items():
            rate = measure(
                task,
                hparams,
                args.image_size,
                args.batch_size,
                args.batches,
                args.warmup,
                args.repeats,
            )
            rows.append((name, args.image_size, args.batch_size, label, rate))
            print(f"{name:14s} {label:34s} {rate:10,.0f} examples/s", flush=True)
    given = argv if argv is not None else sys.argv[1:]
    command = f"python tools/bench_input.py {shlex.join(given)}".strip()
    text = section_text(rows, command)
    if not args.no_write:
        write_section(args.output, SECTION, text)
        print(f"wrote the '{SECTION}' section of {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
