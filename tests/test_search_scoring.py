"""The score and the rule for joining the population (search/scoring.py)."""

import pytest

from keras_evomt.search import Scorer, joins_population


def test_score_formula_and_improvement_rule():
    assert Scorer().score(0.8, accounted_params=5e9, flops=1e13) == 0.8
    scorer = Scorer(base_params=0.99, ref_params=2.2e9, base_flops=0.99, ref_flops=3.8e12)
    expected = 0.9 * 0.99 ** (1.1e9 / 2.2e9) * 0.99 ** (7.6e12 / 3.8e12)
    assert scorer.score(0.9, accounted_params=1.1e9, flops=7.6e12) == pytest.approx(expected)
    assert joins_population(0.5, 0.5, same_task=True)
    assert not joins_population(0.49, 0.5, same_task=True)
    assert joins_population(0.1, 0.9, same_task=False)
