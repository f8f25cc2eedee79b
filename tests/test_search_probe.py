"""Source probes and the probe seed order (search/probe.py, search/loop.py)."""

import subprocess
import sys

import numpy as np
import pytest

from keras_evomt.data import Task
from keras_evomt.errors import UserInputError
from keras_evomt.observe import Observer
from keras_evomt.path import Path
from keras_evomt.report import sources_probed, sources_tried
from keras_evomt.search import Search, default_config
from keras_evomt.search import probe as probe_module
from keras_evomt.search.config import validate
from keras_evomt.search.journal import CandidateJournal, is_probe
from keras_evomt.search.probe import (
    SourceProbe,
    features,
    probe_sources,
    ridge_fit_score,
    ridge_leave_one_out,
)
from tests.helpers import REPO, child_env, digits, kill_mid_generation_and_resume, tiny_system


def _blobs(n, num_classes, informative, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(num_classes, size=n)
    x = rng.normal(size=(n, 8))
    if informative:
        x[:, :num_classes] += 4 * np.eye(num_classes)[labels]
    return x, labels


def test_a_ridge_probe_scores_features_that_separate_the_classes_above_noise():
    good = ridge_fit_score(*_blobs(300, 4, True, 0), *_blobs(200, 4, True, 1), num_classes=4)
    noise = ridge_fit_score(*_blobs(300, 4, False, 0), *_blobs(200, 4, False, 1), num_classes=4)
    assert good[0] > 0.9 and noise[0] < 0.5
    assert good[1] < noise[1]  # and fits the one-hot targets more closely
    good_loo = ridge_leave_one_out(*_blobs(300, 4, True, 0), num_classes=4)
    noise_loo = ridge_leave_one_out(*_blobs(300, 4, False, 0), num_classes=4)
    assert good_loo[0] > 0.9 and noise_loo[0] < 0.5 and good_loo[1] < noise_loo[1]


def test_the_closed_form_leave_one_out_equals_refitting_without_each_example():
    x, y = _blobs(40, 3, True, 2)
    x[:, :3] += 3 * np.random.default_rng(3).normal(size=(40, 3))  # some now misclassified
    accuracy, loss = ridge_leave_one_out(x, y, num_classes=3)
    # Refit on the other 39, standardised and regularised as the closed form's one fit is.
    mean, scale = x.mean(0), x.std(0) + 1e-6
    design = np.hstack([(x - mean) / scale, np.ones((40, 1))])
    targets = np.eye(3)[y]
    hits, errors = [], []
    for i in range(40):
        rest = np.arange(40) != i
        gram = design[rest].T @ design[rest] + probe_module.RIDGE_L2 * 40 * np.eye(design.shape[1])
        predicted = design[i] @ np.linalg.solve(gram, design[rest].T @ targets[rest])
        hits.append(np.argmax(predicted) == y[i])
        errors.append(np.sum((predicted - targets[i]) ** 2))
    assert 0.5 < accuracy < 1.0
    assert accuracy == pytest.approx(np.mean(hits)) and loss == pytest.approx(np.mean(errors))


def test_probes_rank_by_accuracy_then_loss_ties_keeping_their_order(monkeypatch):
    system = tiny_system()
    x, y = digits(64)
    task = Task.from_arrays("digits8", x, y, num_classes=10, value_range=(0, 16))
    scores = {"a#0": (0.5, 0.3), "b#0": (0.8, 0.9), "c#0": (0.8, 0.4), "d#0": (0.5, 0.3)}
    scores["e#0"] = scores["a#0"]
    fitted = []
    monkeypatch.setattr(
        probe_module, "features", lambda system, path, data: (path.id, np.zeros(len(path.id)))
    )

    def fit(x_train, *rest):
        fitted.append(x_train)
        return scores[x_train]

    monkeypatch.setattr(probe_module, "ridge_fit_score", fit)
    # The root's layers at four image sizes: four probes, each fitted once.
    sources = [
        Path.from_json({**system.root.to_json(), "id": pid, "hparams": {"image_size": 8 * i + 8}})
        for i, pid in enumerate(["a#0", "b#0", "c#0", "d#0"])
    ]
    probes = probe_sources(
        system, sources, task, train_examples=16, validation_examples=16, batch_size=8
    )
    assert [p.source for p in probes] == ["c#0", "b#0", "a#0", "d#0"]
    assert fitted == ["a#0", "b#0", "c#0", "d#0"] and probes[0].train_examples == 3
    same_layers = [Path.from_json({**sources[0].to_json(), "id": "e#0"}), sources[0]]
    fitted.clear()
    twins = probe_sources(
        system, same_layers, task, train_examples=16, validation_examples=16, batch_size=8
    )
    assert fitted == ["e#0"] and [p.source for p in twins] == ["e#0", "a#0"]  # probed once
    halved = probe_sources(  # a score that halves one source's accuracy ranks it last
        system,
        sources,
        task,
        train_examples=16,
        validation_examples=16,
        batch_size=8,
        score=lambda accuracy, trunk: accuracy / (2 if trunk.id == "c#0" else 1),
    )
    assert [p.source for p in halved] == ["b#0", "a#0", "d#0", "c#0"]
    record = probes[0].record("digits8", 0, 0)
    assert is_probe(record) and record["steps"] == 0 and record["parent"] == "c#0"
    assert "id" not in record and "joined" not in record  # never taken for a candidate


def test_a_probe_on_real_features_fits_the_task_and_samples_alike_for_every_source():
    system = tiny_system()
    x, y = digits(256)
    task = Task.from_arrays("digits8", x, y, num_classes=10, value_range=(0, 16))
    (probe,) = probe_sources(
        system, [system.root], task, train_examples=128, validation_examples=32, batch_size=32
    )
    assert probe.source == "root" and 0.0 <= probe.accuracy <= 1.0 and probe.loss > 0
    again = probe_sources(
        system, [system.root], task, train_examples=128, validation_examples=32, batch_size=32
    )
    assert (again[0].accuracy, again[0].loss) == (probe.accuracy, probe.loss)
    (left_out,) = probe_sources(
        system,
        [system.root],
        task,
        train_examples=128,
        validation_examples=32,
        batch_size=32,
        estimate="leave_one_out",
    )
    both = [  # every sampled example, training and validation, counts
        features(system, system.root, probe_module._sample(task, split, system.root, n, 32))
        for split, n in (("train", 128), ("validation", 32))
    ]
    expected = ridge_leave_one_out(
        np.concatenate([both[0][0], both[1][0]]), np.concatenate([both[0][1], both[1][1]]), 10
    )
    assert (left_out.accuracy, left_out.loss) == pytest.approx(expected)
    assert left_out.record("digits8", 0, 0)["probe_estimate"] == "leave_one_out"
    assert probe.record("digits8", 0, 0)["probe_estimate"] == "holdout"


def test_a_seeded_sample_of_a_split_is_repeatable_and_not_its_first_examples():
    x, y = digits(256)
    task = Task.from_arrays("digits8", x, y, num_classes=10, value_range=(0, 16))

    def labels(**kwargs):
        ds = task.eval_dataset("train", image_size=8, batch_size=64, max_examples=64, **kwargs)
        return np.concatenate([b.numpy() for _, b in ds])

    first, sample = labels(), labels(shuffle_seed=0)
    assert len(sample) == 64 and not np.array_equal(first, sample)
    np.testing.assert_array_equal(sample, labels(shuffle_seed=0))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seed_order", "best", "use one of shuffle, probe"),
        ("probe_examples", 0, "it must be 1 or more"),
        ("probe_estimate", "kfold", "use one of holdout, leave_one_out"),
    ],
)
def test_a_bad_probe_setting_is_refused_by_name(key, value, message):
    config = default_config()
    config.parents[key] = value
    with pytest.raises(UserInputError, match=f"parents.{key}") as caught:
        validate(config)
    assert message in str(caught.value)


