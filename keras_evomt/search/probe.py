"""Source probes: how well each possible source's frozen features fit a new task, measured
without a training step.

A probe runs a source path (another task's path, or the root) without its head over
seeded samples of the new task's training and validation examples, fits a ridge
classifier on the training sample's class-token features in closed form, and scores it
on the validation sample (`estimate="holdout"`), or on both samples, each example left
out of the fit in turn (`estimate="leave_one_out"`: exact, and as cheap as one fit;
every example counts where a small validation set can put most sources at 100%). Sources
rank by the score a candidate keeping the source's layers would get (the probe's
accuracy times the search's size term, see `probe_sources`), then by the squared error
of the probe's one-hot predictions. With `parents.seed_order = "probe"` a task iteration
orders its seeds so, and its first generation starts from the best-ranked sources
(search/loop.py).

Example:
    probes = probe_sources(system, [system.root, system.paths["digits"]], task,
                           train_examples=1024, validation_examples=512, batch_size=64)
    [p.source for p in probes]  # best first, e.g. ['digits#5', 'root']
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from keras_evomt.components import base
from keras_evomt.path import Path
from keras_evomt.system import System

SAMPLE_SEED = 0  # the examples sampled: the same for every source, so probes compare alike
RIDGE_L2 = 0.01  # per example, on standardised features


@dataclasses.dataclass(frozen=True)
class SourceProbe:
    """One source's probe on a task: accuracy and squared error of a ridge classifier on
    its frozen features (on validation examples, or left out in turn: `estimate`), the
    score that ranks it, and the examples used.

    Example:
        SourceProbe("digits#5", 0.82, 0.41, 0.78, 1.3, 32, 1024, 96).rank_key()  # (-0.78, 0.41)
    """

    source: str
    accuracy: float
    loss: float
    score: float
    seconds: float
    image_size: int
    train_examples: int
    validation_examples: int
    estimate: str = "holdout"

    def rank_key(self) -> tuple[float, float]:
        return (-self.score, self.loss)

    def record(self, task: str, generation: int, rank: int) -> dict[str, Any]:
        """The probe's line of search/candidates.jsonl (`probe: true`; no training step)."""
        return {
            "task": task,
            "generation": generation,
            "probe": True,
            "rank": rank,
            "parent": self.source,
            "quality": self.accuracy,
            "probe_loss": self.loss,
            "score": self.score,
            "probe_examples": self.train_examples,
            "probe_validation_examples": self.validation_examples,
            "probe_estimate": self.estimate,
            "image_size": self.image_size,
            "seconds": self.seconds,
            "steps": 0,
        }


def probe_sources(
    system: System,
    sources: Sequence[Path],
    task: Any,
    *,
    train_examples: int,
    validation_examples: int,
    batch_size: int,
    score: Callable[[float, Path], float] | None = None,
    estimate: str = "holdout",
) -> list[SourceProbe]:
    """Probes every source on `task`; returns them best first (ties keep `sources`' order).

    Each probe fits on a seeded sample of `train_examples` training examples and is
    scored on a seeded sample of `validation_examples` validation examples, the same for
    every source; with `estimate="leave_one_out"` it is scored on both samples instead,
    each example predicted by the fit on all the others. `score(accuracy, trunk)` ranks
    a probe, `trunk` being the source's path without its head as `task`'s: the search
    passes its scorer, so a source whose layers more tasks share ranks above an equally
    accurate one that would charge the task more parameters. Without it, the accuracy
    ranks. Sources running the same layers are probed once.

    Example:
        probe_sources(system, [system.root], task, train_examples=1024,
                      validation_examples=512, batch_size=64)[0].accuracy
    """
    fits: dict[tuple, tuple[float, float, int, int]] = {}  # per distinct trunk
    probes = []
    for source in sources:
        started = time.perf_counter()
        body = trunk(system, source, task.name)
        layers = (tuple(body.components), source.image_size)
        if layers not in fits:
            x_train, y_train = features(
                system, source, _sample(task, "train", source, train_examples, batch_size)
            )
            x_val, y_val = features(
                system, source, _sample(task, "validation", source, validation_examples, batch_size)
            )
            if estimate == "leave_one_out":
                x_all, y_all = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
                fit = ridge_leave_one_out(x_all, y_all, task.num_classes)
            elif estimate == "holdout":
                fit = ridge_fit_score(x_train, y_train, x_val, y_val, task.num_classes)
            else:
                raise ValueError(f"estimate must be 'holdout' or 'leave_one_out': {estimate!r}")
            fits[layers] = (*fit, len(y_train), len(y_val))
        accuracy, loss, n_train, n_val = fits[layers]
        ranked = score(accuracy, body) if score else accuracy
        seconds = time.perf_counter() - started
        probes.append(
            SourceProbe(
                source=source.id,
                accuracy=accuracy,
                loss=loss,
                score=ranked,
                seconds=seconds,
                image_size=source.image_size,
                train_examples=n_train,
                validation_examples=n_val,
                estimate=estimate,
            )
        )
    return sorted(probes, key=SourceProbe.rank_key)


