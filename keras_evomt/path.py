"""A task's path: the ordered components its model runs, with its hyperparameters.

Example:
    path = Path(task="digits", components=["embedding.0", "head.7"], hparams={"opt_lr": 0.01})
    Path.from_json(path.to_json()) == path  # True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from keras_evomt.components.base import PACKAGE, Component

ROOT = "root"


@dataclasses.dataclass
class Path:
    """One task's model: component ids in order, plus hyperparameters and metrics.

    `parent` is the id of the path it was derived from (another task's, the root's
    or None); `origin` the task (or 'root') it first descended from when it came
    to this task; `id` is unique within the system, e.g. 'digits#12'.
    """

    task: str
    components: list[str]
    hparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    parent: str | None = None
    origin: str | None = None
    id: str = ""

    @property
    def image_size(self) -> int:
        return int(self.hparams["image_size"])

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Path:
        return cls(**data)

    def copy(self) -> Path:
        return Path.from_json(self.to_json())


@keras.saving.register_keras_serializable(package=PACKAGE)
class PathModel(keras.Model):
    """A keras.Model that runs components in order, sharing the layer objects.

    A small subclassed model on purpose: functional models over shared layers add a
    node to every shared layer per model, which keeps discarded candidates alive.

    Example:
        model = PathModel([PatchEmbedding(16, 8), ClassToken(), ...])
        logits = model(images)
    """

    def __init__(self, components: list[Component], **kwargs):
        super().__init__(**kwargs)
        self.components = list(components)
        self.built = all(c.built for c in self.components)

    def call(self, x, training=None):
        for component in self.components:
            x = component(x, training=training)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "components": [keras.saving.serialize_keras_object(c) for c in self.components],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        components = [keras.saving.deserialize_keras_object(c) for c in config.pop("components")]
        return cls(components, **config)
