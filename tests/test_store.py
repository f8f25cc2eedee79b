import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_evomt import store
from keras_evomt.errors import CorruptStateError, UserInputError
from keras_evomt.system import System
from tests.helpers import digits, run_python, tiny_system, train


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A system with two tasks, saved twice (states 1 and 2)."""
    workdir = tmp_path_factory.mktemp("run")
    x, y = digits(64)
    system = tiny_system()
    for task in ("a", "b"):
        system.start_task(task)
        path = system.new_task_path(task, 10)
        path.id = f"{task}#0"
        train(system, path, x, y, steps=2)
        system.end_task(path)
        system.save(workdir)
    return workdir, system, x[:8]


def _manifest(workdir, number):
    return store.system_dir(workdir) / f"manifest-{number:08d}.json"


@pytest.mark.slow
def test_load_in_a_new_process_is_bit_identical(saved):
    workdir, system, x = saved
    np.save(workdir / "x.npy", x)
    child = run_python(f"""
        import json, numpy as np, keras_evomt
        from keras_evomt.system import System
        s = System.load({str(workdir)!r})
        x = np.load({str(workdir / "x.npy")!r})
        print(json.dumps({{"fp": {{t: s.fingerprint(t) for t in s.paths}},
                          "paths": [p.to_json() for p in s.paths.values()],
                          "pred": s.model("b")(x).numpy().tolist()}}))
    """)
    assert child["fp"] == {t: system.fingerprint(t) for t in system.paths}
    assert child["paths"] == [p.to_json() for p in system.paths.values()]
    np.testing.assert_array_equal(np.array(child["pred"], "float32"), system.model("b")(x))


def test_weights_are_stored_once_and_old_states_pruned(saved, tmp_path):
    workdir, system, _ = saved
    files = list((store.system_dir(workdir) / "weights").glob("*.npz"))
    assert len(files) == len(system.components)  # unchanged components are not rewritten
    for _ in range(4):
        system.save(tmp_path, keep=2)
    assert sorted(p.name for p in store.system_dir(tmp_path).glob("manifest-*")) == [
        "manifest-00000003.json",
        "manifest-00000004.json",
    ]


def _corrupt_copy(saved, tmp_path, damage):
    workdir, system, _ = saved
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(workdir, copy)
    manifest = json.loads(_manifest(copy, 2).read_text())
    damage(copy, manifest)
    return copy, system


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_damaged_weights_fall_back_to_the_previous_state(saved, tmp_path, how):
    def damage(copy, manifest):
        head = next(
            e
            for c, e in manifest["components"].items()
            if c.startswith("head") and e["file"] not in _files_of(copy, 1)
        )
        file = store.system_dir(copy) / head["file"]
        data = bytearray(file.read_bytes())
        if how == "truncate":
            data = data[: len(data) // 2]
        else:
            data[-200] ^= 0x01
        file.write_bytes(bytes(data))

    copy, system = _corrupt_copy(saved, tmp_path, damage)
    loaded = System.load(copy)
    assert loaded.loaded_state == 1
    assert "state 2 is unusable" in loaded.load_warnings[0]
    assert list(loaded.paths) == ["a"]
    assert loaded.fingerprint("a") == system.fingerprint("a")


def test_a_state_refused_for_one_tasks_file_names_the_tasks_that_still_load(saved, tmp_path):
    def damage(copy, manifest):
        head = next(
            c
            for c in manifest["components"]
            if c.startswith("head")
            and c not in json.loads(_manifest(copy, 1).read_text())["components"]
        )
        (store.system_dir(copy) / manifest["components"][head]["file"]).write_bytes(b"junk")
        _manifest(copy, 1).unlink()  # no older state to fall back to

    copy, system = _corrupt_copy(saved, tmp_path, damage)
    with pytest.raises(CorruptStateError, match=r"state 2 is unusable \(.*used by b\)") as e:
        System.load(copy)
    assert "Tasks that do not use it still load (a)" in e.value.hint
    assert "evomt export (or serve) --tasks a" in e.value.hint
    assert System.load(copy, tasks=["a"]).fingerprint("a") == system.fingerprint("a")


def _files_of(copy, number):
    return {
        e["file"] for e in json.loads(_manifest(copy, number).read_text())["components"].values()
    }


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda e: e.update({"class": "other>NoSuchLayer"}), "not a registered"),
        (lambda e: e.update({"class": "keras_evomt>Lambda"}), "Lambda layers carry code"),
        (
            lambda e: e.update({"class": "keras>Lambda", "config": {"function": "evil"}}),
            "Lambda layers carry code",
        ),
        (lambda e: e.update({"file": "weights/../../../evil.npz"}), "refused"),
        (lambda e: e.update({"file": "/etc/passwd"}), "refused"),
    ],
)
def test_manifests_naming_code_or_outside_files_are_refused(saved, tmp_path, edit, message):
    def damage(copy, manifest):
        entry = next(iter(manifest["components"].values()))
        edit(entry)
        _manifest(copy, 2).write_text(json.dumps(manifest))
        _manifest(copy, 1).unlink()

    copy, _ = _corrupt_copy(saved, tmp_path, damage)
    with pytest.raises(CorruptStateError, match=message):
        System.load(copy)


def test_a_component_class_of_a_module_not_imported_is_refused_naming_the_class(saved, tmp_path):
    def damage(copy, manifest):
        next(iter(manifest["components"].values()))["class"] = "keras_evomt>TrialMissing"
        _manifest(copy, 2).write_text(json.dumps(manifest))
        _manifest(copy, 1).unlink()

    copy, _ = _corrupt_copy(saved, tmp_path, damage)
    with pytest.raises(UserInputError, match="is a TrialMissing, a class this process has not"):
        System.load(copy)


def test_pickled_weights_are_refused_and_run_no_code(saved, tmp_path):
    marker = tmp_path / "pwned"

    def damage(copy, manifest):
        cid, entry = next(iter(manifest["components"].items()))
        evil = np.array([Exploit(str(marker))], dtype=object)
        np.savez(store.system_dir(copy) / "weights" / "evil.npz", w0=evil)
        entry["file"] = "weights/evil.npz"
        _manifest(copy, 2).write_text(json.dumps(manifest))
        _manifest(copy, 1).unlink()

    copy, _ = _corrupt_copy(saved, tmp_path, damage)
    with pytest.raises(CorruptStateError, match="holds pickled"):
        System.load(copy)
    assert not marker.exists()


class Exploit:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.slow
def test_a_save_killed_mid_write_leaves_the_previous_state_loadable(tmp_path):
    # A child saves a larger system over and over; we SIGKILL it at some instant.
    code = f"""
