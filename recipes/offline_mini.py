"""A small ViT grown over the offline tasks: the default main job.

Tasks: digits (scikit-learn), lfw_faces and textures (scikit-image), and
fashion_mnist when Debian's dataset-fashion-mnist is installed.

Command:   evomt run recipes/offline_mini.py --workdir runs/offline_mini
Hardware:  2 CPU cores, 4 GB of memory.
Time:      about 10 minutes (variant `smoke`: about a minute).
Result:    a 4-task system (vit_mini root, 0.15M parameters, random init; ~0.7M in all)
           where later tasks start from earlier tasks' paths; measured here: digits 96%
           test accuracy, textures ~70%, lfw_faces ~90%, fashion_mnist ~79%. Printed at
           the end: the status table and where the report and the TensorBoard logs are.

Variants:  smoke (two tasks, a handful of steps: what the end-to-end tests run).
"""

from __future__ import annotations

from common import base, budget, small_vit

from keras_evomt.data.offline import fashion_mnist_files_present
from keras_evomt.search.space import EXTRA_SPACE


def get_config(variant: str | None = None):
    config = small_vit(base(), "vit_mini", image_size=32, patch_size=8)
    config.tasks = ["digits", "textures", "lfw_faces"]
    if fashion_mnist_files_present():
        config.tasks.append("fashion_mnist")
    budget(
        config,
        generations=3,
        candidates=4,
        validations=3,
        steps=40,
        batch_size=64,
        validation_examples=512,
    )
    config.space.opt_lr = [0.01, 0.02, 0.05, 0.1, 0.2]
    config.defaults.opt_lr = 0.1
    # Small images: an inception crop of 5% of a digit is noise, and flips change digits.
    # The search may still turn these on: ds_* values mutate every generation.
    config.defaults.ds_crop = False
    config.defaults.ds_area_range_min = 0.5
    config.defaults.ds_flip_left_right = False
    config.mutation.insert_adapter = True
    # The smaller configurations of the paper also mutate these (see method.md).
    config.space.adapter_dim = list(EXTRA_SPACE["adapter_dim"])
    config.space.opt_lr_schedule = list(EXTRA_SPACE["opt_lr_schedule"])
    config.space.image_size = [24, 32, 40]  # multiples of this root's 8 px patches
    config.defaults.adapter_dim = 16
    config.log_every_steps = 20
    if variant == "smoke":
        config.tasks = ["digits", "textures"]
        config.root.name = "vit_tiny"
        budget(
            config,
            generations=1,
            candidates=2,
            validations=2,
            steps=5,
            batch_size=32,
            validation_examples=128,
        )
    elif variant is not None:
        raise ValueError(f"unknown variant {variant!r}; offline_mini has: smoke")
    return config
