"""The `ray` executor on a local Ray cluster of 2 CPUs: the same system as `inline`,
an actor killed mid-candidate, the chief killed and resumed, an unreachable cluster,
and nothing but loopback contacted."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from keras_evomt.cli import main
from keras_evomt.errors import UserInputError
from keras_evomt.observe import Observer
from keras_evomt.search import Search
from keras_evomt.search.config import validate
from keras_evomt.search.journal import CandidateJournal
from keras_evomt.system import System
from tests.helpers import REPO, child_env, kill_mid_generation_and_resume, tiny_search_config

pytest.importorskip("ray")

TASKS = ("digits",)  # with 3 candidates: two waves on 2 actors, the root's blocks shared


def tiny(**changes):
    # The main job's quality rule: actors must choose kept rounds by it as the chief does.
    changes.setdefault("score__quality", "accuracy_likelihood")
    return tiny_search_config(TASKS, candidates_per_generation=3, **changes)


def ray_config(**changes):
    config = tiny(**changes)
    config.distribute.executor, config.distribute.ray_actors = "ray", 2
    return config


def grown(workdir):
    """Fingerprints per task and candidates.jsonl without its `seconds`."""
    system = System.load(workdir)
    lines = CandidateJournal(workdir / "search" / "candidates.jsonl").read()
    return (
        {t: system.fingerprint(t) for t in system.paths},
        [{k: v for k, v in r.items() if k != "seconds"} for r in lines],
    )


@pytest.fixture(scope="module")
def inline(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("inline")
    config = tiny()
    with Search(config, workdir, observer=Observer(workdir, quiet=True)) as search:
        search.run()
    return grown(workdir)


@pytest.mark.slow
def test_ray_grows_the_same_system_as_inline_even_when_an_actor_dies(tmp_path, inline):
    """Actor 0 is SIGKILLed half a second after the first wave is submitted (its
    candidate traces for seconds): Ray restarts it and retries the call."""
    search = Search(ray_config(), tmp_path, observer=Observer(tmp_path, quiet=True))
    executor = search.executor
    victim = executor.pids[0]

    def kill_when_training():
        while executor.stats["candidates"] < 1:
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_training, daemon=True)
    killer.start()
    with search:
        search.run()
    killer.join(timeout=5)
    assert executor.retried == 1 and executor.pids[0] != victim
    fingerprints, lines = grown(tmp_path)
    assert fingerprints == inline[0]
    assert lines == inline[1] and not any("failed" in line for line in lines)
    # Frozen components went out once per generation, not once per candidate.
    stats = executor.stats
    assert stats["shared_bytes"] + stats["own_bytes"] < stats["needed_bytes"]


RUN = """
import sys
sys.path.insert(0, {root!r})
from keras_evomt.observe import Observer
from keras_evomt.search import Search
from tests.test_ray import ray_config
with Search(ray_config(), {workdir!r}, observer=Observer({workdir!r}, quiet=True)) as search:
    search.run()
"""


@pytest.mark.slow
def test_a_killed_ray_chief_resumes_to_the_same_system(tmp_path, inline):
    code = RUN.format(root=str(REPO), workdir=str(tmp_path))
    kill_mid_generation_and_resume(code, tmp_path, "digits")
    assert grown(tmp_path) == inline


def test_an_unreachable_cluster_exits_2_naming_the_address(tmp_path):
    with pytest.raises(UserInputError, match="distribute.executor"):
        config = ray_config()
        config.distribute.executor = "rays"
        validate(config)
    # A closed loopback port: refused at once (tests reach nothing but loopback).
    result = CliRunner().invoke(
        main,
        [
            "run",
            "recipes/offline_mini.py:smoke",
            "--workdir",
            str(tmp_path),
            "--quiet",
            "--set",
            "distribute.executor=ray",
            "--set",
            "distribute.ray_address=127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "127.0.0.1:1" in result.output and "ray start --head" in result.output


def test_a_ray_client_address_is_refused_before_any_connection():
    from keras_evomt.executors.ray_executor import _probe

    with pytest.raises(UserInputError, match="Ray Client .ray://. addresses are not supported"):
        _probe("ray://127.0.0.1:10001", timeout_s=0.1)


PROBE = """
from keras_evomt.executors.ray_executor import connect, import_ray
connect("", num_cpus=1)
ray = import_ray()
print(ray.get(ray.remote(lambda: 1).remote()))
import time; time.sleep(3)  # the dashboard's background start-up work
ray.shutdown()
"""


@pytest.mark.slow
def test_a_local_ray_contacts_only_loopback(tmp_path):
    """Every connect()/sendto() of the driver and of every process Ray starts, traced
    with `strace -f`: only 127.0.0.1 / ::1 (without the pinning, Ray connects a UDP
    socket to 8.8.8.8 for the node IP and its dashboard probes 169.254.169.254 and
    resolves metadata.google.internal)."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    trace = tmp_path / "trace.txt"
    result = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace)]
        + [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=child_env(),
    )
    if result.returncode != 0 and "ptrace" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr[-200:]}")
    assert result.returncode == 0, result.stderr[-2000:]
    import re

    text = trace.read_text()
    addresses = set(re.findall(r'inet_addr\("([^"]+)"\)', text))
    addresses |= set(re.findall(r'inet_pton\(AF_INET6, "([^"]+)"', text))
    assert "127.0.0.1" in addresses, "the trace saw no connection at all"
    assert addresses <= {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, addresses


def test_the_config_maps_the_older_mode_and_rejects_conflicts():
    from keras_evomt.search.config import executor_name

    config = tiny()
    config.distribute.mode = "candidates"
    assert executor_name(config) == "devices"
    config.distribute.executor = "ray"
    with pytest.raises(UserInputError, match="conflicts"):
        validate(config)
    assert json.dumps(executor_name(tiny())) == '"inline"'


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    from keras_evomt.executors.ray_executor import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install keras_evomt\[ray\]"):
        import_ray()
