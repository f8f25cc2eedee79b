"""A task's candidates and validation rounds per generation and in all (search/config.py)."""

import pytest

from keras_evomt.errors import UserInputError
from keras_evomt.search.config import (
    candidates_per_task,
    default_config,
    generation_validations,
    generation_width,
    rounds_per_task,
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


def test_a_short_wide_first_generation_costs_one_candidate_of_the_others():
    config = default_config()
    config.generations, config.candidates_per_generation, config.validations = 6, 1, 3
    assert rounds_per_task(config) == 18
    config.first_generation_candidates, config.first_generation_validations = 3, 1
    assert [generation_validations(config, g) for g in range(3)] == [1, 3, 3]
    assert candidates_per_task(config) == 8
    assert rounds_per_task(config) == 18  # 3 x 1 + 5 x 3
    config.task_iterations = 2
    assert rounds_per_task(config) == 36


@pytest.mark.parametrize("key", ["first_generation_candidates", "first_generation_validations"])
def test_a_negative_first_generation_is_refused(key):
    config = default_config()
    config[key] = -1
    with pytest.raises(UserInputError, match=f"{key}=-1"):
        validate(config)


def test_a_key_the_config_lacks_is_refused_in_one_line_with_the_nearest_keys():
    config = default_config()
    with pytest.raises(AttributeError, match="did you mean: generations") as refused:
        config.generation = 2
    assert "config is locked" in str(refused.value) and len(str(refused.value)) < 200
    with pytest.raises(AttributeError, match="did you mean: name"):
        config.root.nmae = "vit_mini"
    with pytest.raises(AttributeError, match="its keys: cpu_devices, devices"):
        config.distribute.zzz = 1
    config.space.adapter_dim = [8, 16]  # the spaces stay open
    assert config.space.adapter_dim == [8, 16]
