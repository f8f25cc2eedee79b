"""The evomt command end to end (Click's CliRunner, in process)."""

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from keras_evomt.cli import main
from keras_evomt.workdir_lock import WorkdirLock
from tests.helpers import REPO, child_env, tiny_system


def evomt(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("smoke")
    result = evomt("run", "recipes/offline_mini.py:smoke", "--workdir", workdir, "--quiet")
    assert result.exit_code == 0, result.output
    return workdir, result.output


@pytest.mark.slow
def test_run_prints_the_status_table_and_where_the_logs_are(grown):
    workdir, output = grown
    assert "digits" in output and "textures" in output
    assert f"TensorBoard logs: {workdir / 'tb'}" in output
    assert (workdir / "config.json").exists() and (workdir / "tb").is_dir()


@pytest.mark.slow
def test_status_json_matches_the_table(grown):
    workdir, _ = grown
    result = evomt("status", "--workdir", workdir, "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [t["task"] for t in data["tasks"]] == ["digits", "textures"]
    for task in data["tasks"]:
        assert len(task["fingerprint"]) == 64 and 0 <= task["test_accuracy"] <= 1
        assert task["own_params"] > 0 and task["accounted_params"] >= task["own_params"]
    assert data["system"]["root_weights"] == "random init (no checkpoint)"
    table = evomt("status", "--workdir", workdir).output
    assert data["tasks"][0]["fingerprint"][:12] in table


@pytest.mark.slow
def test_rerunning_resumes_and_does_nothing_more(grown):
    workdir, _ = grown
    before = json.loads(evomt("status", "--workdir", workdir, "--json").output)
    result = evomt("run", "recipes/offline_mini.py:smoke", "--workdir", workdir, "--quiet")
    assert result.exit_code == 0
    assert json.loads(evomt("status", "--workdir", workdir, "--json").output) == before
    result = evomt("run", "recipes/offline_mini.py:smoke", "--workdir", workdir)
    assert "every task of this run is done (2 task iterations); nothing to run" in result.output


@pytest.mark.slow
def test_eval_reports_the_test_accuracy(grown):
    workdir, _ = grown
    result = evomt("eval", "--workdir", workdir, "--task", "digits", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(evomt("status", "--workdir", workdir, "--json").output)
    assert json.loads(result.output)["accuracy"] == pytest.approx(
        status["tasks"][0]["test_accuracy"]
    )


@pytest.mark.slow
def test_export_both_formats_give_the_systems_predictions(grown, tmp_path):
    import keras
    import tensorflow as tf

    from keras_evomt.system import System

    workdir, _ = grown
    system = System.load(workdir)
    size = system.path("textures").image_size  # the search may have changed it
    x = np.random.default_rng(0).uniform(-1, 1, (4, size, size, 3)).astype("float32")
    expected = system.model("textures")(x).numpy()
    result = evomt(
        "export", "--workdir", workdir, "--task", "textures", "--out", tmp_path / "textures.keras"
    )
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(tmp_path / "textures.keras")
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-5)
    result = evomt(
        "export",
        "--workdir",
        workdir,
        "--task",
        "textures",
        "--out",
        tmp_path / "served",
        "--format",
        "savedmodel",
    )
    assert result.exit_code == 0, result.output
    served = tf.saved_model.load(str(tmp_path / "served"))
    logits = served.signatures["serving_default"](images=tf.constant(x))["logits"]
    np.testing.assert_allclose(np.asarray(logits), expected, atol=1e-5)


@pytest.mark.slow
def test_report_writes_pngs(grown, tmp_path):
    workdir, _ = grown
    result = evomt("report", "--workdir", workdir, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_data_list_shows_the_registry():
    result = evomt("data", "list", "--json")
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.output)]
    assert len(names) >= 69 and names[:3] == ["imagenet2012", "cifar100", "cifar10"]
    assert "digits" in evomt("data", "list", "--group", "offline").output


SETUP_CFG = str(REPO / "setup.cfg")  # a file, not a recipe


@pytest.mark.parametrize(
    "args,message",
    [
        (["status", "--workdir", "/nonexistent/run"], "does not exist"),
        (["run", "recipes/nope.py", "--workdir", "{tmp}"], "recipe 'recipes/nope.py' not found"),
        (["run", SETUP_CFG, "--workdir", "{tmp}"], "setup.cfg is not a recipe"),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "generatoins=1"],
            "did you mean: generations",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "generations=two"],
            "expected a whole number",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "score=1"],
            "'score' is a section, not a value; set its keys: score.base_flops",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "root.name=vit_nope"],
            "unknown root 'vit_nope'",
        ),
        (
            [
                "run",
                "offline_mini:smoke",
                "--workdir",
                "{tmp}",
                "--set",
                "root.checkpoint={tmp}/missing.npz",
            ],
            "checkpoint not found",
        ),
        (
            ["evolve", "--workdir", "{tmp}", "--task", "digits", "--recipe", "offline_mini:smoke"]
            + ["--set", "root.name=vit_nope"],
            "unknown root 'vit_nope'",
        ),
        (["status", "--workdir", ".", "--compare", "{tmp}/nope"], "--compare {tmp}/nope does not"),
        (["status", "--workdir", ".", "--compare", "{tmp}"], "--compare {tmp} holds no saved"),
        (["run", "offline_mini:smok", "--workdir", "{tmp}"], "unknown variant"),
        (["evolve", "--workdir", "{tmp}", "--task", "digits"], "has no config.json"),
        (["data", "prepare", "cifar11"], "unknown task"),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "generations=0"],
            "generations=0 is invalid",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "tasks=['digits','x']"],
            "unknown task 'x'",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "space.image_size=[20]"],
            "multiples of root.patch_size=8",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "defaults.opt_lr=-1"],
            "defaults.opt_lr=-1.0 is invalid: it must be a positive number",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}", "--set", "score.quality.x=1"],
            "unknown config key 'score.quality.x'",
        ),
        (
            ["run", "offline_mini:smoke", "--workdir", "{tmp}"]
            + ["--set", "distribute.cpu_devices=-1"],
            "distribute.cpu_devices=-1 is invalid",
        ),
    ],
)
def test_bad_input_exits_2_with_a_short_message(tmp_path, args, message):
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp_path) in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert not (tmp_path / "config.json").exists()  # nothing pinned: a fixed rerun works


