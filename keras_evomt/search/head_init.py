"""A candidate's new head started from its frozen features instead of from zeros.

With `mutation.head_init = "ridge"`, a candidate that gets a new head (a new task, or a
parent of another task or the root) starts with a ridge classifier on what that head
reads at step 0: the class-token features of the candidate's own frozen layers, over a
seeded sample of the task's training examples. The classifier's scores become logits
times the factor of least cross-entropy on the sample's leave-one-out scores, so a fit
that only memorises its sample is not made confident. Training then adapts the body from
a head that already classifies (linear probing, then fine-tuning), where a zero head
passes no gradient to the body until it has grown. Validation examples are not used: a
candidate's quality stays a held-out measure. The fit runs where candidates are proposed
(the chief, before the proposals are committed: a resumed generation keeps its fits), a
forward pass over the sample per distinct frozen trunk (`TrunkFeatures`: a generation's
children that keep their parent's layers as they are share one).

Example:
    start_head_by_ridge(system, child, task, examples=1024, batch_size=64)
"""

from __future__ import annotations

import collections
import json
from typing import Any

import numpy as np

from keras_evomt import store
from keras_evomt.path import Path
from keras_evomt.search.probe import SAMPLE_SEED, features, ridge_fit, trunk
from keras_evomt.system import System

MAX_LOGIT_SCALE = 100.0
SMALLEST_LOGIT_SCALE = 1e-4


class TrunkFeatures:
    """The features and labels a new head reads, for the last `keep` distinct trunks
    (the layers before the head, by class, config and weights, at an image size):
    candidates whose frozen layers compute alike share one forward pass.

    Example:
        cache = TrunkFeatures()
        start_head_by_ridge(system, child, task, examples=1024, batch_size=64, cache=cache)
    """

    def __init__(self, keep: int = 4):
        self.keep = keep
        self.passes = 0  # forward passes run (for tests and logs)
        self._found: collections.OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = (
            collections.OrderedDict()
        )

    def __call__(
        self, system: System, path: Path, task: Any, examples: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The class-token features of `path`'s trunk over `examples` seeded training
        examples, and their labels: kept ones when an alike trunk was read last."""
        ids = trunk(system, path, path.task).components
        key = (
            task.name,
            path.image_size,
            examples,
            batch_size,
            tuple(_layer_key(system, cid, path.task) for cid in ids),
        )
        if key in self._found:
            self._found.move_to_end(key)
            return self._found[key]
        found = self._found[key] = _training_features(system, path, task, examples, batch_size)
        self.passes += 1
        while len(self._found) > self.keep:
            self._found.popitem(last=False)
        return found


def _layer_key(system: System, cid: str, task: str) -> tuple[str, str, str]:
    """A layer's class, config and weights digest; a layer `task` may train is hashed anew
    (a cached digest is only kept for weights that cannot change)."""
    layer = system.components[cid]
    config = json.dumps(layer.get_config(), sort_keys=True, default=str)
    own = system.is_trainable(cid, task)
    digest = store.weights_digest(layer.get_weights()) if own else store.digest(layer)
    return type(layer).__name__, config, digest


def _training_features(
    system: System, path: Path, task: Any, examples: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    batches = task.eval_dataset(
        "train",
        image_size=path.image_size,
        batch_size=batch_size,
        max_examples=examples,
        shuffle_seed=SAMPLE_SEED,
    )
    return features(system, path, batches)


def start_head_by_ridge(
    system: System,
    path: Path,
    task: Any,
    *,
    examples: int,
    batch_size: int,
    cache: TrunkFeatures | None = None,
) -> dict[str, float]:
    """Sets `path`'s head (its last component, one Dense kernel and bias) to the ridge
    classifier of its frozen features; returns what the fit measured: the examples, the
    leave-one-out accuracy and the logit scale.

    Example:
        start_head_by_ridge(system, child, task, examples=1024, batch_size=64)
        # the main job's textures from the root (seed 0):
        # {"examples": 480, "left_out_accuracy": 0.725, "logit_scale": 3.53}
    """
    read = cache or _training_features
    x, y = read(system, path, task, examples, batch_size)
    head = system.components[path.components[-1]]
    shapes = [tuple(w.shape) for w in head.get_weights()]
    if shapes != [(x.shape[1], task.num_classes), (task.num_classes,)]:
        raise ValueError(
            f"a head to fit must be one Dense kernel and bias on {x.shape[1]} features for "
            f"{task.num_classes} classes; {type(head).__name__} has weights of shapes {shapes}"
        )
    kernel, bias, left_out = ridge_fit(x, y, task.num_classes)
    scale = logit_scale(left_out, y)
    store.forget(head)  # its cached weights digest is the zero head's
    head.set_weights([(scale * kernel).astype(np.float32), (scale * bias).astype(np.float32)])
    accuracy = float(np.mean(np.argmax(left_out, 1) == y))
    return {"examples": len(y), "left_out_accuracy": accuracy, "logit_scale": scale}


def logit_scale(scores: np.ndarray, labels: np.ndarray, largest: float = MAX_LOGIT_SCALE) -> float:
    """The factor t in [`SMALLEST_LOGIT_SCALE`, `largest`] that minimises the mean
    cross-entropy of softmax(t * scores) on `labels` (convex in t: bisection on the sign
    of its derivative).

    Example:
        logit_scale(np.array([[1.0, 0.0], [0.2, 0.8]]), np.array([0, 1]))  # largest: all right
    """
    rows = np.arange(len(labels))

    def slope(t: float) -> float:
        z = t * scores
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return float(np.mean((p * scores).sum(1) - scores[rows, labels]))

    if slope(largest) <= 0:
        return largest
    low, high = np.log(min(SMALLEST_LOGIT_SCALE, largest)), np.log(largest)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if slope(float(np.exp(middle))) < 0 else (low, middle)
    return float(np.exp((low + high) / 2))
