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
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        what = cls.__qualname__ if isinstance(cls, type) else repr(cls)
        raise UserInputError(
            f"@register_component takes a subclass of keras_evomt.Component. Received: {what}",
            hint="derive it from Component (a keras.layers.Layer with flops() and a role): "
            f"class {getattr(cls, '__name__', 'MyLayer')}(keras_evomt.Component)",
        )
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


ROLES = (EMBEDDING, CLASS_TOKEN, POSITIONS, BLOCK, ADAPTER, NORM, HEAD)
STEM_ROLES = ("", EMBEDDING, CLASS_TOKEN, POSITIONS)


def check_component(name: str, component: Any) -> None:
    """Refuses what a system cannot hold: a layer that is not a registered Component
    (a saved system loads only registered classes), a role that is not one of ROLES, an
    adapter without `adapter_dim`.

    Example:
        check_component("scale", Scale())  # Scale registered with @register_component
    """
    kind = type(component).__name__
    if not isinstance(component, Component):
        raise UserInputError(
            f"component '{name}' is a {kind}, not a keras_evomt Component.",
            hint="subclass keras_evomt.Component and decorate the class with "
            "@keras_evomt.register_component (a Lambda layer cannot be: loading a system "
            "never runs code from its files)",
        )
    if component_class(registered_name(type(component))) is not type(component):
        raise UserInputError(
            f"component '{name}': class {kind} is not registered, so a saved system could "
            "not load it.",
            hint="decorate the class with @keras_evomt.register_component",
        )
    if component.role not in ROLES and component.role != "":
        raise UserInputError(
            f"component '{name}': {kind}.role is {component.role!r}, which is not a role.",
            hint=f"use one of {', '.join(map(repr, ROLES))}, or no role",
        )
    if component.role == ADAPTER and not isinstance(getattr(component, "adapter_dim", None), int):
        raise UserInputError(
            f"component '{name}': an adapter ({kind}) must have an int `adapter_dim` (its "
            "bottleneck width, which the search mutates).",
            hint="set self.adapter_dim in its __init__",
        )


def check_root_layout(roles: list[tuple[str, str]]) -> None:
    """Refuses a root the search cannot grow paths from. A path is a stem (embedding,
    class token, positions, components without a role), encoder layers (a block, an
    adapter before it where there is one), one final norm, and the task's head.

    Example:
        check_root_layout([("embedding", "embedding"), ("encoderblock_0", "block"),
                           ("encoder_norm", "norm")])
    """
    names = [name for name, _ in roles]
    kinds = [role for _, role in roles]
    layout = "a stem (embedding, class token, positions), blocks, then one norm"
    if HEAD in kinds:
        raise UserInputError(
            f"the root holds a head ('{names[kinds.index(HEAD)]}'): every task gets its own.",
            hint=f"leave it out: a root is {layout}",
        )
    if kinds.count(NORM) != 1 or kinds[-1] != NORM:
        raise UserInputError(
            f"a root must end with one norm (a component with role 'norm'); this one has "
            f"{kinds.count(NORM)}" + ("" if not kinds or kinds[-1] == NORM else ", not last") + ".",
            hint=f"a root is {layout}",
        )
    if BLOCK not in kinds:
        raise UserInputError(
            "a root needs at least one block (a component with role 'block').",
            hint=f"a root is {layout}",
        )
    first_block = kinds.index(BLOCK)
    for name, role in roles[first_block:-1]:
        if role not in (BLOCK, ADAPTER):
            raise UserInputError(
                f"component '{name}' ({'no role' if not role else f'role {role!r}'}) sits among "
                "the root's blocks, where the search's paths have only blocks and adapters: "
                "it would be moved before them.",
                hint="place it before the first block, or give it role 'block' (a layer of "
                "its own) or 'adapter' (an adapter before the next block)",
            )
    for name, role in roles[:first_block]:
        if role not in STEM_ROLES and role != ADAPTER:
            raise UserInputError(
                f"component '{name}' (role {role!r}) comes before the root's first block.",
                hint=f"a root is {layout}",
            )
