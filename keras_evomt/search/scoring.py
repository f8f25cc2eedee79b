"""The candidate score and the improvement rule.

score = quality * base_params ** (accounted_params / ref_params)
                * base_flops ** (flops / ref_flops)
The µ2Net reference uses base 1.0 (score = validation accuracy); µ2Net+ uses
0.99 with 2.2e9 parameters and 3.8e12 FLOPs. The quality is the validation accuracy,
or another rule of training.quality (config `score.quality`, applied by the trainer).

Example:
    Scorer(base_params=0.99, ref_params=2.2e9).score(0.9, accounted_params=2.2e9, flops=0)
    # 0.891
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from keras_evomt.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class Scorer:
    """The score's bases and references; `root_shares` counts the root as a sharer of its
    components (µ2Net+), which the µ2Net notebook does not.

    Example:
        Scorer().score(0.9, accounted_params=3e8, flops=1e11)  # 0.9
    """

    base_params: float = 1.0
    ref_params: float = 2.2e9
    base_flops: float = 1.0
    ref_flops: float = 3.8e12
    root_shares: bool = False

    def score(self, quality: float, *, accounted_params: float, flops: float) -> float:
        return (
            quality
            * self.base_params ** (accounted_params / self.ref_params)
            * self.base_flops ** (flops / self.ref_flops)
        )


def validation_quality(
    metrics: dict[str, Any],
    rule: str | None = None,
    *,
    assumed_rule: str | None = None,
    what: str = "a kept path",
) -> float:
    """A path's quality under `rule` (a training.quality rule; None: as its search scored
    it). A path scored under another rule is rescored from its kept validation accuracy,
    loss and count: those of the training round its own rule kept. A path saved before
    rules were kept counts as scored under `assumed_rule` (default `rule`), and one saved
    before qualities were kept by its validation accuracy.

    Example:
        metrics = {"validation_quality": 0.9, "quality_rule": "accuracy",
                   "validation_accuracy": 0.9, "validation_loss": 0.2,
                   "validation_examples": 10}
        validation_quality(metrics, "likelihood")  # exp(-0.2) = 0.8187
    """
    stored = metrics.get("validation_quality", metrics.get("validation_accuracy", 0.0))
    scored_by = metrics.get("quality_rule", assumed_rule)
    if rule is None or scored_by is None or scored_by == rule:
        return stored
    examples = metrics.get("validation_examples")
    if not examples:
        raise UserInputError(
            f"{what} was scored by quality rule {scored_by!r} by a version that kept no "
            f"validation count, so it cannot be rescored under {rule!r}",
            hint=f"search it with score.quality={scored_by}, or grow a new work directory",
        )
    from keras_evomt.training.quality import ValidationCounts, quality_of  # loads TensorFlow

    counts = ValidationCounts(
        correct=round(metrics["validation_accuracy"] * examples),
        examples=examples,
        loss_sum=metrics.get("validation_loss", math.nan) * examples,  # NaN: not finite
    )
    return quality_of(counts, rule)


def joins_population(score: float, parent_score: float | None, same_task: bool) -> bool:
    """A child of another task's path (or the root) always joins; a child of the
    task's own path joins only if it scores at least as well as its parent."""
    return not same_task or parent_score is None or score >= parent_score
