"""Mock TFDS data for the `tiny` recipe variants and tests: every registered task runs on it.

`tfds.testing.mock_data` generates random records from each builder's features, offline.
It gives every field of a Sequence feature its own random length, while real records
have one length per object list; the VTAB label derivations of kitti and clevr index one
field (`location`) by positions found in another (`type`). This wrapper trims the fields
of each `objects` list to a common length, so all 69 reference tasks build and run.
(Mock data ignores split slicing, and `builder.info.splits` is empty under it.) A split
read again gives the dataset built the first time: mock data is the same on every read,
and building it took a fifth of a 6-task `mu2net_69.py:tiny` run (3.3 of 15.9 s).

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
        built: dict[str, tf.data.Dataset] = {}

        def as_dataset(self, *args, **kwargs):
            read = kwargs.get("read_config")  # its tf.data options repr as an address
            named = {k: v for k, v in kwargs.items() if k != "read_config"}
            read = read and (read.shuffle_seed, read.add_tfds_id)
            key = repr((self.info.full_name, args, sorted(named.items()), read))
            if key not in built:
                built[key] = mocked(self, *args, **kwargs).map(_align_objects)
            return built[key]

        # Random records make derived labels (object counts, distances) fall anywhere:
        # clip them into range here only; real data is never clipped.
        with (
            mock.patch.object(tfds.core.DatasetBuilder, "as_dataset", as_dataset),
            mock.patch.object(vtab, "clip_labels", True),
        ):
            yield
