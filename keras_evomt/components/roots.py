"""Named ViT roots: the component list a system starts from.

Sizes follow "An Image is Worth 16x16 Words" (Ti/S/B/L with 16 px patches) plus
small sizes for tests and CPU demos. A root is the ordered list of components
up to the final norm; every task adds its own head.

Example:
    parts = build_root("vit_tiny", image_size=32)   # [(name, component), ...]
    [name for name, _ in parts]  # ['embedding', 'cls', 'posembed_input', 'encoderblock_0', ...]
"""

from __future__ import annotations

import dataclasses

from keras_evomt.components.base import Component
from keras_evomt.components.vit import (
    ClassToken,
    EncoderBlock,
    EncoderNorm,
    PatchEmbedding,
    PositionEmbedding,
)
from keras_evomt.errors import UserInputError, closest


@dataclasses.dataclass(frozen=True)
class RootSpec:
    """Sizes of a ViT root."""

    hidden_dim: int
    mlp_dim: int
    num_heads: int
    num_layers: int
    patch_size: int
    image_size: int
    gelu_approximate: bool = False  # True for vit_jax checkpoints (Flax's tanh GELU)


ROOTS: dict[str, RootSpec] = {
    "vit_ti16": RootSpec(192, 768, 3, 12, 16, 224),
    "vit_s16": RootSpec(384, 1536, 6, 12, 16, 224),
    "vit_b16": RootSpec(768, 3072, 12, 12, 16, 224),
    "vit_l16": RootSpec(1024, 4096, 16, 24, 16, 224),
    "vit_mini": RootSpec(64, 128, 4, 4, 8, 32),  # CPU demos on small offline images
    "vit_tiny": RootSpec(16, 32, 2, 2, 8, 32),  # unit tests
}

EMBEDDING, CLASS_TOKEN, POSITIONS, NORM, HEAD = (
    "embedding",
    "cls",
    "posembed_input",
    "encoder_norm",
    "head",
)


def block_name(index: int) -> str:
    return f"encoderblock_{index}"


def root_spec(name: str, **overrides: int) -> RootSpec:
    """The named RootSpec with `overrides` (e.g. image_size=384, patch_size=32) applied."""
    if name not in ROOTS:
        raise UserInputError(
            f"unknown root '{name}'; known roots: {', '.join(ROOTS)}.",
            hint=closest(name, ROOTS) or None,
        )
    spec = dataclasses.replace(ROOTS[name], **{k: v for k, v in overrides.items() if v})
    if spec.image_size % spec.patch_size:
        raise UserInputError(
            f"image_size={spec.image_size} is not a multiple of patch_size={spec.patch_size}."
        )
    return spec


def build_root(
    name: str,
    *,
    image_size: int | None = None,
    patch_size: int | None = None,
    gelu_approximate: bool = False,
) -> list[tuple[str, Component]]:
    """Builds the named root's components (randomly initialised), in path order."""
    spec = root_spec(
        name, image_size=image_size, patch_size=patch_size, gelu_approximate=gelu_approximate
    )
    grid = spec.image_size // spec.patch_size
    parts: list[tuple[str, Component]] = [
        (EMBEDDING, PatchEmbedding(spec.hidden_dim, spec.patch_size, name=EMBEDDING)),
        (CLASS_TOKEN, ClassToken(name=CLASS_TOKEN)),
        (POSITIONS, PositionEmbedding(grid, name=POSITIONS)),
    ]
    parts += [
        (
            block_name(i),
            EncoderBlock(
                spec.num_heads,
                spec.mlp_dim,
                gelu_approximate=spec.gelu_approximate,
                name=block_name(i),
            ),
        )
        for i in range(spec.num_layers)
    ]
    parts.append((NORM, EncoderNorm(name=NORM)))
    build_in_order([c for _, c in parts], spec.image_size)
    return parts


def build_in_order(components: list[Component], image_size: int) -> list[tuple]:
    """Builds each unbuilt component on the shape its predecessor outputs.

    Returns the input shape (without batch) that each component receives.
    """
    shape: tuple = (None, image_size, image_size, 3)
    shapes = []
    for component in components:
        if not component.built:
            component.build(shape)
        shapes.append(tuple(shape[1:]))
        shape = component.compute_output_shape(shape)
    return shapes
