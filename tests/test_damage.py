"""Damage stays local and visible: inference reads no optimizer slots, a damaged file
blocks only the tasks whose paths use it, and `evomt check` lists what is damaged."""

import errno
import json
import shutil
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from keras_evomt import store
from keras_evomt.cli import main
from keras_evomt.errors import CorruptStateError, DiskFullError
from keras_evomt.system import System
from tests.helpers import digits, tiny_system, train


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Tasks a and b, each with own components carrying momentum slots; one state."""
    workdir = tmp_path_factory.mktemp("run")
    x, y = digits(32)
    system = tiny_system()
    for task in ("a", "b"):
        system.start_task(task)
        path = system.new_task_path(task, 10)
        path.id = f"{task}#0"
        train(system, path, x, y, steps=1)
        for cid in system.trainable_ids(path):
            system.slots[cid] = [
                np.full(w.shape, 0.5, w.dtype) for w in system.components[cid].get_weights()
            ]
        system.end_task(path)
    system.save(workdir)
    return workdir, system, x[:4]


def _own_file(workdir, task):
    """The weight file of the head only `task` uses, and its manifest entry."""
    manifest = json.loads(next(store.system_dir(workdir).glob("manifest-*.json")).read_text())
    path = next(p for p in manifest["system"]["tasks"] if p["task"] == task)
    entry = manifest["components"][path["components"][-1]]
    return store.system_dir(workdir) / entry["file"], entry


def _flip(file, member):
    """Flips one byte in the data of `member` ("w0.npy", "s0.npy", ...) of an .npz."""
    with zipfile.ZipFile(file) as archive:
        info = archive.getinfo(member)
    data = bytearray(file.read_bytes())
    header = 30 + len(info.filename.encode()) + len(info.extra)
    data[info.header_offset + header + info.compress_size - 3] ^= 0x10
    file.write_bytes(bytes(data))


def _damaged_copy(saved, tmp_path, task, member):
    copy = tmp_path / "run"
    shutil.copytree(saved[0], copy)
    file, entry = _own_file(copy, task)
    assert entry["slots_sha256"]  # the fixture stored momentum for it
    _flip(file, member)
    return copy, file


def test_a_damaged_slot_blocks_no_inference_and_check_names_it(saved, tmp_path):
    _, system, x = saved
    copy, file = _damaged_copy(saved, tmp_path, "b", "s0.npy")
    loaded = System.load(copy)
    assert loaded.loaded_state == 1 and not loaded.load_warnings
    np.testing.assert_array_equal(loaded.model("b")(x), system.model("b")(x))
    only_b = System.load(copy, tasks=["b"])
    np.testing.assert_array_equal(only_b.model("b")(x), system.model("b")(x))
    with pytest.raises(CorruptStateError, match="optimizer slots"):
        _ = loaded.slots  # training would need them: it says so
    with pytest.raises(CorruptStateError, match="no state in .* loads for training") as e:
        System.load(copy, slots=True)  # as a search opens it
    assert "optimizer slots unreadable" in e.value.message and "(used by b)" in e.value.message
    assert "every task still loads for inference (eval, export, serve)" in e.value.hint
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert result.exit_code == 1
    assert f"damaged: weights/{file.name}" in result.output
    assert "affects tasks b (optimizer slots only" in result.output
    assert "; every task still loads for inference (eval, export, serve)." in result.output


def test_a_damaged_component_blocks_only_its_tasks(saved, tmp_path):
    _, system, x = saved
    copy, file = _damaged_copy(saved, tmp_path, "b", "w0.npy")
    only_a = System.load(copy, tasks=["a"])
    np.testing.assert_array_equal(only_a.model("a")(x), system.model("a")(x))
    with pytest.raises(CorruptStateError, match=r"used by b\)"):
        System.load(copy, tasks=["b"])
    result = CliRunner().invoke(main, ["eval", "--workdir", str(copy), "--task", "b"])
    assert result.exit_code == 1 and "evomt check --workdir" in result.output
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert result.exit_code == 1
    assert f"damaged: weights/{file.name}" in result.output and "affects tasks b\n" in result.output
    assert (
        "1 damaged of" in result.output
        and "; the task whose weights are intact (a) loads as saved" in result.output
    )


def test_a_task_only_damaged_states_hold_is_named_as_damaged_not_unknown(saved, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(saved[0], copy)
    grown = System.load(copy)
    grown.start_task("c")
    path = grown.new_task_path("c", 10)
    train(grown, path, *digits(32), steps=1)
    grown.end_task(path)
    grown.save(copy)  # state 2: the only one with c
    file, _ = _own_file(copy, "c")
    _flip(file, "w0.npy")
    result = CliRunner().invoke(main, ["eval", "--workdir", str(copy), "--task", "c"])
    assert result.exit_code == 1, result.output
    assert "task 'c' cannot be loaded: state 2 is unusable" in result.output
    assert "saved before it existed" in result.output and "evomt check" in result.output
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert (
        "; the tasks whose weights are intact (a, b) load as saved in the newest readable state."
        in result.output
    )
    result = CliRunner().invoke(main, ["eval", "--workdir", str(copy), "--task", "d"])
    assert result.exit_code == 2 and "no task 'd'" in result.output  # a typo, not damage
    _flip(file, "w0.npy")  # repaired; now the newest manifest is damaged instead
    (store.system_dir(copy) / "manifest-00000002.json").write_text("{")
    result = CliRunner().invoke(main, ["eval", "--workdir", str(copy), "--task", "c"])
    assert result.exit_code == 1, result.output
    assert "task 'c' cannot be loaded (if it is a task of the damaged states)" in result.output
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert "damaged: manifest-00000002.json" in result.output
    assert "affects its state: tasks added in it cannot be loaded" in result.output


def test_check_reads_a_file_of_junk_as_damaged_and_never_suggests_unpickling(saved, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(saved[0], copy)
    file, _ = _own_file(copy, "a")
    file.write_bytes(b"junk bytes, not a zip")  # numpy would call it pickled data
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert result.exit_code == 1
    assert f"weights/{file.name}: weights unreadable (not a plain .npz" in result.output
    assert "pickle" not in result.output.replace("or pickled", "")


def test_check_passes_a_clean_system(saved):
    result = CliRunner().invoke(main, ["check", "--workdir", str(saved[0])])
    assert result.exit_code == 0 and result.output.startswith("ok: ")


def test_check_names_damaged_work_directory_files(saved, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(saved[0], copy)
    (copy / "config.json").write_text('{"tasks": ["a", ')  # cut short
    (copy / "search").mkdir()
    (copy / "search" / "state.json").write_text(json.dumps({"candidates_log_bytes": 50}))
    (copy / "search" / "candidates.jsonl").write_text('{"id": "a#0"}\n')  # 14 of 50 bytes
    result = CliRunner().invoke(main, ["check", "--workdir", str(copy)])
    assert result.exit_code == 1, result.output
    assert "damaged: config.json: not readable JSON" in result.output
    assert "damaged: search/candidates.jsonl: 14 bytes, shorter than the committed" in (
        result.output
    )
    assert "tasks whose weights are intact (a, b) load" in result.output
    # A run names the damaged config and what to do, not a JSON traceback.
    rerun = CliRunner().invoke(main, ["eval", "--workdir", str(copy), "--task", "a"])
    assert rerun.exit_code == 1 and "config.json is not readable JSON" in rerun.output
    assert "delete it and rerun `evomt run`" in rerun.output and "Traceback" not in rerun.output
    status = CliRunner().invoke(main, ["status", "--workdir", str(copy)])  # reads no config
    assert status.exit_code == 0 and "2 tasks" in status.output, status.output


def test_check_refuses_a_directory_whose_run_never_saved(tmp_path):
    (tmp_path / "system").mkdir()  # a run killed before its first save
    (tmp_path / "system" / ".manifest-00000001.json.a1b2.tmp").write_text("{")
    result = CliRunner().invoke(main, ["check", "--workdir", str(tmp_path)])
    assert result.exit_code != 0 and "holds no saved state" in result.output
    assert "starts it over" in result.output


def _disk_full(*args):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_says_where_and_how_much_and_keeps_the_committed_state(saved, tmp_path):
    _, system, x = saved
    copy = tmp_path / "run"
    shutil.copytree(saved[0], copy)
    fingerprints = {t: system.fingerprint(t) for t in system.paths}
    grown = System.load(copy)
    grown.start_task("c")  # a new task: the next save writes new weight files
    path = grown.new_task_path("c", 10)
    train(grown, path, *digits(32), steps=1)
    grown.end_task(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store.os, "fsync", _disk_full)
        with pytest.raises(DiskFullError) as caught:
            grown.save(copy)
    message = str(caught.value)
    assert (
        str(store.system_dir(copy)) in message and "The last committed state is intact" in message
    )
    assert caught.value.needed_bytes > 0 and " KB more is needed" in message
    assert not list(copy.rglob("*.tmp"))
    loaded = System.load(copy)
    assert loaded.loaded_state == 1 and not loaded.load_warnings
    assert {t: loaded.fingerprint(t) for t in loaded.paths} == fingerprints


def test_a_full_disk_exits_1_in_one_short_message(tmp_path, monkeypatch):
    monkeypatch.setattr(store.os, "fsync", _disk_full)
    result = CliRunner().invoke(
        main, ["run", "recipes/offline_mini.py:smoke", "--workdir", str(tmp_path / "w")]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"error: no space left on the device of {tmp_path / 'w'}: about")
    assert "The last committed state is intact" in lines[0] and len(lines) == 2
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_without_a_backup_a_search_goes_on_without_its_damaged_slots(tmp_path):
    from keras_evomt.observe import Observer
    from keras_evomt.recipe import pin_config
    from keras_evomt.search import Search
    from tests.helpers import tiny_search_config

    workdir = tmp_path / "run"
    config = pin_config(tiny_search_config(("digits",)), workdir)
    with Search(config, workdir, observer=Observer(workdir, quiet=True)) as search:
        search.run()
    before = System.load(workdir)
    directory = store.system_dir(workdir)
    newest = store.read_manifest(directory, store.manifest_numbers(directory)[-1])
    with_slots = sorted(e["file"] for e in newest["components"].values() if e["slots_sha256"])
    _flip(directory / with_slots[-1], "s0.npy")
    evolve = ["evolve", "--workdir", str(workdir), "--task", "digits", "--quiet"]
    refused = CliRunner().invoke(main, evolve)
    assert refused.exit_code == 1, refused.output
    assert "--drop-damaged-slots` lets training go on" in refused.output

    dropped = CliRunner().invoke(main, ["check", "--workdir", str(workdir), "--drop-damaged-slots"])
    assert dropped.exit_code == 0, dropped.output
    assert "holds the system without the damaged optimizer slots of" in dropped.output
    after = System.load(workdir)
    assert after.loaded_state == before.loaded_state + 1
    assert {t: after.fingerprint(t) for t in after.paths} == {
        t: before.fingerprint(t) for t in before.paths
    }
    again = CliRunner().invoke(main, ["check", "--workdir", str(workdir), "--drop-damaged-slots"])
    assert "nothing to drop" in again.output, again.output
    checked = CliRunner().invoke(main, ["check", "--workdir", str(workdir)])
    assert checked.exit_code == 1, checked.output  # the older states still name the file
    assert f"in states older than the newest ({after.loaded_state})" in checked.output
    assert f"only by states older than the newest ({after.loaded_state}), which is sound" in (
        checked.output
    )
    assert "--drop-damaged-slots" not in checked.output
    grown = CliRunner().invoke(main, evolve)
    assert grown.exit_code == 0, grown.output
