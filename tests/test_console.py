"""The real `evomt` console command, in a subprocess: what a user sees, and how fast."""

import os
import shutil
import subprocess
import sys

import pytest


def console(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Runs the installed `evomt` (else `python -m keras_evomt.cli`), stderr captured."""
    command = [shutil.which("evomt")] if shutil.which("evomt") else [sys.executable, "-m"]
    if command == [sys.executable, "-m"]:
        command.append("keras_evomt.cli")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user's shell
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_an_unknown_task_shows_the_error_and_nothing_else(tmp_path):
    result = console(
        "run",
        "recipes/offline_mini.py:smoke",
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


def test_debug_shows_tensorflows_own_output(tmp_path):
    result = console(
        "--debug",
        "run",
        "recipes/offline_mini.py:smoke",
        "--workdir",
        str(tmp_path),
        "--set",
        "tasks=['cifar11']",
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["check", "--help"], ["status", "--help"]]
)
def test_commands_that_need_no_tensorflow_never_import_it(args):
    code = (
        "import sys\nfrom keras_evomt.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'TF_FREE')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "TF_FREE", result.stdout + result.stderr


def test_importing_the_package_imports_no_tensorflow():
    code = "import sys, keras_evomt; print('tensorflow' in sys.modules, keras_evomt.__version__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split()[0] == "False", result.stderr
