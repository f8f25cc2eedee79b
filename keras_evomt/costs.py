"""Output shapes and FLOPs of the built-in components, from their configs alone.

The same formulas as the components' own `compute_output_shape` and `flops` (a test
checks they agree), without Keras: `evomt status` reads them from the manifest.
Shapes are per example (no batch axis). Unknown classes give None.

Example:
    flops("keras_evomt>PatchEmbedding", {"hidden_dim": 16, "patch_size": 8}, (32, 32, 3))
"""

from __future__ import annotations

import math
from typing import Any

_SHAPE_KEEPING = {"EncoderBlock", "EncoderNorm", "PositionEmbedding", "ResidualAdapter"}


def _kind(class_name: str) -> str:
    package, _, kind = class_name.partition(">")
    return kind if package == "keras_evomt" else ""


def output_shape(class_name: str, config: dict[str, Any], shape: tuple) -> tuple | None:
    """The per-example output shape, or None for a component that is not built in."""
    kind = _kind(class_name)
    if kind == "PatchEmbedding":
        height, width, _ = shape
        patch = config["patch_size"]
        return ((height // patch) * (width // patch), config["hidden_dim"])
    if kind == "ClassToken":
        length, dim = shape
        return (length + 1, dim)
    if kind == "ClassificationHead":
        return (config["num_classes"],)
    return tuple(shape) if kind in _SHAPE_KEEPING else None


def flops(class_name: str, config: dict[str, Any], shape: tuple) -> int | None:
    """FLOPs for one example (a multiply-add counts 2), or None if not built in."""
    kind = _kind(class_name)
    if kind == "PatchEmbedding":
        height, width, channels = shape
        patch = config["patch_size"]
        return 2 * (height // patch) * (width // patch) * patch**2 * channels * config["hidden_dim"]
    if kind == "PositionEmbedding":
        return int(math.prod(shape))
    if kind == "EncoderBlock":
        length, hidden = shape
        projections = 2 * length * 4 * hidden * hidden
        attention = 2 * 2 * length * length * hidden
        return projections + attention + 2 * 2 * length * hidden * config["mlp_dim"]
    if kind == "ClassificationHead":
        return 2 * shape[-1] * config["num_classes"]
    if kind == "ResidualAdapter":
        length, hidden = shape
        return 2 * 2 * length * hidden * config["adapter_dim"]
    return 0 if kind in ("ClassToken", "EncoderNorm") else None
