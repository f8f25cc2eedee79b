"""tf.distribute and one-candidate-per-device, on a CPU split into 2 logical devices.

Each test runs in a fresh process: logical devices can only be configured before
TensorFlow initialises, which the rest of the suite has long done.
"""

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.helpers import RECIPES, REPO, child_env, run_python

ROOT = str(REPO)
PRELUDE = f"""
import sys
sys.path.insert(0, {ROOT!r})
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import json, keras, numpy as np, keras_evomt
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer
from tests.helpers import digits
x, y = digits(64)
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

def system_and_path(strategy, lr=0.05):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        system = System.create("vit_tiny")
        system.start_task("a")
        path = system.new_task_path("a", 10, {{"opt_lr": lr}})
        path.components[-3] = system.clone(path.components[-3])  # train a block too
    return system, path

def weights(system, path):
    return [w for c in path.components for w in system.components[c].get_weights()]
"""


@pytest.mark.slow
def test_mirrored_training_equals_single_device_training_of_the_global_batch():
    out = run_python(
        PRELUDE
        + """
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = []
for strategy in (mirrored, tf.distribute.get_strategy()):
    system, path = system_and_path(strategy)
    before = weights(system, path)
    result = CandidateTrainer(strategy=strategy).train(system, path, train, valid, rounds=2,
                                                       steps_per_round=3,
                                                       quality="accuracy_likelihood")
    results.append((before, weights(system, path), result, strategy.num_replicas_in_sync))
(b0, m, qm, rm), (b1, s, qs, rs) = results
print(json.dumps({"diff": max(float(np.abs(u - v).max()) for u, v in zip(m, s)),
                  "moved": max(float(np.abs(u - v).max()) for u, v in zip(m, b0)),
                  "qm": qm.quality, "qs": qs.quality, "replicas": [rm, rs],
                  "lm": qm.validation_loss, "ls": qs.validation_loss,
                  "am": qm.accuracy, "as": qs.accuracy}))
"""
    )
    assert out["replicas"] == [2, 1]
    assert out["moved"] > 1e-3
    assert out["diff"] < 1e-5
    assert out["am"] == out["as"]  # the validation loss, summed over replicas, agrees too
    assert out["lm"] == pytest.approx(out["ls"], rel=1e-5) and out["lm"] > 0
    assert out["qm"] == pytest.approx(out["qs"], rel=1e-6)


