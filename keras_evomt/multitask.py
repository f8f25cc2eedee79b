"""One Keras model over several tasks' paths: each component held once, shared prefixes run once.

`MultiTaskModel` holds every component its tasks use exactly once and returns one output
per requested task. A call for one task runs only that task's path. A call naming several
tasks walks the trie of their paths' component ids: each common leading run of
components (the shared root, say) is computed once for the whole request, then the
computation branches where the paths part.

It is what `evomt export --all` writes (as a `.keras` file, or inside a SavedModel with one
signature per task) and what `evomt serve` keeps resident.

Example:
    model = multitask_model(system, ["digits", "textures"])  # the system's own layers
    logits = model(images, tasks=["digits", "textures"])     # {"digits": ..., "textures": ...}
    model(images, tasks="digits")["digits"]                  # that task's path only
"""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Iterable, Sequence

import keras

from keras_evomt.components.base import PACKAGE, Component, copy_component
from keras_evomt.errors import UserInputError, closest
from keras_evomt.path import ROOT
from keras_evomt.path_model import (
    check_image_batch,
    deserialize_component,
    predict_checked,
)
from keras_evomt.system import System

# Names a task's signature key may not take: attributes of a loaded SavedModel and the
# other signatures of a multi-task export.
RESERVED_KEYS = frozenset(
    {
        "serving_default",
        "contract",
        "signatures",
        "variables",
        "trainable_variables",
        "non_trainable_variables",
        "graph_debug_info",
        "tensorflow_version",
        "tensorflow_git_version",
    }
)
ALL_PREFIX = "all_"


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiTaskModel(keras.Model):
    """Components by id (each once) plus, per task, its path (component ids) and image size.

    `call(images, tasks=None)` returns `{task: logits}` for `tasks` (a name or a list);
    None means every task whose image size is the images' size.

    Example:
        model = MultiTaskModel({"a.0": emb, "b.1": head_b, "c.2": head_c},
                               {"b": ["a.0", "b.1"], "c": ["a.0", "c.2"]}, {"b": 32, "c": 32})
        model(images)  # runs emb once, then head_b and head_c on its output
    """

    def __init__(
        self,
        components: dict[str, Component],
        paths: dict[str, Sequence[str]],
        image_sizes: dict[str, int],
        **kwargs,
    ):
        super().__init__(**kwargs)
        missing = sorted({c for ids in paths.values() for c in ids} - set(components))
        if missing:
            raise ValueError(f"paths use components that are not given. Received: {missing}")
        if set(image_sizes) != set(paths):
            raise ValueError(
                "image_sizes must name exactly the tasks of paths. "
                f"Received: {sorted(image_sizes)} for tasks {sorted(paths)}"
            )
        # === Layers ===
        self.component_ids = list(components)
        self.components = [components[cid] for cid in self.component_ids]
        # === Config ===
        self.task_paths = {task: list(ids) for task, ids in paths.items()}
        self.image_sizes = {task: int(size) for task, size in image_sizes.items()}
        self._index = {cid: i for i, cid in enumerate(self.component_ids)}
        self.built = all(c.built for c in self.components)

    @property
    def tasks(self) -> list[str]:
        return list(self.task_paths)

    def __call__(self, images, *args, **kwargs):
        # Checked before Keras's __call__, which would wrap the error in its own text.
        check_image_batch(images, self.image_sizes.values(), "this multi-task model", size=False)
        try:
            size = images.shape[1]
        except (IndexError, TypeError, ValueError):  # unknown rank: checked where it runs
            size = None
        self.requested(kwargs.get("tasks", args[0] if args else None), size)
        return super().__call__(images, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        # Keras batches the input and calls the model traced: check its values here.
        predict = functools.partial(super().predict, *args, **kwargs)
        sizes = self.image_sizes.values()
        return predict_checked(predict, x, sizes, "this multi-task model", size=False)

    def call(self, images, tasks=None, training=None):
        tasks = self.requested(tasks, images.shape[1])
        outputs: dict = {}
        self._branch(images, tasks, 0, outputs, training)
        return {task: outputs[task] for task in tasks}

    def _branch(self, x, tasks: list[str], depth: int, outputs: dict, training) -> None:
        """Runs the next component of each group of `tasks` that shares it, then recurses."""
        groups: dict[str, list[str]] = {}
        for task in tasks:
            ids = self.task_paths[task]
            if depth == len(ids):
                outputs[task] = x
            else:
                groups.setdefault(ids[depth], []).append(task)
        for cid, group in groups.items():
            y = self.components[self._index[cid]](x, training=training)
            self._branch(y, group, depth + 1, outputs, training)

    def requested(self, tasks: str | Iterable[str] | None, size: int | None = None) -> list[str]:
        """The task list a call runs, checked against the model's tasks and `size`."""
        if tasks is None:
            chosen = [t for t in self.task_paths if size is None or self.image_sizes[t] == size]
            if not chosen:
                sizes = sorted(set(self.image_sizes.values()))
                raise UserInputError(
                    f"no task of this model takes {size}x{size} images; its tasks take "
                    f"{' or '.join(f'{s}x{s}' for s in sizes)}",
                    hint="resize the images first (as the task's data pipeline does)",
                )
            return chosen
        tasks = [tasks] if isinstance(tasks, str) else list(dict.fromkeys(tasks))
        unknown = [t for t in tasks if t not in self.task_paths]
        if unknown:
            raise UserInputError(
                f"the model has no task {unknown[0]!r}; it has: {', '.join(self.task_paths)}.",
                hint=closest(unknown[0], self.task_paths) or None,
            )
        wrong = [t for t in tasks if size is not None and self.image_sizes[t] != size]
        if wrong:
            raise UserInputError(
                f"task {wrong[0]!r} takes {self.image_sizes[wrong[0]]}x"
                f"{self.image_sizes[wrong[0]]} images. Received: {size}x{size} images"
            )
        return tasks

    def shared_prefix(self, tasks: Iterable[str]) -> list[str]:
        """The component ids every one of `tasks` runs first (computed once per call)."""
        paths = [self.task_paths[t] for t in tasks]
        prefix = []
        for ids in zip(*paths):
            if len(set(ids)) > 1:
                break
            prefix.append(ids[0])
        return prefix

    def get_config(self):
        return {
            **super().get_config(),
            "components": {
                cid: keras.saving.serialize_keras_object(c)
                for cid, c in zip(self.component_ids, self.components)
            },
            "paths": {task: list(ids) for task, ids in self.task_paths.items()},
            "image_sizes": dict(self.image_sizes),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        components = {cid: deserialize_component(c) for cid, c in config.pop("components").items()}
        return cls(components, config.pop("paths"), config.pop("image_sizes"), **config)


def multitask_model(
    system: System, tasks: Iterable[str] | None = None, *, copy: bool = False
) -> MultiTaskModel:
    """A MultiTaskModel for `tasks` (default: all) over the system's components.

    With `copy=True` the model holds copies (weights copied, each shared component copied
    once), so it can be saved or exported apart from the system.
    """
    tasks = list(dict.fromkeys(system.paths if tasks is None else tasks))
    if not tasks:
        raise UserInputError("the system has no tasks yet: grow one with `evomt run` first.")
    if ROOT in tasks:
        raise UserInputError("the root has no classification head; name tasks only.")
    paths = {task: system.path(task).components for task in tasks}
    components = {}
    for task, ids in paths.items():
        for cid in ids:
            if cid in components:
                continue
            component = system.components.get(cid)
            if component is None or not component.built:
                raise UserInputError(
                    f"'{task}' was loaded without its weights: "
                    f"System.load(workdir, tasks={tasks!r}) loads them."
                )
            components[cid] = copy_component(component, name=component.name) if copy else component
    sizes = {task: system.path(task).image_size for task in tasks}
    return MultiTaskModel(components, paths, sizes, name="multitask")


def signature_keys(tasks: Iterable[str]) -> dict[str, str]:
    """A valid, unique SavedModel signature key (a Python identifier) for every task.

    Example:
        signature_keys(["dsprites/label_x_position", "tfds:cifar10"])
        # {"dsprites/label_x_position": "dsprites_label_x_position",
        #  "tfds:cifar10": "tfds_cifar10"}
    """
    keys: dict[str, str] = {}
    for task in tasks:
        key = re.sub(r"\W", "_", task, flags=re.ASCII).strip("_") or "task"
        if (
            not key[0].isalpha()
            or keyword.iskeyword(key)
            or key in RESERVED_KEYS
            or key.startswith(ALL_PREFIX)
        ):
            key = f"task_{key}"
        unique, n = key, 2
        while unique in keys.values():
            unique, n = f"{key}_{n}", n + 1
        keys[task] = unique
    return keys
