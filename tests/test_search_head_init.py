"""A new head started as the ridge classifier of its frozen features (search/head_init.py)."""

import numpy as np
import pytest

from keras_evomt.data import Task
from keras_evomt.errors import UserInputError
from keras_evomt.path import ROOT, Path
from keras_evomt.path_model import PathModel
from keras_evomt.search import default_config
from keras_evomt.search.config import validate
from keras_evomt.search.head_init import TrunkFeatures, logit_scale, start_head_by_ridge
from keras_evomt.search.mutation import MutationOptions
from keras_evomt.search.population import Population
from keras_evomt.search.probe import (
    SAMPLE_SEED,
    features,
    ridge_fit,
    ridge_leave_one_out,
)
from keras_evomt.search.proposer import Proposer
from tests.helpers import digits, tiny_search_config, tiny_system


def _blobs(n=120, num_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(num_classes, size=n)
    x = rng.normal(size=(n, 6)) * rng.uniform(0.5, 5, size=6) + rng.normal(size=6)
    x[:, :num_classes] += 2 * np.eye(num_classes)[labels]
    return x, labels


def _softmax_cross_entropy(logits, labels):
    z = logits - logits.max(1, keepdims=True)
    return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(labels)), labels])


def test_ridge_weights_on_raw_features_predict_as_the_standardised_fit():
    x, y = _blobs()
    kernel, bias, _ = ridge_fit(x, y, num_classes=3)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    design = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    gram = design.T @ design + 0.01 * len(x) * np.eye(design.shape[1])
    expected = design @ np.linalg.solve(gram, design.T @ np.eye(3)[y])
    np.testing.assert_allclose(x @ kernel + bias, expected, atol=1e-9)


def test_left_out_scores_are_those_of_fits_without_each_example():
    x, y = _blobs(n=40, seed=3)
    _, _, scores = ridge_fit(x, y, num_classes=3)
    mean, scale = x.mean(0), x.std(0) + 1e-6  # standardised once, over every example
    design = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    targets = np.eye(3)[y]
    for i in range(len(x)):
        rest = np.arange(len(x)) != i
        gram = design[rest].T @ design[rest] + 0.01 * len(x) * np.eye(design.shape[1])
        refit = np.linalg.solve(gram, design[rest].T @ targets[rest])
        np.testing.assert_allclose(scores[i], design[i] @ refit, atol=1e-9)


def test_left_out_scores_are_the_ones_the_leave_one_out_probe_scores():
    x, y = _blobs(seed=1)
    _, _, scores = ridge_fit(x, y, num_classes=3)
    accuracy, loss = ridge_leave_one_out(x, y, num_classes=3)
    assert np.mean(np.argmax(scores, 1) == y) == accuracy < 1.0
    assert np.mean(np.sum((scores - np.eye(3)[y]) ** 2, 1)) == pytest.approx(loss)


def test_the_logit_scale_is_the_one_of_least_cross_entropy():
    x, y = _blobs(seed=2)
    _, _, scores = ridge_fit(x, y, num_classes=3)
    best = logit_scale(scores, y)
    grid = np.geomspace(0.01, 100, 4001)
    losses = [_softmax_cross_entropy(t * scores, y) for t in grid]
    assert best == pytest.approx(grid[int(np.argmin(losses))], rel=0.01)
    assert 0.1 < best < 100
    separated = np.eye(3)[y]  # every example right: more confidence is always better
    assert logit_scale(separated, y, largest=30.0) == 30.0
    assert logit_scale(-separated, y) < 1e-3  # every example wrong: the flattest logits


def _digits_task(n=256):
    x, y = digits(n)
    return Task.from_arrays("digits8", x, y, num_classes=10, value_range=(0, 16))


def test_a_new_head_starts_as_the_scaled_ridge_classifier_of_its_frozen_features():
    system = tiny_system()
    task = _digits_task()
    path = system.new_task_path(task.name, task.num_classes)
    head = system.components[path.components[-1]]
    assert not np.any(head.get_weights()[0])  # a new head starts at zero
    fit = start_head_by_ridge(system, path, task, examples=128, batch_size=32)
    assert fit["examples"] == 128 and 0.2 < fit["left_out_accuracy"] <= 1.0

    sample = task.eval_dataset(
        "train",
        image_size=path.image_size,
        batch_size=32,
        max_examples=128,
        shuffle_seed=SAMPLE_SEED,
    )
    x, y = features(system, path, sample)
    kernel, bias, _ = ridge_fit(x, y, task.num_classes)
    scale = fit["logit_scale"]
    logits = np.concatenate(
        [
            np.asarray(PathModel([system.components[c] for c in path.components])(images))
            for images, _ in sample
        ]
    )
    np.testing.assert_allclose(logits, scale * (x @ kernel + bias), rtol=1e-3, atol=1e-3)
    # The head already classifies (10 classes: chance is 0.1), its fit sample at least as
    # well as examples left out of the fit.
    assert np.mean(np.argmax(logits, 1) == y) >= fit["left_out_accuracy"] > 0.2


