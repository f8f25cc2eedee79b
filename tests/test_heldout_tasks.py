"""tools/make_heldout_tasks.py: offline tasks beyond the main job's, as npz: tasks."""

import numpy as np
import pytest

from keras_evomt.data.registry import get_task
from tests.helpers import load_tool


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("heldout")
    return out, load_tool("make_heldout_tasks").write_tasks(str(out), seed=0)


def test_every_task_is_an_npz_task_with_balanced_train_and_test_splits(written):
    _, paths = written
    assert sorted(paths) == ["blobs", "photo_tiles", "shapes"]
    for name, path in paths.items():
        task = get_task(f"{name}=npz:{path}")
        with np.load(path) as data:
            classes = np.unique(data["y_train"])
            assert data["x_train"].dtype == np.uint8 and data["x_train"].shape[1:] == (32, 32)
            assert np.array_equal(classes, np.unique(data["y_test"]))
            assert task.num_classes == len(classes) >= 3
            counts = np.bincount(data["y_train"])
            assert counts.min() >= 0.8 * counts.max()  # no class far rarer than another
            assert data["x_train"].std() > 20  # not a constant image


def test_the_tasks_are_the_same_for_a_seed_and_differ_across_seeds(written, tmp_path):
    out, paths = written
    tool = load_tool("make_heldout_tasks")
    again = tool.write_tasks(str(tmp_path / "again"), seed=0)
    other = tool.write_tasks(str(tmp_path / "other"), seed=1)
    for name in paths:
        with np.load(paths[name]) as a, np.load(again[name]) as b, np.load(other[name]) as c:
            assert np.array_equal(a["x_train"], b["x_train"])
            assert not np.array_equal(a["x_train"], c["x_train"])


def test_no_photo_tile_is_in_both_train_and_test(written):
    _, paths = written
    with np.load(paths["photo_tiles"]) as data:
        train = {tile.tobytes() for tile in data["x_train"]}
        assert not any(tile.tobytes() in train for tile in data["x_test"])