import keras_evomt, sys
from keras_evomt import store
from keras_evomt.system import System
s = System.create("vit_mini", image_size=64)
s.start_task("a"); p = s.new_task_path("a", 10); p.id = "a#0"; s.end_task(p)
s.save({str(tmp_path)!r})
print("saved", flush=True)
while True:
    for c in s.components.values():
        for w in c.weights:
            w.assign(w + 1.0)
        store.forget(c)  # weights changed by hand: rehash, rewrite every file
    s.save({str(tmp_path)!r}, keep=2)
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "saved"
    time.sleep(3.0)
    child.send_signal(signal.SIGKILL)
    child.wait()
    loaded = System.load(tmp_path)
    assert loaded.load_warnings == []  # the newest manifest on disk is always complete
    assert loaded.loaded_state >= 1
    assert list(loaded.paths) == ["a"]


def test_loading_nothing_is_a_clear_input_error(tmp_path):
    with pytest.raises(UserInputError, match="no saved system"):
        System.load(tmp_path)


def test_a_damaged_shared_file_is_rewritten_at_the_next_save(saved, tmp_path):
    workdir, system, _ = saved

    def damage(copy, manifest):
        root_cls = next(e for c, e in manifest["components"].items() if c.startswith("cls"))
        file = store.system_dir(copy) / root_cls["file"]  # shared by every kept state
        data = bytearray(file.read_bytes())
        data[-200] ^= 0x01
        file.write_bytes(bytes(data))

    copy, _ = _corrupt_copy(saved, tmp_path, damage)
    with pytest.raises(CorruptStateError, match="no loadable state") as refused:
        System.load(copy)
    assert "states 2 and 1 are unusable (" in refused.value.message  # one reason, told once
    assert refused.value.message.count("(used by") == 1
    assert "Every task uses that component, so none loads" in refused.value.hint
    system.save(copy)  # the running system still holds the weights: the file is healed
    for state in (3, 2, 1):
        assert System.load(copy, state=state).fingerprint("a") == system.fingerprint("a")


def test_a_broken_system_section_falls_back_to_the_previous_state(saved, tmp_path):
    def damage(copy, manifest):
        del manifest["system"]["tasks"][0]["components"]
        _manifest(copy, 2).write_text(json.dumps(manifest))

    copy, _ = _corrupt_copy(saved, tmp_path, damage)
    loaded = System.load(copy)
    assert loaded.loaded_state == 1 and "fails its schema" in loaded.load_warnings[0]


def test_status_needs_no_weights_and_export_only_its_task(saved):
    workdir, system, x = saved
    structure = System.load(workdir, tasks=[])
    assert {t: structure.fingerprint(t) for t in structure.paths} == {
        t: system.fingerprint(t) for t in system.paths
    }
    assert structure.total_params() == system.total_params()
    assert structure.flops(structure.paths["a"]) == system.flops(system.paths["a"])
    with pytest.raises(UserInputError, match="loaded without its weights"):
        structure.model("a")
    only_b = System.load(workdir, tasks=["b"])
    np.testing.assert_array_equal(only_b.model("b")(x), system.model("b")(x))


def test_the_status_read_from_the_manifest_alone_matches_the_loaded_system(saved):
    from keras_evomt.structure import read_structure
    from keras_evomt.summary import status

    workdir, system, _ = saved
    assert status(read_structure(workdir)) == status(System.load(workdir))
    assert status(read_structure(workdir)) == status(system)


def test_status_counts_the_kept_paths_components_not_a_running_searchs(tmp_path):
    from keras_evomt.structure import read_structure
    from keras_evomt.summary import status

    system = tiny_system()
    system.start_task("a")
    system.end_task(system.new_task_path("a", 10))
    kept = status(system)[1]["components"]
    assert kept == len({c for p in system.all_paths() for c in p.components})
    system.start_task("b")
    candidate = system.new_task_path("b", 10)  # a candidate in flight holds a new head
    assert set(candidate.components) - system.kept_component_ids()
    assert len(system.component_ids()) > kept  # the system holds them meanwhile
    system.save(tmp_path)
    assert status(system)[1]["components"] == kept
    assert status(read_structure(tmp_path))[1]["components"] == kept
