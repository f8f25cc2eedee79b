"""Per-candidate cost of the search's trainer against plain Keras, and memory growth.

Measures, in one run on CPU (GPUs hidden, no XLA on either side):

1. Fixed cost per candidate: build + trace + first step, minus one steady step, for
   `--candidates` candidates of ONE architecture, side by side and interleaved:
   - ours: `make_candidate` from the root (clone mode freeze_bottom: blocks >= 2, the
     final norm and a new head are the candidate's own), then `CandidateTrainer.train`;
   - plain Keras: a new `PathModel` over freshly built components of the same configs and
     the same trainable set, `compile` (SGD momentum 0.9, global clip-norm 1) and `fit`.
   Same model, batch, steps, validation batches and data. The ratio compares candidates
   2.. of each side (a repeated architecture; the first pays the process's warm-up).
   Then ours again, seeded per candidate as search/loop.py does (`seed_initializers`:
   Python's and NumPy's RNGs, which Keras's initializers draw from).
2. Steady step, ours over plain Keras `fit` of the same layers, batch and trainable set,
   measured alternately: per repetition, ours trains a new candidate for `--steady-short`
   and for `--steady-long` steps (one validation round each, as the search does), then one
   compiled Keras model is fitted for the same two step counts. Each side's steady step is
   (wall of the long run - wall of the short run) / (long - short), so build, trace,
   validation and per-call set-up cancel; the ratio is the median of the paired (same
   repetition) ratios, in wall time and in the process's CPU time.
   Ours runs `steps_per_call` steps per traced call (its default on this device unless
   `--steps-per-call`); plain Keras runs `fit` as it comes (one step per call).
3. RSS of the process after 10 and after `--rss-candidates` candidates of a search-like
   loop (make candidate, train a few steps, keep the best, `system.gc`, as
   search/loop.py does), with a fresh system and trainer, unseeded and seeded.

It prints tables, rewrites only the "## Candidate cost" section of BENCHMARKS.md (figures,
machine, date, command) and prints, as its LAST line, one JSON object with at least
`fixed_cost_ratio` (ours over plain Keras), `steady_step_ratio` (ours over plain Keras) and
`rss_growth` (RSS after 50 over after 10, minus 1), without per-candidate seeding, plus
the `_seeded` figures and `steps_per_call`.
Targets: fixed_cost_ratio <= 0.1, steady_step_ratio <= 1.0 (goal 0.9), rss_growth <= 0.10.

    python tools/bench_candidates.py                 # vit_mini, 32 px, batch 32
    python tools/bench_candidates.py --root vit_tiny --no-write

Hardware, time, expected result: 2-core Xeon, no GPU, about 3-4 minutes; see the
Candidate cost section of BENCHMARKS.md for the latest figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path as FsPath

import click
import keras
import numpy as np
import tensorflow as tf
from benchmarks_md import cpu_model, write_section
from rich.console import Console
from rich.table import Table

from keras_evomt.components.base import component_from_config, config_of
from keras_evomt.path import PathModel
from keras_evomt.search.loop import seed_initializers
from keras_evomt.search.mutation import MutationOptions, make_candidate
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer
from keras_evomt.training.trainer import architecture_key

REPO = FsPath(__file__).resolve().parents[1]
SECTION = "## Candidate cost"
TASK, NUM_CLASSES, LEARNING_RATE = "bench", 10, 0.01
# One architecture: the embeddings and the bottom two blocks are shared frozen.
OPTIONS = MutationOptions(clone_mode="freeze_bottom", freeze_bottom=2)
HPARAMS = {
    "opt_lr": LEARNING_RATE,
    "opt_momentum": 0.9,
    "opt_lr_schedule": "constant",
    "opt_lr_warmup_ratio": 0.0,
}
TARGET_RATIO, TARGET_STEADY, TARGET_RSS = 0.1, 1.0, 0.10
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@dataclasses.dataclass
class Timing:
    """One candidate's clock: `build` s to build it, `first` s from start to the end of its
    first step, the durations of its later steps, and `total` s for the whole candidate."""

    build: float
    first: float
    steps: list[float]
    total: float

    @property
    def steady(self) -> float:
        later = self.steps[1:] or self.steps  # the second step can still warm up
        return statistics.median(later)

    @property
    def fixed(self) -> float:
        return self.first - self.steady


# === Data ===
def synthetic_data(image_size: int, batch_size: int, seed: int):
    """A repeating training set and two validation batches of random images."""
    rng = np.random.default_rng(seed)
    images = rng.random((16 * batch_size, image_size, image_size, 3), np.float32)
    labels = rng.integers(0, NUM_CLASSES, len(images)).astype(np.int32)
    train = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .prefetch(2)
    )
    validation = tf.data.Dataset.from_tensor_slices(
        (images[: 2 * batch_size], labels[: 2 * batch_size])
    ).batch(batch_size)
    return train, validation


def new_system(root: str, image_size: int) -> System:
    system = System.create(root, image_size=image_size)
    system.start_task(TASK)
    return system


# === One candidate, each way ===
def train_ours(system, trainer, parent, train, validation, steps, rng, seed=None):
    """A candidate the way the search makes and trains it; returns (path, Timing).

    With `seed`, first seeds the initializers as search/loop.py does per candidate
    (inside the clock).
    """
    stamps: list[float] = []

    def on_step(step, lr, loss, accuracy):
        float(loss)  # wait for the step
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    if seed is not None:
        seed_initializers(seed)
    child = make_candidate(system, parent, TASK, NUM_CLASSES, HPARAMS, rng, OPTIONS)
    built = time.perf_counter()
    trainer.train(  # a call per step (progress_every=1): each step gets a stamp
        system,
        child,
        train,
        validation,
        rounds=1,
        steps_per_round=steps,
        on_step=on_step,
        progress_every=1,
    )
    end = time.perf_counter()
    return child, Timing(built - start, stamps[0] - start, list(np.diff(stamps)), end - start)


class _StepClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.stamps: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # wait for the step, as ours does
        self.stamps.append(time.perf_counter())


def train_keras(configs, trainable, train, validation, steps):
    """A new model of the same components and trainable set, compiled and fitted."""
    start = time.perf_counter()
    model = plain_model(configs, trainable)
    built = time.perf_counter()
    compile_plain(model)
    clock = _StepClock()
    model.fit(
        train,
        epochs=1,
        steps_per_epoch=steps,
        validation_data=validation,
        callbacks=[clock],
        shuffle=False,
        verbose=0,
    )
    end = time.perf_counter()
    stamps = clock.stamps
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    return Timing(built - start, stamps[0] - start, list(np.diff(stamps)), end - start), params


def candidate_configs(system: System, path):
    ids = path.components
    comps = [system.components[cid] for cid in ids]
    return (
        [type(c) for c in comps],
        [config_of(c) for c in comps],
        [c.get_build_config() for c in comps],
    )


# === The two measurements ===
def fixed_costs(root, image_size, batch_size, steps, candidates, seed):
    """Ours and plain Keras interleaved, then ours seeded per candidate as loop.py does."""
    keras.utils.set_random_seed(seed)
    system = new_system(root, image_size)
    trainer = CandidateTrainer(jit_compile=False)
    train, validation = synthetic_data(image_size, batch_size, seed)
    rng = np.random.default_rng(seed)
    ours, plain, seeded, keys, params = [], [], [], set(), {}
    for index in range(candidates):
        child, timing = train_ours(system, trainer, system.root, train, validation, steps, rng)
        ours.append(timing)
        keys.add(architecture_key(system, child))
        trainable = [system.is_trainable(cid, TASK) for cid in child.components]
        params["ours"] = sum(w.numpy().size for w in system.model(child).trainable_variables)
        params["total"] = sum(system.params(cid) for cid in child.components)
        configs = candidate_configs(system, child)
        system.gc(keep=[])
        timing, params["keras"] = train_keras(configs, trainable, train, validation, steps)
        plain.append(timing)
        console.print(
            f"  candidate {index + 1}/{candidates}: ours fixed {ours[-1].fixed:.3f} s, "
            f"plain Keras fixed {timing.fixed:.3f} s"
        )
        gc.collect()
    for index in range(candidates):  # after the others: the seed clears their kernels too
        child, timing = train_ours(
            system, trainer, system.root, train, validation, steps, rng, seed=seed + index
        )
        seeded.append(timing)
        keys.add(architecture_key(system, child))
        system.gc(keep=[])
        console.print(
            f"  seeded candidate {index + 1}/{candidates}: ours fixed {timing.fixed:.3f} s"
        )
    if len(keys) != 1:
        raise AssertionError(f"the candidates have {len(keys)} architectures, expected 1.")
    if params["ours"] != params["keras"]:
        raise AssertionError(
            f"unfair: {params['ours']} trainable parameters in ours, "
            f"{params['keras']} in plain Keras."
        )
    return ours, plain, seeded, trainer.traces, params


def steady_steps(root, image_size, batch_size, short, long, repeats, steps_per_call, seed):
    """Seconds per steady step of ours and of plain Keras `fit`, alternately measured."""
    keras.utils.set_random_seed(seed)
    system = new_system(root, image_size)
    trainer = CandidateTrainer(jit_compile=False, steps_per_call=steps_per_call)
    train, validation = synthetic_data(image_size, batch_size, seed + 2)
    rng = np.random.default_rng(seed + 2)

    def ours(steps: int) -> float:
        child = make_candidate(system, system.root, TASK, NUM_CLASSES, HPARAMS, rng, OPTIONS)
        start = clocks()
        trainer.train(system, child, train, validation, rounds=1, steps_per_round=steps)
        seconds = clocks() - start
        system.gc(keep=[])
        return seconds

    probe = make_candidate(system, system.root, TASK, NUM_CLASSES, HPARAMS, rng, OPTIONS)
    trainable = [system.is_trainable(cid, TASK) for cid in probe.components]
    model = compile_plain(plain_model(candidate_configs(system, probe), trainable))
    system.gc(keep=[])

    def plain(steps: int) -> float:
        start = clocks()
        model.fit(train, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        return clocks() - start

    ours(short), plain(short)  # warm-up: traces
    series: dict[str, list[float]] = {"ours": [], "keras": [], "ours_cpu": [], "keras_cpu": []}
    for index in range(repeats):
        for name, run in (("ours", ours), ("keras", plain))[:: 1 if index % 2 else -1]:
            short_s, long_s = run(short), run(long)
            wall, cpu = ((long_s - short_s) / (long - short)).tolist()
            series[name].append(wall)
            series[f"{name}_cpu"].append(cpu)
        console.print(
            f"  repetition {index + 1}/{repeats}: ours {series['ours'][-1] * 1e3:.2f} ms, "
            f"plain Keras {series['keras'][-1] * 1e3:.2f} ms per step (wall); CPU time "
            f"{series['ours_cpu'][-1] * 1e3:.2f} and {series['keras_cpu'][-1] * 1e3:.2f} ms"
        )
    return series, trainer.steps_per_call, trainer.traces


def clocks() -> np.ndarray:
    """Wall time and this process's CPU time (all threads), in seconds."""
    return np.array([time.perf_counter(), time.process_time()])