@pytest.mark.slow
def test_candidates_trained_concurrently_equal_candidates_trained_in_turn():
    out = run_python(
        PRELUDE
        + """
from keras_evomt.training.waves import Waves

class Job:
    def __init__(self, path, device):
        self.path, self.device = path, device
    def run(self, system, trainer):
        return trainer.train(system, self.path, train, valid, rounds=2, steps_per_round=3)

def two(strategy):
    system, first = system_and_path(strategy, lr=0.05)
    second = system.new_task_path("a", 10, {"opt_lr": 0.2})
    return system, first, second

system, p1, p2 = two(tf.distribute.get_strategy())
together = Waves(["/cpu:0", "/cpu:1"]).train([Job(p1, "/cpu:0"), Job(p2, "/cpu:1")], system)
w_together = [weights(system, p1), weights(system, p2)]
system, q1, q2 = two(tf.distribute.get_strategy())
trainer = CandidateTrainer()
in_turn = [trainer.train(system, p, train, valid, rounds=2, steps_per_round=3) for p in (q1, q2)]
w_in_turn = [weights(system, q1), weights(system, q2)]
print(json.dumps({
    "errors": [repr(r) for r in together if isinstance(r, BaseException)],
    "same": all(np.array_equal(u, v) for a, b in zip(w_together, w_in_turn)
                for u, v in zip(a, b)),
    "qualities": [[r.quality for r in together if not isinstance(r, BaseException)],
                  [r.quality for r in in_turn]]}))
"""
    )
    assert out["errors"] == []
    assert out["same"]
    assert out["qualities"][0] == out["qualities"][1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "sets",
    [
        ["distribute.strategy=mirrored", "distribute.cpu_devices=2"],
        ["distribute.mode=candidates", "distribute.cpu_devices=2", "candidates_per_generation=3"],
    ],
    ids=["mirrored", "candidates"],
)
def test_evomt_runs_under_both_modes_without_forgetting(tmp_path, sets):
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3")
    args = [
        sys.executable,
        "-m",
        "keras_evomt.cli",
        "run",
        f"{RECIPES / 'offline_mini.py'}:smoke",
        "--workdir",
        str(tmp_path),
        "--quiet",
    ]
    args += [x for s in sets for x in ("--set", s)]
    first = subprocess.run(
        args + ["--set", "tasks=['digits']"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr[-2000:]
    status = [
        sys.executable,
        "-m",
        "keras_evomt.cli",
        "status",
        "--workdir",
        str(tmp_path),
        "--json",
    ]
    before = json.loads(
        subprocess.run(
            status, capture_output=True, text=True, env=env, check=True, cwd=tmp_path
        ).stdout
    )
    evolve = [
        sys.executable,
        "-m",
        "keras_evomt.cli",
        "evolve",
        "--workdir",
        str(tmp_path),
        "--task",
        "textures",
        "--quiet",
    ]
    second = subprocess.run(
        evolve, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr[-2000:]
    after = json.loads(
        subprocess.run(
            status, capture_output=True, text=True, env=env, check=True, cwd=tmp_path
        ).stdout
    )
    assert [t["task"] for t in after["tasks"]] == ["digits", "textures"]
    assert after["tasks"][0]["fingerprint"] == before["tasks"][0]["fingerprint"]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


WORKER = f"""
import sys
sys.path.insert(0, {ROOT!r})
import json, keras, numpy as np, tensorflow as tf, keras_evomt
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer
from tests.helpers import digits
strategy = tf.distribute.MultiWorkerMirroredStrategy()
x, y = digits(64)
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
with strategy.scope():
    keras.utils.set_random_seed(0)
    system = System.create("vit_tiny")
    system.start_task("a")
    path = system.new_task_path("a", 10, {{"opt_lr": 0.05}})
result = CandidateTrainer(strategy=strategy).train(
    system, path, train.with_options(options), valid.with_options(options), rounds=1,
    steps_per_round=3)
print(json.dumps({{"fingerprint": system.fingerprint(path), "quality": result.quality,
                   "replicas": strategy.num_replicas_in_sync}}))
"""


@pytest.mark.slow
def test_multi_worker_mirrored_trains_one_candidate_over_two_processes(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    children = []
    for index in range(2):
        env = child_env(
            TF_CPP_MIN_LOG_LEVEL="3",
            CUDA_VISIBLE_DEVICES="",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(WORKER)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=tmp_path,
            )
        )
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr[-2000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [o["replicas"] for o in outputs] == [2, 2]
    assert outputs[0]["fingerprint"] == outputs[1]["fingerprint"]
    assert outputs[0]["quality"] == outputs[1]["quality"] > 0


@pytest.mark.slow
def test_mixed_bfloat16_trains_in_bfloat16_with_float32_weights(tmp_path):
    out = run_python(f"""
import sys, json
sys.path.insert(0, {ROOT!r})
import keras, numpy as np, tensorflow as tf, keras_evomt
from keras_evomt.observe import Observer
from keras_evomt.search import Search
from keras_evomt.system import System
from tests.helpers import tiny_search_config
config = tiny_search_config(("digits",))
config.distribute.precision = "mixed_bfloat16"
search = Search(config, {str(tmp_path)!r}, observer=Observer({str(tmp_path)!r}, quiet=True))
path = search.evolve("digits")
loaded = System.load({str(tmp_path)!r})
block = loaded.components[path.components[3]]
print(json.dumps({{"policy": block.dtype_policy.name, "weights": str(block.weights[0].dtype),
                   "compute": block.compute_dtype, "quality": path.metrics["validation_accuracy"],
                   "same": loaded.fingerprint("digits") == search.system.fingerprint("digits")}}))
""")
    assert out["policy"] == "mixed_bfloat16" and out["compute"] == "bfloat16"
    assert out["weights"] == "float32" and out["same"]
    assert 0 < out["quality"] <= 1


@pytest.mark.slow
def test_mixed_float16_scales_the_loss_and_skips_overflowing_steps():
    out = run_python(f"""
import sys, json
sys.path.insert(0, {ROOT!r})
import keras, numpy as np, tensorflow as tf
keras.mixed_precision.set_global_policy("mixed_float16")
import keras_evomt
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer
from keras_evomt.training import trainer as trainer_module
from tests.helpers import digits
x, y = digits(64)
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16, drop_remainder=True).repeat()
valid = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
keras.utils.set_random_seed(0)
system = System.create("vit_tiny")
system.start_task("a")
path = system.new_task_path("a", 10, {{"opt_lr": 0.05}})
trainer_module.LOSS_SCALE_START = 2.0**30  # overflows float16 at first: steps are skipped
trainer = CandidateTrainer()
early = system.new_task_path("a", 10, {{"opt_lr": 0.05}})
trainer.train(system, early, train, valid, rounds=1, steps_per_round=5)
skipped = float(np.abs(system.components[early.components[-1]].get_weights()[0]).max())
head = system.components[path.components[-1]]
result = trainer.train(system, path, train, valid, rounds=1, steps_per_round=40)
print(json.dumps({{"compute": head.compute_dtype, "quality": result.quality, "skipped": skipped,
                   "loss": result.train_loss, "moved": float(np.abs(head.get_weights()[0]).max()),
                   "finite": bool(all(np.isfinite(w).all() for w in head.get_weights()))}}))
""")
    assert out["compute"] == "float16" and out["finite"]
    assert out["skipped"] == 0  # the first steps overflow: nothing is applied
    assert out["moved"] > 0  # once the scale came down, steps applied
    assert out["loss"] == out["loss"] and 0 < out["quality"] <= 1


@pytest.mark.parametrize("name", ["banana", "GPU:7"])
def test_a_device_this_machine_lacks_is_refused_with_its_devices(name):
    import ml_collections

    from keras_evomt.errors import UserInputError
    from keras_evomt.training.distribute import candidate_devices

    config = ml_collections.ConfigDict({"devices": ["/cpu:0", name]})
    with pytest.raises(UserInputError, match=f"names '{name}', which this machine does not"):
        candidate_devices(config)
    config.devices = ["/cpu:0", "CPU:0"]
    assert candidate_devices(config) == ["/cpu:0", "CPU:0"]
