"""The task registry: reference order, split table, class counts and error messages."""

import re
import tempfile
import time

import numpy as np
import pytest

from keras_evomt.data import describe_tasks, get_task, list_tasks, prepare_task
from keras_evomt.errors import UserInputError

# Typed from docs/method.md, independently of the registry's own constants.
VTAB = (
    "caltech101 dtd oxford_flowers102 oxford_iiit_pet sun397 svhn_cropped patch_camelyon "
    "eurosat resisc45 diabetic_retinopathy_detection/btgraham-300 clevr/count_cylinders "
    "clevr/count_all clevr/closest_object_distance dmlab dsprites/label_x_position "
    "dsprites/label_orientation kitti/closest_object_distance kitti/count_vehicles "
    "kitti/closest_vehicle_distance smallnorb/label_category smallnorb/label_lighting "
    "smallnorb/label_azimuth smallnorb/label_elevation"
).split()
EXPECTED = (
    ["imagenet2012", "cifar100", "cifar10"]
    + VTAB
    + [
        f"visual_domain_decathlon/{c}"
        for c in "imagenet12 svhn cifar100 gtsrb daimlerpedcls omniglot ucf101 aircraft dtd "
        "vgg-flowers".split()
    ]
    + "emnist/digits emnist/letters kmnist mnist omniglot cmaterdb/bangla cmaterdb/devanagari "
    "cmaterdb/telugu".split()
    + [f"{t}/1k" for t in ["caltech101", "cifar100", "cifar10"] + VTAB[1:]]
)


def test_reference_order_and_groups():
    assert len(EXPECTED) == 69
    assert list_tasks()[:69] == EXPECTED
    assert list_tasks("offline") == ["digits", "lfw_faces", "textures", "fashion_mnist"]
    assert list_tasks()[69:] == list_tasks("offline")
    sizes = {g: len(list_tasks(g)) for g in ["vit", "vtab_full", "vdd", "chars", "vtab_1k"]}
    assert sizes == {"vit": 3, "vtab_full": 23, "vdd": 10, "chars": 8, "vtab_1k": 25}
    assert "smallnorb/label_azimuth/1k" in list_tasks("vtab_1k")  # Not the notebook's typo.


def test_unknown_names_get_the_closest_names():
    with pytest.raises(UserInputError, match="unknown task 'cifar11'") as err:
        get_task("cifar11")
    assert "did you mean" in str(err.value) and "cifar10" in str(err.value)
    with pytest.raises(UserInputError, match="did you mean: vtab_1k"):
        list_tasks("vtab1k")
    with pytest.raises(UserInputError) as err:
        get_task("nope")  # shares four letters with svhn_cropped: not a hint
    assert "did you mean" not in str(err.value)


def test_every_task_that_cannot_be_used_is_named_at_once(tmp_path):
    from keras_evomt.data.registry import missing_data

    (tmp_path / "there").mkdir()
    specs = [f"a=npz:{tmp_path}/a.npz", "digits", f"dir:{tmp_path}/b", "cifar11"]
    with pytest.raises(UserInputError, match="4 tasks cannot be used") as err:
        missing_data([*specs, f"c=dir:{tmp_path}/there"])  # a folder without images
    lines = err.value.message.splitlines()[1:]
    assert lines == [
        f"  task 'a': no data at {tmp_path}/a.npz: the file does not exist",
        f"  no data at {tmp_path}/b: the folder does not exist",
        "  unknown task 'cifar11'",
        f"  task 'c': no images found in {tmp_path}/there",
    ]
    assert "if the data moved, give its new place" in err.value.hint
    assert "did you mean: cifar10" in err.value.hint
    with pytest.raises(UserInputError, match="unknown task 'cifar11'") as err:
        missing_data(["digits", "cifar11"])  # one: its own error
    assert err.value.message == "unknown task 'cifar11'"


def _splits(name):
    return get_task(name).splits