@pytest.mark.slow
def test_unknown_task_of_a_system_is_bad_input(grown):
    workdir, _ = grown
    result = CliRunner().invoke(main, ["eval", "--workdir", str(workdir), "--task", "digit"])
    assert result.exit_code == 2 and "did you mean: digits" in result.output


@pytest.mark.slow
def test_a_conflicting_rerun_names_the_keys(grown):
    workdir, _ = grown
    result = CliRunner().invoke(
        main, ["run", "offline_mini:smoke", "--workdir", str(workdir), "--set", "generations=2"]
    )
    assert result.exit_code == 2 and "generations (1 -> 2)" in result.output


@pytest.mark.slow
def test_a_second_process_on_the_workdir_stops_at_once(grown):
    workdir, _ = grown
    with WorkdirLock(workdir):
        result = CliRunner().invoke(main, ["run", "offline_mini:smoke", "--workdir", str(workdir)])
    assert result.exit_code == 2 and "in use by another evomt process (pid" in result.output


@pytest.mark.slow
def test_mu2net_69_tiny_short_runs_the_first_reference_tasks_on_mock_data(tmp_path):
    result = evomt("run", "recipes/mu2net_69.py:tiny_short", "--workdir", tmp_path, "--quiet")
    assert result.exit_code == 0, result.output
    status = json.loads(evomt("status", "--workdir", tmp_path, "--json").output)
    assert [t["task"] for t in status["tasks"]] == ["imagenet2012", "cifar100", "cifar10"]


