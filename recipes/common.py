"""Parts shared by the recipes: the search defaults and small ViT roots for CPUs."""

from __future__ import annotations

import ml_collections

from keras_evomt.search import default_config


def small_vit(
    config: ml_collections.ConfigDict,
    name: str = "vit_mini",
    image_size: int = 32,
    patch_size: int = 8,
) -> ml_collections.ConfigDict:
    """A small random-initialised ViT root for CPU runs (no checkpoint)."""
    config.root.name = name
    config.root.checkpoint = ""
    config.root.image_size = image_size
    config.root.patch_size = patch_size
    return config


def budget(
    config: ml_collections.ConfigDict,
    *,
    generations: int,
    candidates: int,
    validations: int,
    steps: int,
    batch_size: int,
    validation_examples: int,
) -> ml_collections.ConfigDict:
    """The search budget keys every recipe shares (so `--set generations=1` works)."""
    config.generations = generations
    config.candidates_per_generation = candidates
    config.validations = validations
    config.steps_per_validation = steps
    config.batch_size = batch_size
    config.validation_examples = validation_examples
    return config


def base() -> ml_collections.ConfigDict:
    return default_config()
