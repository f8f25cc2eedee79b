"""Shared test helpers: tiny systems, digits data, a plain training loop, subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path as FsPath

import keras
import numpy as np

from keras_evomt.path import Path
from keras_evomt.system import System

IMAGE_SIZE = 32
REPO = FsPath(__file__).resolve().parent.parent  # the checkout these tests belong to
RECIPES = REPO / "recipes"


def load_tool(name: str):
    """The script `name` of the tools folder as a module, imported as running it would
    import it (the tools folder on sys.path while it loads, for `benchmarks_md`).

    Example:
        bench = load_tool("bench_input")
    """
    import importlib.util

    tools = str(REPO / "tools")
    spec = importlib.util.spec_from_file_location(name, os.path.join(tools, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, tools)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(tools)
    return module


def child_env(**changes: str) -> dict[str, str]:
    """The environment for a subprocess: it imports keras_evomt (and `tests`) from this
    checkout whatever its working directory, and TensorFlow stays quiet."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, **changes)


def digits(n: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn digits as (n, 32, 32, 3) float32 images in [-1, 1] and int labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(seed).permutation(len(data.images))[:n]
    images = data.images[order] / 16.0 * 2.0 - 1.0
    images = np.kron(images, np.ones((4, 4)))[..., None].repeat(3, axis=-1)
    return images.astype("float32"), data.target[order].astype("int32")


def digits_datasets(n: int = 64):
    """(train, validation) of `n` digits: repeating batches of 16, and batches of 24 (a
    partial last one)."""
    import tensorflow as tf

    x, y = digits(n)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
    return train, tf.data.Dataset.from_tensor_slices((x, y)).batch(24)


def tiny_system(root: str = "vit_tiny") -> System:
    keras.utils.set_random_seed(0)
    return System.create(root, image_size=IMAGE_SIZE)


def train(
    system: System, path: Path, x: np.ndarray, y: np.ndarray, steps: int = 5, lr: float = 0.05
) -> None:
    """Plain Keras SGD on the path's trainable variables (as the model reports them)."""
    model = system.model(path)
    optimizer = keras.optimizers.SGD(lr, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    import tensorflow as tf

    for step in range(steps):
        batch = slice(step * 32 % len(x), step * 32 % len(x) + 32)
        with tf.GradientTape() as tape:
            loss = loss_fn(y[batch], model(x[batch]))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))


def weights_of(system: System, path: Path) -> list[np.ndarray]:
    return [w.copy() for cid in path.components for w in system.components[cid].get_weights()]


def run_python(code: str, timeout: int = 120, check: bool = True, cwd=None) -> dict:
    """Runs `code` in a new Python process (in `cwd`, else the temporary folder, never
    the caller's directory); its last stdout line must be JSON."""
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd or tempfile.gettempdir(),
    )
    if check and result.returncode != 0:
        raise AssertionError(f"child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def tiny_search_config(tasks=("digits", "textures"), **changes):
    """A seconds-long search on offline data with the tiny ViT."""
    from keras_evomt.search import default_config

    config = default_config()
    config.tasks = list(tasks)
    config.root.name, config.root.image_size, config.root.patch_size = "vit_tiny", 32, 8
    config.generations, config.candidates_per_generation = 1, 2
    config.validations, config.steps_per_validation = 2, 3
    config.batch_size, config.validation_examples = 32, 64
    config.defaults.opt_lr = 0.05
    config.training.deterministic = True
    for key, value in changes.items():
        section, _, leaf = key.rpartition("__")
        (config[section] if section else config)[leaf] = value
    return config


SEVERAL_TASKS = {"a": 10, "dsprites/label_x_position": 7, "c": 5}


def several_tasks_system(root: str = "vit_tiny") -> System:
    """Tasks sharing the root's lower layers: 'a' the whole root; the others their own top
    block (so their paths part after block 0), own norms, random heads."""
    system = tiny_system(root)
    rng = np.random.default_rng(0)
    for task, num_classes in SEVERAL_TASKS.items():
        system.start_task(task)
        path = system.new_task_path(task, num_classes)
        if task != "a":
            top = len(path.components) - 3  # the last encoder block
            path.components[top] = system.clone(path.components[top])
            block = system.components[path.components[top]]
            block.set_weights([w + rng.normal(0, 0.1, w.shape) for w in block.get_weights()])
        head = system.components[path.components[-1]]
        head.set_weights([rng.normal(0, 1, w.shape).astype("float32") for w in head.weights])
        path.id, path.metrics = f"{task}#0", {"validation_accuracy": 0.5}
        system.end_task(path)
    return system


def kill_mid_generation_and_resume(code: str, workdir, task: str, timeout: int = 300) -> None:
    """Runs `code` (a search over `workdir`) in a new process, SIGKILLs that process (and
    anything it started in its session) once a candidate of `task` is trained and
    committed but its generation not concluded, then reruns `code` to the end."""
    import signal
    import time

    state = FsPath(workdir) / "search" / "state.json"
    cwd, env = FsPath(workdir).parent, child_env()
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, cwd=cwd, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline and child.poll() is None:
        try:
            population = json.loads(state.read_text()).get("population") or {}
        except (OSError, ValueError):
            population = {}
        if population.get("candidate", 0) >= 1 and population.get("task") == task:
            break  # mid-generation: proposed, one candidate trained, none concluded
        time.sleep(0.05)
    assert child.poll() is None, "the search ended before it could be killed"
    os.killpg(child.pid, signal.SIGKILL)  # the search and what it started (a local Ray)
    child.wait()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout, cwd=cwd, env=env)
