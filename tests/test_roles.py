"""Component roles come from the component classes, not from their ids."""

import keras
import numpy as np

from keras_evomt.components import base, build_root, checkpoints, registered_components
from keras_evomt.components.base import component_class
from keras_evomt.components.roots import root_spec
from keras_evomt.hparams import REFERENCE_DEFAULTS
from keras_evomt.search import MutationOptions, make_candidate
from keras_evomt.search.mutation import encoder_layers
from keras_evomt.system import System, base_name
from tests.test_checkpoints import ours_to_vit_jax, save_npz, vit_jax_tensors

ROLES = {base.EMBEDDING, base.CLASS_TOKEN, base.POSITIONS, base.BLOCK, base.ADAPTER}
ROLES |= {base.NORM, base.HEAD}
RENAMED = ["patches", "token", "where", "first", "second", "last_norm"]


def renamed_parts():
    """vit_tiny's root with ids that follow no naming convention."""
    keras.utils.set_random_seed(0)
    return [(new, c) for new, (_, c) in zip(RENAMED, build_root("vit_tiny", image_size=32))]


def test_every_built_in_component_has_its_own_role():
    built_in = [component_class(n) for n in registered_components() if "keras_evomt>" in n]
    assert {cls.role for cls in built_in} == ROLES
    assert len(built_in) == len(ROLES)


def test_a_candidate_of_renamed_components_keeps_their_roles():
    system = System.from_root_components(renamed_parts(), {"root": "custom"}, image_size=32)
    system.start_task("a")
    first = system.new_task_path("a", 10)
    assert [base_name(layer.block) for layer in encoder_layers(system, first)] == RENAMED[3:5]
    first.id = "a#0"
    rng = np.random.default_rng(0)
    frozen = {**REFERENCE_DEFAULTS, "_mu_": 0.0, "image_size": 48, "adapter_layers": [1]}
    child = make_candidate(system, first, "a", 10, frozen, rng, MutationOptions())
    roles = [system.components[c].role for c in child.components]
    assert roles == ["embedding", "class_token", "positions", "block", "adapter", "block"] + [
        "norm",
        "head",
    ]
    # Found by role: the positions resized, the norm the task's own, the head inherited.
    assert system.components[child.components[2]].grid_size == 6
    assert base_name(child.components[2]) == "where"
    assert child.components[-2] not in first.components
    np.testing.assert_array_equal(
        system.components[child.components[-1]].get_weights()[0],
        system.components[first.components[-1]].get_weights()[0],
    )
    assert child.hparams["adapter_layers"] == [1]
    assert system.model(child)(np.zeros((1, 48, 48, 3), "float32")).shape == (1, 10)


def test_a_checkpoint_loads_into_renamed_parts_by_role(tmp_path):
    tensors = vit_jax_tensors()
    npz = save_npz(tmp_path / "vit.npz", tensors)
    named = build_root("vit_tiny", image_size=32)
    parts = renamed_parts()
    assert checkpoints.root_layout(parts)["second"] == (base.BLOCK, 1)
    checkpoints.load_into(parts, npz, root_spec("vit_tiny"))
    renamed = checkpoints.root_variables(parts)
    for key in checkpoints.root_variables(named):
        name, inner = key.split("/", 1)
        ours = f"{RENAMED[[n for n, _ in named].index(name)]}/{inner}"
        np.testing.assert_array_equal(renamed[ours].numpy(), tensors[ours_to_vit_jax(key)])
