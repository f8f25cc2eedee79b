"""The multitask system: components by id, one best path per task, and the locks.

Locks are derived, never stored: a component is trainable only for the active
task, and only if no other finished task (nor the root) uses it. Every
component's Keras `trainable` flag is kept equal to that rule, so a candidate's
model reports exactly the candidate's own variables as trainable.

Example:
    system = System.create("vit_tiny", image_size=32)
    system.start_task("digits")
    path = system.new_task_path("digits", num_classes=10)
    model = system.model(path)           # a keras.Model over the shared layers
    system.end_task(path)
    system.save("runs/demo")
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_evomt import store
from keras_evomt.errors import UserInputError, closest
from keras_evomt.path import ROOT, Path

if TYPE_CHECKING:  # Keras is imported by what builds or runs components, not by status
    from keras_evomt.components.base import Component
    from keras_evomt.path_model import PathModel


class System:
    """Components by unique id plus, per finished task, its best `Path`."""

    def __init__(self, info: dict[str, Any] | None = None):
        self.components: dict[str, Component] = {}
        self._slots: dict[str, list[np.ndarray]] = {}
        self._unread_slots: tuple[Any, dict[str, Any]] | None = None  # see `slots`
        self.paths: dict[str, Path] = {}
        self.root: Path | None = None
        self.active_task: str | None = None
        self.private_tasks: set[str] = set()
        self.info: dict[str, Any] = dict(info or {})
        self.loaded_from: str | None = None  # set by System.load, with the two below
        self.loaded_state: int | None = None
        self.load_warnings: list[str] = []
        self._next_id = 0
        self._users: dict[str, set[str]] = {}
        self._stored_params: dict[str, int] = {}  # of components loaded as structure only

    # === Construction ===
    @classmethod
    def create(
        cls,
        root: str = "vit_tiny",
        *,
        image_size: int | None = None,
        patch_size: int | None = None,
        checkpoint: str | None = None,
    ) -> System:
        """A new system holding a named ViT root (random, or loaded from `checkpoint`)."""
        from keras_evomt.components import checkpoints, roots
        from keras_evomt.pretrained import resolve

        source = resolve(checkpoint) if checkpoint else None
        approximate = bool(source) and checkpoints.uses_approximate_gelu(source)
        sizes = {
            "image_size": image_size,
            "patch_size": patch_size,
            "gelu_approximate": approximate,
        }
        parts = roots.build_root(root, **sizes)
        spec = roots.root_spec(root, **sizes)
        info = {
            "root": root,
            "image_size": spec.image_size,
            "patch_size": spec.patch_size,
            "checkpoint": None,
        }
        if checkpoint:
            checkpoints.load_into(parts, source, spec)
            info["checkpoint"] = str(checkpoint)
        return cls.from_root_components(parts, info, image_size=spec.image_size)

    @classmethod
    def from_root_components(
        cls, parts: list[tuple[str, Component]], info: dict[str, Any], *, image_size: int
    ) -> System:
        """A new system whose root path runs `parts` (name, built component) in order:
        a stem, blocks (with adapters) and one norm (`components.base.check_root_layout`)."""
        from keras_evomt.components.base import check_component, check_root_layout

        for name, component in parts:
            check_component(name, component)
        check_root_layout([(name, component.role) for name, component in parts])
        system = cls(info)
        ids = [system.add(name, component) for name, component in parts]
        system.root = Path(task=ROOT, components=ids, hparams={"image_size": image_size}, id=ROOT)
        system._refresh()
        return system

    def add(self, name: str, component: Component, slots: list[np.ndarray] | None = None) -> str:
        """Adds a built component under a new unique id '<name>.<n>' and returns the id."""
        from keras_evomt.components.base import check_component

        check_component(name, component)
        if not component.built:
            raise ValueError(f"component '{name}' must be built before it joins the system.")
        cid = f"{name}.{self._next_id}"
        self._next_id += 1
        self.components[cid] = component
        if slots is not None:
            self._slots[cid] = [np.array(s, copy=True) for s in slots]
        self._set_trainable(cid)
        return cid

    def clone(self, cid: str, *, with_slots: bool = True) -> str:
        """Copies component `cid` (weights and, if known, optimizer slots) into a new id."""
        from keras_evomt.components.base import copy_component

        copy = copy_component(self.components[cid], name=base_name(cid))
        return self.add(base_name(cid), copy, self.slots.get(cid) if with_slots else None)

    def new_head(self, num_classes: int, hidden_input_shape: tuple) -> str:
        """A new zero-initialised classification head for `num_classes`."""
        from keras_evomt.components import roots
        from keras_evomt.components.vit import ClassificationHead

        head = ClassificationHead(num_classes, name=roots.HEAD)
        head.build(hidden_input_shape)
        return self.add(roots.HEAD, head)

    def new_task_path(self, task: str, num_classes: int, hparams: dict | None = None) -> Path:
        """A first path for a new task: the root shared, own final norm and a new head."""
        assert self.root is not None
        ids = list(self.root.components)
        shapes = self.input_shapes(ids, self.root.image_size)
        ids[-1] = self.clone(ids[-1])
        ids.append(self.new_head(num_classes, (None, *shapes[-1])))
        params = {"image_size": self.root.image_size, **(hparams or {})}
        return Path(task=task, components=ids, hparams=params, parent=ROOT, origin=ROOT)

    @property
    def slots(self) -> dict[str, list[np.ndarray]]:
        """Optimizer (momentum) slots by component id. Only training needs them: a system
        loaded with `slots=False` reads them from disk on first use of this attribute."""
        if self._unread_slots is not None:
            directory, entries = self._unread_slots
            self._unread_slots = None
            live = {cid: e for cid, e in entries.items() if cid in self.components}
            self._slots = {**store.load_slots(directory, live), **self._slots}
        return self._slots

    @slots.setter
    def slots(self, value: dict[str, list[np.ndarray]]) -> None:
        self._slots, self._unread_slots = value, None

    # === Tasks and locks ===
    def start_task(self, task: str, *, private: bool = False) -> None:
        """Makes `task` the active one: its own components become trainable again."""
        if self.active_task not in (None, task):
            raise UserInputError(f"task '{self.active_task}' is still active; end it first.")
        self.active_task = task
        if private:
            self.private_tasks.add(task)
        self._refresh()

    def abandon_task(self) -> list[str]:
        """Ends the active task's iteration without a new path (its kept path, if any,
        stays); drops the components only its candidates used."""
        self.active_task = None
        return self.gc()

    def end_task(self, best: Path, keep: Iterable[Path] = ()) -> list[str]:
        """Keeps `best` as its task's path, locks its components, drops unused ones."""
        if best.task != self.active_task:
            raise UserInputError(
                f"end_task got a path of '{best.task}' but the active task is '{self.active_task}'."
            )
        best.id = best.id or f"{best.task}#0"
        self.paths[best.task] = best
        self.active_task = None
        return self.gc(keep)

    def gc(self, keep: Iterable[Path] = ()) -> list[str]:
        """Removes components that no path (root, tasks, `keep`) uses; returns their ids."""
        used = {cid for path in self.all_paths(keep) for cid in path.components}
        dropped = [cid for cid in self.components if cid not in used]
        for cid in dropped:
            del self.components[cid]
            self._slots.pop(cid, None)
        self._refresh()
        return dropped

    def component_ids(self) -> list[str]:
        """Ids of every component the system holds."""
        return list(self.components)

    def all_paths(self, extra: Iterable[Path] = ()) -> list[Path]:
        return [p for p in itertools.chain([self.root], self.paths.values(), extra) if p]

    def users(self, cid: str) -> set[str]:
        """Tasks (and 'root') whose kept path uses component `cid`."""
        return self._users.get(cid, set())

    def is_trainable(self, cid: str, task: str | None = None) -> bool:
        """Whether `task` (default: the active one) may train component `cid`."""
        task = task or self.active_task
        return task is not None and task == self.active_task and self.users(cid) <= {task}

    def trainable_ids(self, path: Path) -> list[str]:
        return [cid for cid in path.components if self.is_trainable(cid, path.task)]

    def _refresh(self) -> None:
        users: dict[str, set[str]] = {}
        for path in self.all_paths():
            for cid in path.components:
                users.setdefault(cid, set()).add(path.task)
        self._users = users
        for cid in self.components:
            self._set_trainable(cid)

    def _set_trainable(self, cid: str) -> None:
        self.components[cid].trainable = self.is_trainable(cid)

    # === Models ===
    def path(self, task: str) -> Path:
        """The kept path of `task`."""
        if task == ROOT and self.root:
            return self.root
        if task not in self.paths:
            raise UserInputError(
                f"the system has no task '{task}'; it has: "
                f"{', '.join(self.paths) or 'no tasks yet'}.",
                hint=closest(task, self.paths) or None,
            )
        return self.paths[task]

    def model(self, task_or_path: str | Path) -> PathModel:
        """A keras.Model running exactly that path with the shared layer objects: float32
        images (batch, S, S, 3) scaled to [-1, 1] in, logits out (S: `path.image_size`).

        Example:
            logits = system.model("digits")(images)
        """
        path = self.path(task_or_path) if isinstance(task_or_path, str) else task_or_path
        missing = [cid for cid in path.components if cid not in self.components]
        if missing:
            raise UserInputError(
                f"path '{path.id or path.task}' uses unknown components {missing}."
            )
        if not all(self.components[cid].built for cid in path.components):
            raise UserInputError(
                f"'{path.task}' was loaded without its weights: "
                f"System.load(workdir, tasks=[{path.task!r}]) loads them."
            )
        from keras_evomt.path_model import PathModel

        return PathModel(
            [self.components[cid] for cid in path.components],
            image_size=path.image_size,
            name=f"path_{_safe(path.task)}",
        )

    # === Figures ===
    def params(self, cid: str) -> int:
        component = self.components[cid]
        return component.param_count() if component.built else self._stored_params[cid]

    def own_params(self, path: Path) -> int:
        """Parameters of the components this path's task uses alone."""
        return sum(self.params(c) for c in path.components if self.users(c) <= {path.task})

    def accounted_params(self, path: Path, *, root_shares: bool = False) -> float:
        """Parameters charged to the path: a component shared by k tasks counts 1/k.

        As in the µ2Net notebook the root is not a sharer (a root component used by
        this task alone counts in full); µ2Net+ counts it (`root_shares=True`).
        """
        total = 0.0
        for cid in path.components:
            sharers = self.users(cid) | {path.task}
            if not root_shares:
                sharers.discard(ROOT)
            total += self.params(cid) / len(sharers)
        return total

    def kept_component_ids(self) -> set[str]:
        """Ids of the components the root and the tasks' kept paths use (not those only
        a running search's candidates hold)."""
        return {cid for path in self.all_paths() for cid in path.components}

    def total_params(self) -> int:
        """Unique parameters over the root and every task's path."""
        return sum(self.params(c) for c in self.kept_component_ids())

    def input_shapes(self, ids: list[str], image_size: int) -> list[tuple]:
        """The per-example input shape each component of `ids` receives."""
        shape: tuple = (None, image_size, image_size, 3)
        shapes = []
        for cid in ids:
            shapes.append(tuple(shape[1:]))
            shape = self.components[cid].compute_output_shape(shape)
        return shapes

    def set_class_names(self, task: str, names: list | None) -> None:
        """Keeps `task`'s class names (by label index) in the system's info, when its
        data named them one per class; exports and `evomt serve` report them."""
        path = self.paths.get(task)
        names = None if names is None else [str(n) for n in names]
        if names and path is not None and len(names) == self.num_classes(path):
            self.info.setdefault("class_names", {})[task] = names

    def class_names(self, task: str) -> list[str] | None:
        """`task`'s class names by label index, if its data named them."""
        return self.info.get("class_names", {}).get(task)

    def set_value_range(self, task: str, value_range: tuple[float, float] | None) -> None:
        """Keeps the pixel range `task`'s data was scaled from to [-1, 1], so that data
        given for it later (a revisit, `evomt eval --data`) is checked against it."""
        if value_range is not None and task in self.paths:
            self.info.setdefault("value_ranges", {})[task] = [float(v) for v in value_range]

    def set_split_sizes(self, task: str, sizes: dict[str, int | None]) -> None:
        """Keeps how many examples `task`'s splits had (where known), so that a revisit
        on other data is told its kept path was scored on different examples."""
        known = {split: int(n) for split, n in sizes.items() if n is not None}
        if known and task in self.paths:
            self.info.setdefault("split_sizes", {})[task] = known

    def split_sizes(self, task: str) -> dict[str, int]:
        """`task`'s recorded split sizes ({} if none were recorded)."""
        return dict(self.info.get("split_sizes", {}).get(task, {}))

    def value_range(self, task: str) -> list[float] | None:
        """The pixel range `task`'s data was scaled from, if recorded (systems saved before
        it was kept have none)."""
        return self.info.get("value_ranges", {}).get(task)

    def __repr__(self) -> str:
        tasks = list(self.paths)
        shown = ", ".join(tasks[:5]) + (f" and {len(tasks) - 5} more" if len(tasks) > 5 else "")
        return (
            f"<System: {len(tasks)} {'task' if len(tasks) == 1 else 'tasks'}"
            f"{': ' + shown if tasks else ''}; root {self.info.get('root')}, "
            f"{self.total_params():,} parameters>"
        )

    def num_classes(self, path: Path) -> int:
        """The number of classes `path`'s model scores (its last component's outputs)."""
        shape = (None, *self.input_shapes(path.components, path.image_size)[-1])
        return int(self.components[path.components[-1]].compute_output_shape(shape)[-1])

    def flops(self, path: Path) -> int:
        """FLOPs of one forward pass of `path` for one example (multiply-add = 2)."""
        shapes = self.input_shapes(path.components, path.image_size)
        return sum(self.components[c].flops(s) for c, s in zip(path.components, shapes))

    def fingerprint(self, task_or_path: str | Path) -> str:
        """sha256 over every weight the path uses, in path order."""
        path = self.path(task_or_path) if isinstance(task_or_path, str) else task_or_path
        digest = hashlib.sha256()
        for cid in path.components:
            digest.update(store.digest(self.components[cid]).encode())
        return digest.hexdigest()

    # === State ===
    def get_state(self) -> dict[str, Any]:
        """The system's structure as plain JSON data (weights are stored apart)."""
        return {
            "info": self.info,
            "root": self.root.to_json() if self.root else None,
            "tasks": [p.to_json() for p in self.paths.values()],
            "active_task": self.active_task,
            "private_tasks": sorted(self.private_tasks),
            "next_id": self._next_id,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.info = dict(state["info"])
        self.root = Path.from_json(state["root"]) if state["root"] else None
        self.paths = {p["task"]: Path.from_json(p) for p in state["tasks"]}
        self.active_task = state["active_task"]
        self.private_tasks = set(state["private_tasks"])
        self._next_id = int(state["next_id"])
        self._refresh()

    def save(self, workdir: str, *, keep: int = 3) -> int:
        """Commits the system atomically under `workdir/system/`; returns the state number."""
        return store.save(
            store.system_dir(workdir), self.get_state(), self.components, self.slots, keep=keep
        )

    @classmethod
    def load(
        cls,
        workdir: str,
        *,
        state: int | None = None,
        tasks: Collection[str] | None = None,
        slots: bool = False,
    ) -> System:
        """Loads the newest good state (or state number `state`) from `workdir/system/`.

        With `tasks`, only those tasks' components get their weights (others are
        structure only: figures and fingerprints work, their models do not). The
        optimizer slots are read (and checked) now with `slots=True`, else on first use
        of `system.slots`: inference never reads them.

        Example:
            System.load("runs/demo", tasks=[])  # what `evomt status` needs, no weights
        """
        directory = store.system_dir(workdir)
        loaded = store.load(directory, state=state, tasks=tasks, slots=slots)
        system = cls()
        system._stored_params = loaded.params
        system.components = loaded.components
        system.slots = loaded.slots
        if not slots:
            system._unread_slots = (directory, loaded.entries)
        system.set_state(loaded.system_state)
        system.loaded_state = loaded.number
        system.load_warnings = loaded.warnings
        system.loaded_from = os.fspath(workdir)
        return system


def base_name(cid: str) -> str:
    """'encoderblock_3.17' -> 'encoderblock_3'."""
    return cid.rsplit(".", 1)[0]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)