def _sample(task: Any, split: str, source: Path, examples: int, batch_size: int):
    return task.eval_dataset(
        split,
        image_size=source.image_size,
        batch_size=batch_size,
        max_examples=examples,
        shuffle_seed=SAMPLE_SEED,
    )


def trunk(system: System, source: Path, task: str) -> Path:
    """`source` without its head, as a path of `task` (for the parameters it would charge)."""
    components = [c for c in source.components if system.components[c].role != base.HEAD]
    return Path.from_json({**source.to_json(), "task": task, "components": components})


def features(system: System, path: Path, batches) -> tuple[np.ndarray, np.ndarray]:
    """The class-token features of `path` without its head, and the labels, of `batches`."""
    from keras_evomt.path_model import PathModel

    model = PathModel([system.components[c] for c in trunk(system, path, path.task).components])
    found, labels = [], []
    for images, batch_labels in batches:  # eager: on CPU cheaper than tracing per source
        out = np.asarray(model(images, training=False))
        found.append(out[:, 0] if out.ndim == 3 else out.reshape(len(out), -1))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(found).astype(np.float64), np.concatenate(labels).astype(np.int64)


def ridge_fit_score(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    num_classes: int,
    l2: float = RIDGE_L2,
) -> tuple[float, float]:
    """Fits one-hot targets by ridge regression; returns validation (accuracy, mean
    squared error).

    Example:
        ridge_fit_score(x, y, x, y, num_classes=2)  # (1.0, 0.02) for separable x
    """
    design_of = _design_standardised_on(x_train)
    design = design_of(x_train)
    weights = np.linalg.solve(_gram(design, l2), design.T @ np.eye(num_classes)[y_train])
    return _accuracy_and_loss(design_of(x_val) @ weights, y_val, num_classes)


def ridge_fit(
    x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = RIDGE_L2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ridge fit of one-hot targets (as `ridge_fit_score`'s, the features standardised
    over all of `x`) from one Gram matrix: its kernel and bias on the raw features
    (predictions are `x @ kernel + bias`), and each example's prediction by the fit on all
    the others, in closed form: (prediction_i - h_ii * target_i) / (1 - h_ii), h the fit's
    hat matrix.

    Example:
        kernel, bias, left_out = ridge_fit(x, y, num_classes=3)  # (d, 3), (3,), (n, 3)
    """
    mean, scale = _mean_and_scale(x)
    design = _design_standardised_on(x)(x)
    targets = np.eye(num_classes)[y]
    inverse = np.linalg.inv(_gram(design, l2))
    weights = inverse @ (design.T @ targets)
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)[:, None]
    left_out = (design @ weights - leverage * targets) / (1.0 - leverage)
    kernel = weights[:-1] / scale[:, None]
    return kernel, weights[-1] - mean @ kernel, left_out


def ridge_leave_one_out(
    x: np.ndarray, y: np.ndarray, num_classes: int, l2: float = RIDGE_L2
) -> tuple[float, float]:
    """Fits one-hot targets by ridge regression; returns the leave-one-out (accuracy, mean
    squared error), exact and as cheap as one fit (`ridge_fit`).

    Example:
        ridge_leave_one_out(x, y, num_classes=2)  # (1.0, 0.03) for well-separated x
    """
    return _accuracy_and_loss(ridge_fit(x, y, num_classes, l2)[2], y, num_classes)


def _design_standardised_on(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Features -> design matrix: standardised with `x`'s mean and spread, plus a bias."""
    mean, scale = _mean_and_scale(x)
    return lambda features: np.hstack([(features - mean) / scale, np.ones((len(features), 1))])


def _mean_and_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), x.std(0) + 1e-6


def _gram(design: np.ndarray, l2: float) -> np.ndarray:
    return design.T @ design + l2 * len(design) * np.eye(design.shape[1])


def _accuracy_and_loss(predicted: np.ndarray, y: np.ndarray, num_classes: int):
    accuracy = float(np.mean(np.argmax(predicted, 1) == y))
    loss = float(np.mean(np.sum((predicted - np.eye(num_classes)[y]) ** 2, 1)))
    return accuracy, loss
