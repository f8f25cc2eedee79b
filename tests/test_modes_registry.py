"""Clone modes and distribution strategies are registered by name; a recipe adds its own."""

import types

import numpy as np
import pytest
import tensorflow as tf

from keras_evomt.errors import UserInputError
from keras_evomt.path import ROOT, Path
from keras_evomt.recipe import load_recipe
from keras_evomt.search import MutationOptions, clone_modes
from keras_evomt.search.config import default_config, validate
from keras_evomt.search.population import Population
from keras_evomt.search.proposer import Proposer
from keras_evomt.training import distribute
from tests.helpers import tiny_system

RECIPE = '''
from keras_evomt.components.base import BLOCK
from keras_evomt.search.clone_modes import register_clone_mode
from keras_evomt.search.config import default_config

SEEN = []


@register_clone_mode("blocks_only")
def blocks_only(component, layer_index, mu, rng, options):
    """Fine-tunes the encoder blocks, shares the embeddings."""
    SEEN.append(component.role)
    return component.role == BLOCK


def get_config(variant=None):
    config = default_config()
    config.tasks = ["digits"]
    config.root.name, config.root.image_size, config.root.patch_size = "vit_tiny", 32, 8
    config.candidates_per_generation = 2
    config.mutation.clone_mode = "blocks_only"
    return config
'''


@pytest.fixture
def registries(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(clone_modes, "_CLONE_MODES", dict(clone_modes._CLONE_MODES))
    monkeypatch.setattr(distribute, "_STRATEGIES", dict(distribute._STRATEGIES))


def test_a_recipe_registered_clone_mode_is_used_by_a_search_step(tmp_path, registries):
    (tmp_path / "share_embeddings.py").write_text(RECIPE)
    config = load_recipe(str(tmp_path / "share_embeddings.py"))
    validate(config)  # the recipe's mode is known once the recipe is loaded
    system = tiny_system()
    system.start_task("digits")
    options = MutationOptions(**config.mutation.to_dict())
    proposer = Proposer(config, system, np.random.default_rng(0), options)
    population = Population.start("digits", seeds=[ROOT], incumbent=None)
    task = types.SimpleNamespace(name="digits", num_classes=10)
    proposer.propose_generation(task, population, devices=[None])
    assert len(population.proposals) == 2
    root = system.root.components
    for proposal in population.proposals:
        child = Path.from_json(proposal["path"])
        roles = [system.components[c].role for c in child.components]
        shared = [c in root for c in child.components]
        # The rule's decisions: blocks cloned, embeddings shared; norm and head own.
        assert shared == [role in ("embedding", "class_token", "positions") for role in roles]


def test_validation_lists_the_registered_clone_modes(registries):
    clone_modes.register_clone_mode("mine")(lambda *args: False)
    config = default_config()
    config.mutation.clone_mode = "nope"
    with pytest.raises(UserInputError) as error:
        validate(config)
    for name in ("mu", "all", "freeze_bottom", "adapters", "scratch", "mine"):
        assert name in str(error.value)
    config.mutation.clone_mode = "mine"
    validate(config)
    with pytest.raises(UserInputError, match="mutation.clone_mode='nope'.*mine"):
        clone_modes.clone_mode("nope")


def test_a_registered_strategy_is_listed_and_built(registries):
    one_cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    distribute.register_strategy("one_cpu")(lambda section: one_cpu)
    config = default_config()
    config.distribute.strategy = "nope"
    with pytest.raises(UserInputError) as error:
        validate(config)
    for name in ("default", "mirrored", "tpu", "multi_worker_mirrored", "one_cpu"):
        assert name in str(error.value)
    config.distribute.strategy = "one_cpu"
    validate(config)
    assert distribute.strategy_from_config(config.distribute) is one_cpu
