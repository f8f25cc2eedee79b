"""One reader of a saved system's manifests: `store.load`, `evomt status`/`report`/`check`."""

import json
import shutil
from pathlib import Path as FsPath

import pytest
from click.testing import CliRunner

import keras_evomt
from keras_evomt import store
from keras_evomt.structure import read_structure
from keras_evomt.system import System
from tests.helpers import tiny_system

SOURCE = FsPath(keras_evomt.__file__).parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A system with one task, saved twice (states 1 and 2)."""
    workdir = tmp_path_factory.mktemp("run")
    system = tiny_system()
    system.save(workdir)
    system.start_task("a")
    path = system.new_task_path("a", 10)
    path.id = "a#0"
    system.end_task(path)
    system.save(workdir)
    return workdir


def _broken_newest(saved, tmp_path) -> FsPath:
    copy = tmp_path / "run"
    shutil.copytree(saved, copy)
    newest = store.manifest_file(store.system_dir(copy), 2)
    manifest = json.loads(newest.read_text())
    manifest["system"]["tasks"][0]["components"].append("nowhere.99")
    newest.write_text(json.dumps(manifest))
    return copy


def test_manifests_are_found_and_checked_only_in_the_store():
    for file in SOURCE.rglob("*.py"):
        if file.name == "store.py":
            continue
        text = file.read_text()
        assert "manifest-" not in text, f"{file} spells manifest file names"
        assert "MANIFEST_SCHEMA" not in text, f"{file} checks manifests itself"


def test_the_structure_and_the_loaded_system_fall_back_alike(saved, tmp_path):
    copy = _broken_newest(saved, tmp_path)
    structure, loaded = read_structure(copy), System.load(copy, tasks=())
    assert structure.loaded_state == loaded.loaded_state == 1
    assert structure.load_warnings == loaded.load_warnings
    assert "does not list: ['nowhere.99']" in structure.load_warnings[0]
    assert read_structure(saved).loaded_state == 2 and not read_structure(saved).load_warnings


def test_check_reports_the_manifest_the_loader_refuses(saved, tmp_path):
    from keras_evomt.check import check_workdir

    result = check_workdir(_broken_newest(saved, tmp_path))
    assert [(d.file, d.tasks) for d in result.damage] == [("manifest-00000002.json", [])]
    assert "does not list" in result.damage[0].problem


def test_evomt_report_reads_the_manifest_once(saved, tmp_path, monkeypatch):
    from keras_evomt.cli import main

    reads = []
    read_manifest = store.read_manifest
    monkeypatch.setattr(store, "read_manifest", lambda *a: reads.append(a) or read_manifest(*a))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["report", "--workdir", str(saved), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "summary.md").is_file() and len(reads) == 1
