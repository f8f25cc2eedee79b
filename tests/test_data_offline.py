"""Offline tasks: digits, lfw_faces, textures and fashion_mnist (Debian files -> TFDS)."""

import os

import numpy as np
import pytest

from keras_evomt.data import DATA_HPARAM_DEFAULTS, get_task, offline, prepare_task
from keras_evomt.errors import UserInputError
from tests.data_helpers import ids_of, write_fashion_mnist_files, write_idx


def split_sizes(task):
    return [task.num_examples(s) for s in ("train", "validation", "test")]


def test_digits():
    task = get_task("digits")
    assert task.num_classes == 10 and task.source == "sklearn:digits" and task.present
    assert sum(split_sizes(task)) == 1797
    test_labels = [int(ex["label"]) for ex in task.examples("test").as_numpy_iterator()]
    assert set(np.bincount(test_labels).tolist()) <= {35, 36, 37}  # Stratified 20%.
    images, labels = next(
        iter(task.train_dataset(DATA_HPARAM_DEFAULTS, image_size=16, batch_size=8, seed=0))
    )
    assert images.shape == (8, 16, 16, 3) and float(images.numpy().max()) <= 1.0
    task.check(image_size=16)


def test_lfw_faces():
    task = get_task("lfw_faces")
    assert task.num_classes == 2 and task.class_names == ["non-face", "face"]
    assert split_sizes(task) == [144, 16, 40]
    test_labels = [int(ex["label"]) for ex in task.examples("test").as_numpy_iterator()]
    assert np.bincount(test_labels).tolist() == [20, 20]
    task.check(image_size=16)


