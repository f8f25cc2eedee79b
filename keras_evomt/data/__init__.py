"""Tasks and data: the 69-task registry, the reference input pipeline, offline and user data.

Example:
    from keras_evomt.data import DATA_HPARAM_DEFAULTS, get_task

    task = get_task("digits")
    task.check(image_size=32)
    images, labels = next(iter(task.train_dataset(
        DATA_HPARAM_DEFAULTS, image_size=32, batch_size=16, seed=0)))
"""

from keras_evomt.data.pipeline import DATA_HPARAM_DEFAULTS
from keras_evomt.data.registry import (
    GROUPS,
    describe_tasks,
    get_task,
    list_tasks,
    prepare_task,
    tfds_task,
)
from keras_evomt.data.task import Task

__all__ = [
    "DATA_HPARAM_DEFAULTS",
    "GROUPS",
    "Task",
    "describe_tasks",
    "get_task",
    "list_tasks",
    "prepare_task",
    "tfds_task",
]