@pytest.mark.parametrize(
    "name, train, validation, test",
    [
        (
            "imagenet2012",
            "imagenet2012:5.*.* train",
            "imagenet_v2:3.*.* test",
            "imagenet2012:5.*.* validation",
        ),
        (
            "cifar100",
            "cifar100:3.*.* train[:98%]",
            "cifar100:3.*.* train[98%:]",
            "cifar100:3.*.* test",
        ),
        (
            "visual_domain_decathlon/gtsrb",
            "visual_domain_decathlon/gtsrb:1.*.* train",
            "visual_domain_decathlon/gtsrb:1.*.* validation[:50%]",
            "visual_domain_decathlon/gtsrb:1.*.* validation[50%:]",
        ),
        (
            "cmaterdb/telugu",
            "cmaterdb/telugu:1.*.* train[20%:]",
            "cmaterdb/telugu:1.*.* train[:20%]",
            "cmaterdb/telugu:1.*.* test",
        ),
        ("omniglot", "omniglot:3.*.* train", "omniglot:3.*.* small1", "omniglot:3.*.* small2"),
        ("mnist", "mnist:3.*.* train[5%:]", "mnist:3.*.* train[0%:5%]", "mnist:3.*.* test"),
        (
            "clevr/count_all",
            "clevr:3.*.* train[:90%]",
            "clevr:3.*.* train[90%:]",
            "clevr:3.*.* validation",
        ),
        ("kitti/count_vehicles", "kitti:3.2.0 train", "kitti:3.2.0 validation", "kitti:3.2.0 test"),
        (
            "dsprites/label_orientation",
            "dsprites:2.*.* train[:80%]",
            "dsprites:2.*.* train[80%:90%]",
            "dsprites:2.*.* train[90%:]",
        ),
        (
            "smallnorb/label_azimuth",
            "smallnorb:2.*.* train",
            "smallnorb:2.*.* test[:50%]",
            "smallnorb:2.*.* test[50%:]",
        ),
        ("dmlab", "dmlab:2.0.1 train", "dmlab:2.0.1 validation", "dmlab:2.0.1 test"),
        (
            "eurosat/1k",
            "eurosat/rgb:2.*.* train[:60%] first 800",
            "eurosat/rgb:2.*.* train[60%:80%] first 200",
            "eurosat/rgb:2.*.* train[80%:]",
        ),
        (
            "cifar10/1k",
            "cifar10:3.*.* train[:90%] first 800",
            "cifar10:3.*.* train[90%:] first 200",
            "cifar10:3.*.* test",
        ),
    ],
)
def test_split_table(name, train, validation, test):
    assert _splits(name) == {"train": train, "validation": validation, "test": test}


def test_cifar10_validates_on_a_train_slice_offline(tmp_path):
    splits = get_task("cifar10", data_dir=str(tmp_path)).splits
    assert splits["validation"] == "cifar10:3.*.* train[98%:]"
    assert splits["train"] == "cifar10:3.*.* train[:98%]"
    online = get_task("cifar10", data_dir=str(tmp_path), download=True).splits
    assert (
        online["validation"] == "cifar10_1:1.*.* test" and online["train"] == "cifar10:3.*.* train"
    )


def _interval(spec):
    """(dataset, base split, start %, end %) of a TfdsSplit string."""
    dataset, split = spec.split(" ")[:2]
    match = re.fullmatch(r"(\w+)(?:\[(\d*)%?:(\d*)%?\])?", split)
    base, start, end = match.group(1), match.group(2), match.group(3)
    return dataset, base, int(start or 0), int(end or 100)


@pytest.mark.parametrize("name", list_tasks()[:69])
def test_validation_is_disjoint_from_train_and_test(name):
    splits = _splits(name)
    val = _interval(splits["validation"])
    for other in ("train", "test"):
        o = _interval(splits[other])
        if o[:2] == val[:2]:  # Same dataset and TFDS split: the slices must not overlap.
            assert val[3] <= o[2] or o[3] <= val[2], (name, other, splits)


