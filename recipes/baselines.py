"""The reference's comparison configurations, on any task list, as configs of the
same engine: one candidate per task, no hyperparameter mutation, parent = root.

Variants:  finetune_all, freeze_bottom (N = mutation.freeze_bottom, default half the
           blocks), adapters (size D = defaults.adapter_dim), independent (a
           randomly initialised model per task).
Command:   evomt run recipes/baselines.py:finetune_all --workdir runs/finetune \\
               --set tasks="['digits','textures']"
           then `evomt status --workdir runs/finetune` beside the µ2Net run's status.
Hardware:  as the µ2Net run on the same tasks; on CPU with the default small ViT,
           a few minutes for the offline tasks.
Result:    per-task accuracies and parameter counts of each baseline.
"""

from __future__ import annotations

from common import base, budget, small_vit

VARIANTS = ("finetune_all", "freeze_bottom", "adapters", "independent")
CLONE_MODES = {
    "finetune_all": "all",
    "freeze_bottom": "freeze_bottom",
    "adapters": "adapters",
    "independent": "scratch",
}


def get_config(variant: str | None = None):
    if variant not in VARIANTS:
        raise ValueError(f"baselines needs a variant: {', '.join(VARIANTS)}. Received: {variant!r}")
    config = small_vit(base(), "vit_mini", image_size=32, patch_size=8)
    config.tasks = ["digits", "textures", "lfw_faces"]
    budget(
        config,
        generations=1,
        candidates=1,
        validations=3,
        steps=80,
        batch_size=64,
        validation_examples=512,
    )
    config.defaults.opt_lr = 0.05
    config.defaults._mu_ = 0.0
    config.space = {}  # no hyperparameter mutation: the baseline's fixed settings
    config.parents.seeds = "root"
    config.mutation.clone_mode = CLONE_MODES[variant]
    config.mutation.freeze_bottom = 2
    return config
