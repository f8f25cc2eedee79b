"""The task catalog: what `evomt data list` shows, read without TensorFlow."""

import json
import os

import pytest

from keras_evomt.data import catalog
from tests.test_console import _imports_tensorflow


def test_data_list_imports_no_tensorflow():
    assert _imports_tensorflow(["data", "list"]) is False
    assert _imports_tensorflow(["data", "list", "--json", "--group", "vtab_1k"]) is False


@pytest.mark.parametrize(
    "name",
    [
        "imagenet2012",
        "cifar10",
        "clevr/closest_object_distance",
        "dsprites/label_orientation/1k",
        "smallnorb/label_azimuth",
        "kitti/count_vehicles",
        "visual_domain_decathlon/omniglot",
        "emnist/letters",
        "digits",
        "fashion_mnist",
    ],
)
def test_catalog_class_counts_are_those_of_the_built_task(name, tmp_path):
    from keras_evomt.data import get_task

    assert catalog.NUM_CLASSES[name] == get_task(name, data_dir=str(tmp_path)).num_classes


@pytest.mark.parametrize("ref", ["cifar100:3.*.*", "cifar10_1:1.*.*", "eurosat/rgb:2.*.*"])
def test_presence_is_read_where_tfds_writes(ref, tmp_path):
    from keras_evomt.data.tfds_source import is_prepared, open_builder

    data_dir = str(tmp_path)
    assert not catalog.tfds_files_present(ref, data_dir)
    builder = open_builder(ref, data_dir)
    os.makedirs(builder.data_dir)
    builder.info.write_to_directory(builder.data_dir)
    assert is_prepared(open_builder(ref, data_dir))
    assert catalog.tfds_files_present(ref, data_dir)
    assert not catalog.tfds_files_present(ref.partition(":")[0] + ":9.*.*", data_dir)


def test_a_prepared_dataset_shows_present(tmp_path):
    version = tmp_path / "cifar100" / "3.0.2"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text(json.dumps({}))
    rows = {r["name"]: r for r in catalog.describe_tasks(str(tmp_path))}
    assert rows["cifar100"]["present"] and rows["cifar100/1k"]["present"]
    assert not rows["cifar10"]["present"] and rows["digits"]["present"]


@pytest.mark.parametrize("name", ["digits", "textures"])
def test_catalog_names_how_an_offline_task_holds_out_validation(name):
    from keras_evomt.data import get_task

    listed = {r["name"]: r["splits"] for r in catalog.describe_tasks(None)}[name]
    built = get_task(name).describe()["splits"]
    held_out = built["validation"].startswith("10% of train arrays")
    assert listed["validation"].startswith("10% of train arrays") == held_out


def test_a_task_name_keeps_one_source(tmp_path, monkeypatch):
    from keras_evomt.errors import UserInputError
    from keras_evomt.search.config import default_config, validate

    monkeypatch.chdir(tmp_path)
    same = ["a=dir:data/a", f"a=dir:{tmp_path}/data/a", "digits", "digits", "dir:data/b"]
    catalog.check_one_source_per_name([*same, f"dir:{tmp_path}/data/b"])
    assert catalog.name_and_source("dir:data/b") == (f"dir:{tmp_path}/data/b",) * 2
    (tmp_path / "x").mkdir()
    with pytest.raises(
        UserInputError, match=r"task 'a' already has its data \(dir:.*/data/a\); .* take dir:.*/x"
    ):
        catalog.check_one_source_per_name([*same, f"private:a=dir:{tmp_path}/x"])
    catalog.check_one_source_per_name(["cifar10", "cifar10=tfds:cifar10"])  # get_task's same
    with pytest.raises(UserInputError, match="already has its data"):
        catalog.check_one_source_per_name(["cifar10=dir:/x", "tfds:cifar10"])  # named cifar10
    from keras_evomt.recipe import remembered_task_spec, task_specs

    with remembered_task_spec(tmp_path, "f=dir:data/f"):  # kept as the data it names from here
        pass
    assert task_specs(tmp_path) == [f"f=dir:{tmp_path}/data/f"]
    with pytest.raises(RuntimeError), remembered_task_spec(tmp_path, "g=dir:/wrong"):
        raise RuntimeError("the command failed before the search committed anything")
    assert task_specs(tmp_path) == [f"f=dir:{tmp_path}/data/f"]  # g=dir:/wrong taken back
    assert catalog.name_and_source("tfds:beans") == ("tfds:beans", "tfds:beans")  # unregistered
    catalog.check_one_source_per_name(["tfds:beans", "beans=dir:/data/b"])  # two tasks
    config = default_config()
    config.tasks = ["shapes=dir:/data/one", "shapes=npz:/data/two.npz"]
    with pytest.raises(UserInputError, match="shapes_2=npz:/data/two.npz"):
        validate(config)


def test_a_spec_that_gives_a_task_two_names_is_refused():
    from keras_evomt.errors import UserInputError

    assert catalog.split_name("x=dir:/data/a=b") == ("x", "dir:/data/a=b")  # "=" in a path
    assert catalog.split_name("dir:/data/a=b") == (None, "dir:/data/a=b")
    with pytest.raises(UserInputError, match=r"gives two names.*x=dir:data/digits"):
        catalog.absolute_spec("x=y=dir:data/digits")