@pytest.fixture
def eager_functions():
    """tf.functions run as plain Python: no trace per architecture (the 69 tasks' 69 head
    sizes would cost about 4 s each). Graph mode runs these paths in tiny_short above."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(False)


@pytest.mark.slow
def test_mu2net_69_tiny_runs_all_69_tasks_on_mock_data(tmp_path, eager_functions):
    from keras_evomt.data import list_tasks

    result = evomt("run", "recipes/mu2net_69.py:tiny", "--workdir", tmp_path, "--quiet")
    assert result.exit_code == 0, result.output
    status = json.loads(evomt("status", "--workdir", tmp_path, "--json").output)
    reference = [t for t in list_tasks() if t not in list_tasks("offline")]
    assert [t["task"] for t in status["tasks"]] == reference and len(reference) == 69
    from PIL import Image

    from keras_evomt.report import ROW_INCHES

    assert "69 tasks, " in (tmp_path / "reports" / "summary.md").read_text()
    with Image.open(tmp_path / "reports" / "sharing.png") as sharing:  # a row per task
        assert sharing.height >= 70 * ROW_INCHES * 130


@pytest.mark.slow
def test_the_reference_recipe_starts_from_a_given_checkpoint(tmp_path):
    from keras_evomt.system import System
    from tests.test_checkpoints import save_npz, vit_jax_tensors

    tensors = vit_jax_tensors()
    checkpoint = save_npz(tmp_path / "vit_tiny_i21k.npz", tensors)
    sets = {
        "root.checkpoint": checkpoint,
        "root.name": "vit_tiny",
        "root.image_size": 32,
        "root.patch_size": 8,
        "data.mock_examples": 16,
        "tasks": "['cifar10']",
        "generations": 1,
        "candidates_per_generation": 1,
        "validations": 1,
        "steps_per_validation": 1,
        "batch_size": 8,
        "validation_examples": 8,
    }
    args = [x for key, value in sets.items() for x in ("--set", f"{key}={value}")]
    result = evomt(
        "run", "recipes/mu2net_69.py:vit", "--workdir", tmp_path / "run", "--quiet", *args
    )
    assert result.exit_code == 0, result.output
    status = json.loads(evomt("status", "--workdir", tmp_path / "run", "--json").output)
    assert status["system"]["root_weights"] == checkpoint
    system = System.load(tmp_path / "run")
    cls = next(system.components[c] for c in system.root.components if c.startswith("cls"))
    np.testing.assert_array_equal(cls.get_weights()[0], tensors["cls"])


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    import signal
    import subprocess
    import sys

    code = (
        f"from keras_evomt.workdir_lock import WorkdirLock; import time\n"
        f"WorkdirLock({str(tmp_path)!r}).__enter__(); print('locked', flush=True)\n"
        f"time.sleep(120)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=child_env(),
    )
    assert child.stdout.readline().strip() == "locked"
    held = CliRunner().invoke(main, ["run", "offline_mini:smoke", "--workdir", str(tmp_path)])
    assert held.exit_code == 2 and f"pid {child.pid}" in held.output
    child.send_signal(signal.SIGKILL)
    child.wait()
    with WorkdirLock(tmp_path):  # taken over, no error
        assert "pid" in (tmp_path / "lock").read_text()


def test_a_first_start_that_fails_leaves_no_work_directory_behind(tmp_path):
    workdir = tmp_path / "runs" / "new"
    bad_root = ["--set", "root.checkpoint=/no.npz"]
    result = CliRunner().invoke(
        main, ["run", "offline_mini:smoke", "--workdir", str(workdir), *bad_root]
    )
    assert result.exit_code == 2 and "checkpoint not found" in result.output
    assert not (tmp_path / "runs").exists()  # neither the lock file nor the folders it made
    (tmp_path / "mine").mkdir()
    with WorkdirLock(tmp_path / "mine"):
        pass
    assert (tmp_path / "mine").is_dir() and not list((tmp_path / "mine").iterdir())


def test_a_lock_file_removed_between_open_and_lock_is_not_taken_as_held(tmp_path, monkeypatch):
    import fcntl

    from keras_evomt.errors import UserInputError

    workdir = tmp_path / "new"
    first = WorkdirLock(workdir).__enter__()
    real_flock, raced = fcntl.flock, []

    def flock(fd, operation):
        if operation & fcntl.LOCK_EX and not raced:  # opened; the holder ends before the lock
            raced.append(fd)
            first.__exit__(None, None, None)  # it wrote nothing: removes the file and folder
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    with WorkdirLock(workdir):
        assert raced and (workdir / "lock").is_file()  # the new file is the one held
        with pytest.raises(UserInputError, match="in use by another evomt process"):
            WorkdirLock(workdir).__enter__()


def test_taking_the_lock_removes_a_killed_writers_leftovers_and_check_names_them(tmp_path):
    workdir = tmp_path
    tiny_system().save(str(workdir))
    leftovers = [
        workdir / "system" / ".manifest-00000009.json.k2j4.tmp",
        workdir / "system" / "weights" / ".encoderblock_0.3-ab12.npz.z9y8.tmp",
        workdir / "search" / ".state.json.x8a1.tmp",
    ]
    # Written by commands that take no lock (`evomt report`, `export --out` there): kept.
    others = [workdir / "reports" / ".summary.md.q1.tmp", workdir / ".m.keras.contract.json.tmp"]
    for file in (*leftovers, *others):
        file.parent.mkdir(exist_ok=True)
        file.write_text("{")
    (workdir / "search" / ".odd.tmp").mkdir()  # not a file: never removed, never in the way
    checked = CliRunner().invoke(main, ["check", "--workdir", str(workdir)])
    assert checked.exit_code == 0 and "3 unfinished writes (system/.manifest-" in checked.output
    with WorkdirLock(workdir):
        assert not any(f.exists() for f in leftovers) and all(f.exists() for f in others)
    checked = CliRunner().invoke(main, ["check", "--workdir", str(workdir)])
    assert checked.output.startswith("ok: ")


@pytest.mark.slow
def test_a_baseline_runs_on_the_same_engine_and_shows_beside_the_search(grown, tmp_path):
    workdir, _ = grown
    sets = [
        "tasks=['digits','textures']",
        "root.name='vit_tiny'",
        "root.checkpoint=''",
        "validations=1",
        "steps_per_validation=3",
        "validation_examples=64",
        "batch_size=16",
    ]
    args = [x for s in sets for x in ("--set", s)]
    result = evomt(
        "run", "recipes/baselines.py:finetune_all", "--workdir", tmp_path, "--quiet", *args
    )
    assert result.exit_code == 0, result.output
    from keras_evomt.system import System

    baseline = System.load(tmp_path)
    # fine-tune all: every task owns a full copy; nothing is shared with the root or others
    for path in baseline.paths.values():
        assert not set(path.components) & set(baseline.root.components)
        assert path.origin == "root"
    both = evomt("status", "--workdir", workdir, "--compare", tmp_path)
    assert both.exit_code == 0 and "beside other runs" in both.output
    data = json.loads(evomt("status", "--workdir", workdir, "--compare", tmp_path, "--json").output)
    assert [r["task"] for r in data["compare"][str(tmp_path)]] == ["digits", "textures"]
    assert "mean (2 common)" in both.output
    mean = data["means"][str(tmp_path)]
    accuracies = [r["test_accuracy"] for r in data["compare"][str(tmp_path)]]
    assert mean["tasks"] == 2 and mean["mean_test_accuracy"] == sum(accuracies) / 2
    missing = CliRunner().invoke(
        main, ["run", "recipes/baselines.py", "--workdir", str(tmp_path / "x")]
    )
    assert missing.exit_code == 2 and "baselines needs a variant" in missing.output


def test_missing_data_is_listed_for_every_task_at_once(tmp_path):
    from keras_evomt.data import list_tasks

    empty = tmp_path / "tfds"
    empty.mkdir()
    result = CliRunner().invoke(
        main,
        [
            "run",
            "recipes/mu2net_69.py",
            "--workdir",
            str(tmp_path / "run"),
            "--set",
            f"data.data_dir={empty}",
        ],
    )
    assert result.exit_code == 2, result.output
    assert f"the data of 69 task(s) is not prepared in {empty}:" in result.output
    manual = next(line for line in result.output.splitlines() if "manual download" in line)
    assert "imagenet2012" in manual and "diabetic_retinopathy_detection" in manual
    downloadable = next(line for line in result.output.splitlines() if "can be downloaded" in line)
    named = set(manual.split(": ", 1)[1].replace(" (", ", ").split(", "))
    named |= set(downloadable.split(": ", 1)[1].split(", "))
    assert set(list_tasks()) - set(list_tasks("offline")) <= {n.rstrip(")") for n in named}
    assert "disk space: unknown for" in result.output  # offline TFDS has no sizes
    assert (
        f"Prepare the rest with: evomt data prepare --recipe recipes/mu2net_69.py --download "
        f"--data-dir {empty}" in result.output
    )
    assert not (tmp_path / "run").exists()  # nothing written, nothing built


def test_missing_data_with_known_sizes_says_about_how_much():
    from keras_evomt.errors import MissingDataError

    errors = [
        MissingDataError("x", task="a", dataset="a", size_bytes=2_500_000_000, data_dir="/d"),
        MissingDataError("y", task="b", dataset="b", size_bytes=None, data_dir="/d"),
        MissingDataError("z", task="c", dataset="c", manual=True, data_dir="/d"),
    ]
    message = str(MissingDataError.combined(errors))
    assert "disk space: about 2.5 GB plus unknown for 1" in message
    assert "need a manual download first" in message and ": c\n" in message
    assert "evomt data prepare a b --download --data-dir /d" in message


@pytest.mark.slow
def test_a_run_writes_what_the_workdir_layout_names(grown):
    from keras_evomt.workdir import WorkdirLayout

    layout = WorkdirLayout(grown[0])
    for path in (layout.config, layout.lock, layout.search_state, layout.candidates):
        assert path.is_file(), path
    assert (layout.system / "weights").is_dir() and (layout.tb / "digits").is_dir()


def test_eval_of_a_task_added_from_python_asks_for_its_data(tmp_path):
    from keras_evomt.data import Task
    from tests.helpers import digits, tiny_system

    system = tiny_system()
    system.start_task("mine")
    system.end_task(system.new_task_path("mine", 10))
    system.save(tmp_path / "run")
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine")
    assert result.exit_code == 2 and "evomt does not know the data of task 'mine'" in result.output
    assert "--data npz:FILE" in result.output
    x, y = digits(40)
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y, value_range=[-1, 1])
    data = f"npz:{tmp_path / 'mine.npz'}"
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine", "--data", data)
    assert result.exit_code == 0, result.output
    test_examples = Task.from_arrays("mine", x, y, value_range=(-1, 1)).num_examples("test")
    assert "mine test accuracy: " in result.output
    assert result.output.rstrip().endswith(f"% ({test_examples} examples)")
    said = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine", "--data", data, "--json")
    assert json.loads(said.output)["split"] == "test"
    assert json.loads(said.output)["examples"] == test_examples
    np.savez(tmp_path / "more.npz", x_train=x, y_train=np.arange(40) % 12, value_range=[-1, 1])
    more = f"npz:{tmp_path / 'more.npz'}"
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine", "--data", more)
    assert result.exit_code == 2, result.output
    assert "task 'mine' scores 10 classes, but this data has 12" in result.output
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine", "--data", "mine.npz")
    assert result.exit_code == 2 and "--data npz:mine.npz" in result.output


def _save_colors_system(workdir) -> None:
    """A system of one task, 'colors', whose classes are blue, green and red."""
    from tests.helpers import tiny_system

    system = tiny_system()
    system.start_task("colors")
    system.end_task(system.new_task_path("colors", 3))
    system.set_class_names("colors", ["blue", "green", "red"])
    system.save(workdir)


def test_eval_refuses_folder_data_whose_labels_moved(tmp_path):
    from PIL import Image

    _save_colors_system(tmp_path / "run")
    for split in ("train", "test"):
        for name in ("green", "red"):  # blue's folder removed: green would be label 0
            os.makedirs(tmp_path / "imgs" / split / name)
            for i in range(2):
                image = np.full([8, 8, 3], 40 * i, np.uint8)
                Image.fromarray(image).save(tmp_path / "imgs" / split / name / f"{i}.png")
    data = f"dir:{tmp_path / 'imgs'}"
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "colors", "--data", data)
    assert result.exit_code == 2, result.output
    assert "labels would mean other classes (0: blue -> green, 1: green -> red)" in result.output
    os.makedirs(tmp_path / "imgs" / "train" / "blue")  # an empty folder keeps its place
    os.makedirs(tmp_path / "imgs" / "test" / "blue")
    result = evomt("eval", "--workdir", tmp_path / "run", "--task", "colors", "--data", data)
    assert result.exit_code == 0, result.output


def test_eval_refuses_arrays_read_in_another_pixel_range(tmp_path):
    from tests.helpers import tiny_system

    system = tiny_system()
    system.start_task("digits8")
    system.end_task(system.new_task_path("digits8", 10))
    system.set_value_range("digits8", (0, 16))  # as the search keeps it for a task's data
    system.save(tmp_path / "run")
    x = np.random.default_rng(0).integers(0, 17, (20, 8, 8, 3)).astype(np.uint8)
    y = np.arange(20) % 10
    np.savez(tmp_path / "plain.npz", x_test=x, y_test=y)  # uint8: read as 0..255
    np.savez(tmp_path / "ranged.npz", x_test=x, y_test=y, value_range=[0, 16])

    def evaluate(name: str):
        data = f"npz:{tmp_path / name}"
        return evomt("eval", "--workdir", tmp_path / "run", "--task", "digits8", "--data", data)

    result = evaluate("plain.npz")  # refused before the task's range is compared
    assert result.exit_code == 2, result.output
    assert "uint8 with values up to 16: read as 0..255" in result.output
    assert "value_range=[0, 16]" in result.output
    result = evaluate("ranged.npz")
    assert result.exit_code == 0, result.output


def test_eval_takes_the_same_photos_in_another_range_read_as_such(tmp_path):
    from tests.helpers import tiny_system

    system = tiny_system()
    system.start_task("photos")
    system.end_task(system.new_task_path("photos", 10))
    system.set_value_range("photos", (0, 255))  # trained on uint8 pixels
    system.save(tmp_path / "run")
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3)).astype(np.uint8)
    y = np.arange(20) % 10
    np.savez(tmp_path / "uint8.npz", x_test=x, y_test=y)
    np.savez(tmp_path / "unit.npz", x_test=x / np.float32(255), y_test=y)  # read as [0, 1]
    np.savez(
        tmp_path / "mislabelled.npz", x_test=x / np.float32(255), y_test=y, value_range=[0, 255]
    )

    def evaluate(name: str):
        data = f"npz:{tmp_path / name}"
        return evomt("eval", "--workdir", tmp_path / "run", "--task", "photos", "--data", data)

    uint8, unit = evaluate("uint8.npz"), evaluate("unit.npz")
    assert uint8.exit_code == 0 and unit.exit_code == 0, unit.output
    assert uint8.output == unit.output  # the same images once scaled
    result = evaluate("mislabelled.npz")
    assert result.exit_code == 2, result.output
    assert "under 1% of value_range=(0, 255)" in result.output
    assert "value_range=[0, 1]" in result.output


def test_eval_takes_a_file_of_test_arrays_alone(tmp_path):
    from tests.helpers import digits, tiny_system

    system = tiny_system()
    system.start_task("mine")
    system.end_task(system.new_task_path("mine", 10))
    system.save(tmp_path / "run")
    x, y = digits(60)
    np.savez(tmp_path / "both.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    np.savez(tmp_path / "held_out.npz", x_test=x[40:], y_test=y[40:])

    def accuracy(data: str, *options: str):
        run = evomt("eval", "--workdir", tmp_path / "run", "--task", "mine", "--data", data,
                    "--json", *options)  # fmt: skip
        return run.exit_code, (
            json.loads(run.output)["accuracy"] if run.exit_code == 0 else run.output
        )

    code, held_out = accuracy(f"npz:{tmp_path / 'held_out.npz'}")
    assert code == 0, held_out
    assert (0, held_out) == accuracy(f"npz:{tmp_path / 'both.npz'}")  # the same 20 test images
    code, output = accuracy(f"npz:{tmp_path / 'held_out.npz'}", "--split", "validation")
    assert code == 2 and "must hold arrays x_train and y_train" in output
    assert "test arrays alone serve `evomt eval --split test`" in output
    np.savez(tmp_path / "labels_only.npz", y_test=y)
    code, output = accuracy(f"npz:{tmp_path / 'labels_only.npz'}")
    assert code == 2 and "must hold arrays x_test and y_test (or x_train and y_train)" in output


def test_eval_takes_a_folder_of_test_images_alone(tmp_path):
    from PIL import Image

    _save_colors_system(tmp_path / "run")
    rng = np.random.default_rng(0)

    def write(folder, classes=("blue", "green", "red"), count=3):
        for name in classes:
            os.makedirs(folder / name)
            for i in range(count):
                image = rng.integers(0, 256, [8, 8, 3], dtype=np.uint8)
                Image.fromarray(image).save(folder / name / f"{i}.png")

    write(tmp_path / "whole" / "train", count=6)
    write(tmp_path / "whole" / "test")
    shutil.copytree(tmp_path / "whole" / "test", tmp_path / "held" / "test")
    write(tmp_path / "no_blue" / "test", classes=("green", "red"))  # labels stay 1 and 2

    def evaluate(folder: str, *options: str):
        return evomt("eval", "--workdir", tmp_path / "run", "--task", "colors", "--data",
                     f"dir:{tmp_path / folder}", "--json", *options)  # fmt: skip

    whole, held = evaluate("whole"), evaluate("held")
    assert whole.exit_code == 0 and held.exit_code == 0, held.output
    assert json.loads(held.output)["examples"] == 9
    assert held.output == whole.output  # the same 9 test images, labelled alike
    no_blue = evaluate("no_blue")
    assert no_blue.exit_code == 0, no_blue.output
    assert json.loads(no_blue.output)["examples"] == 6
    result = evaluate("held", "--split", "validation")
    assert result.exit_code == 2, result.output
    assert "holds test/, not the validation split (and no train/ to carve it from)" in (
        result.output
    )
    assert "--split test" in result.output
    write(tmp_path / "held" / "test", classes=("purple",), count=1)
    result = evaluate("held")
    assert result.exit_code == 2, result.output
    assert "class folders the training data lacks: ['purple']" in result.output


def test_evolve_refuses_the_task_list_of_a_work_directory_it_would_ignore(tmp_path):
    from keras_evomt.recipe import load_recipe, pin_config

    workdir = tmp_path / "run"
    pin_config(load_recipe("offline_mini.py:smoke"), workdir)
    pinned = (workdir / "config.json").read_bytes()
    for key in ("tasks=['digits']", "task_iterations=3"):
        result = evomt("evolve", "--workdir", workdir, "--task", "digits", "--set", key)
        assert result.exit_code == 2, result.output
        assert f"--set {key}: evomt evolve grows the one task --task names" in result.output
    assert (workdir / "config.json").read_bytes() == pinned
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json"]


def test_evolve_refuses_new_data_under_a_task_name_that_has_its_own(tmp_path):
    workdir = tmp_path / "run"
    result = evomt(
        "evolve", "--workdir", workdir, "--recipe", "recipes/offline_mini.py:smoke",
        "--task", f"digits=dir:{tmp_path}",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "task 'digits' already has its data (digits)" in result.output
    assert not workdir.exists() or not any(workdir.iterdir())  # nothing pinned or written


def _kept_system(workdir, metrics):
    from tests.helpers import tiny_system

    system = tiny_system()
    system.start_task("digits")
    path = system.new_task_path("digits", 10)
    path.metrics = metrics
    system.end_task(path)
    system.save(workdir)


def test_evolve_refuses_another_quality_rule_where_kept_paths_cannot_be_rescored(tmp_path):
    from keras_evomt.recipe import load_recipe, pin_config

    workdir = tmp_path / "run"
    pin_config(load_recipe("offline_mini.py:smoke"), workdir)
    _kept_system(workdir, {"validation_accuracy": 0.5, "validation_quality": 0.51})  # no rule
    pinned = (workdir / "config.json").read_bytes()
    result = evomt(
        "evolve", "--workdir", workdir, "--task", "digits", "--set", "score.quality=likelihood"
    )
    assert result.exit_code == 2, result.output
    assert "--set score.quality=likelihood: task 'digits''s kept path" in result.output
    assert "scored by quality rule 'accuracy_likelihood' by a version" in result.output
    assert "search it with score.quality=accuracy_likelihood" in result.output
    assert (workdir / "config.json").read_bytes() == pinned
    assert sorted(p.name for p in workdir.iterdir()) == ["config.json", "system"]


@pytest.mark.slow
def test_evolve_under_another_quality_rule_rescores_the_kept_path_and_runs(grown, tmp_path):
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(grown[0], workdir)
    pinned = (workdir / "config.json").read_bytes()
    before = json.loads(evomt("status", "--workdir", workdir, "--json").output)["tasks"]
    result = evomt(
        "evolve", "--workdir", workdir, "--task", "digits", "--set", "score.quality=likelihood"
    )
    assert result.exit_code == 0, result.output
    assert "was scored by quality rule 'accuracy_likelihood'" in result.output
    assert (workdir / "config.json").read_bytes() == pinned  # an evolve --set is not pinned
    after = json.loads(evomt("status", "--workdir", workdir, "--json").output)["tasks"]
    for key in ("fingerprint", "test_accuracy", "validation_accuracy"):  # textures untouched
        assert after[1][key] == before[1][key]
    records = [json.loads(line) for line in (workdir / "search" / "candidates.jsonl").open()]
    visit = [r for r in records if r.get("quality_rule") == "likelihood"]
    assert visit and all(r["task"] == "digits" for r in visit)
    summary = evomt("report", "--workdir", workdir)
    assert summary.exit_code == 0, summary.output
    text = (workdir / "reports" / "summary.md").read_text()
    assert "visit 1 (accuracy_likelihood): " in text and "visit 2 (likelihood): " in text


def test_a_kept_path_that_recorded_its_rule_and_counts_may_be_searched_under_another(tmp_path):
    from keras_evomt.cli import _check_rescorable
    from keras_evomt.errors import UserInputError

    workdir = tmp_path / "run"
    _check_rescorable(str(workdir), "digits", "accuracy", "likelihood")  # nothing kept yet
    recorded = {"validation_accuracy": 0.5, "validation_quality": 0.5, "quality_rule": "accuracy"}
    _kept_system(workdir, {**recorded, "validation_loss": 0.7, "validation_examples": 16})
    _check_rescorable(str(workdir), "digits", "accuracy", "likelihood")
    _kept_system(workdir, recorded)  # its rule, but no count
    with pytest.raises(UserInputError, match="cannot be rescored under 'likelihood'"):
        _check_rescorable(str(workdir), "digits", "accuracy", "likelihood")
    _check_rescorable(str(workdir), "textures", "accuracy", "likelihood")  # another task's
    _check_rescorable(str(workdir), "digits", "accuracy", "accuracy")  # no change of rule


def test_a_relative_folder_names_its_task_as_run_named_it(tmp_path, monkeypatch):
    from tests.helpers import tiny_system

    system = tiny_system()
    name = f"dir:{tmp_path}/data/flat"  # as `evomt run` names an unnamed dir: task
    system.start_task(name)
    system.end_task(system.new_task_path(name, 3))
    system.save(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    result = evomt("export", "--workdir", "run", "--task", "dir:data/flat", "--out", "flat.keras")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "flat.keras").exists()
    result = evomt("evolve", "--workdir", "run", "--task", "dir:data/flat")
    assert result.exit_code == 2
    assert "holds a system made from Python (it has no config.json): pass --recipe" in result.output
    recipe = "recipes/offline_mini.py"  # its root is vit_mini, the system's vit_tiny
    (tmp_path / "x").mkdir()
    result = evomt("evolve", "--workdir", "run", "--recipe", REPO / recipe, "--task", "dir:x")
    assert result.exit_code == 2 and "another root: root.name='vit_mini'" in result.output
    assert not (tmp_path / "run" / "config.json").exists()  # a mistake does not bind it


CUSTOM_COMPONENTS = '''
import keras
from keras_evomt import Component, register_component


@register_component
class TrialGain(Component):
    """A learned gain on the input images (a stem component, before the embedding)."""

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(), initializer="ones", name="gain")

    def call(self, x):
        return self.gain * x
'''

GROW_WITH_CUSTOM = """
import mycomps
from keras_evomt.components import build_root
from keras_evomt.system import System

