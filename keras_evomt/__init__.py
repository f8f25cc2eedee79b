"""keras_evomt: grow one multitask Keras model system, task after task (µ2Net)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CUDA probes are noise on CPU hosts

__version__ = "0.1.0"

from keras_evomt.components import *  # noqa: E402,F403
from keras_evomt.components import __all__ as _components
from keras_evomt.data import Task, get_task  # noqa: E402
from keras_evomt.errors import EvomtError, UserInputError  # noqa: E402
from keras_evomt.path import Path, PathModel  # noqa: E402
from keras_evomt.search import default_config, evolve  # noqa: E402
from keras_evomt.system import System  # noqa: E402

__all__ = [
    "EvomtError",
    "Path",
    "PathModel",
    "System",
    "Task",
    "UserInputError",
    "default_config",
    "evolve",
    "get_task",
    *_components,
]
