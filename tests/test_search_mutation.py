"""Making a candidate from a parent: cloning, structure, adapters (search/mutation.py)."""

import numpy as np
import pytest

from keras_evomt.components import ClassificationHead, PositionEmbedding
from keras_evomt.search import REFERENCE_DEFAULTS, MutationOptions, make_candidate
from keras_evomt.search.mutation import encoder_layers
from keras_evomt.system import base_name
from tests.helpers import digits, tiny_system


def test_layer_cloning_rules():
    system = tiny_system()
    system.start_task("a")
    first = system.new_task_path("a", 10)
    first.id = "a#0"
    system.end_task(first)
    system.start_task("b")
    rng = np.random.default_rng(0)
    hparams = {**REFERENCE_DEFAULTS, "image_size": 32}
    share = make_candidate(system, first, "b", 3, {**hparams, "_mu_": 0.0}, rng, MutationOptions())
    shared = [c for c in share.components if c in first.components]
    assert shared == first.components[:-2]  # everything frozen is shared at µ=0
    assert base_name(share.components[-2]) == "encoder_norm"  # always its own
    head = system.components[share.components[-1]]
    assert isinstance(head, ClassificationHead) and head.num_classes == 3
    assert not np.any(head.get_weights()[0])  # a new, zero-initialised head
    clone_all = make_candidate(
        system, first, "b", 3, {**hparams, "_mu_": 1.0}, rng, MutationOptions()
    )
    assert not set(clone_all.components) & set(first.components)
    # From its own task's path: own components are always cloned, the head inherited.
    own = make_candidate(system, share, "b", 3, {**hparams, "_mu_": 0.0}, rng, MutationOptions())
    assert own.components[:-2] == share.components[:-2]
    np.testing.assert_array_equal(
        system.components[own.components[-1]].get_weights()[0], head.get_weights()[0]
    )
    assert own.components[-1] != share.components[-1]
    bigger = make_candidate(
        system, first, "b", 3, {**hparams, "_mu_": 0.0, "image_size": 48}, rng, MutationOptions()
    )
    positions = system.components[bigger.components[2]]
    assert isinstance(positions, PositionEmbedding) and positions.grid_size == 6
    assert system.model(bigger)(np.zeros((1, 48, 48, 3), "float32")).shape == (1, 3)


@pytest.mark.slow
def test_frozen_components_are_cloned_with_probability_mu():
    system = tiny_system()
    system.start_task("a")
    rng = np.random.default_rng(3)
    hparams = {**REFERENCE_DEFAULTS, "_mu_": 0.3, "image_size": 32}
    frozen = system.root.components[:-1]  # the final norm is always cloned
    cloned = 0
    trials = 300
    for _ in range(trials):
        child = make_candidate(system, system.root, "a", 10, hparams, rng, MutationOptions())
        cloned += sum(c not in frozen for c in child.components[: len(frozen)])
        system.gc()
    assert cloned / (trials * len(frozen)) == pytest.approx(0.3, abs=0.03)


def test_structural_actions_and_baseline_modes():
    system = tiny_system()
    system.start_task("a")
    rng = np.random.default_rng(0)
    hparams = {**REFERENCE_DEFAULTS, "_mu_": 1.0, "image_size": 32, "adapter_dim": 4}
    grown = make_candidate(
        system,
        system.root,
        "a",
        10,
        hparams,
        rng,
        MutationOptions(insert_block=True, adapters=True),
    )
    names = [base_name(c) for c in grown.components]
    assert any(n.startswith("adapter") for n in names)
    assert any(n.endswith("_inserted") for n in names)
    x = digits(4)[0]
    plain = make_candidate(
        system, system.root, "a", 10, {**hparams, "_mu_": 0.0}, rng, MutationOptions()
    )
    # identity-initialised insertions leave the function unchanged (heads are zero: compare
    # the features before the head)
    from keras_evomt.path import PathModel

    def features(path):
        return PathModel([system.components[c] for c in path.components[:-1]])(x).numpy()

    np.testing.assert_allclose(features(grown)[:, 0], features(plain)[:, 0], atol=1e-5)
    adapters = make_candidate(
        system, system.root, "a", 10, hparams, rng, MutationOptions(clone_mode="adapters")
    )
    assert sum(base_name(c).startswith("adapter") for c in adapters.components) == 2
    bottom = make_candidate(
        system,
        system.root,
        "a",
        10,
        hparams,
        rng,
        MutationOptions(clone_mode="freeze_bottom", freeze_bottom=1),
    )
    root = system.root.components
    assert bottom.components[:4] == root[:4] and bottom.components[4] != root[4]
    scratch = make_candidate(
        system, system.root, "a", 10, hparams, rng, MutationOptions(clone_mode="scratch")
    )
    assert not set(scratch.components) & set(root)
    fresh, original = (
        system.components[p.components[3]].get_weights()[4] for p in (scratch, system.root)
    )
    assert fresh.shape == original.shape and not np.array_equal(fresh, original)


