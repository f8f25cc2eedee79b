"""`PathModel`: the keras.Model that runs a path's components in order.

Importing this module registers `PathModel` and every built-in component with Keras,
so an exported `.keras` file loads with `keras.saving.load_model` and no custom objects.

Example:
    model = PathModel([PatchEmbedding(16, 8), ClassToken(), ...])
    logits = model(images)
"""

from __future__ import annotations

import keras

import keras_evomt.components  # noqa: F401 - registers the built-in components
from keras_evomt.components.base import PACKAGE, Component


@keras.saving.register_keras_serializable(package=PACKAGE)
class PathModel(keras.Model):
    """A keras.Model that runs components in order, sharing the layer objects.

    A small subclassed model on purpose: functional models over shared layers add a
    node to every shared layer per model, which keeps discarded candidates alive.

    Example:
        model = PathModel([PatchEmbedding(16, 8), ClassToken(), ...])
        logits = model(images)
    """

    def __init__(self, components: list[Component], **kwargs):
        super().__init__(**kwargs)
        self.components = list(components)
        self.built = all(c.built for c in self.components)

    def call(self, x, training=None):
        for component in self.components:
            x = component(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "components": [keras.saving.serialize_keras_object(c) for c in self.components],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        components = [keras.saving.deserialize_keras_object(c) for c in config.pop("components")]
        return cls(components, **config)
