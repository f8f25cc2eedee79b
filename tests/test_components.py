import re

import keras
import numpy as np
import pytest

from keras_evomt.components import (
    ClassificationHead,
    ClassToken,
    EncoderBlock,
    EncoderNorm,
    PatchEmbedding,
    PositionEmbedding,
    ResidualAdapter,
    build_root,
    component_class,
    registered_name,
    resize_position_table,
)
from keras_evomt.errors import UserInputError

SEQUENCE = (None, 17, 16)
CASES = [
    (PatchEmbedding(16, 8), (None, 32, 32, 3), 8 * 8 * 3 * 16 + 16),
    (ClassToken(), (None, 16, 16), 16),
    (PositionEmbedding(4), SEQUENCE, 17 * 16),
    (EncoderBlock(2, 32), SEQUENCE, 4 * (16 * 16 + 16) + 2 * 2 * 16 + 16 * 32 + 32 + 32 * 16 + 16),
    (EncoderNorm(), SEQUENCE, 32),
    (ClassificationHead(10), SEQUENCE, 16 * 10 + 10),
    (ResidualAdapter(4), SEQUENCE, 2 * 16 + 16 * 4 + 4 + 4 * 16 + 16),
]


@pytest.mark.parametrize("component,shape,params", CASES, ids=lambda c: type(c).__name__)
def test_component_contract(component, shape, params):
    component.build(shape)
    assert component.param_count() == params
    assert component_class(registered_name(type(component))) is type(component)
    # get_config round trip through Keras serialization, then equal outputs.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(component))
    assert type(restored) is type(component)
    assert restored.get_config() == component.get_config()
    assert restored.built  # Keras rebuilt it from the build config
    restored.set_weights(component.get_weights())
    x = np.random.default_rng(0).normal(size=(2, *shape[1:])).astype("float32")
    np.testing.assert_array_equal(restored(x), component(x))
    out = component.compute_output_shape(shape)
    assert tuple(component(x).shape[1:]) == tuple(out[1:])


def test_flops_of_an_encoder_block_follow_the_formula():
    block = EncoderBlock(num_heads=2, mlp_dim=32)
    block.build(SEQUENCE)
    length, hidden, mlp = 17, 16, 32
    expected = 2 * length * 4 * hidden**2 + 4 * length**2 * hidden + 4 * length * hidden * mlp
    assert block.flops((length, hidden)) == expected


def test_new_head_adapter_and_identity_block_start_as_expected():
    x = np.random.default_rng(1).normal(size=(3, 17, 16)).astype("float32")
    head = ClassificationHead(5)
    np.testing.assert_array_equal(head(x), np.zeros((3, 5)))
    np.testing.assert_allclose(ResidualAdapter(4)(x), x, atol=0)
    np.testing.assert_allclose(EncoderBlock(2, 32, identity_init=True)(x), x, atol=0)
    assert np.abs(EncoderBlock(2, 32)(x) - x).max() > 1e-3


def test_position_embedding_resizes_by_interpolation():
    grid = np.arange(4.0)[:, None] + 10 * np.arange(4.0)[None, :]  # linear in coordinates
    table = np.concatenate([[[[-7.0]]], grid.reshape(1, 16, 1)], axis=1).astype("float32")
    resized = resize_position_table(table, 4, 7)
    assert resized.shape == (1, 50, 1)
    assert resized[0, 0, 0] == -7.0
    new_grid = resized[0, 1:, 0].reshape(7, 7)
    np.testing.assert_allclose(new_grid[:, 0], np.linspace(0, 3, 7), atol=1e-5)  # still linear
    np.testing.assert_allclose(new_grid[0], 10 * np.linspace(0, 3, 7), atol=1e-5)
    embedding = PositionEmbedding(4)
    embedding.build((None, 17, 1))
    embedding.embedding.assign(table)
    bigger = embedding.resized(7)
    assert bigger.grid_size == 7 and bigger.param_count() == 50
    np.testing.assert_allclose(bigger.embedding.numpy(), resized)


@pytest.mark.slow
def test_vit_l16_has_the_reference_parameter_count():
    parts = build_root("vit_l16")
    head = ClassificationHead(2)
    head.build((None, 197, 1024))
    assert sum(c.param_count() for _, c in parts) + head.param_count() == 303_303_682


