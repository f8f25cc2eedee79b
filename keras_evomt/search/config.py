"""The search configuration: one locked ml_collections.ConfigDict, defaults here.

Recipes start from `default_config()` and change what they need; `--set key=value`
overrides are type-checked by ConfigDict itself.

Example:
    config = default_config()
    config.generations = 1
"""

from __future__ import annotations

import ml_collections

from keras_evomt.data.catalog import check_one_source_per_name
from keras_evomt.errors import UserInputError, closest
from keras_evomt.search.space import REFERENCE_DEFAULTS, REFERENCE_SPACE

SEED_ORDERS = ("shuffle", "probe")
PROBE_ESTIMATES = ("holdout", "leave_one_out")  # search/probe.py
HEAD_INITS = ("zeros", "ridge")  # search/head_init.py


class SearchConfig(ml_collections.ConfigDict):
    """A ConfigDict whose refusal of a key it lacks is one line with the nearest keys
    (ml_collections' own message lists every field, thousands of characters).

    Example:
        config.generation = 1  # AttributeError: ... locked; did you mean: generations?
    """

    def __setitem__(self, key, value) -> None:
        if self.is_locked and isinstance(key, str) and key not in self:
            hint = closest(key, list(self.keys())) or f"its keys: {', '.join(self.keys())}"
            raise KeyError(
                f'Key "{key}" does not exist and cannot be added since the config is locked; {hint}'
            )
        super().__setitem__(key, value)


