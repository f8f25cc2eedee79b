import json
import subprocess
import sys

import numpy as np
import pytest

from keras_evomt.components import ClassificationHead, PositionEmbedding
from keras_evomt.errors import EvomtError
from keras_evomt.observe import Observer
from keras_evomt.path import Path
from keras_evomt.search import (
    REFERENCE_DEFAULTS,
    REFERENCE_SPACE,
    MutationOptions,
    Population,
    Scorer,
    Search,
    choose_parent,
    joins_population,
    make_candidate,
    mutate,
)
from keras_evomt.search.journal import CandidateJournal
from keras_evomt.search.mutation import encoder_layers
from keras_evomt.search.space import data_keys, model_keys
from keras_evomt.system import base_name
from tests.helpers import digits, kill_mid_generation_and_resume, tiny_search_config, tiny_system


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


def test_score_formula_and_improvement_rule():
    assert Scorer().score(0.8, accounted_params=5e9, flops=1e13) == 0.8
    scorer = Scorer(base_params=0.99, ref_params=2.2e9, base_flops=0.99, ref_flops=3.8e12)
    expected = 0.9 * 0.99 ** (1.1e9 / 2.2e9) * 0.99 ** (7.6e12 / 3.8e12)
    assert scorer.score(0.9, accounted_params=1.1e9, flops=7.6e12) == pytest.approx(expected)
    assert joins_population(0.5, 0.5, same_task=True)
    assert not joins_population(0.49, 0.5, same_task=True)
    assert joins_population(0.1, 0.9, same_task=False)


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


def test_schedules_follow_the_reference():
    from keras_evomt.training import learning_rate_schedule

    cosine = learning_rate_schedule({"opt_lr": 0.1, "opt_lr_warmup_ratio": 0.1}, 100)
    assert cosine(0) == pytest.approx(0.001) and cosine(10) == pytest.approx(0.1)
    assert cosine(99) < 0.001
    restarts = learning_rate_schedule({"opt_lr": 0.1, "opt_lr_schedule": "restarts"}, 400, 4)
    assert [restarts(s) for s in (0, 100, 200)] == pytest.approx([0.001] * 3)
    assert restarts(50) == pytest.approx(restarts(150))
    constant = learning_rate_schedule({"opt_lr": 0.1, "opt_lr_schedule": "constant"}, 10)
    assert constant(0) == constant(9) == 0.05


def test_a_late_divergence_keeps_the_best_earlier_round():
    import tensorflow as tf

    from keras_evomt.training import CandidateTrainer

    x, y = digits(64)
    valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    clean = np.tile(x, (2, 1, 1, 1))[:96]  # 3 clean steps (one round), then NaN images
    images = np.concatenate([clean, np.full((320, *x.shape[1:]), np.nan, "float32")])
    labels = np.concatenate([np.tile(y, 2)[:96], np.zeros(320, "int32")])
    train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32)
    system = tiny_system()
    system.start_task("a")
    path = system.new_task_path("a", 10, {"opt_lr": 0.05})
    result = CandidateTrainer().train(system, path, train, valid, rounds=3, steps_per_round=3)
    assert result.rounds and len(result.rounds) == 1 and result.best_round == 0
    assert all(
        np.isfinite(w).all() for c in path.components for w in system.components[c].get_weights()
    )


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


def test_three_tasks_transfer_and_zero_forgetting(tmp_path):
    config = tiny_search_config(("digits", "textures", "lfw_faces"))
    config.candidates_per_generation = 3
    search = Search(config, tmp_path, observer=Observer(tmp_path, quiet=True))
    probe = digits(8)[0]
    fingerprints, predictions = {}, {}
    for task in config.tasks:
        search.evolve(task)
        for old in fingerprints:
            assert search.system.fingerprint(old) == fingerprints[old]
            np.testing.assert_array_equal(search.system.model(old)(probe), predictions[old])
        fingerprints[task] = search.system.fingerprint(task)
        predictions[task] = search.system.model(task)(probe).numpy()
    paths = search.system.paths
    assert all("test_accuracy" in p.metrics for p in paths.values())
    assert (tmp_path / "tb").is_dir()
    # The first generation of a later task tries several sources (other tasks, the root).
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    assert len(records) == 3 * 3 and all("hparams" in r and "quality" in r for r in records)
    for task, sources in (("textures", 2), ("lfw_faces", 3)):
        first = [r for r in records if r["task"] == task and r["generation"] == 0]
        tried = {r["parent"].rsplit("#", 1)[0] for r in first}
        assert len(tried) == sources, (task, tried)


