"""The search configuration: one locked ml_collections.ConfigDict, defaults here.

Recipes start from `default_config()` and change what they need; `--set key=value`
overrides are type-checked by ConfigDict itself.

Example:
    config = default_config()
    config.generations = 1
"""

from __future__ import annotations

import ml_collections

from keras_evomt.search.space import REFERENCE_DEFAULTS, REFERENCE_SPACE


def default_config() -> ml_collections.ConfigDict:
    """The µ2Net reference search (ViT-L/16 root at 384 px), unlocked for recipes."""
    c = ml_collections.ConfigDict()
    c.tasks = ["cifar10"]
    c.task_iterations = 1  # passes over the task list
    c.private_tasks = []  # tasks never offered as seeds to other tasks
    c.seed = 0

    c.root = ml_collections.ConfigDict()
    c.root.name = "vit_l16"
    c.root.checkpoint = ""  # a local .npz / keras-hub preset / converted root; "" = random
    c.root.image_size = 384
    c.root.patch_size = 16

    c.generations = 4
    c.candidates_per_generation = 32
    c.validations = 4
    c.steps_per_validation = 0  # 0: the reference rule, min(train, examples_per_validation)
    c.examples_per_validation = 128_116
    c.batch_size = 64
    c.validation_examples = 10_000
    c.max_consecutive_failures = 10
    c.keep_states = 3

    c.score = ml_collections.ConfigDict()
    c.score.base_params = 1.0
    c.score.ref_params = 2.2e9
    c.score.base_flops = 1.0
    c.score.ref_flops = 3.8e12
    c.score.root_shares = False

    c.space = ml_collections.ConfigDict({k: list(v) for k, v in REFERENCE_SPACE.items()})
    c.defaults = ml_collections.ConfigDict(dict(REFERENCE_DEFAULTS))

    c.mutation = ml_collections.ConfigDict()
    c.mutation.clone_mode = "mu"
    c.mutation.freeze_bottom = 0
    c.mutation.insert_block = False
    c.mutation.insert_adapter = False
    c.mutation.remove_block = False

    c.parents = ml_collections.ConfigDict()
    c.parents.seeds = "all"  # "all": other tasks' best paths + root; "root": the root only

    c.data = ml_collections.ConfigDict()
    c.data.data_dir = ""
    c.data.download = False
    c.data.mock_examples = 0  # > 0: TFDS sources yield mock data (tests, `tiny` variants)

    c.training = ml_collections.ConfigDict()
    c.training.jit_compile = False
    c.training.deterministic = False  # tf op determinism (exact resume on CPU)

    c.distribute = ml_collections.ConfigDict()
    c.distribute.strategy = "default"  # default | mirrored | tpu | multi_worker_mirrored
    c.distribute.mode = "data"  # data: candidates in turn, data-parallel; candidates: 1/device
    c.distribute.devices = []  # e.g. ["/gpu:0", "/gpu:1"]; [] = every local device
    c.distribute.precision = "float32"  # or mixed_bfloat16
    c.distribute.cpu_devices = 0  # > 1: split the CPU into logical devices (trials, tests)
    c.distribute.tpu = ""  # TPUClusterResolver arguments
    c.distribute.tpu_zone = ""
    c.distribute.tpu_project = ""

    c.log_every_steps = 10
    return c