def default_config() -> ml_collections.ConfigDict:
    """The µ2Net reference search (ViT-L/16 root at 384 px), locked: a key it does not
    have is refused (`c.generation = 1` fails, naming the nearest keys); `space` and
    `defaults` stay open, so recipes may add hyperparameters to them."""
    c = SearchConfig()
    c.tasks = ["cifar10"]
    c.task_iterations = 1  # passes over the task list
    c.private_tasks = []  # tasks never offered as seeds to other tasks
    c.seed = 0

    c.root = SearchConfig()
    c.root.name = "vit_l16"
    c.root.checkpoint = ""  # a local .npz / keras-hub preset / converted root; "" = random
    c.root.image_size = 384
    c.root.patch_size = 16

    c.generations = 4
    c.candidates_per_generation = 32
    # A task iteration's first generation, whose parents are other tasks' paths and the
    # root: 0 = candidates_per_generation (the reference: every generation one per device).
    c.first_generation_candidates = 0
    c.validations = 4
    # The validation rounds of a task iteration's first generation: 0 = validations. Fewer
    # rounds let a wider first generation try several sources at one candidate's cost.
    c.first_generation_validations = 0
    c.steps_per_validation = 0  # 0: the reference rule, min(train, examples_per_validation)
    c.examples_per_validation = 128_116
    c.batch_size = 64
    c.validation_examples = 10_000
    c.max_consecutive_failures = 10
    c.keep_states = 3  # committed states kept on disk; at least 2 (the newest and a fallback)

    c.score = SearchConfig()
    c.score.base_params = 1.0
    c.score.ref_params = 303_303_682.0  # the µ2Net notebook's: ViT-L/16; 0 = the root's size
    c.score.base_flops = 1.0
    c.score.ref_flops = 3.8e12
    c.score.root_shares = False
    c.score.quality = "accuracy"  # the reference's; others: training/quality.py

    c.space = SearchConfig({k: list(v) for k, v in REFERENCE_SPACE.items()})
    c.defaults = SearchConfig(dict(REFERENCE_DEFAULTS))

    c.mutation = SearchConfig()
    c.mutation.clone_mode = "mu"
    c.mutation.freeze_bottom = 0
    c.mutation.adapters = False  # the reference's adapter mutation (smaller configurations)
    c.mutation.insert_block = False  # µ2Net+: identity-initialised block insertion
    # How a candidate's new head starts (a new task, or a parent of another task): "zeros"
    # (the reference) or "ridge": a ridge classifier on the candidate's frozen features
    # over parents.probe_examples training examples (search/head_init.py).
    c.mutation.head_init = "zeros"

    c.parents = SearchConfig()
    c.parents.seeds = "all"  # "all": other tasks' best paths + root; "root": the root only
    # The order a task iteration offers its seeds in: "shuffle" (the reference) or "probe":
    # best first by a ridge classifier on each seed's frozen features (search/probe.py).
    c.parents.seed_order = "shuffle"
    c.parents.probe_examples = 1024  # training examples a probe fits on (and at most as
    # many validation examples, of `validation_examples`, that it is scored on); also
    # those a new head is fit on with mutation.head_init="ridge"
    # "holdout": a probe's accuracy on the validation sample; "leave_one_out": on both
    # samples, each example left out of the fit in turn (search/probe.py).
    c.parents.probe_estimate = "holdout"

    c.data = SearchConfig()
    c.data.data_dir = ""
    c.data.download = False
    c.data.mock_examples = 0  # > 0: TFDS sources yield mock data (tests, `tiny` variants)

    c.training = SearchConfig()
    c.training.jit_compile = False  # XLA for each step (not with mirrored strategies)
    c.training.steps_per_call = 0  # steps per traced call; 0: by device (CPU 20, GPU 50, TPU 100)
    c.training.deterministic = False  # tf op determinism (exact resume on CPU)
    c.training.threads = 0  # TF intra-op threads (0: TF's default); Ray actors use the same

    c.distribute = SearchConfig()
    c.distribute.strategy = "default"  # default | mirrored | tpu | multi_worker_mirrored
    c.distribute.executor = "inline"  # inline | devices (one candidate per device) | ray
    c.distribute.mode = "data"  # older spelling: candidates = executor devices
    c.distribute.ray_address = ""  # "" = a local Ray for the run; "auto" or host:port
    c.distribute.ray_actors = 0  # 0 = one per accelerator (else per CPU); n = n CPU actors
    c.distribute.ray_timeout_s = 20.0  # how long to wait for a cluster before giving up
    c.distribute.devices = []  # e.g. ["/gpu:0", "/gpu:1"]; [] = every local device
    # auto: mixed_bfloat16 on TPUs and GPUs of compute capability >= 8.0, else float32
    c.distribute.precision = "auto"
    c.distribute.cpu_devices = 0  # > 1: split the CPU into logical devices (trials, tests)
    c.distribute.tpu = ""  # TPUClusterResolver arguments
    c.distribute.tpu_zone = ""
    c.distribute.tpu_project = ""

    c.log_every_steps = 10
    c.lock()
    c.space.unlock()  # hyperparameter spaces are open: recipes add keys (adapter_dim, ...)
    c.defaults.unlock()
    return c


def generation_width(config: ml_collections.ConfigDict, generation: int) -> int:
    """How many candidates generation `generation` (0 = a task iteration's first) proposes.

    Example:
        generation_width(config, 0)  # config.first_generation_candidates, when set
    """
    first = int(config.first_generation_candidates)
    return first if generation == 0 and first else int(config.candidates_per_generation)


def generation_validations(config: ml_collections.ConfigDict, generation: int) -> int:
    """How many validation rounds each candidate of generation `generation` trains.

    Example:
        generation_validations(config, 0)  # config.first_generation_validations, when set
    """
    first = int(config.get("first_generation_validations", 0))
    return first if generation == 0 and first else int(config.validations)


def candidates_per_task(config: ml_collections.ConfigDict) -> int:
    """Candidates a search trains for one task over all its visits (task_iterations)."""
    per_visit = sum(generation_width(config, g) for g in range(config.generations))
    return config.task_iterations * per_visit