def test_texture_tiles_come_from_disjoint_bands_of_rows():
    positions = np.arange(512 * 512).reshape(512, 512)  # Each pixel holds its own position.
    tiles = offline.texture_tiles(positions)
    assert {split: t.shape for split, t in tiles.items()} == {
        "train": (160, 32, 32),
        "validation": (32, 32, 32),
        "test": (64, 32, 32),
    }
    pixels = {split: set(t.ravel()) for split, t in tiles.items()}
    assert sum(map(len, pixels.values())) == len(set().union(*pixels.values()))  # disjoint
    assert len(pixels["train"]) == tiles["train"].size  # Tiles do not overlap each other either.
    rows = {split: {p // 512 for p in pixels[split]} for split in tiles}
    assert (
        max(rows["train"]) < min(rows["validation"]) <= max(rows["validation"]) < min(rows["test"])
    )


def test_texture_tiles_refuse_a_photo_too_small_to_split():
    with pytest.raises(UserInputError, match="at least 3 rows"):
        offline.texture_tiles(np.zeros((64, 512), np.uint8))


def test_textures():
    task = get_task("textures")
    assert task.num_classes == 3 and task.class_names == list(offline.TEXTURES)
    assert split_sizes(task) == [3 * 160, 3 * 32, 3 * 64]
    assert task.describe()["splits"]["validation"] == "validation arrays (96)"
    task.check(image_size=16)


def test_read_idx_round_trip_and_bad_files(tmp_path):
    path = str(tmp_path / "x.gz")
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(path, array)
    np.testing.assert_array_equal(offline.read_idx(path), array)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04" + b"\x00" * 8)
    with pytest.raises(UserInputError, match="is not a uint8 IDX file"):
        offline.read_idx(str(bad))


@pytest.fixture(scope="module")
def tiny_fashion_mnist(tmp_path_factory):
    source = str(tmp_path_factory.mktemp("debian"))
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    write_fashion_mnist_files(source, n_train=40, n_test=10)
    message = offline.prepare_fashion_mnist(data_dir, source_dir=source)
    assert "prepared" in message
    return data_dir


def test_fashion_mnist_is_written_as_tfds_fashion_mnist(tiny_fashion_mnist):
    import tensorflow_datasets as tfds

    builder = tfds.builder("fashion_mnist", data_dir=tiny_fashion_mnist)
    reference = tfds.builder("fashion_mnist", data_dir=tiny_fashion_mnist + "/none")
    assert builder.is_prepared() and str(builder.version) == str(reference.version)
    assert builder.info.features.to_json() == reference.info.features.to_json()
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 40, "test": 10}
    assert "already prepared" in offline.prepare_fashion_mnist(tiny_fashion_mnist, source_dir="/x")


def test_fashion_mnist_task_carves_validation_from_train(tiny_fashion_mnist):
    task = get_task("fashion_mnist", data_dir=tiny_fashion_mnist)
    assert task.present and task.num_classes == 10 and task.class_names[0] == "T-shirt/top"
    assert split_sizes(task) == [38, 2, 10]
    load = task.examples
    train, val, test = ids_of(load("train")), ids_of(load("validation")), ids_of(load("test"))
    # TFDS shuffles examples when it writes them; the slices are disjoint all the same.
    assert len(val) == 2 and not set(val) & set(train)
    assert sorted(train + val) == list(range(40)) and sorted(test) == list(range(100, 110))
    assert ids_of(load("train")) == train  # Deterministic order.
    task.check(image_size=8)
    images, labels = next(iter(task.train_dataset({}, image_size=8, batch_size=4, seed=0)))
    assert images.shape == (4, 8, 8, 3)


def test_other_tfds_rule_reads_the_splits_of_the_prepared_data(tiny_fashion_mnist):
    task = get_task("tfds:fashion_mnist", data_dir=tiny_fashion_mnist)
    assert task.name == "tfds:fashion_mnist" and task.num_classes == 10
    assert task.splits == {
        "train": "fashion_mnist train[5%:]",
        "validation": "fashion_mnist train[0%:5%]",
        "test": "fashion_mnist test",
    }
    assert split_sizes(task) == [38, 2, 10]


def test_fashion_mnist_without_files_says_how_to_install(tmp_path):
    task = get_task("fashion_mnist", data_dir=str(tmp_path))
    assert not task.present
    with pytest.raises(UserInputError, match="apt-get install dataset-fashion-mnist"):
        offline.prepare_fashion_mnist(str(tmp_path), source_dir=str(tmp_path / "none"))


@pytest.mark.skipif(
    not offline.fashion_mnist_files_present(), reason="Debian's dataset-fashion-mnist is absent"
)
def test_debian_fashion_mnist_files_are_readable():
    directory = offline.FASHION_MNIST_DIR
    labels = offline.read_idx(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"))
    images = offline.read_idx(os.path.join(directory, "t10k-images-idx3-ubyte.gz"))
    assert labels.shape == (10000,) and images.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == [1000] * 10


@pytest.mark.slow
@pytest.mark.skipif(
    not offline.fashion_mnist_files_present(), reason="Debian's dataset-fashion-mnist is absent"
)
def test_debian_fashion_mnist_prepares_in_full(tmp_path):
    # About 30 s; CI installs dataset-fashion-mnist so that this path is tested.
    print(prepare_task("fashion_mnist", data_dir=str(tmp_path)))
    task = get_task("fashion_mnist", data_dir=str(tmp_path))
    assert [task.num_examples(s) for s in ("train", "validation", "test")] == [57000, 3000, 10000]
    task.check(image_size=28)


def test_a_split_missing_from_the_prepared_data_is_named(tiny_fashion_mnist):
    from keras_evomt.data.tfds_source import TfdsLoader, TfdsSplit, plain_example

    loader = TfdsLoader(
        "broken",
        {"train": TfdsSplit("fashion_mnist:3.*.*", "validation")},
        derive=plain_example(),
        data_dir=tiny_fashion_mnist,
    )
    with pytest.raises(UserInputError, match=r"split 'validation'.*one of \['train', 'test'\]"):
        loader.load("train")