def test_bad_arguments_are_reported_with_the_value():
    with pytest.raises(ValueError, match="Received: hidden_dim=0"):
        PatchEmbedding(0, 16)
    with pytest.raises(UserInputError, match="unknown root 'vit_x'"):
        build_root("vit_x")
    with pytest.raises(UserInputError, match="not a multiple"):
        build_root("vit_tiny", image_size=30)


def test_the_package_exports_every_component_name_and_no_other():
    import keras_evomt
    from keras_evomt import components

    assert sorted(keras_evomt._COMPONENTS) == sorted(components.__all__)
    for name in components.__all__:
        assert getattr(keras_evomt, name) is getattr(components, name)


def test_a_user_class_cannot_take_a_built_in_components_stored_name():
    from keras_evomt.components import EncoderBlock, register_component
    from keras_evomt.components.base import Component, component_class
    from keras_evomt.errors import UserInputError

    class EncoderBlock2(Component):
        pass

    EncoderBlock2.__name__ = "EncoderBlock"
    with pytest.raises(UserInputError, match="already registered as 'keras_evomt>EncoderBlock'"):
        register_component(EncoderBlock2)
    assert component_class("keras_evomt>EncoderBlock") is EncoderBlock


@pytest.mark.parametrize("thing", [keras.layers.Dense, "Dense", None])
def test_only_component_subclasses_can_be_registered(thing):
    from keras_evomt.components import register_component
    from keras_evomt.components.base import registered_components
    from keras_evomt.errors import UserInputError

    before = registered_components()
    with pytest.raises(UserInputError, match="takes a subclass of keras_evomt.Component"):
        register_component(thing)
    assert registered_components() == before


def _root_parts(*middle, end=True):
    """vit_tiny's root parts with `middle` (name, component) pairs after block 0."""
    parts = build_root("vit_tiny", image_size=32, patch_size=8)
    blocks = [i for i, (_, c) in enumerate(parts) if c.role == "block"]
    parts = parts[: blocks[0] + 1] + list(middle) + parts[blocks[0] + 1 :]
    return parts if end else parts[:-1]


def _built(component, shape=(None, 17, 32)):
    component.build(shape)
    return component


@pytest.fixture
def scratch_registry():
    """Classes a test registers are forgotten after it (other tests list the built-in ones)."""
    from keras.src.saving import object_registration

    from keras_evomt.components import base

    saved = [
        (registry, dict(registry))
        for registry in (
            base._REGISTRY,
            object_registration.GLOBAL_CUSTOM_OBJECTS,
            object_registration.GLOBAL_CUSTOM_NAMES,
        )
    ]
    yield
    for registry, before in saved:
        registry.clear()
        registry.update(before)


def test_a_root_refuses_what_its_paths_could_not_keep_or_a_save_could_not_load(
    scratch_registry,
):
    from keras_evomt.components.base import Component, register_component
    from keras_evomt.system import System

    class Unregistered(Component):
        pass

    @register_component
    class TrialScale(Component):
        def call(self, x):
            return 2.0 * x

    @register_component
    class TrialBadRole(Component):
        role = "Block"

    @register_component
    class TrialAdapter(Component):
        role = "adapter"

    def root(*middle, end=True):
        return System.from_root_components(_root_parts(*middle, end=end), {}, image_size=32)

    cases = [
        ((("dense", _built(keras.layers.Dense(4))),), "is a Dense, not a keras_evomt Component"),
        ((("mine", _built(Unregistered())),), "class Unregistered is not registered"),
        ((("scale", _built(TrialScale())),), "component 'scale' (no role) sits among the root"),
        ((("typo", _built(TrialBadRole())),), "TrialBadRole.role is 'Block', which is not a"),
        ((("adapter", _built(TrialAdapter())),), "an adapter (TrialAdapter) must have an int"),
        ((("head", _built(ClassificationHead(3))),), "the root holds a head ('head')"),
    ]
    for middle, message in cases:
        with pytest.raises(UserInputError, match=re.escape(message)):
            root(*middle)
    with pytest.raises(UserInputError, match="a root must end with one norm"):
        root(end=False)
    hints = {"dense": "register_component", "scale": "place it before the first block"}
    for middle, _ in cases[:3]:
        with pytest.raises(UserInputError) as error:
            root(*middle)
        assert hints.get(middle[0][0], "register_component") in error.value.hint
    parts = _root_parts()
    stem = [("scale", _built(TrialScale(), (None, 32, 32, 3)))] + parts
    assert System.from_root_components(stem, {}, image_size=32).root.components[0] == "scale.0"