def rounds_per_task(config: ml_collections.ConfigDict) -> int:
    """Validation rounds a search trains for one task over all its visits: its candidates
    times their rounds (each round `steps_per_validation` steps).

    Example:
        rounds_per_task(config) * config.steps_per_validation  # training steps per task
    """
    per_visit = sum(
        generation_width(config, g) * generation_validations(config, g)
        for g in range(config.generations)
    )
    return config.task_iterations * per_visit


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks a search config before any work; raises UserInputError naming the key.

    Example:
        validate(default_config())  # passes
    """
    from keras_evomt.executors import executor_names
    from keras_evomt.search.clone_modes import clone_mode_names
    from keras_evomt.training.distribute import MODES, PRECISIONS, strategy_names
    from keras_evomt.training.quality import QUALITY_RULES
    from keras_evomt.training.schedules import SCHEDULES

    if not isinstance(config, ml_collections.ConfigDict):
        raise UserInputError(
            "a search config must be an ml_collections.ConfigDict. Received: "
            f"{type(config).__name__}",
            hint="start from keras_evomt.search.default_config() (or a recipe's "
            "get_config()) and set its keys",
        )

    def fail(key: str, value, expected: str) -> None:
        raise UserInputError(f"config {key}={value!r} is invalid: {expected}.")

    for key in (
        "generations",
        "candidates_per_generation",
        "validations",
        "batch_size",
        "validation_examples",
        "max_consecutive_failures",
        "task_iterations",
    ):
        if int(config[key]) < 1:
            fail(key, config[key], "it must be at least 1")
    for key, usual in (
        ("first_generation_candidates", "candidates_per_generation"),
        ("first_generation_validations", "validations"),
    ):
        if int(config.get(key, 0)) < 0:
            fail(key, config[key], f"it must be 0 (as {usual}) or more")
    if config.training.steps_per_call < 0:
        fail(
            "training.steps_per_call",
            config.training.steps_per_call,
            "it must be 0 (by device) or more",
        )
    if config.training.jit_compile and config.distribute.strategy in (
        "mirrored",
        "multi_worker_mirrored",
    ):
        fail(
            "training.jit_compile",
            True,
            f"XLA does not work with distribute.strategy={config.distribute.strategy}; set "
            "training.jit_compile=false or use distribute.mode=candidates",
        )
    if config.steps_per_validation < 0:
        fail(
            "steps_per_validation",
            config.steps_per_validation,
            "it must be 0 (reference rule) or more",
        )
    if not config.tasks:
        fail("tasks", config.tasks, "it must name at least one task")
    check_one_source_per_name(config.tasks)
    choices = {
        "mutation.clone_mode": (config.mutation.clone_mode, clone_mode_names()),
        "mutation.head_init": (config.mutation.head_init, HEAD_INITS),
        "parents.seeds": (config.parents.seeds, ("all", "root")),
        "parents.seed_order": (config.parents.seed_order, SEED_ORDERS),
        "parents.probe_estimate": (config.parents.probe_estimate, PROBE_ESTIMATES),
        "distribute.strategy": (config.distribute.strategy, strategy_names()),
        "distribute.mode": (config.distribute.mode, MODES),
        "distribute.executor": (config.distribute.executor, executor_names()),
        "distribute.precision": (config.distribute.precision, PRECISIONS),
        "defaults.opt_lr_schedule": (config.defaults.opt_lr_schedule, SCHEDULES),
        "score.quality": (config.score.quality, tuple(QUALITY_RULES)),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            fail(key, value, f"use one of {', '.join(allowed)}")
    executor_name(config)
    if config.mutation.head_init == "ridge" and config.distribute.strategy == (
        "multi_worker_mirrored"
    ):
        fail(
            "mutation.head_init",
            "ridge",
            "each worker would fit its own new heads, and the workers' heads could differ "
            "under multi_worker_mirrored; set mutation.head_init=zeros there",
        )
    if config.distribute.ray_actors < 0:
        fail(
            "distribute.ray_actors",
            config.distribute.ray_actors,
            "it must be 0 (one per device) or more",
        )
    if config.distribute.cpu_devices < 0:
        fail(
            "distribute.cpu_devices",
            config.distribute.cpu_devices,
            "it must be 0 (the CPU as one device) or more",
        )
    if config.parents.probe_examples < 1:
        fail("parents.probe_examples", config.parents.probe_examples, "it must be 1 or more")
    if config.training.threads < 0:
        fail("training.threads", config.training.threads, "it must be 0 (TF's default) or more")
    if config.score.ref_params < 0:
        fail("score.ref_params", config.score.ref_params, "it must be 0 (the root's size) or more")
    if config.score.ref_flops <= 0:
        fail("score.ref_flops", config.score.ref_flops, "it must be a positive number")
    for key in ("base_params", "base_flops"):
        if not 0 < config.score[key] <= 1:
            fail(f"score.{key}", config.score[key], "it must be a base in (0, 1]")
    patch = config.root.patch_size
    for key, values in config.space.items():
        values = list(values)
        if not values:
            fail(f"space.{key}", values, "it must list at least one value")
        wanted = _wanted_values(key, values, patch)
        if wanted:
            fail(f"space.{key}", values, f"its values must be {wanted[0]}")
    for key, value in config.defaults.items():
        wanted = _wanted_values(key, [value], patch)
        if wanted:
            fail(f"defaults.{key}", value, f"it must be {wanted[1]}")
    if config.root.image_size % patch:
        fail(
            "root.image_size",
            config.root.image_size,
            f"it must be a multiple of patch_size={patch}",
        )


def _wanted_values(key: str, values: list, patch: int) -> tuple[str, str] | None:
    """What the values of hyperparameter `key` must be (plural, singular), if one is not."""
    from keras_evomt.training.schedules import SCHEDULES

    def number(v) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if key == "image_size" and any(not number(v) or v < patch or v % patch for v in values):
        return (f"multiples of root.patch_size={patch}", f"a multiple of root.patch_size={patch}")
    if key == "opt_lr_schedule" and set(values) - set(SCHEDULES):
        schedules = ", ".join(SCHEDULES)
        return (f"among {schedules}", f"one of {schedules}")
    if key in ("_mu_", "opt_momentum") and not all(number(v) and 0 <= v <= 1 for v in values):
        return ("numbers in [0, 1]", "a number in [0, 1]")
    least = {"num_layers": 0, "adapter_dim": 1}.get(key)
    if least is not None and not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= least for v in values
    ):
        return (f"whole numbers of at least {least}", f"a whole number of at least {least}")
    if key == "opt_lr" and not all(number(v) and v > 0 for v in values):
        return ("positive numbers", "a positive number")
    return None


def check_root(root, info: dict, workdir) -> None:
    """A config must describe the root the work directory's system grows from: the
    system keeps its own, so a differing `root.*` would be silently ignored.

    Example:
        check_root(config.root, System.load("runs/demo").info, "runs/demo")
    """
    stored = {
        "name": info.get("root"),
        "image_size": info.get("image_size"),
        "patch_size": info.get("patch_size"),
    }
    differ = [
        f"root.{key}={root[key]!r} (the system's: {value!r})"
        for key, value in stored.items()
        if value is not None and key in root and root[key] != value
    ]
    if differ:
        raise UserInputError(
            f"{workdir} holds a system grown from another root: {', '.join(differ)}",
            hint="set the config's root.* to the system's, or use a new work directory",
        )


def executor_name(config: ml_collections.ConfigDict) -> str:
    """The executor the config selects; `distribute.mode=candidates` (the older spelling)
    means `devices`.

    Example:
        executor_name(default_config())  # 'inline'
    """
    executor = config.distribute.executor
    if config.distribute.mode != "candidates" or executor == "devices":
        return executor
    if executor == "inline":
        return "devices"
    raise UserInputError(
        f"config distribute.mode=candidates conflicts with distribute.executor={executor!r}: "
        "drop distribute.mode (it is the older spelling of distribute.executor=devices)."
    )


def iteration_settings(config: ml_collections.ConfigDict) -> dict:
    """The config's keys that decide a task iteration's results, flat: all but the
    execution keys, which say only where and how it runs (recipe.EXECUTION_KEYS).

    Example:
        iteration_settings(load_recipe("offline_mini.py"))["generations"]  # 6
    """
    import json

    from keras_evomt.recipe import EXECUTION_KEYS, flatten

    flat = flatten(json.loads(config.to_json_best_effort()))
    return {key: value for key, value in flat.items() if key not in EXECUTION_KEYS}
