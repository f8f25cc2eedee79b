"""The hyperparameter space and its incremental mutation (search/space.py)."""

import numpy as np
import pytest

from keras_evomt.search import REFERENCE_DEFAULTS, REFERENCE_SPACE, mutate
from keras_evomt.search.space import data_keys, model_keys


def test_hyperparameters_move_to_adjacent_values_with_probability_mu():
    rng = np.random.default_rng(0)
    keys = [k for k in model_keys(REFERENCE_SPACE) if k != "_mu_"]
    changed = {k: 0 for k in keys}
    trials = 2000
    for _ in range(trials):
        child = mutate(REFERENCE_DEFAULTS, REFERENCE_SPACE, rng, keys=keys, mu=0.3)
        for key in keys:
            values = REFERENCE_SPACE[key]
            step = values.index(child[key]) - values.index(REFERENCE_DEFAULTS[key])
            assert abs(step) <= 1
            changed[key] += step != 0
    # opt_lr sits mid-list: it moves w.p. µ; opt_nesterov (False, last) moves w.p. µ/2.
    assert changed["opt_lr"] / trials == pytest.approx(0.3, abs=0.04)
    assert changed["opt_nesterov"] / trials == pytest.approx(0.15, abs=0.03)
    assert mutate(REFERENCE_DEFAULTS, REFERENCE_SPACE, rng, keys=keys, mu=0.0) == REFERENCE_DEFAULTS
    assert data_keys(REFERENCE_SPACE) == sorted(k for k in REFERENCE_SPACE if k[:3] == "ds_")


def test_mu_is_mutated_first_and_drives_the_rest():
    rng = np.random.default_rng(1)
    space = {"_mu_": [0.0, 1.0], "opt_lr": [0.1, 0.2, 0.3]}
    outcomes = set()
    for _ in range(200):
        # µ = 1 mutates first: down to 0 (then opt_lr may not move) or clipped at 1 (then
        # opt_lr, mid-list, must move). With the old µ both cases would move opt_lr.
        child = mutate({"_mu_": 1.0, "opt_lr": 0.2}, space, rng, keys=["opt_lr", "_mu_"])
        assert (child["opt_lr"] == 0.2) == (child["_mu_"] == 0.0)
        outcomes.add(child["_mu_"])
    assert outcomes == {0.0, 1.0}
