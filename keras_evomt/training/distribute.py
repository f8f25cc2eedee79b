"""Accelerators: the tf.distribute strategy and the devices a search runs on.

`distribute.strategy` picks the engine (tf.distribute does the work, nothing is
home-made), registered by name (`register_strategy`): `default` (one device),
`mirrored` (data-parallel over local devices), `tpu` (a TPU VM or pod slice),
`multi_worker_mirrored` (several hosts, TF_CONFIG).
`distribute.executor=devices` (keras_evomt.executors) instead trains one candidate
per local device, as the reference does, every device fed the same batches.

Example:
    strategy = strategy_from_config(config.distribute)
    with strategy.scope():
        ...
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from keras_evomt.errors import UserInputError

MODES = ("data", "candidates")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# Steps per traced call by device kind: enough to hide the host's per-call work (about
# 1 ms here) behind the steps; TPUs want long loops (a host round trip starves them).
STEPS_PER_CALL = {"TPU": 100, "GPU": 50, "CPU": 20}


_STRATEGIES: dict[str, Callable[[Any], tf.distribute.Strategy]] = {}


def register_strategy(name: str):
    """Registers a strategy factory under `name` (`distribute.strategy=name`); it takes
    the config's `distribute` section. A recipe may register its own.

    Example:
        @register_strategy("one_gpu")
        def _one_gpu(distribute):
            return tf.distribute.OneDeviceStrategy("/gpu:0")
    """

    def register(factory: Callable[[Any], tf.distribute.Strategy]):
        _STRATEGIES[name] = factory
        return factory

    return register


def strategy_names() -> list[str]:
    return list(_STRATEGIES)


def strategy_from_config(distribute) -> tf.distribute.Strategy:
    """The tf.distribute strategy the config names (created once per process)."""
    name = distribute.strategy
    if name not in _STRATEGIES:
        raise UserInputError(
            f"unknown distribute.strategy '{name}'; use one of {', '.join(strategy_names())}."
        )
    if distribute.mode not in MODES:
        raise UserInputError(f"unknown distribute.mode '{distribute.mode}'; use one of {MODES}.")
    if distribute.precision not in PRECISIONS:
        raise UserInputError(
            f"unknown distribute.precision '{distribute.precision}'; use one of {PRECISIONS}."
        )
    precision = distribute.precision
    if precision == "auto":
        precision = default_precision(name, gpu_descriptions())
    keras.mixed_precision.set_global_policy(precision)
    if distribute.cpu_devices > 1:
        split_cpu(distribute.cpu_devices)
    return _STRATEGIES[name](distribute)


@register_strategy("default")
def _default(distribute) -> tf.distribute.Strategy:
    return tf.distribute.get_strategy()


@register_strategy("mirrored")
def _mirrored(distribute) -> tf.distribute.Strategy:
    return tf.distribute.MirroredStrategy(
        candidate_devices(distribute) if distribute.devices else None
    )


@register_strategy("tpu")
def _tpu(distribute) -> tf.distribute.Strategy:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=distribute.tpu or None,
        zone=distribute.tpu_zone or None,
        project=distribute.tpu_project or None,
    )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


@register_strategy("multi_worker_mirrored")
def _multi_worker_mirrored(distribute) -> tf.distribute.Strategy:
    if "TF_CONFIG" not in os.environ:
        raise UserInputError(
            "distribute.strategy=multi_worker_mirrored needs TF_CONFIG "
            "describing the cluster (see README)."
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def split_cpu(count: int) -> None:
    """Splits the CPU into `count` logical devices (tests and CPU-only trials).

    Must run before TensorFlow initialises its devices (before the first op).
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) == count:
            return  # already split (listing devices initialises TF, so only now)
        raise UserInputError(
            f"distribute.cpu_devices={count} must be set before TensorFlow starts: "
            "start a new process (e.g. the evomt command) with it."
        ) from None


