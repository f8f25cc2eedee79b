"""The trainer's traced loops: several steps per call, the schedule in the graph, device
defaults (precision, steps per call, XLA under data parallelism)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_evomt.errors import UserInputError
from keras_evomt.training import CandidateTrainer, learning_rate_schedule
from keras_evomt.training import distribute as dist
from keras_evomt.training.schedules import learning_rate_at, schedule_arguments
from tests.helpers import digits, digits_datasets, load_tool, tiny_system, weights_of


def _candidate(system, hparams):
    path = system.new_task_path("a", 10, hparams)
    path.components[-3] = system.clone(path.components[-3])  # train a block too
    return path


@pytest.mark.parametrize(
    "hparams,total,rounds",
    [
        ({"opt_lr": 0.01, "opt_lr_warmup_ratio": 0.05}, 100, 1),
        ({"opt_lr": 0.3, "opt_lr_schedule": "restarts", "opt_lr_warmup_ratio": 0.1}, 90, 3),
        ({"opt_lr": 0.3, "opt_lr_schedule": "constant"}, 10, 2),
        ({"opt_lr": 0.02, "opt_lr_warmup_ratio": 0.0}, 7, 1),
    ],
)
def test_the_schedule_in_the_graph_equals_the_python_schedule(hparams, total, rounds):
    python = learning_rate_schedule(hparams, total, rounds)
    arguments = schedule_arguments(hparams, total, rounds)
    steps = tf.range(total, dtype=tf.int64)
    graph = tf.function(
        lambda s: tf.map_fn(
            lambda t: learning_rate_at(t, arguments), s, fn_output_signature=tf.float32
        )
    )(steps)
    expected = np.array([python(s) for s in range(total)], np.float32)
    np.testing.assert_allclose(graph.numpy(), expected, rtol=1e-6)


@pytest.mark.slow
def test_several_steps_per_call_give_the_weights_of_one_step_per_call():
    train, valid = digits_datasets()
    outcomes = []
    for steps_per_call, progress_every in ((1, None), (4, None), (50, 3)):
        system = tiny_system()
        system.start_task("a")
        path = _candidate(system, {"opt_lr": 0.05})
        before = weights_of(system, path)
        calls = []
        trainer = CandidateTrainer(steps_per_call=steps_per_call)
        result = trainer.train(
            system,
            path,
            train,
            valid,
            rounds=2,
            steps_per_round=5,
            on_step=lambda step, lr, loss, acc, calls=calls: calls.append(step),
            progress_every=progress_every,
        )
        outcomes.append((weights_of(system, path), result, calls))
    (w1, r1, c1), (w4, r4, c4), (w50, r50, c50) = outcomes
    assert max(np.abs(a - b).max() for a, b in zip(w1, before)) > 1e-3
    for other in (w4, w50):  # the same traced loop body, run 1 or more times per call
        assert all(np.array_equal(a, b) for a, b in zip(w1, other))
    assert r1.rounds == r4.rounds == r50.rounds and r1.steps == r4.steps == 10
    assert c1 == list(range(1, 11))
    assert c4 == [4, 5, 8, 10]  # calls end at multiples of 4 and at each round's end
    assert c50 == [3, 6, 9, 10]  # progress lines when due, and the last step


@pytest.mark.slow
def test_candidates_sharing_one_trace_train_with_their_own_schedules():
    train, valid = digits_datasets()
    hparams = [
        {"opt_lr": 0.05},
        {"opt_lr": 0.3, "opt_lr_schedule": "restarts", "opt_lr_warmup_ratio": 0.2},
        {"opt_lr": 0.01, "opt_lr_schedule": "constant", "opt_momentum": 0.5},
    ]
    system = tiny_system()
    system.start_task("a")
    shared = CandidateTrainer(steps_per_call=3)
    paths = [_candidate(system, h) for h in hparams]
    for path in paths:
        shared.train(system, path, train, valid, rounds=2, steps_per_round=4)
    assert shared.traces == 1
    for index, h in enumerate(hparams):  # each alone, on a fresh trainer (its own trace)
        alone_system = tiny_system()
        alone_system.start_task("a")
        alone = [_candidate(alone_system, x) for x in hparams][index]
        CandidateTrainer(steps_per_call=3).train(
            alone_system, alone, train, valid, rounds=2, steps_per_round=4
        )
        got, expected = weights_of(system, paths[index]), weights_of(alone_system, alone)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected)), h


@pytest.mark.slow
def test_running_out_of_training_data_is_a_clear_error():
    x, y = digits(64)
    finite = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    system = tiny_system()
    system.start_task("a")
    path = system.new_task_path("a", 10)
    with pytest.raises(ValueError, match="repeat"):
        CandidateTrainer().train(system, path, finite, finite, rounds=1, steps_per_round=6)


def test_precision_defaults_by_device():
    h200 = {"device_name": "NVIDIA H200", "compute_capability": (9, 0)}
    t4 = {"device_name": "Tesla T4", "compute_capability": (7, 5)}
    assert dist.default_precision("default", []) == "float32"
    assert dist.default_precision("default", [h200]) == "mixed_bfloat16"
    assert dist.default_precision("mirrored", [h200, h200]) == "mixed_bfloat16"
    assert dist.default_precision("mirrored", [h200, t4]) == "float32"
    assert dist.default_precision("default", [t4]) == "float32"
    assert dist.default_precision("tpu", []) == "mixed_bfloat16"


def test_steps_per_call_default_by_device_kind():
    assert dist.device_kind() == "CPU"
    assert CandidateTrainer().steps_per_call == dist.STEPS_PER_CALL["CPU"]
    assert CandidateTrainer(steps_per_call=7).steps_per_call == 7


class _FakeMirrored:
    num_replicas_in_sync = 2

    class extended:  # noqa: N801 - mimics tf.distribute.Strategy.extended
        worker_devices = ("/job:localhost/replica:0/task:0/device:CPU:0",) * 2


def test_xla_under_data_parallelism_is_refused_up_front():
    with pytest.raises(UserInputError, match="jit_compile=false"):
        dist.check_jit_compile(_FakeMirrored(), True)
    dist.check_jit_compile(_FakeMirrored(), False)
    dist.check_jit_compile(tf.distribute.get_strategy(), True)

    from keras_evomt.search.config import default_config, validate

    config = default_config()
    config.training.jit_compile = True
    config.distribute.strategy = "mirrored"
    with pytest.raises(UserInputError, match="distribute.mode=candidates"):
        validate(config)
    config.distribute.strategy = "default"
    config.training.steps_per_call = -1
    with pytest.raises(UserInputError, match="steps_per_call"):
        validate(config)


@pytest.mark.slow
def test_bench_accelerator_runs_at_a_tiny_size_on_cpu(tmp_path, capsys):
    import json

    bench = load_tool("bench_accelerator")
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Candidate cost\n\nkept\n")
    args = ["--models", "vit_tiny@32", "--precisions", "float32", "--xla", "off"]
    bench.main(args + ["--seconds", "0.2", "--output", str(output)], standalone_mode=False)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    text = output.read_text()
    assert "## Candidate cost\n\nkept\n" in text and "## Accelerator throughput" in text
    assert "no GPU or TPU on this machine" in text
    (row,) = result["rows"]
    assert row["ours_images_s"] > 0 and row["keras_images_s"] > 0
    assert row["ours_peak_fraction"] == "unknown" and row["train_flops_per_image"] > 0
    assert row["ours_first_call_s"] > 0 and row["keras_first_call_s"] > 0
    assert f"| vit_tiny@32 | float32 | off | {row['ours_images_s']:,.1f} |" in text


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
