"""The `ray` executor: a generation's candidates on Ray actors, one per accelerator.

Why Ray: it already does what spreading candidates over hosts needs (actors that keep
their traced steps, an object store that ships the shared weights once, restarts of
dead actors, a cluster launcher for GPU hosts and TPU VMs).

Per generation the chief puts the frozen components its candidates share into the
object store once (`ray.put`); each job then carries its candidate's structure,
hyperparameters, data spec and its own components' weights and momentum slots. The
actor rebuilds the components, trains, and returns the candidate's own trained
weights, slots and metrics; only the chief writes the work directory. An actor
killed mid-candidate is restarted and the call retried once on it (the call carries
all its inputs); a second death records the candidate as failed and a fresh actor
takes its place.

`distribute.ray_address=""` starts a local Ray for the run that contacts only
loopback: the node IP is pinned to 127.0.0.1 and Ray's cloud detection (its
dashboard asks cloud metadata servers which cloud it runs on unless it finds a
cluster config in the home directory) is answered by a cluster config saying
`local`, in a temporary home directory seen only by Ray's own processes.

Example:
    executor = RayExecutor(config, CandidateTrainer())   # config.distribute.executor="ray"
    executor.start_generation(paths, system)
    outcomes = executor.train(jobs, system)
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import tempfile
from typing import Any

from keras_evomt import store
from keras_evomt.errors import UserInputError
from keras_evomt.executors.base import (
    CandidateFailed,
    CandidateJob,
    describe_component,
    nbytes,
    register_executor,
)
from keras_evomt.path import Path
from keras_evomt.system import System
from keras_evomt.training import CandidateTrainer, TrainResult

QUIET_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # node IP: 127.0.0.1


def import_ray():
    """Ray, or an ImportError that says what to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "distribute.executor=ray needs Ray: pip install keras_evomt[ray]"
        ) from None
    return ray


def connect(address: str, *, num_cpus: int | None = None, timeout_s: float = 20.0) -> bool:
    """Connects this process to Ray; returns True if it started a local Ray (then the
    caller shuts it down). `address`: "" (a local Ray), "auto" or "host:port".

    Example:
        started = connect("", num_cpus=2)
    """
    for key, value in {**QUIET_ENV, **(LOOPBACK_ENV if not address else {})}.items():
        os.environ.setdefault(key, value)
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "logging_level": "ERROR"}
    if not address:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # if Ray was imported before the env
        with _local_home() as real_home:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                runtime_env={"env_vars": {"HOME": real_home}},
                **quiet,
            )
        return True
    if address != "auto":
        _probe(address, timeout_s)
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError) as error:
        raise _unreachable(address, error) from None
    return False


@contextlib.contextmanager
def _local_home():
    """HOME, while Ray starts its processes, is a temporary directory holding a cluster
    config that says `local`: Ray's dashboard then skips asking cloud metadata servers.
    Yields the real HOME (the actors get it back)."""
    real = os.environ.get("HOME", os.path.expanduser("~"))
    with tempfile.TemporaryDirectory(prefix="evomt_ray_home_") as home:
        with open(os.path.join(home, "ray_bootstrap_config.yaml"), "w") as f:
            f.write("provider:\n  type: local\n")
        os.environ["HOME"] = home
        try:
            yield real
        finally:
            os.environ["HOME"] = real


