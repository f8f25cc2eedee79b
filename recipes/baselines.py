"""The reference's comparison configurations, as configs of the same engine: one
candidate per task, no hyperparameter mutation, parent = the root.

Each baseline gets the main job's tasks, root, data defaults and hyperparameter
defaults (recipes/offline_mini.py), and as many training steps per task as the main
job's search spends on a task (its candidates over every visit x their validation rounds
x steps), as the reference trains its baselines: the search's validation rounds per task,
each round as long as the search's.

Variants:  finetune_all, freeze_bottom (N = mutation.freeze_bottom, default half the
           blocks), adapters (size D = defaults.adapter_dim, before every block),
           independent (a randomly initialised model per task).
Command:   evomt run recipes/baselines.py:finetune_all --workdir runs/finetune
           then `evomt status --workdir runs/offline_mini --compare runs/finetune`.
Hardware:  as the main job; tools/bench_quality.py runs them beside it.
Result:    per-task accuracies and parameter counts of each baseline.
"""

from __future__ import annotations

from keras_evomt.recipe_parts import budget, offline_main_job
from keras_evomt.search.config import rounds_per_task

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
    config = offline_main_job()
    rounds_per_search = rounds_per_task(config)
    config.task_iterations = 1  # one run per task, as long as all of the search's visits
    budget(
        config,
        generations=1,
        candidates=1,
        validations=rounds_per_search,
        steps=config.steps_per_validation,
        batch_size=config.batch_size,
        validation_examples=config.validation_examples,
    )
    config.defaults._mu_ = 0.0
    config.space = {}  # no hyperparameter mutation: the baseline's fixed settings
    config.parents.seeds = "root"
    config.mutation.adapters = False
    config.mutation.clone_mode = CLONE_MODES[variant]
    config.mutation.freeze_bottom = 2
    return config
