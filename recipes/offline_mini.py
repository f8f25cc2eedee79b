"""A small ViT grown over the offline tasks: the default main job.

Tasks: digits (scikit-learn), textures and lfw_faces (scikit-image), on a vit_mini
root pretrained on Fashion-MNIST (`builtin:vit_mini_fashion_mnist`, made by
tools/pretrain_root.py; Fashion-MNIST is not one of the tasks).

Command:   evomt run recipes/offline_mini.py --workdir runs/offline_mini
Hardware:  2 CPU cores, 4 GB of memory.
Time:      FIGURES_PENDING
Result:    FIGURES_PENDING
Compare:   the same tasks at the same training steps per task with
           `evomt run recipes/baselines.py:finetune_all --workdir runs/finetune` (and
           `:independent`), then `evomt status --workdir runs/offline_mini --compare
           runs/finetune`; tools/bench_quality.py runs all three.

Variants:  smoke (two tasks, a tiny random root, a handful of steps: what the end-to-end
           tests run).
"""

from __future__ import annotations

from common import budget, offline_main_job


def get_config(variant: str | None = None):
    config = offline_main_job()
    if variant == "smoke":
        config.tasks = ["digits", "textures"]
        config.root.name = "vit_tiny"
        config.root.checkpoint = ""
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
