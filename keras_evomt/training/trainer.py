"""The candidate trainer: SGD-momentum on a candidate's own variables, traced once
per architecture.

Why not `model.fit`: a new model, compile and fit per candidate costs a new trace
(4-9 s on CPU), and Keras optimizers own their slots, while µ2Net passes
momentum from parent to child per component. Here one *template* model per
architecture is traced once; each candidate's own tf.Variables are passed to the
traced step as arguments (`stateless_call`), so same-architecture candidates reuse
the trace and nothing of a finished candidate stays referenced. Like Keras's
`steps_per_execution`, one traced call runs several steps (a `tf.range` loop over the
input iterator), with the learning rate computed in the graph from the step number and
the schedule's numbers passed in as tensors, so the host does no work per step.

Example:
    trainer = CandidateTrainer()
    result = trainer.train(system, path, train_ds, val_ds, rounds=4, steps_per_round=50)
    result.quality  # the best round's validation quality; that round's weights are kept
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_evomt import store
from keras_evomt.components.base import config_of, registered_name
from keras_evomt.errors import UserInputError
from keras_evomt.hparams import HParams
from keras_evomt.path import Path, PathModel
from keras_evomt.system import System
from keras_evomt.training import distribute
from keras_evomt.training.quality import ValidationCounts, quality_of
from keras_evomt.training.schedules import learning_rate_at, schedule_arguments


class _RetracingNoise(logging.Filter):
    """Each architecture traces its own steps by design: TF's retracing warning is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_RetracingNoise())


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class TrainResult:
    """`quality` (under `quality_rule`, the rule trained with), `accuracy`,
    `validation_loss` (mean cross-entropy) and `validation_examples` are the best round's;
    `rounds` holds every round's accuracy."""

    quality: float
    rounds: list[float]
    best_round: int
    steps: int
    seconds: float
    train_loss: float
    accuracy: float
    validation_loss: float
    validation_examples: int = 0
    quality_rule: str = "accuracy"


@dataclasses.dataclass
class _Compiled:
    template: PathModel
    train_loop: Callable
    eval_loop: Callable