def plain_model(configs, trainable) -> PathModel:
    """A new model of fresh components of the same configs and trainable set."""
    components = []
    for cls, config, build_config, own in zip(*configs, trainable, strict=True):
        component = component_from_config(cls, config)
        component.build_from_config(build_config)
        component.trainable = own
        components.append(component)
    return PathModel(components, name="plain_keras")


def compile_plain(model: PathModel) -> PathModel:
    """Keras's SGD with momentum 0.9 and global clip-norm 1, as ours; no XLA."""
    model.compile(
        optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9, global_clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
    )
    return model


def rss_growth(root, image_size, batch_size, steps, candidates, every, seed, *, seeded):
    """RSS after every `every` candidates of a search-like loop (fresh system, trainer).

    `seeded`: seed the initializers per candidate as search/loop.py does.
    """
    gc.collect()
    system = new_system(root, image_size)
    trainer = CandidateTrainer(jit_compile=False)
    train, validation = synthetic_data(image_size, batch_size, seed + 1)
    rng = np.random.default_rng(seed + 1)
    best, best_quality, samples = None, -1.0, {}
    for index in range(1, candidates + 1):
        if seeded:
            seed_initializers(seed + index)
        parent = best or system.root
        child = make_candidate(system, parent, TASK, NUM_CLASSES, HPARAMS, rng, OPTIONS)
        result = trainer.train(system, child, train, validation, rounds=1, steps_per_round=steps)
        if result.quality > best_quality:
            best, best_quality = child, result.quality
        system.gc(keep=[best])
        del child, result
        if index % every == 0:
            gc.collect()
            samples[index] = rss_mib()
            console.print(
                f"  {'seeded' if seeded else 'unseeded'} loop, {index}/{candidates} "
                f"candidates: RSS {samples[index]:.1f} MiB"
            )
    return samples, trainer.traces