def test_a_nan_candidate_is_recorded_and_the_search_goes_on(tmp_path):
    config = tiny_search_config(("digits",))
    config.space.opt_lr = [1e30]
    config.defaults.opt_lr = 1e30
    config.max_consecutive_failures = 2
    search = Search(config, tmp_path, observer=Observer(tmp_path, quiet=True))
    with pytest.raises(EvomtError, match="2 candidates of 'digits' failed in a row"):
        search.evolve("digits")
    state = json.loads((tmp_path / "search" / "state.json").read_text())
    assert "became nan" in state["population"]["proposals"][0]["outcome"]["failed"]


def test_a_damaged_newest_state_restarts_the_task_in_flight(tmp_path):
    from keras_evomt import store

    config = tiny_search_config(("digits", "textures"))
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.run()
        newest = search.state.system_state
    # The state the search state names (textures finished) is damaged; the one before it
    # still has textures in flight.
    (store.system_dir(tmp_path) / f"manifest-{newest:08d}.json").write_text("{")
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        system = search.run()
    assert list(system.paths) == ["digits", "textures"]
    assert "test_accuracy" in system.paths["textures"].metrics


def test_a_generation_shares_its_image_size_and_data_hyperparameters(tmp_path, monkeypatch):
    from keras_evomt.observe import CandidateLog

    records = []
    monkeypatch.setattr(
        CandidateLog,
        "finished",
        lambda log, record, hp: records.append(
            (record, {k: v for k, v in hp.items() if k.startswith("ds_")})
        ),
    )
    config = tiny_search_config(("digits",))
    config.generations, config.candidates_per_generation = 3, 2
    config.space.image_size = [16, 24, 32, 40]
    config.space._mu_ = [1.0]
    config.defaults._mu_ = 1.0  # every key moves each generation
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.evolve("digits")
    by_generation: dict[int, set] = {}
    for record, data in records:
        by_generation.setdefault(record["generation"], set()).add(
            (record["image_size"], tuple(sorted(data.items())))
        )
    assert sorted(by_generation) == [0, 1, 2]
    assert all(len(shared) == 1 for shared in by_generation.values())
    assert len({next(iter(s))[0] for s in by_generation.values()}) > 1  # sizes did change


RUN = """
import sys
sys.path.insert(0, {root!r})
from keras_evomt.observe import Observer
from keras_evomt.search import Search
from tests.helpers import tiny_search_config
config = tiny_search_config(("digits", "textures"))
config.candidates_per_generation = 3
Search(config, {workdir!r}, observer=Observer({workdir!r}, quiet=True)).run()
"""


def _fingerprints(workdir):
    from keras_evomt.system import System

    system = System.load(workdir)
    return {t: system.fingerprint(t) for t in system.paths}, len(system.components)


def test_a_killed_search_resumes_to_the_same_system(tmp_path):
    import os

    root = os.getcwd()
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        [sys.executable, "-c", RUN.format(root=root, workdir=str(whole))], check=True, timeout=300
    )
    kill_mid_generation_and_resume(RUN.format(root=root, workdir=str(killed)), killed, "digits")
    assert _fingerprints(killed) == _fingerprints(whole)

    def candidates(workdir):
        lines = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
        return [{k: v for k, v in r.items() if k != "seconds"} for r in lines]

    assert candidates(killed) == candidates(whole) and len(candidates(whole)) == 6


def test_a_generation_draws_its_parents_from_the_population_as_it_began(tmp_path):
    config = tiny_search_config(("digits",))
    config.generations, config.candidates_per_generation = 3, 3
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        search.evolve("digits")
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    assert [r["generation"] for r in records] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert {r["parent"] for r in records if r["generation"] == 0} == {"root"}
    for generation in (1, 2):
        mine = {r["id"] for r in records if r["generation"] == generation}
        earlier_members = {r["id"] for r in records if r["generation"] < generation and r["joined"]}
        parents = {r["parent"] for r in records if r["generation"] == generation}
        assert not parents & mine  # never a sibling of the same generation
        assert parents <= earlier_members | {"root"}


