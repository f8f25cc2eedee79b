"""A small ViT grown over the offline tasks: the default main job.

Tasks: digits (scikit-learn), textures and lfw_faces (scikit-image), on a vit_mini
root pretrained on Fashion-MNIST (`builtin:vit_mini_fashion_mnist`, made by
tools/pretrain_root.py; Fashion-MNIST is not one of the tasks).

Command:   evomt run recipes/offline_mini.py --workdir runs/offline_mini
Hardware:  2 CPU cores, 4 GB of memory.
Time:      measured 8.6 minutes of search on 2 idle CPU cores (tools/bench_quality.py,
           2026-11-30 19:30 UTC); 16.8 minutes when the machine was shared.
Result:    measured then: test accuracy digits 94.2%, textures 91.1% (its best path
           descends from digits'), lfw_faces 97.5%: mean 94.3%, where fine-tune-all and
           independent models at the same 1,440 training steps per task reach 93.0% and
           88.6%; every earlier fingerprint unchanged. µ2Net's accounted parameters per
           task are 0.58x a full model's (0.66x scoring accuracy alone: BENCHMARKS.md,
           "Quality at equal steps" and "Size scale").
Budget:    6 generations x 2 candidates x 3 rounds x 40 steps (batch 64) per task: few
           candidates per generation, so the best path's chain of parents keeps more of
           the training (3 x 4 measured 91.2% mean against 92.4% and 92.5%, 0.45x parameters).
Compare:   the same tasks at the same training steps per task with
           `evomt run recipes/baselines.py:finetune_all --workdir runs/finetune` (and
           `:independent`), then `evomt status --workdir runs/offline_mini --compare
           runs/finetune`; tools/bench_quality.py runs all three.

Variants:  smoke (two tasks, a tiny random root, a handful of steps: what the end-to-end
           tests run); size_scale_100 (score = accuracy, as the µ2Net notebook),
           size_scale_90 (the default), _85, _80; layers (num_layers mutates over 1..4,
           dropping top blocks or growing them back); revisits (the task list twice,
           3 generations a visit: the same steps per task). Combine with a comma:
           `offline_mini.py:size_scale_85,layers`.
"""

from __future__ import annotations

from keras_evomt.recipe_parts import budget, offline_main_job, size_scale, size_scale_names

SIZE_SCALES = (100, 90, 85, 80)


def get_config(variant: str | None = None):
    config = offline_main_job()
    for name in (variant or "").split(","):
        _apply_variant(config, name)
    return config


def _apply_variant(config, name: str) -> None:
    scale = size_scale(name, SIZE_SCALES)
    if name == "":
        return
    if name == "smoke":
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
    elif scale is not None:
        config.score.base_params = scale
    elif name == "layers":
        config.space.num_layers = [1, 2, 3, 4]
    elif name == "revisits":
        # The task list twice, 3 generations a visit: the same steps per task. A revisit
        # may take up components that tasks after it added (BENCHMARKS.md, "Task revisits").
        config.task_iterations = 2
        config.generations = 3
    else:
        raise ValueError(
            f"unknown variant {name!r}; offline_mini has: smoke, layers, revisits, "
            + size_scale_names(SIZE_SCALES)
            + " (combine with a comma)"
        )