@pytest.mark.parametrize(
    "name, num_classes",
    [
        ("clevr/count_all", 8),
        ("clevr/count_cylinders", 11),
        ("clevr/closest_object_distance", 6),
        ("dsprites/label_x_position", 16),
        ("dsprites/label_orientation", 16),
        ("kitti/closest_object_distance", 5),
        ("kitti/count_vehicles", 4),
        ("kitti/closest_vehicle_distance", 4),
        ("smallnorb/label_category", 5),
        ("smallnorb/label_lighting", 6),
        ("smallnorb/label_azimuth", 18),
        ("smallnorb/label_elevation", 9),
        ("dmlab", 6),
        ("diabetic_retinopathy_detection/btgraham-300/1k", 5),
        ("emnist/letters", 37),
        ("imagenet2012", 1000),
        ("omniglot", 1623),
        ("sun397", 397),
        ("oxford_iiit_pet", 37),
    ],
)
def test_num_classes(name, num_classes):
    assert get_task(name).num_classes == num_classes


def test_missing_tfds_data_fails_fast_with_how_to_prepare(tmp_path):
    task = get_task("cifar100", data_dir=str(tmp_path))
    assert not task.present
    start = time.monotonic()
    with pytest.raises(UserInputError, match="not prepared") as err:
        task.train_dataset({}, image_size=8, batch_size=2, seed=0)
    assert time.monotonic() - start < 5.0
    assert "evomt data prepare cifar100 --download" in str(err.value)
    assert "tfds build cifar100" in str(err.value)
    with pytest.raises(UserInputError, match="downloads/manual"):
        get_task("imagenet2012", data_dir=str(tmp_path)).check(image_size=8)
    with pytest.raises(UserInputError, match="--download"):
        prepare_task("svhn_cropped", data_dir=str(tmp_path))
    with pytest.raises(UserInputError, match="not prepared"):
        get_task("tfds:beans", data_dir=str(tmp_path))
    with pytest.raises(UserInputError, match="unknown TFDS dataset 'beanz'"):
        get_task("tfds:beanz", data_dir=str(tmp_path))


def test_checking_unprepared_tfds_data_leaves_no_temporary_folders(tmp_path, monkeypatch):
    """TFDS makes an empty temporary folder for each builder of data it does not find, and
    never removes it: one more for every such dataset a search or `evomt data` checks."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for name in ("cifar100", "svhn_cropped", "dsprites/label_orientation"):
        assert not get_task(name, data_dir=str(tmp_path / "data")).present
    assert list(temp.iterdir()) == [] and tempfile.gettempdir() == str(temp)


def test_describe_tasks(tmp_path):
    rows = describe_tasks(data_dir=str(tmp_path))
    assert [r["name"] for r in rows] == list_tasks()
    by_name = {r["name"]: r for r in rows}
    assert all(not r["present"] for r in rows[:69])
    assert by_name["digits"]["present"] and by_name["textures"]["present"]
    assert by_name["cifar100"] == {
        "name": "cifar100",
        "source": "tfds:cifar100:3.*.*",
        "num_classes": 100,
        "splits": _splits("cifar100"),
        "present": False,
    }
    assert by_name["digits"]["source"] == "sklearn:digits"


def test_private_prefix_and_offline_prepare():
    task = get_task("private:digits")
    assert task.private and task.name == "digits"
    assert not get_task("digits").private
    assert "nothing to prepare" in prepare_task("digits")


def test_a_user_sources_error_names_the_source(tmp_path):
    from PIL import Image

    (tmp_path / "only").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "only" / f"{i}.png")
    with pytest.raises(UserInputError, match=rf"^dir:{tmp_path}: a task needs at least 2 classes"):
        get_task(f"mine=dir:{tmp_path}")
    np.savez(tmp_path / "one.npz", x_train=np.zeros((4, 8, 8)), y_train=np.zeros(4), num_classes=1)
    with pytest.raises(UserInputError, match=rf"^npz:{tmp_path}/one.npz: "):
        get_task(f"npz:{tmp_path}/one.npz")


@pytest.mark.parametrize("spec", ["a,b=npz:/data/x.npz", "=npz:/data/x.npz", ".a=dir:/data/x"])
def test_a_task_name_that_is_not_a_name_is_refused_saying_what_a_name_holds(spec):
    from keras_evomt.errors import UserInputError

    with pytest.raises(UserInputError, match="is not a name: a name is letters, digits") as error:
        get_task(spec)
    assert error.value.hint == f"e.g. mine={spec.partition('=')[2]}"