def test_journal_keeps_only_committed_lines(tmp_path):
    journal = CandidateJournal(tmp_path / "search" / "candidates.jsonl")
    committed = journal.append([{"id": "a#0"}, {"id": "a#1"}])
    journal.append([{"id": "a#2"}])  # a crash before the commit that names it
    with open(journal.path, "ab") as f:
        f.write(b'{"id": "a#3", "qual')  # and a torn line
    journal.truncate(committed)
    assert [r["id"] for r in journal.read()] == ["a#0", "a#1"]


def test_ties_rank_older_first_and_the_best_is_the_newest():
    population = Population.start("a", ["root"], None)
    for serial in range(3):
        path = Path(task="a", components=[], hparams={"image_size": 32}, id=f"a#{serial}")
        population.add(path, quality=0.5, score=0.5)
    assert population.ranked_ids() == ["a#0", "a#1", "a#2"]
    assert population.best().id == "a#2"


def test_population_state_round_trips():
    population = Population.start("a", ["root"], None)
    population.offspring["root"] = 2
    assert Population.from_state(json.loads(json.dumps(population.get_state()))) == population


def test_xla_compiled_training_matches_the_default(tmp_path):
    import tensorflow as tf

    from keras_evomt.training import CandidateTrainer

    x, y = digits(64)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
    valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    outcomes = []
    for jit in (False, True):
        system = tiny_system()
        system.start_task("a")
        path = system.new_task_path("a", 10, {"opt_lr": 0.05})
        result = CandidateTrainer(jit_compile=jit).train(
            system, path, train, valid, rounds=1, steps_per_round=3
        )
        outcomes.append((result.quality, system.components[path.components[-1]].get_weights()))
    (q0, w0), (q1, w1) = outcomes
    assert np.abs(w0[0]).max() > 0
    for a, b in zip(w0, w1):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_candidates_of_one_architecture_share_one_trace():
    import tensorflow as tf

    from keras_evomt.training import CandidateTrainer
    from keras_evomt.training.trainer import architecture_key

    x, y = digits(64)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
    valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    system = tiny_system()
    system.start_task("a")
    trainer = CandidateTrainer()
    paths = [system.new_task_path("a", 10) for _ in range(3)]
    assert len({architecture_key(system, p) for p in paths}) == 1
    for path in paths:
        trainer.train(system, path, train, valid, rounds=1, steps_per_round=2)
    assert trainer.traces == 1
    heads = [system.components[p.components[-1]].get_weights()[0] for p in paths]
    assert all(np.abs(h).max() > 0 for h in heads)  # each trained its own variables


def test_search_state_round_trips_and_keeps_bookkeeping_per_system_state(tmp_path):
    from keras_evomt.search.state import SearchState

    class Saved:  # stands for a System: numbered saves
        number = 0

        def save(self, workdir, keep):
            self.number += 1
            return self.number

    state, system = SearchState.new(seed=3), Saved()
    state.population = Population.start("a", ["root"], None)
    state.rng.random()
    for position in range(4):
        state.position = position
        state.offspring = {"a": {"root": position}}
        state.commit(tmp_path, system, keep=2)
    opened = SearchState.open(tmp_path, seed=3)
    assert opened.to_dict() == state.to_dict() and opened.population == state.population
    assert sorted(opened.checkpoints) == ["3", "4"]  # as many as the system states kept
    opened.rewind_to(3, info={})
    assert opened.position == 2 and opened.offspring == {"a": {"root": 2}}
    assert opened.population is None
    # Version 1 kept the bookkeeping in the system's info: taken over on opening.
    legacy = SearchState.from_dict({"version": 1, "position": 1}, seed=3)
    info = {"offspring": {"a": {"root": 5}}, "sequence_position": 1, "root": "vit_tiny"}
    legacy.adopt_legacy(info)
    assert legacy.offspring == {"a": {"root": 5}} and info == {"root": "vit_tiny"}
