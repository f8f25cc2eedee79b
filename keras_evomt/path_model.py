"""`PathModel`: the keras.Model that runs a path's components in order.

Importing this module registers `PathModel` and every built-in component with Keras,
so an exported `.keras` file loads with `keras.saving.load_model` and no custom objects.

Example:
    model = PathModel([PatchEmbedding(16, 8), ClassToken(), ...])
    logits = model(images)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import keras
import numpy as np

import keras_evomt.components  # noqa: F401 - registers the built-in components
from keras_evomt.components.base import PACKAGE, Component
from keras_evomt.errors import UserInputError


def deserialize_component(config: dict):
    """A component from its Keras config; a class this process has not registered (a
    custom component whose module was not imported) is named, with what to do.

    Example:
        block = deserialize_component(keras.saving.serialize_keras_object(EncoderBlock(2, 8)))
    """
    name = config.get("registered_name") if isinstance(config, dict) else None
    if name and ">" in name and keras.saving.get_registered_object(name) is None:
        raise ValueError(
            f"this model holds a {config.get('class_name', name)} ('{name}'), a class this "
            "process has not registered: import the module that defines it (it must be "
            "decorated with @keras_evomt.register_component) before loading the model."
        )
    return keras.saving.deserialize_keras_object(config)


def check_image_batch(x, sizes: Iterable[int], who: str, *, size: bool = True) -> None:
    """Refuses, with what to do, a batch that is not float (N, S, S, 3) for one of `sizes`
    (`size=False`: any S), or a NumPy batch or eager tensor far outside [-1, 1] (0..255
    pixels) or holding NaN.

    Looks at the static shape and dtype, at the values of NumPy input, and at an eager
    tensor's least and largest values (two numbers copied to the host): no cost per step
    once traced.

    Example:
        check_image_batch(np.zeros((2, 32, 32, 3), "float32"), [32], "digits")  # passes
    """
    sizes = sorted(set(sizes))
    wanted = " or ".join(f"(batch, {s}, {s}, 3)" for s in sizes)
    if not hasattr(x, "dtype"):
        raise UserInputError(
            f"{who} takes an array or tensor of images {wanted}. Received: a {type(x).__name__}",
            hint="pass np.asarray(images, 'float32'), scaled to [-1, 1]",
        )
    dtype = str(getattr(x.dtype, "name", x.dtype))
    if "float" not in dtype:
        raise UserInputError(
            f"{who} takes float images scaled to [-1, 1]. Received: dtype {dtype}",
            hint="convert 0-255 pixels with x.astype('float32') / 127.5 - 1",
        )
    if getattr(getattr(x, "shape", None), "rank", 0) is None:
        return  # a trace of unknown rank: the components say what they need
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 4 or shape[-1] not in (3, None):
        raise UserInputError(
            f"{who} takes RGB image batches {wanted}. Received: shape {shape}",
            hint="tile gray images to 3 channels and add the batch axis",
        )
    square = None in shape[1:3] or shape[1] == shape[2]
    if not square or (size and shape[1] is not None and shape[1] not in sizes):
        raise UserInputError(
            f"{who} takes {wanted} images. Received: shape {shape}",
            hint="resize the images first (as the task's data pipeline does)",
        )
    values = x if isinstance(x, np.ndarray) else _eager_extremes(x)
    if values is not None:
        from keras_evomt.data.pipeline import check_value_range

        check_value_range(
            (-1.0, 1.0),
            [values],
            what=f"{who} takes images scaled to [-1, 1]; these hold",
            hint="convert 0-255 pixels with x.astype('float32') / 127.5 - 1",
        )


_RANGE_MESSAGE = "images scaled to [-1, 1]: a batch of the dataset holds values outside it"


def checked_dataset(dataset, sizes: Iterable[int], who: str, *, size: bool = True):
    """`dataset` (of image batches, or of (images, ...) tuples) after checking its element
    spec as `check_image_batch` would, with each batch's values checked as it is read
    (two reductions a batch); `predict_checked` turns a failed check into a UserInputError.

    Example:
        model.predict(checked_dataset(ds.batch(64), [32], "digits"))
    """
    import tensorflow as tf

    spec = dataset.element_spec
    images = spec[0] if isinstance(spec, tuple) and spec else spec
    if not isinstance(images, tf.TensorSpec):
        raise UserInputError(
            f"{who} takes a tf.data.Dataset of image batches, or of (images, labels) "
            f"pairs. Received elements: {spec}",
            hint="map the dataset to images alone: dataset.map(lambda x, *_: x)",
        )
    if images.shape.rank == 3:
        raise UserInputError(
            f"{who} takes batches of images, and this tf.data.Dataset gives single images "
            f"of shape {tuple(images.shape)}",
            hint="batch it first: dataset.batch(64)",
        )
    check_image_batch(images, sizes, who, size=size)

    def in_range(batch):
        check = tf.debugging.assert_less_equal(
            tf.reduce_max(tf.abs(batch)), tf.constant(1.1, batch.dtype), message=_RANGE_MESSAGE
        )  # a tenth of the range's width of slack, as check_value_range; NaN fails too
        with tf.control_dependencies([check]):
            return tf.identity(batch)

    if isinstance(spec, tuple):
        return dataset.map(lambda x, *rest: (in_range(x), *rest))
    return dataset.map(in_range)


def predict_checked(predict, x, sizes: Iterable[int], who: str, *, size: bool = True):
    """`predict(x)`, with `x` checked first: values at hand now, a dataset's spec now and
    its batches as they are read (see `checked_dataset`)."""
    import tensorflow as tf

    if is_checkable(x):
        check_image_batch(x, sizes, who, size=size)
    if not isinstance(x, tf.data.Dataset):
        return predict(x)
    try:
        return predict(checked_dataset(x, sizes, who, size=size))
    except tf.errors.InvalidArgumentError as error:
        if _RANGE_MESSAGE not in str(error):
            raise
        raise UserInputError(
            f"{who} takes {_RANGE_MESSAGE} (far outside, or NaN)",
            hint="convert 0-255 pixels with x / 127.5 - 1 in the dataset's map",
        ) from None


def is_checkable(x) -> bool:
    """Whether `predict` should check `x` before Keras batches it: values at hand (an
    array, an eager tensor) or a Python list, which Keras would refuse obscurely."""
    return isinstance(x, np.ndarray | list | tuple) or is_eager(x)


def is_eager(x) -> bool:
    """Whether `x` is a tensor with values now (not a trace)."""
    import tensorflow as tf

    return tf.is_tensor(x) and tf.executing_eagerly() and hasattr(x, "numpy")


def _eager_extremes(x) -> np.ndarray | None:
    """An eager tensor's least and largest values (NaN where it holds a NaN), computed where
    it lies; None for a traced tensor or anything else."""
    import tensorflow as tf

    if not is_eager(x):
        return None
    if x.shape.num_elements() == 0:
        return np.zeros(0, np.float32)
    x = tf.cast(x, tf.float32)
    nan = tf.where(tf.reduce_any(tf.math.is_nan(x)), np.float32(np.nan), np.float32(0.0))
    return (tf.stack([tf.reduce_min(x), tf.reduce_max(x)]) + nan).numpy()


@keras.saving.register_keras_serializable(package=PACKAGE)
class PathModel(keras.Model):
    """A keras.Model that runs components in order, sharing the layer objects.

    A small subclassed model on purpose: functional models over shared layers add a
    node to every shared layer per model, which keeps discarded candidates alive.

    Example:
        model = PathModel([PatchEmbedding(16, 8), ClassToken(), ...])
        logits = model(images)
    """

    def __init__(self, components: list[Component], image_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.components = list(components)
        self.image_size = image_size  # when given, calls are checked against it
        self.built = all(c.built for c in self.components)

    def __call__(self, x, *args, **kwargs):
        # Checked before Keras's __call__, which would wrap the error in its own text.
        if self.image_size is not None:
            check_image_batch(x, [self.image_size], f"model '{self.name}'")
        return super().__call__(x, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        # Keras batches the input and calls the model traced: check its values here.
        predict = functools.partial(super().predict, *args, **kwargs)
        if self.image_size is None:
            return predict(x)
        return predict_checked(predict, x, [self.image_size], f"model '{self.name}'")

    def call(self, x, training=None):
        for component in self.components:
            x = component(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "components": [keras.saving.serialize_keras_object(c) for c in self.components],
            "image_size": self.image_size,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        components = [deserialize_component(c) for c in config.pop("components")]
        return cls(components, **config)
