"""Learning-rate schedules of a candidate, as the reference defines them.

- cosine: linear warm-up from lr/100 to lr over `opt_lr_warmup_ratio` of the steps,
  then cosine decay to 0 (Keras's CosineDecay does both);
- restarts: the same warm-up + cosine cycle once per validation round (SGDR);
- constant: 0.5 * lr throughout, as the reference's 'constant'.
Values are computed in Python per step and fed to the traced step as a tensor, so a
schedule change never retraces.

Example:
    schedule = learning_rate_schedule({"opt_lr": 0.01, "opt_lr_warmup_ratio": 0.05}, 100)
    float(schedule(0))  # 0.0001
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import keras

from keras_evomt.errors import UserInputError

SCHEDULES = ("cosine", "constant", "restarts")


def learning_rate_schedule(
    hparams: Mapping[str, Any], total_steps: int, rounds: int = 1
) -> Callable[[int], float]:
    """The learning rate at each of `total_steps` steps, from a path's opt_* hparams."""
    lr = float(hparams.get("opt_lr", 0.01))
    kind = hparams.get("opt_lr_schedule", "cosine")
    ratio = float(hparams.get("opt_lr_warmup_ratio", 0.05))
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


def steps_per_round(
    num_train_examples: int, batch_size: int, examples_per_round: int = 128_116
) -> int:
    """The reference budget: min(train size, 128,116) examples per validation round.

    Example:
        steps_per_round(50_000, 64)  # 782
    """
    return max(1, math.ceil(min(num_train_examples, examples_per_round) / batch_size))
