"""Mock TFDS data for the `tiny` recipe variants and tests: every registered task runs on it.

`tfds.testing.mock_data` generates random records from each builder's features, offline.
It gives every field of a Sequence feature its own random length, while real records
have one length per object list; the VTAB label derivations of kitti and clevr index one
field (`location`) by positions found in another (`type`). This wrapper trims the fields
of each `objects` list to a common length, so all 69 reference tasks build and run.
(Mock data ignores split slicing, and `builder.info.splits` is empty under it.)

Example:
    with mock_data(num_examples=8):
        batch = next(iter(get_task("kitti/count_vehicles").train_dataset(
            {}, image_size=32, batch_size=4, seed=0)))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import tensorflow as tf

from keras_evomt.data import vtab


@tf.autograph.experimental.do_not_convert
def _align_objects(example: dict) -> dict:
    if "objects" not in example:
        return example
    objects = example["objects"]
    n = tf.reduce_min([tf.shape(v)[0] for v in objects.values()])
    return dict(example, objects={k: v[:n] for k, v in objects.items()})


@contextlib.contextmanager
def mock_data(num_examples: int = 4) -> Iterator[None]:
    """`tfds.testing.mock_data(num_examples)` with aligned object lists."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=num_examples):
        mocked = tfds.core.DatasetBuilder.as_dataset

        def as_dataset(self, *args, **kwargs):
            return mocked(self, *args, **kwargs).map(_align_objects)

        # Random records make derived labels (object counts, distances) fall anywhere:
        # clip them into range here only; real data is never clipped.
        with (
            mock.patch.object(tfds.core.DatasetBuilder, "as_dataset", as_dataset),
            mock.patch.object(vtab, "clip_labels", True),
        ):
            yield
