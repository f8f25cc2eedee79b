"""A task's path: the ordered components its model runs, with its hyperparameters.

Plain data, no Keras: the model that runs a path is `PathModel` (`path_model.py`,
imported on first use of `keras_evomt.path.PathModel`).

Example:
    path = Path(task="digits", components=["embedding.0", "head.7"], hparams={"opt_lr": 0.01})
    Path.from_json(path.to_json()) == path  # True
"""

from __future__ import annotations

import dataclasses
from typing import Any

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
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
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


def __getattr__(name: str):
    if name == "PathModel":  # Keras is imported only by what runs a path
        from keras_evomt.path_model import PathModel

        return PathModel
    raise AttributeError(f"module 'keras_evomt.path' has no attribute {name!r}")
