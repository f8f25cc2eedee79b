"""User data (arrays, tf.data, directories, npz): carving, checks and bad input."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_evomt.data import DATA_HPARAM_DEFAULTS, Task, get_task
from keras_evomt.data.sources import carve
from keras_evomt.errors import UserInputError
from tests.data_helpers import id_images, ids_of

LABELS = np.arange(100) % 4


def raw_ids(task, split):
    return ids_of(task.examples(split))


def test_carve_is_stratified_disjoint_and_deterministic():
    keep, (val, test) = carve(LABELS, 0.1, seed=0, parts=2)
    assert sorted(np.concatenate([keep, val, test]).tolist()) == list(range(100))
    assert np.bincount(LABELS[val]).tolist() == [2, 2, 2, 2]  # round(0.1 * 25) per class.
    again = carve(LABELS, 0.1, seed=0, parts=2)
    assert np.array_equal(again[1][0], val) and np.array_equal(again[0], keep)
    assert not np.array_equal(carve(LABELS, 0.1, seed=1, parts=2)[1][0], val)
    with pytest.raises(UserInputError, match="validation_fraction must be in"):
        carve(LABELS, 0.6, seed=0)


@pytest.mark.parametrize("with_test", [False, True])
def test_from_arrays_carves_validation_from_train(with_test):
    x, y = id_images(100), LABELS
    x_test = id_images(20) if with_test else None
    y_test = np.arange(20) % 4 if with_test else None
    task = Task.from_arrays("arrays", x, y, x_test, y_test, seed=5)
    train, val, test = (set(raw_ids(task, s)) for s in ("train", "validation", "test"))
    assert not train & val and len(val) == 8
    if with_test:
        assert sorted(test) == list(range(20))  # The given test arrays, untouched.
        assert train | val == set(range(100))
    else:
        assert not test & (train | val) and train | val | test == set(range(100))
    again = Task.from_arrays("arrays", x, y, x_test, y_test, seed=5)
    assert raw_ids(again, "validation") == raw_ids(task, "validation")
    assert task.num_classes == 4 and task.source == "arrays"
    assert task.num_train_examples == len(train)
    task.check(image_size=8)


def test_from_arrays_takes_a_given_validation_split_as_is():
    x, y = id_images(100), LABELS
    task = Task.from_arrays(
        "arrays", x[:60], y[:60], x[80:], y[80:], validation=(x[60:80], y[60:80]), seed=5
    )
    assert raw_ids(task, "train") == list(range(60))  # Nothing carved from train.
    assert raw_ids(task, "validation") == list(range(60, 80))
    assert raw_ids(task, "test") == list(range(80, 100))
    assert task.describe()["splits"]["validation"] == "validation arrays (20)"


def test_from_arrays_refuses_a_validation_split_without_test_or_with_bad_labels():
    x, y = id_images(100), LABELS
    with pytest.raises(UserInputError, match="needs a test split too"):
        Task.from_arrays("arrays", x[:60], y[:60], validation=(x[60:80], y[60:80]))
    with pytest.raises(UserInputError, match=r"num_classes=4\). Received: label 7"):
        Task.from_arrays(
            "arrays",
            x[:60],
            y[:60],
            x[80:],
            y[80:],
            num_classes=4,
            validation=(x[60:80], np.full(20, 7)),
        )


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        (np.zeros([4, 2, 8, 8, 3]), np.zeros(4), {}, r"Received: shape \(4, 2, 8, 8, 3\)"),
        (np.zeros([4, 8, 8, 5]), np.zeros(4), {}, r"C in 1..4. Received: shape \(4, 8, 8, 5\)"),
        (np.zeros([4, 8, 8]), np.zeros(3), {}, r"matching the 4 images. Received: shape \(3,\)"),
        (
            np.zeros([4, 8, 8]),
            np.array([0, 1, 2, 3]),
            {"num_classes": 3},
            r"labels must lie in \[0, 3\) \(num_classes=3\). Received: label 3",
        ),
        (np.zeros([4, 8, 8]), np.array([0, -1, 1, 1]), {}, "labels must be >= 0"),
        (np.zeros([4, 8, 8]), np.array([0, 0.5, 1, 1]), {}, "labels must be integers"),
        (np.zeros([0, 8, 8]), np.zeros(0), {}, "split is empty"),
        (np.full([4, 8, 8], 1000, np.int32), np.array([0, 1, 0, 1]), {}, "pass value_range"),
        (np.zeros([4, 8, 8]), np.array(list("abab")), {}, "map class names to integers"),
        (np.array([[[None]]] * 4), np.array([0, 1, 0, 1]), {}, "images must be numbers"),
        (np.full([4, 8, 8], np.nan), np.array([0, 1, 0, 1]), {}, "hold NaN or infinite"),
        (
            np.zeros([4, 8, 8]),
            np.array([0, 1, 0, 1]),
            {"x_test": np.zeros([2, 8, 8]), "y_test": np.array([0, 7])},
            "test or validation labels reach 7, but train labels only 1",
        ),
    ],
)
def test_from_arrays_bad_input(x, y, kwargs, message):
    with pytest.raises(UserInputError, match=message):
        Task.from_arrays("bad", x, y, **kwargs)


def test_pixels_that_vary_over_under_a_hundredth_of_their_range_are_refused():
    from keras_evomt.data.task import check_same_range

    y = np.array([0, 1] * 10)
    unit = np.random.default_rng(0).random((20, 4, 4)).astype(np.float32)
    with pytest.raises(UserInputError, match=r"under 1% of value_range=\(0, 255\)") as error:
        Task.from_arrays("a", unit, y, value_range=(0, 255))
    assert error.value.hint == "give the pixels' own range: value_range=[0, 1]"
    with pytest.raises(UserInputError, match="under 1% of value_range"):  # 0/1 masks as uint8
        Task.from_arrays("b", (unit > 0.5).astype(np.uint8), y, value_range=(0, 255))
    with pytest.raises(UserInputError, match="uint8 with values up to 1: read as 0..255"):
        Task.from_arrays("b", (unit > 0.5).astype(np.uint8), y)  # the range left to inference
    Task.from_arrays("c", np.zeros([20, 4, 4], np.uint8), y)  # constant: nothing to misread
    sixteenths = (unit * 16.99).astype(np.uint8)  # scikit-learn's digits: 0..16 as uint8
    with pytest.raises(UserInputError, match="values up to 16") as error:
        Task.from_arrays("d", sixteenths, y)
    assert "value_range=(0, 16)" in error.value.hint
    Task.from_arrays("d", sixteenths, y, value_range=(0, 16))
    Task.from_arrays("d", sixteenths, y, value_range=(0, 255))  # said: truly that dark

    # Another range than the model's passes when the data fills it better than the kept one.
    check_same_range("t", [0, 255], (0, 1), lambda: (0.0, 1.0))  # photos / 255
    check_same_range("t", [0, 16], (-1, 1), lambda: (-1.0, 1.0))  # already scaled
    check_same_range("t", [0, 1], (0, 255), lambda: (0.0, 255.0))  # outside the kept range
    with pytest.raises(UserInputError, match=r"trained on pixels in \[0, 16\]"):
        check_same_range("t", [0, 16], (0, 255), lambda: (0.0, 16.0))  # digits read as bytes
    with pytest.raises(UserInputError, match=r"trained on pixels in \[0, 16\]"):
        check_same_range("t", [0, 16], (0, 255))  # nothing to judge by: refused
    check_same_range("t", [0, 16], (0, 16), lambda: 1 / 0)  # same range: the data not read


def test_from_arrays_value_range():
    y = np.array([0, 1] * 10)
    assert Task.from_arrays("a", np.zeros([20, 4, 4], np.uint8), y).value_range == (0.0, 255.0)
    assert Task.from_arrays("b", np.full([20, 4, 4], 0.5), y).value_range == (0.0, 1.0)
    signed = np.linspace(-1, 1, 320).reshape(20, 4, 4)
    assert Task.from_arrays("e", signed, y).value_range == (-1.0, 1.0)
    bytes_as_floats = np.linspace(0, 250, 320).reshape(20, 4, 4)
    assert Task.from_arrays("f", bytes_as_floats, y).value_range == (0.0, 255.0)
    with pytest.raises(UserInputError, match=r"values in \[0.0, 16.0\]"):  # digits' range
        Task.from_arrays("g", np.linspace(0, 16, 320).reshape(20, 4, 4), y)
    task = Task.from_arrays("c", np.full([20, 4, 4], 8.0), y, value_range=(0, 16))
    images, _ = next(iter(task.eval_dataset("train", image_size=4, batch_size=2)))
    np.testing.assert_allclose(images, 0.0)
    with pytest.raises(UserInputError, match="give both x_test and y_test"):
        Task.from_arrays("d", np.zeros([20, 4, 4]), y, x_test=np.zeros([2, 4, 4]))
    bytes_ = np.full([20, 4, 4], 255, np.uint8)
    with pytest.raises(
        UserInputError, match=r"values in \[255, 255\], outside value_range=\(0, 16\)"
    ):
        Task.from_arrays("h", bytes_, y, value_range=(0, 16))
    with pytest.raises(UserInputError, match=r"outside value_range=\(0, 16\)"):  # test images
        Task.from_arrays("i", np.zeros([20, 4, 4]), y, bytes_[:2], y[:2], value_range=(0, 16))
    floats = np.full([20, 4, 4], 0.5, np.float32)  # train read as (0, 1): test must be too
    with pytest.raises(UserInputError, match=r"x_test \(range read from x_train\) holds values"):
        Task.from_arrays("j", floats, y, bytes_[:2], y[:2])
    with pytest.raises(UserInputError, match=r"^validation \(range read from x_train\)") as e:
        Task.from_arrays("k", floats, y, floats[:2], y[:2], validation=(bytes_[:2], y[:2]))
    assert "same range" in e.value.hint
    with pytest.raises(UserInputError, match="with high > low. Received: \\(255, 0\\)"):
        Task.from_arrays("l", bytes_, y, value_range=(255, 0))


def test_class_names_are_strings_one_per_class():
    x, y = np.zeros([20, 4, 4], np.uint8), np.array([0, 1] * 10)
    task = Task.from_arrays("a", x, y, class_names=np.array(["no", "yes"]))  # sklearn's kind
    assert task.class_names == ["no", "yes"] and task.num_classes == 2
    assert Task.from_arrays("b", x, y, class_names=list("xyz")).num_classes == 3  # names say 3
    with pytest.raises(UserInputError, match="class_names names 2 classes, but the labels"):
        Task.from_arrays("c", x, np.array([0, 1, 2, 9] * 5), class_names=["x", "y"])
    with pytest.raises(UserInputError, match="class_names must name each of the 2 classes"):
        Task.from_arrays("c", x, y, num_classes=2, class_names=["no"])


def test_labels_of_shape_n_by_1_are_taken_and_one_hot_ones_get_a_hint():
    x, y = np.zeros([20, 4, 4], np.uint8), np.array([0, 1] * 10)
    task = Task.from_arrays("a", x, y[:, None])  # keras.datasets' shape
    assert task.num_classes == 2
    _, labels = next(iter(task.eval_dataset("train", image_size=4, batch_size=20)))
    assert labels.shape == (len(labels),)
    with pytest.raises(UserInputError, match=r"one-hot labels: pass y.argmax\(axis=1\)"):
        Task.from_arrays("b", x, np.eye(2)[y])


def _dataset(n, as_dict=False):
    x, y = id_images(n), np.arange(n) % 4
    if as_dict:
        return tf.data.Dataset.from_tensor_slices({"image": x, "label": y, "extra": y})
    return tf.data.Dataset.from_tensor_slices((x, y))


@pytest.mark.slow
@pytest.mark.parametrize("as_dict", [False, True])
def test_from_dataset_carves_every_kth_example(as_dict):
    task = Task.from_dataset("ds", _dataset(100, as_dict), num_classes=4, seed=3)
    train, val, test = (raw_ids(task, s) for s in ("train", "validation", "test"))
    assert val == list(range(3, 100, 10)) and test == list(range(4, 100, 10))
    assert set(train) == set(range(100)) - set(val) - set(test)
    assert task.num_train_examples == 80 == len(train)
    assert task.num_examples("validation") == 10
    with_test = Task.from_dataset("ds", _dataset(100, as_dict), _dataset(7), num_classes=4)
    assert raw_ids(with_test, "test") == list(range(7)) and with_test.num_train_examples == 90
    images, labels = next(
        iter(task.train_dataset(DATA_HPARAM_DEFAULTS, image_size=8, batch_size=5, seed=0))
    )
    assert images.shape == (5, 8, 8, 3) and labels.dtype == tf.int32
    task.check(image_size=8)


def test_from_dataset_of_unknown_size_counts_its_examples():
    ds = _dataset(50).filter(lambda x, y: y < 3)  # Unknown cardinality.
    task = Task.from_dataset("filtered", ds, num_classes=4)
    assert (
        task.num_train_examples + task.num_examples("validation") + task.num_examples("test") == 38
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: _dataset(10).repeat(), "infinite"),
        (lambda: _dataset(10).batch(2), r"ds.unbatch\(\)"),
        (
            lambda: tf.data.Dataset.from_tensor_slices({"img": np.zeros([3, 4, 4])}),
            r"need keys 'image' and 'label'. Received keys: \['img'\]",
        ),
        (lambda: np.zeros(3), "train_ds must be a tf.data.Dataset"),
        (
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros([3, 4, 4, 7]), np.zeros(3))),
            r"1 to 4 channels. Received: image shape \(4, 4, 7\)",
        ),
    ],
)
def test_from_dataset_bad_input(make, message):
    with pytest.raises(UserInputError, match=message):
        Task.from_dataset("bad", make(), num_classes=2)


def test_check_catches_labels_empty_splits_shapes_and_value_ranges():
    task = Task.from_dataset("labels", _dataset(40), num_classes=3)  # Labels go up to 3.
    with pytest.raises(UserInputError, match=r"labels must lie in \[0, 3\).*Received label 3"):
        task.check(image_size=8)
    empty = Task.from_dataset("empty", _dataset(40), _dataset(40).take(0), num_classes=4)
    with pytest.raises(UserInputError, match="the test split is empty"):
        empty.check(image_size=8)
    five = tf.data.Dataset.from_generator(
        lambda: ((np.zeros([6, 6, 5], np.uint8), i % 2) for i in range(20)),
        output_signature=(tf.TensorSpec([None, None, None], tf.uint8), tf.TensorSpec([], tf.int64)),
    )
    with pytest.raises(UserInputError, match=r"Received: image shape \(6, 6, 5\)"):
        Task.from_dataset("five", five, num_classes=2).check(image_size=8)
    floats = _dataset(40).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    with pytest.raises(UserInputError, match=r"value_range=\(0, 1\)"):
        Task.from_dataset("floats", floats, num_classes=4).check(image_size=8)
    Task.from_dataset("floats", floats, num_classes=4, value_range=(0, 1)).check(image_size=8)
    with pytest.raises(UserInputError, match="image_size=0"):
        task.check(image_size=0)


def _write_image_folder(root, counts=(7, 7, 6)):
    """Class folders of 8x8 PNGs (gray, RGB and RGBA); red value = a global id."""
    from PIL import Image

    ident = 0
    for c, count in enumerate(counts):
        os.makedirs(os.path.join(root, f"class_{c}"), exist_ok=True)
        for i in range(count):
            channels = [1, 3, 4][i % 3]
            image = np.full([8, 8, channels], ident * 10, np.uint8)
            if channels == 4:
                image[..., 3] = 255
            Image.fromarray(image.squeeze(-1) if channels == 1 else image).save(
                os.path.join(root, f"class_{c}", f"{i}.png")
            )
            ident += 1


def test_from_directory(tmp_path):
    root = str(tmp_path / "images")
    _write_image_folder(root)
    task = Task.from_directory("folder", root, validation_fraction=0.15)
    assert task.num_classes == 3 and task.class_names == ["class_0", "class_1", "class_2"]
    split_ids = {s: {v // 10 for v in raw_ids(task, s)} for s in ("train", "validation", "test")}
    assert not split_ids["train"] & split_ids["validation"]
    assert not split_ids["test"] & (split_ids["train"] | split_ids["validation"])
    assert set().union(*split_ids.values()) == set(range(20))
    assert task.num_examples("validation") == 3 and task.num_train_examples == 14
    labels = [int(ex["label"]) for ex in task.examples("validation").as_numpy_iterator()]
    assert labels == [0, 1, 2]  # Stratified.
    task.check(image_size=8)
    same = get_task(f"dir:{root}")
    assert same.name == f"dir:{root}" and same.num_classes == 3
    test_root = str(tmp_path / "test_images")
    _write_image_folder(test_root, counts=(1, 1, 1))
    with_test = Task.from_directory("folder", root, test_directory=test_root)
    assert with_test.num_examples("test") == 3


def test_from_directory_bad_input(tmp_path):
    with pytest.raises(UserInputError, match="image directory not found"):
        Task.from_directory("missing", str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty" / "a")
    with pytest.raises(UserInputError, match="cannot read images|no images found"):
        Task.from_directory("empty", str(tmp_path / "empty"))


def test_npz_task(tmp_path):
    path = str(tmp_path / "data.npz")
    np.savez(path, x_train=id_images(40), y_train=np.arange(40) % 2)
    task = get_task(f"npz:{path}")
    assert task.num_classes == 2 and task.source == f"npz:{path}"
    np.savez(path, images=id_images(4))
    with pytest.raises(UserInputError, match=r"must hold arrays x_train and y_train"):
        get_task(f"npz:{path}")
    digits_range = np.linspace(0, 16, 40 * 16).reshape(40, 4, 4)
    np.savez(path, x_train=digits_range, y_train=np.arange(40) % 2)
    with pytest.raises(UserInputError, match=r"numpy.savez\(\.\.\., value_range=\[low, high\]"):
        get_task(f"npz:{path}")
    np.savez(path, x_train=digits_range, y_train=np.arange(40) % 2, value_range=[0, 16])
    assert get_task(f"npz:{path}").value_range == (0.0, 16.0)
    beyond = {"x_test": id_images(2), "y_test": np.array([0, 4])}
    np.savez(path, x_train=id_images(40), y_train=np.arange(40) % 2, **beyond)
    with pytest.raises(UserInputError, match=r"numpy.savez\(\.\.\., num_classes=N\)"):
        get_task(f"npz:{path}")
    np.savez(path, x_train=id_images(40), y_train=np.arange(40) % 2, **beyond, num_classes=5)
    assert get_task(f"npz:{path}").num_classes == 5


@pytest.mark.parametrize(
    "contents, message",
    [
        ("text", "it is not an archive of numpy.savez"),
        ("PK\x03\x04 cut short", "it is damaged"),
        ({"x_train": np.array([{}, {}]), "y_train": np.arange(2)}, "x_train in .* holds Python"),
        (
            {"x_train": id_images(4), "y_train": np.arange(4) % 2, "value_range": [0]},
            "value_range in .* must be two numbers",
        ),
    ],
)
def test_a_bad_npz_file_is_bad_input(tmp_path, contents, message):
    path = tmp_path / "bad.npz"
    if isinstance(contents, str):
        path.write_text(contents)
    else:
        np.savez(path, **contents)
    with pytest.raises(UserInputError, match=message) as error:
        get_task(f"npz:{path}")
    assert "allow_pickle" not in str(error.value)  # loading a pickle is never suggested


def test_a_named_folder_with_train_and_test_uses_them_at_the_images_own_size(tmp_path):
    root = tmp_path / "flowers"
    _write_image_folder(str(root / "train"), counts=(6, 6, 6))
    _write_image_folder(str(root / "test"), counts=(2, 2, 2))
    task = get_task(f"flowers=dir:{root}")
    assert task.name == "flowers" and task.class_names == ["class_0", "class_1", "class_2"]
    assert task.num_examples("test") == 6  # the test folder, not carved
    assert task.num_examples("train") + task.num_examples("validation") == 18
    assert {ex["image"].shape for ex in task.examples("train").as_numpy_iterator()} == {(8, 8, 3)}
    _write_image_folder(str(root / "validation"), counts=(1, 1, 1))
    with_validation = get_task(f"private:flowers=dir:{root}")
    assert with_validation.private and with_validation.name == "flowers"
    assert with_validation.num_examples("validation") == 3
    assert with_validation.num_examples("train") == 18


def test_a_folder_of_splits_without_test_carves_it_and_hidden_folders_are_ignored(tmp_path):
    root = tmp_path / "colours"
    _write_image_folder(str(root / "train"), counts=(7, 7, 7))
    _write_image_folder(str(root / "validation"), counts=(2, 2, 2))
    os.makedirs(root / ".ipynb_checkpoints")  # as Jupyter leaves beside them
    os.makedirs(root / "train" / "class_0" / ".thumbnails")
    _write_image_folder(str(root / "train" / "class_0" / ".thumbnails"), counts=(3,))
    (root / "train" / "class_1" / ".DS_Store").write_bytes(b"\0")
    task = get_task(f"colours=dir:{root}")
    assert task.class_names == ["class_0", "class_1", "class_2"]  # not the split names
    assert task.num_examples("validation") == 6  # the folder's
    assert task.num_examples("train") + task.num_examples("test") == 21  # test carved
    train_only = tmp_path / "train_only"
    _write_image_folder(str(train_only / "train"), counts=(7, 7, 7))
    carved = get_task(f"dir:{train_only}")
    assert carved.num_classes == 3 and carved.num_examples("test") > 0
    no_train = tmp_path / "no_train"
    _write_image_folder(str(no_train / "test"), counts=(2, 2, 2))
    _write_image_folder(str(no_train / "validation"), counts=(2, 2, 2))
    with pytest.raises(UserInputError, match=r"holds test/ and validation/ but no train/") as got:
        get_task(f"dir:{no_train}")
    assert "a test/ folder alone serves `evomt eval --split test`" in got.value.hint
    val = tmp_path / "val"  # the ImageNet and ImageFolder name of validation/
    _write_image_folder(str(val / "train"), counts=(7, 7, 7))
    _write_image_folder(str(val / "val"), counts=(1, 1, 1))
    named = get_task(f"dir:{val}")
    assert named.num_classes == 3 and named.num_examples("validation") == 3
    _write_image_folder(str(val / "valid"), counts=(1, 1, 1))
    with pytest.raises(UserInputError, match="two of them name the validation split"):
        get_task(f"dir:{val}")
    classes = tmp_path / "classes"
    _write_image_folder(str(classes))
    os.makedirs(classes / ".ipynb_checkpoints")
    assert get_task(f"dir:{classes}").class_names == ["class_0", "class_1", "class_2"]


def test_files_that_are_not_images_are_skipped_with_one_warning(tmp_path, caplog):
    root = tmp_path / "images"
    _write_image_folder(str(root))
    for i in range(5):
        (root / "class_1" / f"broken_{i}.jpg").write_bytes(b"not an image at all")
    (root / "class_0" / "notes.txt").write_text("ignored: not an image extension")
    with caplog.at_level("WARNING", logger="keras_evomt"):
        task = Task.from_directory("folder", str(root))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"skipped 5 files in {root} that are not JPEG, PNG")
    assert "class_1/broken_0.jpg, class_1/broken_1.jpg, class_1/broken_2.jpg, ..." in warnings[0]
    assert sum(task.num_examples(s) for s in ("train", "validation", "test")) == 20
    task.check(image_size=8)  # every remaining file decodes


def test_images_outside_every_class_folder_are_named_in_one_warning(tmp_path, caplog):
    root = tmp_path / "images"
    _write_image_folder(str(root))
    for name in ("stray.png", "b.JPG", "._stray.png"):  # the last: macOS metadata, hidden
        (root / name).write_bytes((root / "class_0" / "0.png").read_bytes())
    (root / "README.txt").write_text("not an image: no warning")
    with caplog.at_level("WARNING", logger="keras_evomt"):
        task = Task.from_directory("folder", str(root))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"ignored 2 images at the top of {root}, outside any class folder: b.JPG, stray.png. "
        "Move them into the folder of their class"
    ]
    assert sum(task.num_examples(s) for s in ("train", "validation", "test")) == 20


def test_images_in_formats_tensorflow_cannot_decode_are_named_in_one_warning(tmp_path, caplog):
    root = tmp_path / "images"
    _write_image_folder(str(root))
    for name in ("a.webp", "b.tif", "c.TIFF", "d.heic"):
        (root / "class_0" / name).write_bytes(b"whatever")
    (root / "class_0" / "notes.txt").write_text("not an image: no warning")
    with caplog.at_level("WARNING", logger="keras_evomt"):
        task = Task.from_directory("folder", str(root))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"skipped 4 images in {root} in formats TensorFlow does not")
    assert "class_0/a.webp, class_0/b.tif, class_0/c.TIFF, ..." in warnings[0]
    assert sum(task.num_examples(s) for s in ("train", "validation", "test")) == 20


def test_a_folder_of_webp_images_alone_says_to_convert_them(tmp_path):
    (tmp_path / "images" / "cats").mkdir(parents=True)
    (tmp_path / "images" / "cats" / "1.webp").write_bytes(b"whatever")
    with pytest.raises(UserInputError, match="no images found") as info:
        Task.from_directory("folder", str(tmp_path / "images"))
    assert "convert its images to PNG or JPEG" in info.value.hint
    assert ".webp" in info.value.hint


def test_an_empty_class_folder_and_a_tiny_class_are_warned_of_before_training(tmp_path, caplog):
    root = tmp_path / "images"
    _write_image_folder(str(root), counts=(7, 2, 7))
    (root / "class_3").mkdir()
    task = Task.from_directory("folder", str(root), test_directory=str(root))
    assert task.num_classes == 4  # the empty folder keeps its label's place
    with caplog.at_level("WARNING", logger="keras_evomt"):
        task.check(image_size=8)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("task 'folder': 1 of 4 classes has no training example")
    assert "'class_3' (label 3)" in warnings[0]
    assert "remove the folder" in warnings[0]
    assert warnings[1].startswith("task 'folder': 1 class has fewer than 3 training examples")
    assert "'class_1' (label 1): 1" in warnings[1]  # one of its 2 went to validation


def test_labels_with_gaps_are_warned_of_and_name_the_missing_labels(caplog):
    x = np.zeros([60, 8, 8], np.uint8)
    y = np.repeat([0, 5, 10], 20)
    task = Task.from_arrays("gaps", x, y)
    assert task.num_classes == 11
    with caplog.at_level("WARNING", logger="keras_evomt"):
        task.check(image_size=8)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert (
        "8 of 11 classes have no training example (labels 1, 2, 3, 4, 6 and 3 more)"
        in (warnings[0])
    )
    assert "number the labels 0..K-1 without gaps" in warnings[0]


def test_well_filled_classes_get_no_class_warning(caplog):
    x = np.zeros([60, 8, 8], np.uint8)
    with caplog.at_level("WARNING", logger="keras_evomt"):
        Task.from_arrays("full", x, np.repeat([0, 1, 2], 20)).check(image_size=8)
    assert not caplog.records


def test_a_task_trained_with_a_hidden_class_folder_says_why_its_classes_moved():
    from keras_evomt.data.task import check_same_classes

    with pytest.raises(UserInputError, match="0: .ipynb_checkpoints -> a") as error:
        check_same_classes("t", [".ipynb_checkpoints", "a", "b"], ["a", "b"])
    assert "hidden folders (.ipynb_checkpoints) counted as classes" in error.value.hint


@pytest.mark.parametrize(
    "folders, named",
    [
        (("Train", "Test"), "Test/, Train/"),
        (("training",), "training/"),
        (("train", "cats"), "train/"),
    ],
)
def test_class_folders_named_like_splits_are_refused(tmp_path, folders, named):
    for folder in folders:
        _write_image_folder(str(tmp_path / "data" / folder), counts=(2, 2))
    with pytest.raises(UserInputError, match=f"{named} would be classes, named like splits"):
        get_task(f"dir:{tmp_path / 'data'}")


def test_an_image_file_that_does_not_decode_is_named_with_what_to_do(tmp_path):
    root = tmp_path / "flowers"
    _write_image_folder(str(root / "train"), counts=(6, 6, 6))
    _write_image_folder(str(root / "test"), counts=(2, 2, 2))
    damaged = root / "train" / "class_1" / "3.png"
    damaged.write_bytes(damaged.read_bytes()[:40])  # cut short, as by a failed copy
    task = get_task(f"flowers=dir:{root}")
    with pytest.raises(UserInputError) as caught:
        task.check(image_size=8)
    message = str(caught.value)
    assert "image file of the" in message and f"{damaged} (" in message
    assert "remove or replace them" in message
    assert "function_node" not in message and "[Op:" not in message
