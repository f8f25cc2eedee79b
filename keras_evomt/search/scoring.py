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
from typing import Any


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


def validation_quality(metrics: dict[str, Any]) -> float:
    """A path's quality as its search scored it (`validation_quality`); a path saved
    before qualities were kept was scored by its validation accuracy."""
    return metrics.get("validation_quality", metrics.get("validation_accuracy", 0.0))


def joins_population(score: float, parent_score: float | None, same_task: bool) -> bool:
    """A child of another task's path (or the root) always joins; a child of the
    task's own path joins only if it scores at least as well as its parent."""
    return not same_task or parent_score is None or score >= parent_score