class CandidateTrainer:
    """Trains and validates candidates under a tf.distribute strategy (default: none).

    Data-parallel strategies split each batch over their replicas: the loss is
    averaged over the global batch (`tf.nn.compute_average_loss`), gradients are
    summed over replicas, and the update runs once per variable copy.
    """

    def __init__(
        self,
        *,
        strategy: tf.distribute.Strategy | None = None,
        jit_compile: bool = False,
        max_architectures: int = 4,
        clip_norm: float = 1.0,
        steps_per_call: int | None = None,
    ):
        self.strategy = strategy or tf.distribute.get_strategy()
        distribute.check_jit_compile(self.strategy, jit_compile)
        self.jit_compile = jit_compile
        self.steps_per_call = steps_per_call or distribute.default_steps_per_call(self.strategy)
        if self.steps_per_call < 1:
            raise UserInputError(
                f"steps_per_call must be at least 1. Received: steps_per_call={steps_per_call}"
            )
        self.clip_norm = clip_norm
        self.max_architectures = max_architectures
        self._compiled: collections.OrderedDict[str, _Compiled] = collections.OrderedDict()
        self.traces = 0

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def clear(self) -> None:
        """Drops the traced steps; call when locks change (a task iteration ends)."""
        self._compiled.clear()

    # === Public ===
    def train(
        self,
        system: System,
        path: Path,
        train_data: tf.data.Dataset,
        validation_data: tf.data.Dataset,
        *,
        rounds: int,
        steps_per_round: int,
        on_step: Callable[[int, float, Any, Any], None] | None = None,
        on_round: Callable[[int, float], None] | None = None,
        progress_every: int | None = None,
        quality: str = "accuracy",
    ) -> TrainResult:
        """Trains `path`'s own components in place; keeps the weights of the round of
        best `quality` (a rule of training.quality; the latest of equal rounds).

        `train_data` yields global batches (per-replica batch x replicas). Steps run
        `steps_per_call` at a time in one traced loop; `on_step(step, lr, loss, accuracy)`
        is called after each such call, or, with `progress_every`, after each step that is
        a multiple of it (calls end there) and after the last step; `on_round(round,
        accuracy)` after each validation.
        """
        start = time.perf_counter()
        model = system.model(path)
        own_ids = system.trainable_ids(path)
        for cid in own_ids:  # their weights change now: saved digests must be recomputed
            store.forget(system.components[cid])
        train_vars = [v.value for v in model.trainable_variables]
        frozen_vars = [v.value for v in model.non_trainable_variables]
        compiled = self._compiled_for(system, path)
        with self.strategy.scope():
            moments = [
                tf.Variable(value, trainable=False)
                for cid in own_ids
                for value in _slots_or_zeros(system, cid)
            ]
            loss_scale = [
                tf.Variable(LOSS_SCALE_START, trainable=False),  # float16 only
                tf.Variable(0.0, trainable=False),
            ]
        if [v.shape for v in train_vars] != [m.shape for m in moments]:
            raise AssertionError(
                "the candidate's trainable variables and its own components' weights do not line up"
            )
        hparams = HParams.of(path.hparams)
        # Tensor arguments of the trace: each candidate trains with its own numbers.
        schedule = schedule_arguments(path.hparams, rounds * steps_per_round, rounds)
        momentum = tf.constant(float(hparams.opt_momentum), tf.float32)
        nesterov = tf.constant(float(bool(hparams.opt_nesterov)), tf.float32)
        batches = iter(self._distribute(train_data))
        best: tuple[float, int, Any, Any] = (-1.0, -1, None, None)
        accuracies, step, loss = [], 0, float("nan")
        for round_index in range(rounds):
            round_end, sums = step + steps_per_round, []
            while step < round_end:
                end = self._call_end(step, round_end, progress_every if on_step else None)
                try:
                    loss_sum, loss_t, acc_t, lr_t = compiled.train_loop(
                        train_vars,
                        frozen_vars,
                        moments,
                        loss_scale,
                        batches,
                        tf.constant(step, tf.int64),
                        tf.constant(end - step, tf.int64),
                        schedule,
                        momentum,
                        nesterov,
                    )
                except tf.errors.OutOfRangeError:
                    raise ValueError(
                        f"the training data ran out before step {end} of "
                        f"{rounds * steps_per_round}: give a repeating dataset (.repeat())."
                    ) from None
                sums.append(loss_sum)
                step = end
                if on_step and (
                    not progress_every
                    or step % progress_every == 0
                    or step == rounds * steps_per_round
                ):
                    on_step(step, float(lr_t), loss_t, acc_t)
            loss = float(tf.add_n(sums)) / steps_per_round
            if not math.isfinite(loss):
                if best[2] is None:
                    raise NonFiniteLoss(f"training loss became {loss} in round {round_index + 1}")
                break  # diverged after a good round: keep that round's weights
            counts = self._evaluate(compiled, train_vars, frozen_vars, validation_data)
            accuracies.append(counts.accuracy)
            if on_round:
                on_round(round_index, counts.accuracy)
            round_quality = quality_of(counts, quality)
            if round_quality >= best[0]:
                snapshot = [v.numpy() for v in train_vars + moments]
                best = (round_quality, round_index, snapshot, counts)
        for variable, value in zip(train_vars + moments, best[2]):
            variable.assign(value)
        _store_moments(system, own_ids, moments)
        return TrainResult(
            quality=best[0],
            rounds=accuracies,
            best_round=best[1],
            steps=step,
            seconds=time.perf_counter() - start,
            train_loss=loss,
            accuracy=best[3].accuracy,
            validation_loss=best[3].mean_loss,
            validation_examples=best[3].examples,
            quality_rule=quality,
        )

    def accuracy(self, system: System, path: Path, data: tf.data.Dataset) -> float:
        """Accuracy of `path` on `data` (batches of images, labels)."""
        return self.evaluate(system, path, data).accuracy

    def evaluate(self, system: System, path: Path, data: tf.data.Dataset) -> ValidationCounts:
        """Correct predictions, examples and summed cross-entropy of `path` on `data`."""
        model = system.model(path)
        compiled = self._compiled_for(system, path)
        return self._evaluate(
            compiled,
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            data,
        )

    def _call_end(self, step: int, round_end: int, progress_every: int | None) -> int:
        """Where the traced call that starts at `step` stops."""
        end = min(round_end, (step // self.steps_per_call + 1) * self.steps_per_call)
        if progress_every:
            end = min(end, (step // progress_every + 1) * progress_every)
        return end

    def _evaluate(self, compiled: _Compiled, train_vars, frozen_vars, data) -> ValidationCounts:
        hits, seen, loss_sum = compiled.eval_loop(
            train_vars, frozen_vars, iter(self._distribute(data))
        )
        if int(seen) == 0:
            raise ValueError("the validation data is empty.")
        return ValidationCounts(int(hits), int(seen), float(loss_sum))

    def _distribute(self, data: tf.data.Dataset):
        if self.replicas == 1:
            return data
        return self.strategy.experimental_distribute_dataset(data)

    # === Traced loops, one per architecture ===
    def _compiled_for(self, system: System, path: Path) -> _Compiled:
        key = architecture_key(system, path)
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        # The template is this first candidate's own model: later candidates of the same
        # architecture pass their variables to its trace, and no weights are copied.
        template = system.model(path)
        compiled = _Compiled(template, self._train_loop(template), self._eval_loop(template))
        self._compiled[key] = compiled
        while len(self._compiled) > self.max_architectures:
            self._compiled.popitem(last=False)
        return compiled

    def _train_loop(self, template: PathModel):
        clip_norm, strategy = self.clip_norm, self.strategy
        float16 = any(c.compute_dtype == "float16" for c in template.components)

        def replica_step(
            train_vars, frozen_vars, moments, loss_scale, images, labels, lr, momentum, nesterov
        ):
            labels = tf.cast(labels, tf.int32)
            scale = loss_scale[0] if float16 else 1.0
            with tf.GradientTape() as tape:
                tape.watch(train_vars)
                logits, _ = template.stateless_call(train_vars, frozen_vars, images, training=True)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels, tf.cast(logits, tf.float32)
                )
                loss = tf.nn.compute_average_loss(per_example)
                scaled = loss * scale
            context = tf.distribute.get_replica_context()
            grads = context.all_reduce(
                tf.distribute.ReduceOp.SUM, tape.gradient(scaled, train_vars)
            )
            finite = None
            if float16:  # dynamic loss scaling: skip overflowing steps, adapt the scale
                grads = [g / scale for g in grads]
                finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
                context.merge_call(_adapt_loss_scale, args=(loss_scale, finite))
            grads, _ = tf.clip_by_global_norm(grads, clip_norm)
            context.merge_call(
                _apply_momentum, args=(train_vars, moments, grads, lr, momentum, nesterov, finite)
            )
            hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
            return loss, tf.reduce_sum(tf.cast(hits, tf.float32)), tf.size(labels)

        if self.jit_compile:  # the step only: IteratorGetNext has no XLA kernel
            replica_step = tf.function(replica_step, jit_compile=True)

        def train_loop(
            train_vars, frozen_vars, moments, loss_scale, batches, start, count, schedule, *opt
        ):
            self.traces += 1
            loss_sum = tf.constant(0.0)
            loss, accuracy, lr = tf.constant(0.0), tf.constant(0.0), tf.constant(0.0)
            for index in tf.range(count):
                lr = learning_rate_at(start + index, schedule)
                images, labels = next(batches)
                args = (train_vars, frozen_vars, moments, loss_scale, images, labels, lr, *opt)
                loss, hits, seen = strategy.run(replica_step, args=args)
                loss = strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
                total = strategy.reduce(tf.distribute.ReduceOp.SUM, seen, axis=None)
                hits = strategy.reduce(tf.distribute.ReduceOp.SUM, hits, axis=None)
                accuracy = hits / tf.cast(total, tf.float32)
                loss_sum += loss
            return loss_sum, loss, accuracy, lr

        return tf.function(train_loop, reduce_retracing=True)

    def _eval_loop(self, template: PathModel):
        strategy = self.strategy

        def replica_step(train_vars, frozen_vars, images, labels):
            logits, _ = template.stateless_call(train_vars, frozen_vars, images, training=False)
            labels = tf.cast(labels, tf.int32)
            hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, tf.cast(logits, tf.float32)
            )
            return (
                tf.reduce_sum(tf.cast(hits, tf.int64)),
                tf.cast(tf.size(labels), tf.int64),
                tf.reduce_sum(losses),  # float32: TPUs have no float64
            )

        if self.jit_compile:
            replica_step = tf.function(replica_step, jit_compile=True)

        def eval_loop(train_vars, frozen_vars, batches):
            hits, seen = tf.constant(0, tf.int64), tf.constant(0, tf.int64)
            loss_sum = tf.constant(0.0, tf.float32)
            batch = batches.get_next_as_optional()
            while batch.has_value():
                images, labels = batch.get_value()
                sums = strategy.run(replica_step, args=(train_vars, frozen_vars, images, labels))
                h, s, losses = (
                    strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None) for x in sums
                )
                hits, seen, loss_sum = hits + h, seen + s, loss_sum + losses
                batch = batches.get_next_as_optional()
            return hits, seen, loss_sum

        return tf.function(eval_loop, reduce_retracing=True)


def _apply_momentum(strategy, train_vars, moments, grads, lr, momentum, nesterov, finite):
    """SGD with momentum (optax/JAX convention, as the reference): trace = m*trace + g;
    step = trace, or g + m*trace with Nesterov. Runs once per variable copy; a step whose
    float16 gradients overflowed (`finite` false) changes nothing."""

    def new_trace(trace, grad):
        updated = momentum * trace + grad
        return trace.assign(updated if finite is None else tf.where(finite, updated, trace))

    def descend(variable, grad, trace):
        delta = lr * (trace + nesterov * (grad + momentum * trace - trace))
        return variable.assign_sub(
            delta if finite is None else tf.where(finite, delta, tf.zeros_like(delta))
        )

    for variable, trace, grad in zip(train_vars, moments, grads):
        if finite is not None:
            grad = tf.where(finite, grad, tf.zeros_like(grad))
        strategy.extended.update(trace, new_trace, args=(grad,))
        strategy.extended.update(variable, descend, args=(grad, trace))


LOSS_SCALE_START, LOSS_SCALE_GROWTH_STEPS = 2.0**15, 2000


def _adapt_loss_scale(strategy, loss_scale, finite):
    """Halves the float16 loss scale after an overflow; doubles it after 2000 good steps."""
    scale, good_steps = loss_scale
    good = tf.where(finite, good_steps + 1.0, 0.0)
    grow = good >= LOSS_SCALE_GROWTH_STEPS
    new_scale = tf.where(finite, tf.where(grow, scale * 2.0, scale), tf.maximum(scale / 2, 1.0))
    strategy.extended.update(scale, lambda s, n: s.assign(n), args=(new_scale,))
    strategy.extended.update(
        good_steps, lambda c, n: c.assign(n), args=(tf.where(grow, 0.0, good),)
    )


def _slots_or_zeros(system: System, cid: str) -> list[np.ndarray]:
    """The component's momentum slots (inherited from its parent), else zeros."""
    weights = system.components[cid].trainable_weights
    slots = system.slots.get(cid)
    if slots and [s.shape for s in slots] == [tuple(w.shape) for w in weights]:
        return slots
    return [np.zeros(w.shape, w.dtype) for w in weights]


def _store_moments(system: System, own_ids: list[str], moments) -> None:
    position = 0
    for cid in own_ids:
        count = len(system.components[cid].trainable_weights)
        system.slots[cid] = [m.numpy() for m in moments[position : position + count]]
        position += count


def architecture_key(system: System, path: Path) -> str:
    """Same key <=> same classes, configs, build shapes and trainable flags in order."""
    parts: list[Any] = []
    for cid in path.components:
        component = system.components[cid]
        parts.append(
            [
                registered_name(type(component)),
                config_of(component),
                component.get_build_config(),
                system.is_trainable(cid, path.task),
            ]
        )
    return json.dumps(parts, sort_keys=True, default=str)
