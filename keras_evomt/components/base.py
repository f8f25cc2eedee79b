"""The base of every shareable component, and the allow-list of component classes.

A component is a Keras layer that a path can share with other paths. It knows its
parameter count and its FLOPs per example, and it is registered twice: with Keras
(so an exported `.keras` task model loads with no custom objects) and in this
module's allow-list (so a saved system only ever instantiates known classes).

Example:
    @register_component
    class Scale(Component):
        def call(self, x):
            return 2.0 * x
"""

from __future__ import annotations

import math

import keras

PACKAGE = "keras_evomt"
_REGISTRY: dict[str, type[Component]] = {}


def register_component(cls: type[Component]) -> type[Component]:
    """Registers `cls` with Keras and in the allow-list of loadable components."""
    keras.saving.register_keras_serializable(package=PACKAGE)(cls)
    _REGISTRY[registered_name(cls)] = cls
    return cls


def registered_name(cls: type) -> str:
    """The name under which `cls` is stored, e.g. 'keras_evomt>EncoderBlock'."""
    return keras.saving.get_registered_name(cls)


def component_class(name: str) -> type[Component] | None:
    """The registered component class called `name`, or None if it is not allowed."""
    return _REGISTRY.get(name)


def registered_components() -> list[str]:
    """Names of every class a stored system may instantiate."""
    return sorted(_REGISTRY)


class Component(keras.layers.Layer):
    """A shareable Keras layer: one node of the multitask system.

    Subclasses implement `call`, `build`, `get_config` as any Keras layer, and
    `flops(input_shape)` (per example, input shape without the batch axis).
    """

    def param_count(self) -> int:
        """Number of scalar weights (trainable or not)."""
        if not self.built:
            raise ValueError(f"{self.name} is not built yet: call build(input_shape) first.")
        return int(sum(math.prod(w.shape) for w in self.weights))

    def compute_output_shape(self, input_shape):
        return input_shape  # most components preserve the shape; others override

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Floating point operations for one example (a multiply-add counts 2)."""
        return 0