def _probe(address: str, timeout_s: float) -> None:
    if "://" in address:  # ray://: the Ray Client, which this executor does not support
        raise UserInputError(
            f"config distribute.ray_address={address!r}: Ray Client (ray://) addresses are "
            "not supported; run evomt on a node of the cluster with 'auto', or give the "
            "head node's host:port (its GCS port, 6379 by default)."
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(
            f"config distribute.ray_address={address!r} is invalid: use '' (a local Ray), "
            "'auto' (the cluster this host joined) or host:port of the head node."
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise _unreachable(address, error) from None


def _unreachable(address: str, error: BaseException) -> UserInputError:
    return UserInputError(
        f"cannot reach the Ray cluster at distribute.ray_address={address} ({error}).",
        hint="check that `ray start --head` runs on that host, that its port is open from "
        "here (firewall), and the address; or use distribute.ray_address='' for a local Ray.",
    )


@register_executor("ray")
class RayExecutor:
    """One actor per accelerator (`distribute.ray_actors=0`) or n CPU actors."""

    def __init__(self, config, trainer: CandidateTrainer):
        distribute = config.distribute
        self.ray = import_ray()
        count = int(distribute.ray_actors)
        self._started = connect(
            distribute.ray_address,
            num_cpus=count or None,
            timeout_s=float(distribute.ray_timeout_s),
        )
        self.settings = {
            # The chief's thread count: some ops' results depend on it.
            "threads": int(config.training.threads) or len(os.sched_getaffinity(0)),
            "deterministic": bool(config.training.deterministic),
            "precision": distribute.precision,
            "seed": int(config.seed),
            "jit_compile": bool(config.training.jit_compile),
            "steps_per_call": int(config.training.steps_per_call),
        }
        self._options = self._actor_options(count)
        self.actors = [self._new_actor() for _ in range(count or self._accelerators())]
        self.pids = self._wait_ready(self.actors, float(distribute.ray_timeout_s) + 600)
        # The chief makes the candidates' variables on the host: they train elsewhere.
        self.devices: list[str | None] = ["/device:CPU:0"] * len(self.actors)
        self.stats = {"shared_bytes": 0, "own_bytes": 0, "needed_bytes": 0, "candidates": 0}
        self.retried = 0
        self._shared: Any = None
        self._generation = 0
        self._task_refs: dict[int, Any] = {}

    # === Actors ===
    def _accelerators(self) -> int:
        resources = self.ray.cluster_resources()
        for kind in ("GPU", "TPU", "CPU"):
            if int(resources.get(kind, 0)) > 0:
                self._options = self._actor_options(0, kind)
                return int(resources[kind])
        return 1

    def _actor_options(self, count: int, kind: str = "CPU") -> dict[str, Any]:
        options: dict[str, Any] = {"max_restarts": 1, "max_task_retries": 1}
        if kind == "GPU":
            options.update(num_gpus=1, num_cpus=0)
        elif kind == "TPU":
            options.update(resources={"TPU": 1}, num_cpus=0)
        else:
            options.update(num_cpus=1)
        return options

    def _new_actor(self):
        from keras_evomt.executors.ray_actor import CandidateActor

        gpu = "num_gpus" in self._options
        # TensorFlow reads these at import, before the actor's code runs.
        env = {"TF_CPP_MIN_LOG_LEVEL": "3", "HOME": os.environ.get("HOME", "")}
        if not gpu:
            env["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves it set for CPU actors
        options = {**self._options, "runtime_env": {"env_vars": env}}
        return (
            self.ray.remote(CandidateActor).options(**options).remote({**self.settings, "gpu": gpu})
        )

    def _wait_ready(self, actors, timeout_s: float) -> list[int]:
        """Their process ids, once they have imported TensorFlow (slow on a busy host:
        only an actor that cannot be placed at all fails fast)."""
        need = {"CPU": self._options.get("num_cpus", 1), "GPU": self._options.get("num_gpus", 0)}
        need.update(self._options.get("resources", {}))
        have = self.ray.cluster_resources()
        short = {k: v * len(actors) for k, v in need.items() if v * len(actors) > have.get(k, 0)}
        if short:
            raise UserInputError(
                f"the Ray cluster has { ({k: have.get(k, 0) for k in short}) }, "
                f"{len(actors)} actors need {short}.",
                hint="lower distribute.ray_actors, or add hosts (`ray start --address=...`).",
            )
        try:
            return self.ray.get([a.ready.remote() for a in actors], timeout=timeout_s)
        except self.ray.exceptions.GetTimeoutError:
            raise UserInputError(
                f"{len(actors)} Ray actors did not start within {timeout_s:.0f} s.",
                hint="check `ray status` on the head node: other jobs may hold the resources.",
            ) from None

    # === Executor ===
    def start_generation(self, paths: list[Path], system: System) -> None:
        """Puts the generation's shared (frozen) components into the object store, once."""
        shared = {}
        for path in paths:
            for cid in path.components:
                if cid not in shared and not system.is_trainable(cid, path.task):
                    shared[cid] = describe_component(system.components[cid])
        self._shared = self.ray.put(shared)
        self._generation += 1
        self.stats["shared_bytes"] += sum(nbytes(d) for d in shared.values())

    def train(self, jobs: list[CandidateJob], system: System) -> list[TrainResult | BaseException]:
        if len(jobs) > len(self.actors):
            raise ValueError("a wave holds at most one candidate per actor.")
        calls = [self._submit(actor, job, system) for actor, job in zip(self.actors, jobs)]
        return [
            self._collect(i, job, call, system) for i, (job, call) in enumerate(zip(jobs, calls))
        ]

    def _submit(self, actor, job: CandidateJob, system: System):
        own = {
            cid: describe_component(system.components[cid], slots=system.slots.get(cid))
            for cid in system.trainable_ids(job.child)
        }
        spec = {
            "path": job.child.to_json(),
            "data": dataclasses.asdict(job.data),
            "rounds": job.rounds,
            "steps": job.steps,
            "quality": job.quality,
            "generation": f"{self._generation}",
        }
        self.stats["own_bytes"] += sum(nbytes(d) for d in own.values())
        self.stats["needed_bytes"] += sum(
            nbytes(describe_component(system.components[cid])) for cid in job.child.components
        )
        self.stats["candidates"] += 1
        return actor.train.remote(spec, self._shared, own, self._task_ref(job))

    def _task_ref(self, job: CandidateJob):
        if job.data.task:
            return None  # the actor looks the task up by name in the data dir
        key = id(job.task)
        if key not in self._task_refs:
            self._task_refs[key] = self.ray.put(job.task)
        return self._task_refs[key]

    def _collect(self, index: int, job: CandidateJob, call, system: System):
        try:
            reply = self.ray.get(call)
        except self.ray.exceptions.RayActorError as error:  # died twice: a fresh actor
            self.actors[index] = self._new_actor()
            self.pids[index] = self._wait_ready([self.actors[index]], 600)[0]
            return CandidateFailed(f"its Ray actor died twice ({type(error).__name__})")
        except self.ray.exceptions.RayError as error:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
            return CandidateFailed(f"Ray: {type(error).__name__}: {text[-1][:160] if text else ''}")
        if reply["pid"] != self.pids[index]:  # the actor was restarted and the call retried
            self.retried += 1
            self.pids[index] = reply["pid"]
        if "failed" in reply:
            return CandidateFailed(reply["failed"])
        for cid, trained in reply["own"].items():
            component = system.components[cid]
            component.set_weights(trained["weights"])
            store.forget(component)
            if trained["slots"] is not None:
                system.slots[cid] = [s.copy() for s in trained["slots"]]  # store: read-only
        result = TrainResult(**reply["result"])
        for round_index, accuracy in enumerate(result.rounds):
            job.log.round(round_index, accuracy)
        return result

    def clear(self) -> None:
        self.ray.get([actor.clear.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._started:
            self.ray.shutdown()