def rss_mib() -> float:
    """Resident set size of this process in MiB (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024
    return psutil.Process().memory_info().rss / 2**20


# === Report ===
def machine() -> dict[str, str]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": str(cores),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def mean(values: list[float]) -> float:
    return float(statistics.fmean(values))


def rss_figures(samples: dict[int, float], first: int) -> tuple[int, int, float, float]:
    """(from, to, growth, KiB per candidate) between `first` and the last sample."""
    counts = sorted(samples)
    first = first if first in samples else counts[0]
    last = counts[-1]
    growth = samples[last] / samples[first] - 1
    return first, last, growth, (samples[last] - samples[first]) * 1024 / max(1, last - first)


def summary(timings, samples, traces, params, options) -> dict:
    """The JSON figures. Repeated architecture: candidates 2.. of ours and plain Keras, all
    seeded ones (the seeded run comes after the others, so its first is a repeat too)."""
    ours, plain, seeded = timings["ours"][1:], timings["keras"][1:], timings["seeded"]
    plain_fixed = mean([t.fixed for t in plain])
    result = {
        "fixed_cost_ratio": round(mean([t.fixed for t in ours]) / plain_fixed, 4),
        "fixed_cost_ratio_seeded": round(mean([t.fixed for t in seeded]) / plain_fixed, 4),
    }
    first, last, growth, per = rss_figures(samples["unseeded"], options["rss_first"])
    _, _, growth_seeded, per_seeded = rss_figures(samples["seeded"], options["rss_first"])
    result.update(
        {
            "rss_growth": round(growth, 4),
            "rss_growth_seeded": round(growth_seeded, 4),
            "rss_kib_per_candidate": round(per, 1),
            "rss_kib_per_candidate_seeded": round(per_seeded, 1),
            f"rss_mib_after_{first}": round(samples["unseeded"][first], 1),
            f"rss_mib_after_{last}": round(samples["unseeded"][last], 1),
            "rss_from": first,
            "rss_to": last,
        }
    )
    for name, series in (("ours", ours), ("ours_seeded", seeded), ("keras", plain)):
        result[f"{name}_fixed_s"] = round(mean([t.fixed for t in series]), 4)
        result[f"{name}_steady_step_s"] = round(mean([t.steady for t in series]), 4)
        result[f"{name}_candidate_s"] = round(mean([t.total for t in series]), 4)
    steady = timings["steady"]
    paired = [a / b for a, b in zip(steady["ours"], steady["keras"], strict=True)]
    paired_cpu = [a / b for a, b in zip(steady["ours_cpu"], steady["keras_cpu"], strict=True)]
    result.update(
        {
            "steady_step_ratio": round(statistics.median(paired), 4),
            "steady_step_ratio_cpu_time": round(statistics.median(paired_cpu), 4),
            "ours_loop_step_s": round(statistics.median(steady["ours"]), 5),
            "keras_fit_step_s": round(statistics.median(steady["keras"]), 5),
            "ours_loop_step_cpu_s": round(statistics.median(steady["ours_cpu"]), 5),
            "keras_fit_step_cpu_s": round(statistics.median(steady["keras_cpu"]), 5),
            "steady_step_ratios": [round(v, 4) for v in paired],
            "steps_per_call": options["steps_per_call"],
            "steady_short": options["steady_short"],
            "steady_long": options["steady_long"],
        }
    )
    result["ours_first_candidate_fixed_s"] = round(timings["ours"][0].fixed, 4)
    result["keras_first_candidate_fixed_s"] = round(timings["keras"][0].fixed, 4)
    checks = {
        "fixed_cost": result["fixed_cost_ratio"],
        "rss": result["rss_growth"],
        "fixed_cost_seeded": result["fixed_cost_ratio_seeded"],
        "rss_seeded": result["rss_growth_seeded"],
        "steady_step": result["steady_step_ratio"],
    }
    limits = {"rss": TARGET_RSS, "steady": TARGET_STEADY, "fixed": TARGET_RATIO}
    result["targets_met"] = {
        name: bool(value <= limits[name.split("_")[0]]) for name, value in checks.items()
    }
    result.update(traces)
    result.update(
        {
            "root": options["root"],
            "image_size": options["image_size"],
            "batch_size": options["batch_size"],
            "steps": options["steps"],
            "rss_steps": options["rss_steps"],
            "candidates": len(timings["ours"]),
            "trainable_params": params["ours"],
            "path_params": params["total"],
        }
    )
    return result


def _verdict(met: bool, markdown: bool = False) -> str:
    return "met" if met else ("**missed**" if markdown else "MISSED")


def headline(result: dict, markdown: bool = False) -> list[str]:
    """The four target lines: fixed cost and RSS, without and with per-candidate seeding."""
    r, met, b = result, result["targets_met"], "**" if markdown else ""
    return [
        f"{b}fixed_cost_ratio = {r['fixed_cost_ratio']:.4f}{b} (ours {r['ours_fixed_s']:.3f} s "
        f"over plain Keras {r['keras_fixed_s']:.3f} s; target <= {TARGET_RATIO}: "
        f"{_verdict(met['fixed_cost'], markdown)}).",
        f"fixed_cost_ratio_seeded = {r['fixed_cost_ratio_seeded']:.4f} (ours seeded per "
        f"candidate as search/loop.py does, {r['ours_seeded_fixed_s']:.3f} s; "
        f"{_verdict(met['fixed_cost_seeded'], markdown)}).",
        f"{b}rss_growth = {r['rss_growth']:.4f}{b} ({r['rss_from']} -> {r['rss_to']} candidates, "
        f"{r['rss_kib_per_candidate']:.0f} KiB per candidate; target <= {TARGET_RSS}: "
        f"{_verdict(met['rss'], markdown)}).",
        f"rss_growth_seeded = {r['rss_growth_seeded']:.4f} "
        f"({r['rss_kib_per_candidate_seeded']:.0f} KiB per candidate; "
        f"{_verdict(met['rss_seeded'], markdown)}).",
        f"{b}steady_step_ratio = {r['steady_step_ratio']:.3f}{b} (median of the paired ratios; "
        f"medians ours {r['ours_loop_step_s'] * 1e3:.2f} ms, {r['steps_per_call']} steps per "
        f"call, plain Keras fit {r['keras_fit_step_s'] * 1e3:.2f} ms per step; target <= "
        f"{TARGET_STEADY} (goal 0.9): {_verdict(met['steady_step'], markdown)}). In CPU time "
        f"of the process: {r['steady_step_ratio_cpu_time']:.3f} "
        f"({r['ours_loop_step_cpu_s'] * 1e3:.2f} over {r['keras_fit_step_cpu_s'] * 1e3:.2f} ms).",
    ]


def candidate_rows(timings) -> list[tuple[str, ...]]:
    rows = []
    for index, (a, s, b) in enumerate(
        zip(timings["ours"], timings["seeded"], timings["keras"], strict=True), 1
    ):
        values = (a.build, a.first, a.steady, a.fixed, s.fixed, b.build, b.first, b.steady, b.fixed)
        rows.append((str(index), *(f"{v:.3f}" for v in values)))
    return rows


CANDIDATE_HEADERS = (
    "cand",
    "ours build",
    "ours first",
    "ours step",
    "ours fixed",
    "seeded fixed",
    "Keras build",
    "Keras first",
    "Keras step",
    "Keras fixed",
)


def print_tables(timings, samples, result) -> None:
    table = Table(
        title="Per candidate (s); fixed = build + trace + first step - steady step",
        title_justify="left",
    )
    for header in CANDIDATE_HEADERS:
        table.add_column(header, justify="right")
    for row in candidate_rows(timings):
        table.add_row(*row)
    console.print(table)
    rss = Table(title="RSS (MiB) of the search-like loop", title_justify="left")
    rss.add_column("loop")
    counts = sorted(samples["unseeded"])
    for count in counts:
        rss.add_column(str(count), justify="right")
    for name, values in samples.items():
        rss.add_row(name, *(f"{values[c]:.1f}" for c in counts))
    console.print(rss)
    for line in headline(result):
        console.print(line)


def section(timings, samples, result, info, command, seconds) -> str:
    """The markdown of the "## Candidate cost" section."""
    r = result
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        "Written by `tools/bench_candidates.py` (rerun it to refresh; it rewrites only this "
        "section).",
        "",
        f"- Date: {date}. Machine: {info['nproc']} CPUs (`nproc`), {info['cpu']}; no GPU, no "
        f"XLA. Python {info['python']}, TensorFlow {info['tensorflow']}, Keras "
        f"{info['keras']}. Whole run: {seconds:.0f} s.",
        f"- Command: `{command}`",
        f"- Setup: `{r['root']}` at {r['image_size']} px ({r['path_params']:,} parameters per "
        f"path, {r['trainable_params']:,} trainable), batch {r['batch_size']}, {r['steps']} "
        "steps and 2 validation batches per candidate, SGD momentum 0.9, clip-norm 1, "
        "random data. Candidates come from the root and clone blocks >= 2, the final norm and "
        "a new head: one architecture key. Plain Keras builds a new `PathModel` over fresh "
        "components of the same configs and trainable set, then `compile` + `fit`; it and "
        "ours alternate candidate by candidate. *Seeded* = ours again, seeding the "
        "initializers per candidate as `search/loop.py` does (`seed_initializers`).",
        "- Fixed cost = build + trace + first step, minus that candidate's median later step, "
        "averaged over a repeated architecture (candidates 2.. of ours and plain Keras, all "
        "seeded ones).",
        "",
        "| | ours (CandidateTrainer) | ours, seeded per candidate | plain Keras (compile + fit) |",
        "|---|---:|---:|---:|",
        f"| fixed cost per candidate, repeated architecture | {r['ours_fixed_s']:.3f} s | "
        f"{r['ours_seeded_fixed_s']:.3f} s | {r['keras_fixed_s']:.3f} s |",
        f"| fixed cost of the first candidate | {r['ours_first_candidate_fixed_s']:.3f} s | - | "
        f"{r['keras_first_candidate_fixed_s']:.3f} s |",
        f"| step, one per call (fixed-cost run) | {r['ours_steady_step_s']:.4f} s | "
        f"{r['ours_seeded_steady_step_s']:.4f} s | {r['keras_steady_step_s']:.4f} s |",
        f"| wall per candidate ({r['steps']} steps + validation) | {r['ours_candidate_s']:.3f} s "
        f"| {r['ours_seeded_candidate_s']:.3f} s | {r['keras_candidate_s']:.3f} s |",
        f"| traces of the train step | {r['traces']} for all | (same trainer) | one per "
        "candidate |",
        "",
        *[f"- {line}" for line in headline(result, markdown=True)[:2]],
        "",
        "Steady step, measured alternately (ours, then plain Keras, then the other way round): "
        f"each side trains {r['steady_short']} and {r['steady_long']} steps with the same batch "
        "and trainable set; steady step = (wall of the long run - wall of the short run) / "
        f"{r['steady_long'] - r['steady_short']}. Ours: a new candidate per run, one validation "
        f"round, {r['steps_per_call']} steps per traced call; plain "
        "Keras: one compiled model, `fit` as it comes (one step per call). Wall-time ratios "
        f"per repetition: {', '.join(f'{v:.3f}' for v in r['steady_step_ratios'])} (the "
        "machine is shared: the spread is other work; CPU time is steadier).",
        "",
        f"- {headline(result, markdown=True)[4]}",
        "",
        "Per candidate (seconds; the fixed-cost run calls one step at a time, so that each "
        "step gets a stamp):",
        "",
        "| " + " | ".join(CANDIDATE_HEADERS) + " |",
        "|" + "---:|" * len(CANDIDATE_HEADERS),
        *["| " + " | ".join(row) + " |" for row in candidate_rows(timings)],
        "",
        "RSS (MiB, after `gc.collect()`) of a search-like loop with a fresh system and trainer "
        f"per loop; per candidate: make_candidate, a {r['rss_steps']}-step train, keep the best, "
        "`system.gc`. *seeded* adds the per-candidate seeding of `search/loop.py`.",
        "",
        "| loop | " + " | ".join(str(c) for c in sorted(samples["unseeded"])) + " |",
        "|---|" + "---:|" * len(samples["unseeded"]),
        *[
            "| " + name + " | " + " | ".join(f"{v[c]:.1f}" for c in sorted(v)) + " |"
            for name, v in samples.items()
        ],
        "",
        *[f"- {line}" for line in headline(result, markdown=True)[2:4]],
        f"- Train-step traces: {r['rss_loop_traces']} (unseeded loop), "
        f"{r['rss_loop_traces_seeded']} (seeded loop).",
        "",
    ]
    return "\n".join(lines)


@click.command()
@click.option(
    "--root",
    type=click.Choice(["vit_tiny", "vit_mini"]),
    default="vit_mini",
    show_default=True,
    help="Named ViT root of the candidates.",
)
@click.option("--image-size", type=int, default=32, show_default=True)
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option(
    "--steps",
    type=int,
    default=10,
    show_default=True,
    help="Training steps per candidate in the fixed-cost comparison.",
)
@click.option(
    "--candidates",
    type=int,
    default=10,
    show_default=True,
    help="Candidates of one architecture per side in the fixed-cost comparison.",
)
@click.option(
    "--rss-candidates",
    type=int,
    default=50,
    show_default=True,
    help="Candidates of the search-like loop for RSS.",
)
@click.option(
    "--rss-first",
    type=int,
    default=10,
    show_default=True,
    help="RSS growth is measured from this many candidates on.",
)
@click.option(
    "--rss-steps",
    type=int,
    default=4,
    show_default=True,
    help="Training steps per candidate in the RSS loop.",
)
@click.option(
    "--steady-short",
    type=int,
    default=20,
    show_default=True,
    help="Steps of the short run of the steady-step comparison.",
)
@click.option(
    "--steady-long",
    type=int,
    default=120,
    show_default=True,
    help="Steps of the long run of the steady-step comparison.",
)
@click.option(
    "--steady-repeats",
    type=int,
    default=7,
    show_default=True,
    help="Alternating repetitions of the steady-step comparison.",
)
@click.option(
    "--steps-per-call",
    type=int,
    default=0,
    show_default=True,
    help="Our steps per traced call; 0: the trainer's default for this device.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--benchmarks",
    type=click.Path(dir_okay=False),
    default=str(REPO / "BENCHMARKS.md"),
    show_default="BENCHMARKS.md",
    help="File whose Candidate cost section is written.",
)
@click.option(
    "--write/--no-write",
    default=True,
    show_default=True,
    help="Write the figures into --benchmarks.",
)
def main(
    root,
    image_size,
    batch_size,
    steps,
    candidates,
    rss_candidates,
    rss_first,
    rss_steps,
    steady_short,
    steady_long,
    steady_repeats,
    steps_per_call,
    seed,
    benchmarks,
    write,
):
    """Compares the per-candidate fixed cost and memory growth of our trainer with Keras."""
    if steady_long <= steady_short or steady_short < 1 or steady_repeats < 1:
        raise click.UsageError(
            "need --steady-long > --steady-short >= 1 and --steady-repeats >= 1. Received: "
            f"steady_short={steady_short}, steady_long={steady_long}, "
            f"steady_repeats={steady_repeats}"
        )
    if steps < 3 or candidates < 2 or rss_candidates <= rss_first or rss_first < 1:
        raise click.UsageError(
            "need --steps >= 3, --candidates >= 2 and "
            f"--rss-candidates > --rss-first >= 1. Received: steps={steps}, "
            f"candidates={candidates}, rss_candidates={rss_candidates}, "
            f"rss_first={rss_first}"
        )
    tf.config.set_visible_devices([], "GPU")  # CPU only, before any op
    started = time.perf_counter()
    console.print(
        f"[1/4] fixed cost: {candidates} candidates each, ours and plain Keras, then "
        "ours seeded per candidate"
    )
    ours, plain, seeded, traces, params = fixed_costs(
        root, image_size, batch_size, steps, candidates, seed
    )
    console.print(
        f"[2/4] steady step: {steady_repeats} x ({steady_short} and {steady_long} steps), "
        "ours and plain Keras fit alternately"
    )
    steady, used_steps_per_call, steady_traces = steady_steps(
        root,
        image_size,
        batch_size,
        steady_short,
        steady_long,
        steady_repeats,
        steps_per_call or None,
        seed,
    )
    timings = {"ours": ours, "seeded": seeded, "keras": plain, "steady": steady}
    every = rss_first if rss_candidates % rss_first == 0 else 1
    samples, counts = {}, {"traces": traces, "steady_traces": steady_traces}
    for step, name in ((3, "unseeded"), (4, "seeded")):
        console.print(f"[{step}/4] RSS: {rss_candidates} candidates of a search-like loop, {name}")
        samples[name], loop_traces = rss_growth(
            root,
            image_size,
            batch_size,
            rss_steps,
            rss_candidates,
            every,
            seed,
            seeded=name == "seeded",
        )
        counts["rss_loop_traces" + ("_seeded" if name == "seeded" else "")] = loop_traces
    seconds = time.perf_counter() - started
    options = {
        "root": root,
        "image_size": image_size,
        "batch_size": batch_size,
        "steps": steps,
        "rss_steps": rss_steps,
        "rss_first": rss_first,
        "steps_per_call": used_steps_per_call,
        "steady_short": steady_short,
        "steady_long": steady_long,
    }
    result = summary(timings, samples, counts, params, options)
    info = machine()
    result.update(seconds=round(seconds, 1), nproc=int(info["nproc"]), cpu=info["cpu"])
    print_tables(timings, samples, result)
    if write:
        script = os.path.relpath(sys.argv[0], REPO) if sys.argv[0] else "tools/bench_candidates.py"
        command = shlex.join(["python", script, *sys.argv[1:]])
        write_section(
            FsPath(benchmarks), SECTION, section(timings, samples, result, info, command, seconds)
        )
        console.print(f"wrote the '{SECTION[3:]}' section of {benchmarks}")
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