def test_only_training_examples_are_read_and_a_head_of_other_weights_is_not_fit():
    system = tiny_system()
    task = _digits_task(64)
    splits = []
    read = task.eval_dataset
    task.eval_dataset = lambda split, **kwargs: splits.append(split) or read(split, **kwargs)
    path = system.new_task_path(task.name, task.num_classes)
    start_head_by_ridge(system, path, task, examples=32, batch_size=32)
    assert splits == ["train"]  # a candidate's validation quality stays held out
    head = system.components[path.components[-1]]
    head.get_weights = lambda: [np.zeros((16, 8)), np.zeros(8), np.zeros((8, 10))]
    with pytest.raises(ValueError, match="one Dense kernel and bias on .* features"):
        start_head_by_ridge(system, path, task, examples=32, batch_size=32)


def test_a_fit_changes_the_heads_weights_digest():
    from keras_evomt import store

    system = tiny_system()
    task = _digits_task(64)
    path = system.new_task_path(task.name, task.num_classes)
    head = system.components[path.components[-1]]
    zero = store.digest(head)
    start_head_by_ridge(system, path, task, examples=32, batch_size=32)
    assert store.digest(head) != zero


def test_a_bad_head_init_is_refused_by_name():
    config = default_config()
    config.mutation.head_init = "random"
    with pytest.raises(UserInputError, match="mutation.head_init='random'.*zeros, ridge"):
        validate(config)
    config.mutation.head_init = "ridge"
    validate(config)
    config.distribute.strategy = "multi_worker_mirrored"
    with pytest.raises(UserInputError, match="workers' heads could differ"):
        validate(config)


def _proposals(head_init, parent_task=None):
    config = tiny_search_config(("digits8",))
    config.candidates_per_generation = 2
    config.parents.probe_examples = 64
    config.mutation.head_init = head_init
    system = tiny_system()
    system.start_task("digits8")
    task = _digits_task()
    seeds = [ROOT]
    incumbent = None
    if parent_task:  # a kept path of the task itself: its children clone its head
        incumbent = system.new_task_path("digits8", 10)
        incumbent.id = "digits8#0"
        head = system.components[incumbent.components[-1]]
        head.set_weights([np.full(w.shape, 0.5, "float32") for w in head.get_weights()])
        system.paths["digits8"] = incumbent
    population = Population.start("digits8", seeds=seeds, incumbent=incumbent, incumbent_score=0.5)
    options = MutationOptions(**config.mutation.to_dict())
    proposer = Proposer(config, system, np.random.default_rng(0), options)
    proposer.propose_generation(task, population, devices=[None])
    heads = []
    for proposal in population.proposals:
        child = Path.from_json(proposal["path"])
        kernel = system.components[child.components[-1]].get_weights()[0]
        heads.append((child.parent, kernel))
        fitted = child.parent == ROOT and head_init == "ridge"
        assert ("head_init" in proposal) == fitted  # what the fit measured, when fit
        if fitted:
            assert proposal["head_init"]["examples"] == 64
            assert 0 < proposal["head_init"]["logit_scale"] <= 100
    return heads


def test_a_search_with_ridge_heads_starts_each_new_head_fitted_and_clones_kept_ones():
    assert all(not np.any(kernel) for _, kernel in _proposals("zeros"))
    fitted = _proposals("ridge")
    assert all(parent == ROOT and np.any(kernel) for parent, kernel in fitted)
    np.testing.assert_array_equal(fitted[0][1], fitted[1][1])  # same features, same sample
    parents = set()
    for parent, kernel in _proposals("ridge", parent_task="digits8"):
        parents.add(parent)
        if parent == "digits8#0":  # the task's own head, cloned, not refit
            assert np.all(kernel == 0.5)
        else:
            np.testing.assert_array_equal(kernel, fitted[0][1])
    assert "digits8#0" in parents


def test_heads_on_alike_frozen_layers_share_one_forward_pass():
    from keras_evomt import store

    system = tiny_system()
    task = _digits_task(64)
    cache = TrunkFeatures(keep=2)
    first = system.new_task_path(task.name, task.num_classes)
    second = system.new_task_path(task.name, task.num_classes)  # its own norm: a clone
    norm = system.components[second.components[-2]]
    fits = [
        start_head_by_ridge(system, p, task, examples=32, batch_size=32, cache=cache)
        for p in (first, second)
    ]
    assert cache.passes == 1 and fits[0] == fits[1]
    heads = [system.components[p.components[-1]].get_weights() for p in (first, second)]
    for a, b in zip(*heads):
        np.testing.assert_array_equal(a, b)

    system.start_task(task.name)  # the norm is the task's own: hashed anew, never cached
    store.digest(norm)
    norm.set_weights([w + 0.5 for w in norm.get_weights()])  # trained, as by user code
    changed = start_head_by_ridge(system, second, task, examples=32, batch_size=32, cache=cache)
    assert cache.passes == 2 and changed != fits[0]
    start_head_by_ridge(system, first, task, examples=48, batch_size=32, cache=cache)
    assert cache.passes == 3  # another sample
    start_head_by_ridge(system, first, task, examples=32, batch_size=32, cache=cache)
    assert cache.passes == 4  # kept only the last 2 trunks
