"""Shareable Keras components and named roots."""

from keras_evomt.components.base import (
    Component,
    component_class,
    register_component,
    registered_components,
    registered_name,
)
from keras_evomt.components.roots import ROOTS, RootSpec, build_in_order, build_root, root_spec
from keras_evomt.components.vit import (
    ClassificationHead,
    ClassToken,
    EncoderBlock,
    EncoderNorm,
    PatchEmbedding,
    PositionEmbedding,
    ResidualAdapter,
    resize_position_table,
)

__all__ = [
    "ROOTS",
    "ClassToken",
    "ClassificationHead",
    "Component",
    "EncoderBlock",
    "EncoderNorm",
    "PatchEmbedding",
    "PositionEmbedding",
    "ResidualAdapter",
    "RootSpec",
    "build_in_order",
    "build_root",
    "component_class",
    "register_component",
    "registered_components",
    "registered_name",
    "resize_position_table",
    "root_spec",
]