def _probe_config(tasks):
    from tests.helpers import tiny_search_config

    config = tiny_search_config(tasks)
    config.generations, config.candidates_per_generation = 1, 1
    config.parents.seed_order = "probe"
    config.parents.probe_examples = 64
    config.score.base_params = 0.9  # the probes' ranking carries the size term
    return config


@pytest.mark.slow
def test_a_new_tasks_first_generation_probes_every_source_and_starts_from_the_best(tmp_path):
    config = _probe_config(("digits", "textures", "lfw_faces"))
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        system = search.run()
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    assert not any(is_probe(r) for r in records if r["task"] == "digits")  # the root only
    assert list(system.paths) == ["digits", "textures", "lfw_faces"]
    for task, sources in (
        ("textures", {"digits", "root"}),
        ("lfw_faces", {"digits", "textures", "root"}),
    ):
        probes = [r for r in records if r["task"] == task and is_probe(r)]
        assert {r["parent"].rsplit("#", 1)[0] for r in probes} == sources
        assert [r["rank"] for r in probes] == list(range(len(sources)))
        keys = [(-r["score"], r["probe_loss"]) for r in probes]
        assert keys == sorted(keys)
        assert all(r["score"] < r["quality"] or r["quality"] == 0 for r in probes)  # size
        (trained,) = [r for r in records if r["task"] == task and not is_probe(r)]
        assert trained["parent"] == probes[0]["parent"]  # the best-probed source
    assert set(sources_probed(tmp_path)["lfw_faces"][1]) == {"digits", "textures", "root"}
    assert sum(sources_tried(tmp_path)["lfw_faces"].values()) == 1  # probes are not tries


