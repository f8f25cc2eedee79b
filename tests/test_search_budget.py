"""A task's candidates per generation and in all (search/config.py)."""

import pytest

from keras_evomt.errors import UserInputError
from keras_evomt.search.config import (
    candidates_per_task,
    default_config,
    generation_width,
    validate,
)


def test_every_generation_is_as_wide_by_default():
    config = default_config()
    assert [generation_width(config, g) for g in range(4)] == [32] * 4
    assert candidates_per_task(config) == 4 * 32


def test_a_wider_first_generation_then_the_usual_width():
    config = default_config()
    config.generations, config.candidates_per_generation = 10, 1
    config.first_generation_candidates = 3
    assert [generation_width(config, g) for g in range(3)] == [3, 1, 1]
    assert candidates_per_task(config) == 12
    config.task_iterations = 2  # each visit starts with a wide generation
    assert candidates_per_task(config) == 24


def test_a_negative_first_generation_is_refused():
    config = default_config()
    config.first_generation_candidates = -1
    with pytest.raises(UserInputError, match="first_generation_candidates=-1"):
        validate(config)
