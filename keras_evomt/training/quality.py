"""A validation round's counts and the rules that turn them into a candidate's quality.

- "accuracy" (the reference): correct / examples.
- "accuracy_likelihood": (correct + exp(-mean cross-entropy)) / (examples + 1). One more
  correct example always ranks higher; among equal counts, the more likely predictions
  (lower validation loss) rank higher. On a small validation set many candidates reach
  the same count, often all of it; this still tells them apart. On a large one it equals
  accuracy to within 1 / (examples + 1).
- "likelihood": exp(-mean cross-entropy), the geometric mean of the probabilities given
  to the true labels. It counts how sure each prediction is, not only whether it is
  right (meant for validation sets of a few dozen examples, where a count moves by whole
  examples); under the size score it makes the search a penalised log-likelihood:
  ln(score) = -loss + (params / ref) * ln(base).

A kept path records its rule, validation count and loss, so a search under another rule
rescores it (search/scoring.py, `validation_quality`).

Example:
    counts = ValidationCounts(correct=15, examples=16, loss_sum=1.6)
    quality_of(counts, "accuracy")             # 0.9375
    quality_of(counts, "accuracy_likelihood")  # (15 + exp(-0.1)) / 17 = 0.9356
    quality_of(counts, "likelihood")           # exp(-0.1) = 0.9048
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class ValidationCounts:
    """One pass over the validation data: correct predictions, examples, summed
    cross-entropy (nats)."""

    correct: int
    examples: int
    loss_sum: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.examples

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.examples


def _accuracy(counts: ValidationCounts) -> float:
    return counts.accuracy


def _likelihood(counts: ValidationCounts) -> float:
    loss = counts.mean_loss
    return 0.0 if math.isnan(loss) else math.exp(-loss)  # NaN logits: the least likely


def _accuracy_likelihood(counts: ValidationCounts) -> float:
    return (counts.correct + _likelihood(counts)) / (counts.examples + 1)


QUALITY_RULES: dict[str, Callable[[ValidationCounts], float]] = {
    "accuracy": _accuracy,
    "accuracy_likelihood": _accuracy_likelihood,
    "likelihood": _likelihood,
}


def quality_of(counts: ValidationCounts, rule: str = "accuracy") -> float:
    """The quality of one validation pass under `rule` (a name of QUALITY_RULES).

    Example:
        quality_of(ValidationCounts(9, 10, 2.0))  # 0.9
    """
    if rule not in QUALITY_RULES:
        raise ValueError(f"unknown quality rule {rule!r}; known: {', '.join(QUALITY_RULES)}")
    return QUALITY_RULES[rule](counts)
