"""VTAB label derivations: how the structured VTAB tasks compute a class label.

CLEVR, dSprites, KITTI and smallNORB have no single `label` feature in TFDS; VTAB
(google-research/task_adaptation, `task_adaptation/data/*.py`) defines one per task.
Each derivation here maps a decoded TFDS example to `{"image", "label"}` with the same
definition, re-written with tf ops:

| task | label |
|---|---|
| clevr/count_all | number of objects - 3 (8 classes) |
| clevr/count_cylinders | objects with shape == 2 (11 classes) |
| clevr/closest_object_distance | min pixel_coords[:, 2], binned by [0, 8, 8.5, 9, 9.5, 10, 100] |
| dsprites/label_x_position | floor(x / (32 / 16)), 16 classes |
| dsprites/label_orientation | floor(o / (40 / 16)), 16 classes |
| kitti/count_vehicles | min(objects with type < 3, 3), 4 classes |
| kitti/closest_vehicle_distance | z of nearest vehicle (1000 if none), by [-100, 8, 20, 999] |
| kitti/closest_object_distance | min z over objects, binned by [-100, 5.6, 8.4, 13.4, 23.4] |
| smallnorb/label_* | the TFDS class index (first image of the pair) |

Binning: the label is the index of the last threshold strictly below the value, as in
VTAB. Labels are finally clipped into [0, num_classes - 1]; on the real datasets the clip
never acts (CLEVR scenes hold 3 to 10 objects, distances lie inside the thresholds), it
only keeps malformed records (or mock data) from producing labels the head cannot hold.

Example:
    derivation = DERIVATIONS["clevr/count_all"]
    fn, num_classes = derivation.build(builder.info.features)
    ds = ds.map(fn)  # {"image": ..., "label": int32}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf

Example = dict[str, Any]
MapFn = Callable[[Example], Example]

CLEVR_DISTANCE_THRESHOLDS = (0.0, 8.0, 8.5, 9.0, 9.5, 10.0, 100.0)
KITTI_OBJECT_DISTANCE_THRESHOLDS = (-100.0, 5.6, 8.4, 13.4, 23.4)
KITTI_VEHICLE_DISTANCE_THRESHOLDS = (-100.0, 8.0, 20.0, 999.0)
KITTI_VEHICLE_TYPES = 3  # TFDS kitti object types 0, 1, 2: Car, Van, Truck.
KITTI_NO_VEHICLE_DISTANCE = 1000.0
DSPRITES_NUM_CLASSES = 16


def bin_index(value: tf.Tensor, thresholds: tuple[float, ...]) -> tf.Tensor:
    """Index of the last threshold strictly below `value` (VTAB's binning).

    Example:
        bin_index(tf.constant(8.2), (0.0, 8.0, 8.5))  # 1
    """
    below = tf.cast(tf.constant(thresholds, tf.float32) < tf.cast(value, tf.float32), tf.int32)
    return tf.reduce_sum(below) - 1


clip_labels = False  # set by data.mock: mock records are random, real ones never clipped


def _example(image: tf.Tensor, label: tf.Tensor, num_classes: int) -> Example:
    label = tf.cast(label, tf.int32)
    if clip_labels:
        label = tf.clip_by_value(label, 0, num_classes - 1)
    return {"image": image, "label": label}


# === CLEVR ===


@tf.autograph.experimental.do_not_convert
def clevr_count_all(ex: Example) -> Example:
    """Number of objects in the scene minus 3 (scenes hold 3 to 10 objects)."""
    return _example(ex["image"], tf.size(ex["objects"]["size"]) - 3, 8)


@tf.autograph.experimental.do_not_convert
def clevr_count_cylinders(ex: Example) -> Example:
    """Number of cylinders (TFDS shape class 2)."""
    count = tf.reduce_sum(tf.cast(tf.equal(ex["objects"]["shape"], 2), tf.int32))
    return _example(ex["image"], count, 11)


@tf.autograph.experimental.do_not_convert
def clevr_closest_object_distance(ex: Example) -> Example:
    """Depth of the closest object, binned into 6 classes."""
    dist = tf.reduce_min(ex["objects"]["pixel_coords"][:, 2])
    return _example(ex["image"], bin_index(dist, CLEVR_DISTANCE_THRESHOLDS), 6)


# === KITTI ===


def _vehicles(ex: Example) -> tf.Tensor:
    return tf.where(ex["objects"]["type"] < KITTI_VEHICLE_TYPES)[:, 0]


@tf.autograph.experimental.do_not_convert
def kitti_count_vehicles(ex: Example) -> Example:
    """Number of cars, vans and trucks, capped at 3."""
    count = tf.minimum(tf.size(_vehicles(ex)), 3)
    return _example(ex["image"], count, 4)


@tf.autograph.experimental.do_not_convert
def kitti_closest_vehicle_distance(ex: Example) -> Example:
    """Distance (z, metres) of the closest vehicle, 1000 when there is none; 4 classes."""
    z = tf.gather(ex["objects"]["location"][:, 2], _vehicles(ex))
    z = tf.concat([tf.cast(z, tf.float32), [KITTI_NO_VEHICLE_DISTANCE]], axis=0)
    label = bin_index(tf.reduce_min(z), KITTI_VEHICLE_DISTANCE_THRESHOLDS)
    return _example(ex["image"], label, 4)


@tf.autograph.experimental.do_not_convert
def kitti_closest_object_distance(ex: Example) -> Example:
    """Distance (z, metres) of the closest object of any type; 5 classes."""
    dist = tf.reduce_min(ex["objects"]["location"][:, 2])
    return _example(ex["image"], bin_index(dist, KITTI_OBJECT_DISTANCE_THRESHOLDS), 5)


# === dSprites and smallNORB ===


def dsprites(attribute: str, num_classes: int, source_classes: int) -> MapFn:
    """Bins a dSprites attribute of `source_classes` values into `num_classes` classes.

    The image (0/1 pixels, one channel) is tiled to 3 channels and scaled by 255.
    """
    factor = float(source_classes) / num_classes

    @tf.autograph.experimental.do_not_convert
    def fn(ex: Example) -> Example:
        image = tf.tile(ex["image"], [1, 1, 3]) * 255
        label = tf.math.floordiv(tf.cast(ex[attribute], tf.float32), factor)
        return _example(image, label, num_classes)

    return fn


def smallnorb(attribute: str, num_classes: int) -> MapFn:
    """The TFDS class index of `attribute`; the first image of the stereo pair, tiled to RGB."""

    @tf.autograph.experimental.do_not_convert
    def fn(ex: Example) -> Example:
        return _example(tf.tile(ex["image"], [1, 1, 3]), ex[attribute], num_classes)

    return fn


# === Registry of derivations ===


@dataclasses.dataclass(frozen=True)
class Derivation:
    """A VTAB label definition; `build(features)` returns `(map_fn, num_classes)`.

    `features` is the TFDS builder's `info.features`, so class counts that the source
    knows (smallNORB, dSprites) are read from it rather than typed here.
    """

    name: str
    build: Callable[[Mapping[str, Any]], tuple[MapFn, int]]


def _fixed(fn: MapFn, num_classes: int) -> Callable[[Mapping[str, Any]], tuple[MapFn, int]]:
    return lambda features: (fn, num_classes)


def _dsprites(attribute: str) -> Callable[[Mapping[str, Any]], tuple[MapFn, int]]:
    def build(features: Mapping[str, Any]) -> tuple[MapFn, int]:
        source_classes = features[attribute].num_classes
        fn = dsprites(attribute, DSPRITES_NUM_CLASSES, source_classes)
        return fn, DSPRITES_NUM_CLASSES

    return build


def _smallnorb(attribute: str) -> Callable[[Mapping[str, Any]], tuple[MapFn, int]]:
    def build(features: Mapping[str, Any]) -> tuple[MapFn, int]:
        num_classes = features[attribute].num_classes
        return smallnorb(attribute, num_classes), num_classes

    return build


DERIVATIONS: dict[str, Derivation] = {
    d.name: d
    for d in [
        Derivation("clevr/count_all", _fixed(clevr_count_all, 8)),
        Derivation("clevr/count_cylinders", _fixed(clevr_count_cylinders, 11)),
        Derivation("clevr/closest_object_distance", _fixed(clevr_closest_object_distance, 6)),
        Derivation("dsprites/label_x_position", _dsprites("label_x_position")),
        Derivation("dsprites/label_orientation", _dsprites("label_orientation")),
        Derivation("kitti/closest_object_distance", _fixed(kitti_closest_object_distance, 5)),
        Derivation("kitti/count_vehicles", _fixed(kitti_count_vehicles, 4)),
        Derivation("kitti/closest_vehicle_distance", _fixed(kitti_closest_vehicle_distance, 4)),
        Derivation("smallnorb/label_category", _smallnorb("label_category")),
        Derivation("smallnorb/label_lighting", _smallnorb("label_lighting")),
        Derivation("smallnorb/label_azimuth", _smallnorb("label_azimuth")),
        Derivation("smallnorb/label_elevation", _smallnorb("label_elevation")),
    ]
}