gain = mycomps.TrialGain(name="gain")
gain.build((None, 32, 32, 3))
parts = [("gain", gain)] + build_root("vit_tiny", image_size=32, patch_size=8)
system = System.from_root_components(parts, {"root": "custom"}, image_size=32)
system.start_task("a")
path = system.new_task_path("a", 3)
path.id, path.metrics = "a#0", {"validation_accuracy": 0.5}
system.end_task(path)
system.save("w")
"""


@pytest.mark.slow
def test_commands_load_custom_components_from_an_imported_module(tmp_path):
    import subprocess
    import sys

    (tmp_path / "mycomps.py").write_text(CUSTOM_COMPONENTS)

    def python(code, *args):
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert python(GROW_WITH_CUSTOM).returncode == 0
    evomt = "import sys; from keras_evomt.cli import main; sys.argv[0] = 'evomt'; main()"
    export = ["export", "--workdir", "w", "--task", "a", "--out"]
    refused = python(evomt, *export, "a.keras")
    assert refused.returncode == 2, refused.stderr
    assert "is a TrialGain, a class this process has not registered" in refused.stderr
    assert "evomt --import MODULE" in refused.stderr
    by_name = python(evomt, "--import", "mycomps", *export, "a.keras")
    assert by_name.returncode == 0, by_name.stderr
    by_file = python(evomt, "--import", str(tmp_path / "mycomps.py"), *export, "b.keras")
    assert by_file.returncode == 0, by_file.stderr
    missing = python(evomt, "--import", "nomodule", *export, "c.keras")
    assert missing.returncode == 2 and "--import nomodule: No module named" in missing.stderr
    load = "import keras, keras_evomt.path_model{}; print(keras.saving.load_model('a.keras'))"
    unknown = python(load.format(""))
    assert unknown.returncode != 0
    assert "holds a TrialGain ('keras_evomt>TrialGain'), a class this process has not" in (
        unknown.stderr
    )
    assert python(load.format(", mycomps")).returncode == 0


def test_a_read_only_file_system_is_bad_input_that_names_the_way_out(tmp_path, monkeypatch):
    import errno

    from keras_evomt import report

    def read_only(workdir, out=None, structure=None):
        raise OSError(errno.EROFS, "Read-only file system", f"{workdir}/reports/.x.tmp")

    monkeypatch.setattr(report, "write_report", read_only)
    tiny_system().save(tmp_path)
    result = CliRunner().invoke(main, ["report", "--workdir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"error: read-only file system: {tmp_path}/reports/.x.tmp" in result.output
    assert "give `report` and `export` an --out on a writable disk" in result.output
