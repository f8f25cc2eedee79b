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
from typing import Any, ClassVar

import keras

from keras_evomt.errors import UserInputError

PACKAGE = "keras_evomt"
# What a component does in a path (`Component.role`): code that treats components by
# kind reads the role, never the component's id, so a renamed component keeps its role.
EMBEDDING, CLASS_TOKEN, POSITIONS, BLOCK, ADAPTER, NORM, HEAD = (
    "embedding",
    "class_token",
    "positions",
    "block",
    "adapter",
    "norm",
    "head",
)
_REGISTRY: dict[str, type[Component]] = {}


def register_component(cls: type[Component]) -> type[Component]:
    """Registers `cls` with Keras and in the allow-list of loadable components; a class
    of another module with the same name is refused (saved systems load by name).

    Example:
        @register_component
        class MyAdapter(Component): ...
    """
    name = f"{PACKAGE}>{cls.__name__}"
    existing = _REGISTRY.get(name)
    if existing is not None and (existing.__module__, existing.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise UserInputError(
            f"{existing.__module__}.{existing.__qualname__} is already registered as "
            f"'{name}', which saved systems load by: give {cls.__qualname__} another name."
        )
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


def config_of(component: Component) -> dict[str, Any]:
    """The component's constructor config as plain JSON (dtype as a policy name)."""
    config = dict(component.get_config())
    for key in ("name", "trainable", "activity_regularizer", "autocast"):
        config.pop(key, None)
    config["dtype"] = component.dtype_policy.name
    return config


def component_from_config(
    cls: type[Component], config: dict[str, Any], name: str | None = None
) -> Component:
    """Instantiates a component from `config_of` output.

    Components are named by their role ('encoderblock_3'), not uniquely: TensorFlow
    caches kernels per variable name and never evicts them, so unique names would
    grow memory with every candidate.
    """
    return cls.from_config({**config, **({"name": name} if name else {})})


def copy_component(
    source: Component, *, name: str | None = None, weights: bool = True
) -> Component:
    """A new, built component of the same class and config; weights copied unless
    `weights=False` (then freshly initialised).

    Example:
        twin = copy_component(block, name="encoderblock_3")
    """
    copy = component_from_config(type(source), config_of(source), name=name or source.name)
    copy.build_from_config(source.get_build_config())
    if weights:
        copy.set_weights(source.get_weights())
    return copy


class Component(keras.layers.Layer):
    """A shareable Keras layer: one node of the multitask system.

    Subclasses implement `call`, `build`, `get_config` as any Keras layer, and
    `flops(input_shape)` (per example, input shape without the batch axis), and set
    `role` (one of this module's role names) when they play one.
    """

    role: ClassVar[str] = ""

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
