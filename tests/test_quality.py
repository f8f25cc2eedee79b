"""Validation quality rules: the reference's accuracy, accuracy with the validation
likelihood ranking candidates of equal counts, and the validation likelihood alone."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from keras_evomt.errors import UserInputError
from keras_evomt.search.config import default_config, validate
from keras_evomt.training.quality import QUALITY_RULES, ValidationCounts, quality_of


def test_accuracy_is_the_share_of_correct_examples_whatever_the_loss():
    assert quality_of(ValidationCounts(9, 12, 0.1)) == 0.75
    assert quality_of(ValidationCounts(9, 12, 50.0), "accuracy") == 0.75


def test_one_more_correct_example_always_ranks_higher_under_the_likelihood_rule():
    examples, extra_losses = 16, [0.0, 1e-3, 0.5, 5.0, 1e4]

    def qualities(correct):  # a wrong prediction gives its class p < 1/2: loss > ln 2
        return [
            quality_of(
                ValidationCounts(correct, examples, (examples - correct) * math.log(2) + extra),
                "accuracy_likelihood",
            )
            for extra in extra_losses
        ]

    for correct in range(examples):
        assert min(qualities(correct + 1)) > max(qualities(correct))


def test_equal_counts_rank_by_validation_loss_under_the_likelihood_rule():
    qualities = [
        quality_of(ValidationCounts(16, 16, loss), "accuracy_likelihood")
        for loss in (0.0, 0.8, 3.2, 40.0)
    ]
    assert qualities == sorted(qualities, reverse=True) and len(set(qualities)) == 4
    assert qualities[0] == 1.0  # every example right, with certainty
    assert quality_of(ValidationCounts(16, 16, 3.2), "accuracy_likelihood") == pytest.approx(
        (16 + math.exp(-0.2)) / 17
    )


def test_the_counting_rules_stay_within_accuracy_and_one_example_more():
    cases = [(0, 30.0), (3, 2.0), (10, 0.0)]
    for (correct, loss), rule in itertools.product(cases, ("accuracy", "accuracy_likelihood")):
        counts = ValidationCounts(correct, 10, loss)
        value = quality_of(counts, rule)
        assert counts.accuracy * 10 / 11 <= value <= (correct + 1) / 10


def test_a_nan_or_infinite_validation_loss_ranks_as_the_least_likely():
    for loss in (math.nan, math.inf):
        assert quality_of(ValidationCounts(7, 10, loss), "accuracy_likelihood") == 7 / 11


def test_every_rule_gives_a_quality_between_zero_and_one():
    for (correct, loss), rule in itertools.product([(0, 90.0), (4, 2.0), (10, 0.0)], QUALITY_RULES):
        assert 0.0 <= quality_of(ValidationCounts(correct, 10, loss), rule) <= 1.0


def test_the_likelihood_rule_is_the_geometric_mean_probability_of_the_true_labels():
    assert quality_of(ValidationCounts(15, 16, 1.6), "likelihood") == pytest.approx(math.exp(-0.1))
    assert quality_of(ValidationCounts(0, 4, 0.0), "likelihood") == 1.0
    for loss in (math.nan, math.inf):
        assert quality_of(ValidationCounts(10, 10, loss), "likelihood") == 0.0


def test_the_likelihood_rule_ranks_by_loss_not_by_count():
    surer = ValidationCounts(correct=14, examples=16, loss_sum=2.0)
    luckier = ValidationCounts(correct=15, examples=16, loss_sum=4.0)
    assert quality_of(surer, "likelihood") > quality_of(luckier, "likelihood")
    assert quality_of(surer, "accuracy_likelihood") < quality_of(luckier, "accuracy_likelihood")


def test_under_the_size_score_the_likelihood_rule_is_a_penalised_log_likelihood():
    from keras_evomt.search.scoring import Scorer

    scorer = Scorer(base_params=0.9, ref_params=1000.0)
    counts = ValidationCounts(30, 40, 12.0)
    score = scorer.score(quality_of(counts, "likelihood"), accounted_params=400.0, flops=0)
    assert math.log(score) == pytest.approx(-counts.mean_loss + 0.4 * math.log(0.9))


def test_a_non_finite_validation_loss_is_left_out_of_the_stored_outcome():
    from keras_evomt.search.loop import _outcome
    from keras_evomt.training import TrainResult

    def outcome(loss):
        result = TrainResult(0.5, [0.5], 0, 3, 1.0, 0.7, 0.5, loss, validation_examples=8)
        return _outcome(result)

    assert outcome(0.25)["validation_loss"] == 0.25
    assert "validation_loss" not in outcome(math.nan) and "validation_loss" not in outcome(math.inf)
    assert outcome(math.nan)["accuracy"] == 0.5
    assert outcome(math.nan)["examples"] == 8


def _kept(rule, correct=15, examples=16, loss_sum=1.6):
    counts = ValidationCounts(correct, examples, loss_sum)
    return counts, {
        "validation_accuracy": counts.accuracy,
        "validation_quality": quality_of(counts, rule),
        "quality_rule": rule,
        "validation_loss": counts.mean_loss,
        "validation_examples": examples,
    }


@pytest.mark.parametrize("kept_by, rule", itertools.permutations(QUALITY_RULES, 2))
def test_a_path_kept_under_one_rule_is_rescored_under_another_from_its_counts(kept_by, rule):
    from keras_evomt.search.scoring import validation_quality

    counts, metrics = _kept(kept_by)
    assert validation_quality(metrics, rule) == pytest.approx(quality_of(counts, rule))
    assert validation_quality(metrics, kept_by) == metrics["validation_quality"]
    assert validation_quality(metrics) == metrics["validation_quality"]


def test_a_path_with_a_non_finite_loss_rescores_as_the_least_likely():
    from keras_evomt.search.scoring import validation_quality

    _, metrics = _kept("accuracy", correct=4, examples=8)
    del metrics["validation_loss"]  # not stored when NaN or infinite
    assert validation_quality(metrics, "likelihood") == 0.0
    assert validation_quality(metrics, "accuracy_likelihood") == pytest.approx(4 / 9)


def test_a_path_without_its_rule_or_counts_keeps_its_stored_quality_or_says_why_not():
    from keras_evomt.search.scoring import validation_quality

    legacy = {"validation_accuracy": 0.75, "validation_quality": 0.8}  # no rule recorded
    assert validation_quality(legacy, "likelihood") == 0.8
    assert validation_quality(legacy, "likelihood", assumed_rule="likelihood") == 0.8
    assert validation_quality({"validation_accuracy": 0.75}, "likelihood") == 0.75
    with pytest.raises(UserInputError, match="digits#3 was scored by quality rule 'accuracy'"):
        validation_quality(legacy, "likelihood", assumed_rule="accuracy", what="digits#3")
    _, metrics = _kept("accuracy")
    del metrics["validation_examples"]
    with pytest.raises(UserInputError, match="scored by quality rule 'accuracy'.*'likelihood'"):
        validation_quality(metrics, "likelihood")


@pytest.mark.slow
def test_a_search_takes_a_legacy_path_as_scored_by_the_rule_its_directory_pinned(tmp_path):
    from keras_evomt.observe import Observer
    from keras_evomt.recipe import pin_config
    from keras_evomt.search import Search
    from tests.helpers import tiny_search_config, tiny_system

    system = tiny_system()
    system.start_task("digits")
    path = system.new_task_path("digits", 10)
    path.id, path.metrics = "digits#0", {"validation_accuracy": 0.5, "validation_quality": 0.5}
    system.end_task(path)
    system.save(tmp_path)
    pin_config(tiny_search_config(("digits",), score__quality="accuracy"), tmp_path)
    config = tiny_search_config(("digits",), score__quality="likelihood")
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        with pytest.raises(UserInputError, match="digits#0 .task 'digits'. was scored by"):
            search.evolve("digits")
    config.score.quality = "accuracy"
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        assert search._quality_of(search.system.paths["digits"]) == 0.5


def test_an_unknown_rule_is_refused_by_name():
    with pytest.raises(ValueError, match="known: accuracy, accuracy_likelihood"):
        quality_of(ValidationCounts(1, 2, 0.0), "loss")
    config = default_config()
    config.score.quality = "loss"
    with pytest.raises(UserInputError, match="quality='loss' is invalid.*accuracy_likelihood"):
        validate(config)


@pytest.mark.slow
def test_validation_counts_the_cross_entropy_keras_computes():
    import keras
    import tensorflow as tf

    from keras_evomt.training import CandidateTrainer
    from tests.helpers import digits, tiny_system

    x, y = digits(40)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # a partial last batch
    system = tiny_system()
    system.start_task("a")
    path = system.new_task_path("a", 10)
    head = system.components[path.components[-1]]
    rng = np.random.default_rng(0)
    head.set_weights([rng.normal(size=w.shape).astype("float32") for w in head.get_weights()])
    counts = CandidateTrainer().evaluate(system, path, data)
    logits = system.model(path).predict(x, verbose=0)
    logits = logits[0] if isinstance(logits, list | tuple) else logits
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(
        y, logits
    )
    assert counts.examples == 40
    assert counts.correct == int(np.sum(np.argmax(logits, -1) == y))
    assert counts.loss_sum == pytest.approx(float(expected), rel=1e-4)
    assert counts.loss_sum > 0


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["accuracy_likelihood", "likelihood"])
def test_the_kept_round_is_the_one_of_best_quality_under_the_rule(rule):
    from keras_evomt.training import CandidateTrainer
    from tests.helpers import digits_datasets, tiny_system

    train, valid = digits_datasets()
    system = tiny_system()
    system.start_task("a")
    path = system.new_task_path("a", 10, {"opt_lr": 0.05})
    trainer = CandidateTrainer()
    seen = []
    evaluate = trainer._evaluate
    trainer._evaluate = lambda *args: seen.append(evaluate(*args)) or seen[-1]
    result = trainer.train(system, path, train, valid, rounds=4, steps_per_round=3, quality=rule)
    qualities = [quality_of(counts, rule) for counts in seen]
    assert len(set(qualities)) > 1
    assert result.quality == max(qualities)
    assert result.best_round == max(i for i, q in enumerate(qualities) if q == max(qualities))
    kept = trainer.evaluate(system, path, valid)
    assert quality_of(kept, rule) == result.quality
    assert result.accuracy == kept.accuracy == result.rounds[result.best_round]
    assert result.validation_loss == pytest.approx(kept.mean_loss)
    assert result.validation_examples == kept.examples
    assert len(result.rounds) == 4


@pytest.mark.slow
def test_a_search_scores_and_logs_the_quality_of_its_rule(tmp_path):
    from keras_evomt.observe import Observer
    from keras_evomt.search import Search
    from keras_evomt.search.journal import CandidateJournal
    from tests.helpers import tiny_search_config

    config = tiny_search_config(("digits",), score__quality="accuracy_likelihood")
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        best = search.evolve("digits")
    records = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()
    examples = config.validation_examples
    for record in records:  # within one example of the accuracy, and above it
        correct = round(record["validation_accuracy"] * examples)
        assert correct / (examples + 1) < record["quality"] < (correct + 1) / (examples + 1)
        assert record["score"] == pytest.approx(record["quality"])  # base_params 1: no size term
    kept = next(r for r in records if r["id"] == best.id)
    assert best.metrics["validation_quality"] == kept["quality"]
    assert best.metrics["validation_accuracy"] == kept["validation_accuracy"]
    assert best.metrics["validation_loss"] > 0
    assert best.metrics["quality_rule"] == "accuracy_likelihood"
    assert best.metrics["validation_examples"] == examples
    assert best.id == max(records, key=lambda r: r["score"])["id"]


@pytest.mark.slow
def test_a_revisit_under_another_rule_rescores_the_kept_path(tmp_path):
    from keras_evomt.observe import Observer
    from keras_evomt.report import write_report
    from keras_evomt.search import Search
    from keras_evomt.search.journal import CandidateJournal
    from keras_evomt.search.scoring import validation_quality
    from tests.helpers import tiny_search_config

    class Messages(Observer):
        def message(self, text):
            self.seen = [*getattr(self, "seen", []), text]

    config = tiny_search_config(("digits",), score__quality="accuracy")
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        kept = search.evolve("digits")
    config.score.quality = "likelihood"
    observer = Messages(tmp_path, quiet=True)
    with Search(config, tmp_path, observer=observer) as search:
        best = search.evolve("digits")
    likelihood = math.exp(-kept.metrics["validation_loss"])
    assert f"{kept.id} was scored by quality rule 'accuracy'" in "".join(observer.seen)
    assert f"its quality is {likelihood:.4f}" in "".join(observer.seen)
    revisit = CandidateJournal(tmp_path / "search" / "candidates.jsonl").read()[2:]
    for record in revisit:  # the new candidates, scored under the new rule
        assert record["quality"] == pytest.approx(math.exp(-record["validation_loss"]))
    best_quality = max([likelihood, *(r["quality"] for r in revisit)])
    assert validation_quality(best.metrics, "likelihood") == pytest.approx(best_quality)
    generations = config.generations  # each visit's, under its own rule, for the report
    assert best.metrics["visits"] == [
        {"generations": generations, "quality_rule": "accuracy"},
        {"generations": generations, "quality_rule": "likelihood"},
    ]
    assert len(best.metrics["best_by_generation"]) == 2 * generations
    summary = write_report(tmp_path)[-1].read_text()
    assert "| visit 1 (accuracy): " in summary and "; visit 2 (likelihood): " in summary


def test_a_kept_path_that_recorded_no_visits_counts_as_one_visit_under_its_rule(tmp_path):
    from types import SimpleNamespace

    from keras_evomt.observe import Observer
    from keras_evomt.path import Path
    from keras_evomt.search import Search
    from tests.helpers import tiny_search_config

    config = tiny_search_config(("digits",), score__quality="likelihood")
    earlier = Path(task="digits", components=["head"], hparams={}, id="digits#3")
    earlier.metrics = {"best_by_generation": [0.5, 0.6], "quality_rule": "accuracy"}
    population = SimpleNamespace(best_by_generation=[0.7, 0.8, 0.9])
    with Search(config, tmp_path, observer=Observer(tmp_path, quiet=True)) as search:
        progress = search._progress(earlier, population)
        assert progress == {
            "best_by_generation": [0.5, 0.6, 0.7, 0.8, 0.9],
            "visits": [
                {"generations": 2, "quality_rule": "accuracy"},
                {"generations": 3, "quality_rule": "likelihood"},
            ],
        }
        del earlier.metrics["quality_rule"]  # nor its rule, and none pinned: as scored now
        assert search._progress(earlier, population)["visits"][0]["quality_rule"] == "likelihood"
        assert search._progress(None, population)["visits"] == [
            {"generations": 3, "quality_rule": "likelihood"}
        ]
