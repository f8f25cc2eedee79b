"""The real `evomt` console command, in a subprocess: what a user sees, and how fast."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from tests.helpers import RECIPES, child_env

SMOKE = f"{RECIPES / 'offline_mini.py'}:smoke"


def console(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Runs the installed `evomt` (else `python -m keras_evomt.cli`) in the temporary
    folder, stderr captured."""
    command = [shutil.which("evomt")] if shutil.which("evomt") else [sys.executable, "-m"]
    if command == [sys.executable, "-m"]:
        command.append("keras_evomt.cli")
    env = {k: v for k, v in child_env().items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user's shell
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tempfile.gettempdir(),
    )


@pytest.mark.slow
def test_an_unknown_task_shows_the_error_and_nothing_else(tmp_path):
    result = console(
        "run",
        SMOKE,
        "--workdir",
        str(tmp_path / "run"),
        "--set",
        "tasks=['digits','cifar11']",
    )
    assert result.returncode == 2
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines[0] == "error: unknown task 'cifar11'", lines
    assert len(lines) <= 2, lines  # no TensorFlow, absl or CUDA start-up lines
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_debug_shows_tensorflows_own_output(tmp_path):
    result = console(
        "--debug",
        "run",
        SMOKE,
        "--workdir",
        str(tmp_path),
        "--set",
        "tasks=['cifar11']",
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


def _imports_tensorflow(args: list[str]) -> bool:
    """Whether `evomt ARGS` imports TensorFlow (run in a new process)."""
    code = (
        "import sys\nfrom keras_evomt.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'TF_FREE')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env=child_env(),
    )
    return result.stdout.strip().splitlines()[-1] == "TF_IMPORTED"


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["check", "--help"], ["status", "--help"]]
)
def test_commands_that_need_no_tensorflow_never_import_it(args):
    assert _imports_tensorflow(args) is False


def test_evolve_without_a_recipe_or_config_fails_before_tensorflow_is_imported(tmp_path):
    (tmp_path / "system").mkdir()  # a system made from Python: no config.json
    assert _imports_tensorflow(["evolve", "--workdir", str(tmp_path), "--task", "a"]) is False
    assert (
        _imports_tensorflow(["evolve", "--workdir", str(tmp_path / "new"), "--task", "a"]) is False
    )


@pytest.mark.parametrize(
    "target, flag",
    [("model.txt", "--task"), ("model.keras", "--tasks"), ("taken.keras", "--task"), ("", "")],
)
def test_export_refuses_a_bad_target_or_workdir_before_tensorflow_is_imported(
    tmp_path, target, flag
):
    (tmp_path / "taken.keras").write_bytes(b"another file")
    args = ["export", "--workdir", str(tmp_path / ("" if target else "missing"))]
    args += [flag or "--task", "a", "--out", str(tmp_path / (target or "m.keras"))]
    assert _imports_tensorflow(args) is False


def test_importing_the_package_imports_no_tensorflow():
    code = "import sys, keras_evomt; print('tensorflow' in sys.modules, keras_evomt.__version__)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env=child_env(),
    )
    assert result.stdout.split()[0] == "False", result.stderr


@pytest.mark.slow
def test_a_users_folder_is_named_by_the_user_everywhere(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for label in ("daisy", "rose"):
            folder = tmp_path / "flowers" / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 255, (28, 28, 3), np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    (tmp_path / "flowers" / "train" / "rose" / "broken.jpg").write_bytes(b"\0" * 64)
    workdir = str(tmp_path / "run")
    result = console(
        "evolve",
        "--workdir",
        workdir,
        "--recipe",
        SMOKE,
        "--task",
        f"flowers=dir:{tmp_path / 'flowers'}",
        "--quiet",
        "--set",
        "validations=1",
        "--set",
        "steps_per_validation=2",
        "--set",
        "batch_size=8",
        "--set",
        "validation_examples=8",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"warning: skipped 1 file in {tmp_path / 'flowers' / 'train'} that is not JPEG, PNG, "
        "GIF or BMP images: rose/broken.jpg"
    ]
    shown = console("status", "--workdir", workdir, "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert [t["task"] for t in status["tasks"]] == ["flowers"]
    assert os.path.isdir(os.path.join(workdir, "tb", "flowers"))
    for command in (["status", "--workdir", workdir], ["report", "--workdir", workdir]):
        assert _imports_tensorflow(command) is False  # read from the manifest alone
    evaluated = console("eval", "--workdir", workdir, "--task", "flowers", "--json")
    assert json.loads(evaluated.stdout)["task"] == "flowers", evaluated.stderr