def candidate_devices(distribute) -> list[str]:
    """The local devices that each take one candidate (executor=devices); named ones must
    exist here."""
    if distribute.devices:
        local = [d.name for d in tf.config.list_logical_devices()]
        for name in distribute.devices:
            if not any(_same_device(name, other) for other in local):
                raise UserInputError(
                    f"distribute.devices names {name!r}, which this machine does not have; "
                    f"its devices: {', '.join(local)}.",
                    hint="name some of those, or --set distribute.devices=[] for all of them",
                )
        return list(distribute.devices)
    for kind in ("TPU", "GPU", "CPU"):
        devices = [d.name for d in tf.config.list_logical_devices(kind)]
        if devices:
            return devices
    return ["/device:CPU:0"]


def _same_device(name: str, local: str) -> bool:
    """Whether device `name` ("GPU:1", "/gpu:1", "/device:GPU:1") is `local`."""
    try:
        spec, other = tf.DeviceSpec.from_string(name), tf.DeviceSpec.from_string(local)
    except (ValueError, TypeError):
        return False
    kind = (spec.device_type or "").upper()
    return kind == other.device_type and (spec.device_index or 0) == other.device_index


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the work directory (worker 0 / the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def gpu_descriptions() -> list[dict]:
    """`tf.config.experimental.get_device_details` of each visible GPU."""
    return [
        tf.config.experimental.get_device_details(gpu)
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def default_precision(strategy: str, gpus: list[dict]) -> str:
    """`distribute.precision=auto`: bfloat16 compute where the chips run it at full speed
    (TPUs; GPUs of compute capability 8.0 or later), float32 elsewhere. Keras's mixed
    policies keep the weights (and so the momentum) in float32.

    Example:
        default_precision("default", [{"compute_capability": (9, 0)}])  # "mixed_bfloat16"
    """
    if strategy == "tpu":
        return "mixed_bfloat16"
    capabilities = [tuple(gpu.get("compute_capability") or (0, 0)) for gpu in gpus]
    if capabilities and min(capabilities) >= (8, 0):
        return "mixed_bfloat16"
    return "float32"


def device_kind(strategy: tf.distribute.Strategy | None = None) -> str:
    """ "TPU", "GPU" or "CPU": what the strategy's (or the default) devices are."""
    strategy = strategy or tf.distribute.get_strategy()
    try:
        devices = tuple(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # the default strategy has none
        devices = ()
    names = " ".join(devices).upper()
    if isinstance(strategy, tf.distribute.TPUStrategy) or ":TPU:" in names:
        return "TPU"
    if ":GPU:" in names:
        return "GPU"
    if devices and ":CPU:" in names:
        return "CPU"
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def default_steps_per_call(strategy: tf.distribute.Strategy | None = None) -> int:
    """`training.steps_per_call=0`: by the kind of device the steps run on."""
    return STEPS_PER_CALL[device_kind(strategy)]


def check_jit_compile(strategy: tf.distribute.Strategy, jit_compile: bool) -> None:
    """Refuses XLA under a multi-replica strategy other than TPUs (which always compile):
    every placement of the jitted step tried under MirroredStrategy failed."""
    if jit_compile and strategy.num_replicas_in_sync > 1 and device_kind(strategy) != "TPU":
        raise UserInputError(
            "training.jit_compile=true does not work with a data-parallel strategy "
            f"({type(strategy).__name__}, {strategy.num_replicas_in_sync} replicas): set "
            "training.jit_compile=false, or use distribute.mode=candidates (one candidate "
            "per device, each compiled with XLA)."
        )


def set_threads(threads: int) -> None:
    """TensorFlow's intra- and inter-op threads (0: TF's default); before the first op.

    Results of some ops (convolutions) depend on the thread count even under op
    determinism: processes meant to train identically (Ray actors and the chief) set
    the same value.
    """
    if threads <= 0:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        if tf.config.threading.get_intra_op_parallelism_threads() == threads:
            return
        raise UserInputError(
            f"training.threads={threads} must be set before TensorFlow starts: "
            "start a new process (e.g. the evomt command) with it."
        ) from None
