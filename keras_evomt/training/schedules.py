"""Learning-rate schedules of a candidate, as the reference defines them.

- cosine: linear warm-up from lr/100 to lr over `opt_lr_warmup_ratio` of the steps,
  then cosine decay to 0 (Keras's CosineDecay does both);
- restarts: the same warm-up + cosine cycle once per validation round (SGDR);
- constant: 0.5 * lr throughout, as the reference's 'constant'.
`learning_rate_schedule` gives the values in Python (logs, tests). The trainer computes
them in its traced loop instead, with `learning_rate_at` from a step counter and the
numbers of `schedule_arguments`, which are tensor arguments of the trace: a candidate
with other numbers reuses it and trains with its own. (Keras's CosineDecay holds its
numbers as Python attributes and checks them in Python, so it cannot take tensors.)

Example:
    schedule = learning_rate_schedule({"opt_lr": 0.01, "opt_lr_warmup_ratio": 0.05}, 100)
    float(schedule(0))  # 0.0001
    arguments = schedule_arguments({"opt_lr": 0.01, "opt_lr_warmup_ratio": 0.05}, 100)
    float(learning_rate_at(tf.constant(0, tf.int64), arguments))  # 0.0001
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from keras_evomt.errors import UserInputError
from keras_evomt.hparams import HParams

SCHEDULES = ("cosine", "constant", "restarts")


def learning_rate_schedule(
    hparams: Mapping[str, Any], total_steps: int, rounds: int = 1
) -> Callable[[int], float]:
    """The learning rate at each of `total_steps` steps, from a path's opt_* hparams."""
    typed = HParams.of(hparams)
    lr, kind, ratio = float(typed.opt_lr), typed.opt_lr_schedule, float(typed.opt_lr_warmup_ratio)
    if kind == "cosine":
        return _warmup_cosine(lr, ratio, total_steps)
    if kind == "restarts":
        cycle = max(1, total_steps // max(1, rounds))
        one_cycle = _warmup_cosine(lr, ratio, cycle)
        return lambda step: one_cycle(step % cycle)
    if kind == "constant":
        return lambda step: 0.5 * lr
    raise UserInputError(f"unknown opt_lr_schedule '{kind}'; use one of {SCHEDULES}.")


def _warmup_cosine(lr: float, ratio: float, steps: int) -> Callable[[int], float]:
    warmup = int(ratio * steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        lr / 100, max(1, steps - warmup), alpha=0.0, warmup_target=lr, warmup_steps=warmup
    )
    return lambda step: float(schedule(step))


class ScheduleArguments(NamedTuple):
    """The numbers of a schedule, as tensors: lr, warm-up and decay steps, cycle length
    and whether the rate is constant."""

    lr: tf.Tensor
    warmup: tf.Tensor
    decay: tf.Tensor
    cycle: tf.Tensor
    constant: tf.Tensor


def schedule_arguments(
    hparams: Mapping[str, Any], total_steps: int, rounds: int = 1
) -> ScheduleArguments:
    """`learning_rate_schedule`'s numbers as tensors for `learning_rate_at`."""
    typed = HParams.of(hparams)
    lr, kind, ratio = float(typed.opt_lr), typed.opt_lr_schedule, float(typed.opt_lr_warmup_ratio)
    if kind not in SCHEDULES:
        raise UserInputError(f"unknown opt_lr_schedule '{kind}'; use one of {SCHEDULES}.")
    cycle = max(1, total_steps // max(1, rounds)) if kind == "restarts" else max(1, total_steps)
    warmup = int(ratio * cycle)
    return ScheduleArguments(
        tf.constant(lr, tf.float32),
        tf.constant(warmup, tf.float32),
        tf.constant(max(1, cycle - warmup), tf.float32),
        tf.constant(cycle, tf.int64),
        tf.constant(kind == "constant"),
    )


def learning_rate_at(step: tf.Tensor, arguments: ScheduleArguments) -> tf.Tensor:
    """The learning rate at `step` (an int64 tensor), in the graph; the same formula as
    Keras's CosineDecay with warm-up from lr/100."""
    lr, warmup, decay, cycle, constant = arguments
    start = lr / 100
    position = tf.minimum(tf.cast(step % cycle, tf.float32), decay + warmup)
    warming = (lr - start) * (position / tf.maximum(warmup, 1.0)) + start
    cosine = 0.5 * (1.0 + tf.cos(math.pi * ((position - warmup) / decay)))
    value = tf.where(position < warmup, warming, lr * cosine)
    return tf.where(constant, 0.5 * lr, value)


def steps_per_round(
    num_train_examples: int, batch_size: int, examples_per_round: int = 128_116
) -> int:
    """The reference budget: min(train size, 128,116) examples per validation round.

    Example:
        steps_per_round(50_000, 64)  # 782
    """
    return max(1, math.ceil(min(num_train_examples, examples_per_round) / batch_size))
