"""VTAB label derivations on hand-made examples (definitions: task_adaptation/data/*.py)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_evomt.data import vtab
from keras_evomt.data.tfds_source import open_builder

IMAGE = tf.zeros([4, 4, 3], tf.uint8)


def _label(fn, example):
    out = fn(example)
    assert out["label"].dtype == tf.int32
    return int(out["label"])


def clevr(shapes=(0, 0, 0), depths=None):
    n = len(shapes)
    depths = [10.0] * n if depths is None else depths
    coords = np.zeros([n, 3], np.float32)
    coords[:, 2] = depths
    return {
        "image": IMAGE,
        "objects": {
            "shape": tf.constant(shapes, tf.int64),
            "size": tf.zeros([n], tf.int64),
            "pixel_coords": tf.constant(coords),
        },
    }


def kitti(types, depths):
    location = np.zeros([len(types), 3], np.float32)
    location[:, 2] = depths
    return {
        "image": IMAGE,
        "objects": {
            "type": tf.constant(types, tf.int64, shape=[len(types)]),
            "location": tf.constant(location, shape=[len(types), 3]),
        },
    }


@pytest.mark.parametrize("n, label", [(3, 0), (5, 2), (10, 7)])
def test_clevr_count_all(n, label):
    assert _label(vtab.clevr_count_all, clevr([1] * n)) == label


def test_clevr_count_cylinders():
    assert _label(vtab.clevr_count_cylinders, clevr([2, 0, 2, 1, 2])) == 3
    assert _label(vtab.clevr_count_cylinders, clevr([0, 1, 1])) == 0


@pytest.mark.parametrize(
    "depths, label",
    [([12.0, 8.2, 9.7], 1), ([8.0, 30.0, 40.0], 0), ([10.5, 11.0, 12.0], 5), ([9.25, 20, 20], 3)],
)
def test_clevr_closest_object_distance(depths, label):
    # Label = index of the last threshold of [0, 8, 8.5, 9, 9.5, 10, 100] strictly below.
    assert _label(vtab.clevr_closest_object_distance, clevr(depths=depths)) == label


@pytest.mark.parametrize(
    "types, label", [([0, 1, 2, 3, 4], 3), ([0, 0, 0, 0, 1], 3), ([3, 4, 7], 0), ([2, 5], 1)]
)
def test_kitti_count_vehicles(types, label):
    assert _label(vtab.kitti_count_vehicles, kitti(types, [10.0] * len(types))) == label


@pytest.mark.parametrize(
    "types, depths, label",
    [
        ([3, 0, 1], [2.0, 25.0, 15.0], 1),  # Nearest vehicle at 15 m (the pedestrian is ignored).
        ([0], [5.0], 0),
        ([1, 2], [30.0, 21.0], 2),
        ([3, 4], [5.0, 6.0], 3),  # No vehicle: distance 1000.
        ([], [], 3),
    ],
)
def test_kitti_closest_vehicle_distance(types, depths, label):
    assert _label(vtab.kitti_closest_vehicle_distance, kitti(types, depths)) == label


@pytest.mark.parametrize(
    "depths, label", [([30.0, 7.0], 1), ([5.0], 0), ([24.0, 50.0], 4), ([13.0, 14.0], 2)]
)
def test_kitti_closest_object_distance(depths, label):
    # Thresholds [-100, 5.6, 8.4, 13.4, 23.4].
    assert _label(vtab.kitti_closest_object_distance, kitti([3] * len(depths), depths)) == label


def test_dsprites_bins_to_16_and_scales_the_image():
    image = tf.constant([[[0], [1]], [[1], [0]]], tf.uint8)
    x_position = vtab.dsprites("label_x_position", 16, 32)
    assert _label(x_position, {"image": image, "label_x_position": tf.constant(31, tf.int64)}) == 15
    assert _label(x_position, {"image": image, "label_x_position": tf.constant(5, tf.int64)}) == 2
    orientation = vtab.dsprites("label_orientation", 16, 40)
    for value, label in [(39, 15), (5, 2), (0, 0), (3, 1)]:
        example = {"image": image, "label_orientation": tf.constant(value, tf.int64)}
        assert _label(orientation, example) == label
    out = orientation({"image": image, "label_orientation": tf.constant(0, tf.int64)})
    np.testing.assert_array_equal(out["image"][..., 0], [[0, 255], [255, 0]])
    assert out["image"].shape == (2, 2, 3)


def test_smallnorb_keeps_the_class_index_and_tiles_the_first_image():
    fn = vtab.smallnorb("label_azimuth", 18)
    example = {
        "image": tf.fill([3, 3, 1], tf.constant(7, tf.uint8)),
        "image2": tf.zeros([3, 3, 1], tf.uint8),
        "label_azimuth": tf.constant(17, tf.int64),
    }
    out = fn(example)
    assert int(out["label"]) == 17
    np.testing.assert_array_equal(out["image"], np.full([3, 3, 3], 7))


def test_builds_read_class_counts_from_tfds_features():
    features = open_builder("dsprites", None).info.features
    fn, num_classes = vtab.DERIVATIONS["dsprites/label_orientation"].build(features)
    assert num_classes == 16 and features["label_orientation"].num_classes == 40
    example = {"image": tf.zeros([2, 2, 1], tf.uint8), "label_orientation": tf.constant(39)}
    assert _label(fn, example) == 15
    features = open_builder("smallnorb", None).info.features
    assert vtab.DERIVATIONS["smallnorb/label_elevation"].build(features)[1] == 9
    assert vtab.DERIVATIONS["smallnorb/label_lighting"].build(features)[1] == 6


def test_bin_index():
    thresholds = (0.0, 8.0, 8.5)
    assert [int(vtab.bin_index(tf.constant(v), thresholds)) for v in (0.5, 8.0, 8.2, 9.0)] == [
        0,
        0,
        1,
        2,
    ]
