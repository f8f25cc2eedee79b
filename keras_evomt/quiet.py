"""A quiet TensorFlow import: no start-up noise from TensorFlow, absl or the CUDA probes.

`TF_CPP_MIN_LOG_LEVEL` silences TensorFlow's C++ logging once absl's logging is set
up, but the lines written before that ("All log messages before absl::InitializeLog()",
"Could not find cuda drivers", the CPU-instructions notice) go straight to file
descriptor 2 from C++, where Python's `sys.stderr` cannot catch them. So the import
runs with descriptor 2 pointed at /dev/null and restored afterwards. `evomt --debug`
imports TensorFlow as is, noise included.

Example:
    from keras_evomt.quiet import import_tensorflow
    import_tensorflow(debug=False)   # later `import tensorflow` / `import keras` are free
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

_QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "3",
    "KERAS_BACKEND": "tensorflow",
}


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow(debug: bool = False) -> None:
    """Imports TensorFlow, Keras and TFDS once, silencing their start-up output.

    Python-level warnings of those libraries are turned down to errors, so what the
    user sees is what keras_evomt itself says.
    """
    if "tensorflow" in sys.modules:
        return
    for key, value in _QUIET_ENV.items():
        if not debug or key == "KERAS_BACKEND":
            os.environ.setdefault(key, value)
    if debug:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here on some builds
        import keras  # noqa: F401

    tf.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
