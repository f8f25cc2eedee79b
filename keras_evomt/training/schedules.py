"""Learning-rate schedules of a candidate: linear warm-up from lr/100, then the shape.

Keras's CosineDecay already does warm-up plus cosine; the other shapes follow the
same warm-up. Values are computed in Python per step and fed to the traced step
as a tensor, so a schedule change never retraces.

Example:
    schedule = learning_rate_schedule({"opt_lr": 0.01, "opt_lr_warmup_ratio": 0.05}, 100)
    float(schedule(0))  # 0.0001
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras

from keras_evomt.errors import UserInputError

SCHEDULES = ("cosine", "constant", "restarts")


def learning_rate_schedule(hparams: Mapping[str, Any], total_steps: int):
    """A Keras LearningRateSchedule for `total_steps` steps from a path's opt_* hparams."""
    lr = float(hparams.get("opt_lr", 0.01))
    kind = hparams.get("opt_lr_schedule", "cosine")
    warmup = int(float(hparams.get("opt_lr_warmup_ratio", 0.05)) * total_steps)
    decay = max(1, total_steps - warmup)
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            lr / 100, decay, alpha=0.0, warmup_target=lr, warmup_steps=warmup)
    if kind == "constant":
        return _Warmup(lr, warmup, lambda step: lr)
    if kind == "restarts":
        restarts = keras.optimizers.schedules.CosineDecayRestarts(lr, max(1, decay // 4))
        return _Warmup(lr, warmup, lambda step: restarts(step - warmup))
    raise UserInputError(f"unknown opt_lr_schedule '{kind}'; use one of {SCHEDULES}.")


class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, lr: float, warmup: int, after):
        self.lr, self.warmup, self.after = lr, warmup, after

    def __call__(self, step):
        step = float(step)
        if step < self.warmup:
            start = self.lr / 100
            return start + (self.lr - start) * step / self.warmup
        return float(self.after(step))


def steps_per_round(num_train_examples: int, batch_size: int,
                    examples_per_round: int = 128_116) -> int:
    """The reference budget: min(train size, 128,116) examples per validation round.

    Example:
        steps_per_round(50_000, 64)  # 782
    """
    return max(1, math.ceil(min(num_train_examples, examples_per_round) / batch_size))
