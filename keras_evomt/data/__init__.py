"""Tasks and data: the 69-task registry, the reference input pipeline, offline and user data.

The names import lazily (PEP 562): the catalog (`catalog.py`: names, groups, splits,
class counts) needs no TensorFlow, so `evomt data list` does not import it.

Example:
    from keras_evomt.data import DATA_HPARAM_DEFAULTS, get_task

    task = get_task("digits")
    task.check(image_size=32)
    images, labels = next(iter(task.train_dataset(
        DATA_HPARAM_DEFAULTS, image_size=32, batch_size=16, seed=0)))
"""

from keras_evomt.lazy import lazy_attributes

_WHERE = {
    "DATA_HPARAM_DEFAULTS": "keras_evomt.data.pipeline",
    "GROUPS": "keras_evomt.data.catalog",
    "NUM_CLASSES": "keras_evomt.data.catalog",
    "Task": "keras_evomt.data.task",
    "describe_tasks": "keras_evomt.data.catalog",
    "get_task": "keras_evomt.data.registry",
    "list_tasks": "keras_evomt.data.catalog",
    "prepare_task": "keras_evomt.data.registry",
    "tfds_task": "keras_evomt.data.registry",
}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
