"""Parent selection (search/parents.py)."""

import numpy as np
import pytest

from keras_evomt.search import choose_parent


def test_parent_rule_halves_acceptance_per_offspring():
    rng = np.random.default_rng(2)
    counts = {"a": 0, "b": 0, "seed": 0}
    for _ in range(4000):
        seeds = ["seed"]
        counts[choose_parent(["a", "b"], seeds, {"a": 1, "b": 2}, rng)] += 1
    # P(a) = 1/2; P(b) = 1/2 * 1/4; P(seed) = 1/2 * 3/4 (+ uniform fallback, 0 here)
    assert counts["a"] / 4000 == pytest.approx(0.5, abs=0.03)
    assert counts["b"] / 4000 == pytest.approx(0.125, abs=0.02)
    assert counts["seed"] / 4000 == pytest.approx(0.375, abs=0.03)
    seeds = ["a", "b", "c"]
    assert choose_parent([], seeds, {"a": 60}, rng) == "b" and seeds == ["c", "a", "b"]
    picks = {choose_parent([], ["x"], {"x": 60}, rng) for _ in range(5)}
    assert picks == {"x"}  # fallback: uniform among everyone
