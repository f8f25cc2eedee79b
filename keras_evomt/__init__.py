"""keras_evomt: grow one multitask Keras model system, task after task (µ2Net).

The public names import lazily (PEP 562), so `import keras_evomt` and the commands
that need no TensorFlow (`evomt --help`, `status`, `report`, `check`) stay fast.

Example:
    import keras_evomt as evomt
    system = evomt.System.load("runs/demo")
"""

import os

from keras_evomt.lazy import lazy_attributes

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # CUDA probes are noise on CPU hosts

__version__ = "0.1.0"

_COMPONENTS = [
    "ROOTS",
    "ClassToken",
    "ClassificationHead",
    "Component",
    "EncoderBlock",
    "EncoderNorm",
    "PatchEmbedding",
    "PositionEmbedding",
    "ResidualAdapter",
    "RootSpec",
    "build_in_order",
    "build_root",
    "component_class",
    "register_component",
    "registered_components",
    "registered_name",
    "resize_position_table",
    "root_spec",
]
_WHERE = {
    **dict.fromkeys(_COMPONENTS, "keras_evomt.components"),
    "Task": "keras_evomt.data",
    "get_task": "keras_evomt.data",
    "EvomtError": "keras_evomt.errors",
    "UserInputError": "keras_evomt.errors",
    "Path": "keras_evomt.path",
    "PathModel": "keras_evomt.path_model",
    "default_config": "keras_evomt.search",
    "prepare_images": "keras_evomt.data.pipeline",
    "evolve": "keras_evomt.search",
    "System": "keras_evomt.system",
}
__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
