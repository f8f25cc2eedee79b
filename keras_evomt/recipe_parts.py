"""Parts shared by the recipes: the search defaults, small ViT roots for CPUs, the budget
keys and the offline main job. A recipe imports them from the package, so it runs from
any folder (a checkout's recipes/ or a copy of its own):

    from keras_evomt.recipe_parts import budget, offline_main_job

    config = budget(offline_main_job(), generations=1, candidates=2, validations=1,
                    steps=5, batch_size=32, validation_examples=64)
"""

from __future__ import annotations

import ml_collections

from keras_evomt.search import default_config
from keras_evomt.search.config import rounds_per_task


def small_vit(
    config: ml_collections.ConfigDict,
    name: str = "vit_mini",
    image_size: int = 32,
    patch_size: int = 8,
) -> ml_collections.ConfigDict:
    """A small random-initialised ViT root for CPU runs (no checkpoint); the score's
    reference size is that root's, as in the µ2Net notebook's smaller configurations."""
    config.root.name = name
    config.root.checkpoint = ""
    config.root.image_size = image_size
    config.root.patch_size = patch_size
    config.score.ref_params = 0.0
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
    first_candidates: int = 0,
    first_validations: int = 0,
) -> ml_collections.ConfigDict:
    """The search budget keys every recipe shares (so `--set generations=1` works);
    `first_candidates` and `first_validations`: a task iteration's first generation's
    width and rounds per candidate (0 = `candidates`, `validations`)."""
    config.generations = generations
    config.candidates_per_generation = candidates
    config.first_generation_candidates = first_candidates
    config.first_generation_validations = first_validations
    config.validations = validations
    config.steps_per_validation = steps
    config.batch_size = batch_size
    config.validation_examples = validation_examples
    return config


def size_scale(variant: str, scales: tuple[int, ...]) -> float | None:
    """The score base of a recipe's `size_scale_N` variant (N/100) when N is one of
    `scales`, else None: the reference's "size scale" configurations.

    Example:
        size_scale("size_scale_90", (98, 90)) == 0.9
    """
    number = variant.removeprefix("size_scale_")
    if number != variant and number.isdigit() and int(number) in scales:
        return int(number) / 100
    return None


def size_scale_names(scales: tuple[int, ...]) -> str:
    """The `size_scale_N` variant names, for a recipe's error message."""
    return ", ".join(f"size_scale_{n}" for n in scales)


def base() -> ml_collections.ConfigDict:
    return default_config()


def offline_main_job() -> ml_collections.ConfigDict:
    """The offline main job's tasks, root, budget and data defaults (recipes/offline_mini.py),
    which its baselines (recipes/baselines.py) share."""
    from keras_evomt.search.space import EXTRA_SPACE

    config = small_vit(base(), "vit_mini", image_size=32, patch_size=8)
    # vit_mini pretrained on Fashion-MNIST, which is not one of the tasks
    # (tools/pretrain_root.py; the file ships in keras_evomt/pretrained/).
    config.root.checkpoint = "builtin:vit_mini_fashion_mnist"
    config.tasks = ["digits", "textures", "lfw_faces"]
    # The task list twice, one candidate a generation: on one device candidates run in
    # turn, so a chain of single candidates keeps more of a task's training, and a revisit
    # may take up what the tasks after it added (BENCHMARKS.md, "Revisits, one candidate
    # a generation").
    config.task_iterations = 2
    budget(
        config,
        generations=6,
        candidates=1,
        validations=3,
        steps=40,
        batch_size=64,
        validation_examples=512,
    )
    config.space.opt_lr = [0.01, 0.02, 0.05, 0.1, 0.2]
    config.defaults.opt_lr = 0.1
    config.defaults._mu_ = 0.1  # as the reference's small (Ti/16, B/16) configurations
    # Small images: an inception crop of 5% of a digit is noise, and flips change digits.
    # The search may still turn these on: ds_* values mutate every generation.
    config.defaults.ds_crop = False
    config.defaults.ds_area_range_min = 0.5
    config.defaults.ds_flip_left_right = False
    # The reference's smaller configurations also mutate these.
    config.mutation.adapters = True
    config.space.adapter_dim = list(EXTRA_SPACE["adapter_dim"])
    config.space.opt_lr_schedule = list(EXTRA_SPACE["opt_lr_schedule"])
    config.space.image_size = [24, 32, 40]  # multiples of this root's 8 px patches
    config.defaults.adapter_dim = 16
    # The reference's "size scale" score at 0.9 of the root's size, the root counted as a
    # sharer (in the reference it is ImageNet's path): a path's own parameters must buy
    # accuracy, and ties go to the smaller path (BENCHMARKS.md, "Size scale").
    config.score.base_params = 0.9
    config.score.root_shares = True
    # Validation sets of 16 to 180 examples: many candidates reach the same count (all of
    # lfw_faces' 16), and the validation loss ranks them (training/quality.py;
    # BENCHMARKS.md, "Quality rule").
    config.score.quality = "accuracy_likelihood"
    # A new task probes every source without a training step and its first generation
    # starts from the best-probed one: over seeds 0-2 on one CPU 92.64% against the
    # shuffled order's 90.84% (BENCHMARKS.md, "The main job on another CPU"). Each probe
    # counts every sampled example, left out in turn: lfw_faces' 16 validation images put
    # most sources at 100%; over seeds 0-8, 92.23% against 91.44% (BENCHMARKS.md, "Nine
    # seeds").
    config.parents.seed_order = "probe"
    config.parents.probe_estimate = "leave_one_out"
    config.log_every_steps = 20
    return config


def steps_per_task(config: ml_collections.ConfigDict) -> int:
    """Training steps a search spends on one task over all its visits (every candidate's)."""
    return rounds_per_task(config) * config.steps_per_validation