RUN = """
import sys
sys.path.insert(0, {root!r})
from keras_evomt.observe import Observer
from keras_evomt.path import Path
from keras_evomt.search import Search
from tests.test_search_probe import _probe_config
config = _probe_config(("digits", "textures"))
config.candidates_per_generation = 3
config.mutation.head_init = "ridge"
import os
from keras_evomt.search import proposer
if os.path.exists(os.path.join({workdir!r}, "search", "state.json")):  # resuming: the
    # generation in flight keeps the heads fit before its proposals were committed
    def refit(*args, **kwargs):
        raise AssertionError("a committed proposal's head was fit again")
    proposer.start_head_by_ridge = refit
Search(config, {workdir!r}, observer=Observer({workdir!r}, quiet=True)).run()
"""


@pytest.mark.slow
def test_a_search_killed_after_its_probes_resumes_to_the_same_system_and_head_fits(tmp_path):
    from tests.test_search_loop import _fingerprints

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(
        [sys.executable, "-c", RUN.format(root=str(REPO), workdir=str(whole))],
        check=True,
        timeout=300,
        cwd=tmp_path,
        env=child_env(),
    )
    kill_mid_generation_and_resume(
        RUN.format(root=str(REPO), workdir=str(killed)), killed, "textures"
    )
    assert _fingerprints(killed) == _fingerprints(whole)

    def lines(workdir):
        records = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert lines(killed) == lines(whole)
    assert sum(map(is_probe, lines(whole))) == 2  # textures' two sources, probed once
    # Every candidate (one generation: all from other tasks or the root) started from a
    # fitted head, and the resumed run (which refuses to refit) logged the same fits.
    assert all("head_init" in line for line in lines(whole) if not is_probe(line))


def test_a_probe_record_is_one_journal_line(tmp_path):
    journal = CandidateJournal(tmp_path / "candidates.jsonl")
    journal.append([SourceProbe("root", 0.5, 0.25, 0.45, 0.1, 32, 64, 16).record("digits", 0, 0)])
    (line,) = journal.read()
    assert line["quality"] == 0.5 and line["probe_loss"] == 0.25 and line["probe"] is True