def test_num_layers_drops_top_blocks_and_regrows_them_from_ancestors():
    system = tiny_system()  # 2 blocks
    system.start_task("a")
    rng = np.random.default_rng(0)
    frozen = {**REFERENCE_DEFAULTS, "_mu_": 0.0, "image_size": 32}
    root_blocks = [layer.block for layer in encoder_layers(system, system.root)]
    short = make_candidate(
        system, system.root, "a", 10, {**frozen, "num_layers": 1}, rng, MutationOptions()
    )
    assert [layer.block for layer in encoder_layers(system, short)] == root_blocks[:1]
    assert short.hparams["num_layers"] == 1
    short.id = "a#0"
    # Grown back: block 1 comes from the closest ancestor that has one (the root).
    regrown = make_candidate(
        system, short, "a", 10, {**frozen, "num_layers": 2}, rng, MutationOptions(), [system.root]
    )
    assert [layer.block for layer in encoder_layers(system, regrown)] == root_blocks
    # Beyond every ancestor: a new, randomly initialised block.
    grown = make_candidate(
        system, system.root, "a", 10, {**frozen, "num_layers": 3}, rng, MutationOptions()
    )
    blocks = [layer.block for layer in encoder_layers(system, grown)]
    assert blocks[:2] == root_blocks and blocks[2] not in system.root.components
    assert base_name(blocks[2]) == "encoderblock_2" and system.is_trainable(blocks[2], "a")
    model = system.model(grown)
    assert model(digits(2)[0]).shape == (2, 10)


def test_adapters_are_added_with_probability_mu_kept_and_renewed_with_their_size():
    system = tiny_system()
    system.start_task("a")
    rng = np.random.default_rng(0)
    hparams = {**REFERENCE_DEFAULTS, "_mu_": 1.0, "image_size": 32, "adapter_dim": 4}
    with_adapters = make_candidate(
        system, system.root, "a", 10, hparams, rng, MutationOptions(adapters=True)
    )
    layers = encoder_layers(system, with_adapters)
    assert all(layer.adapter for layer in layers) and with_adapters.hparams["adapter_layers"] == [
        0,
        1,
    ]
    with_adapters.id = "a#0"
    calm = {**hparams, "_mu_": 0.0}
    kept = make_candidate(system, with_adapters, "a", 10, calm, rng, MutationOptions(adapters=True))
    # never removed; trainable for "a" (its own), so cloned with their weights
    kept_adapters = [layer.adapter for layer in encoder_layers(system, kept)]
    assert all(kept_adapters) and set(kept_adapters).isdisjoint(layer.adapter for layer in layers)
    resized = make_candidate(
        system,
        with_adapters,
        "a",
        10,
        {**calm, "adapter_dim": 8},
        rng,
        MutationOptions(adapters=True),
    )
    new = [system.components[layer.adapter] for layer in encoder_layers(system, resized)]
    assert [a.adapter_dim for a in new] == [8, 8]
    assert all(not np.any(a.get_weights()[-2]) for a in new)  # zero 'up' kernel: identity
