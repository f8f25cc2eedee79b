"""A saved system's structure, read from its manifest alone: no weights, no Keras.

`evomt status` and `evomt report` need the paths, the parameter counts, the
fingerprints and the FLOPs of each path; the manifest (`store.save`) holds the first
three, and the FLOPs of the built-in components follow from their configs
(`costs.py`). So neither command imports TensorFlow, and both take the same
time on a system of any size.

Example:
    structure = read_structure("runs/demo")
    structure.fingerprint("digits"), structure.flops(structure.paths["digits"])
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from keras_evomt import costs, store
from keras_evomt.errors import CorruptStateError, UserInputError
from keras_evomt.path import Path
from keras_evomt.system import System


class SavedStructure(System):
    """A saved system's paths, parameter counts, fingerprints and FLOPs, from its manifest.

    Loading the weights of a ViT-L system grown over 69 tasks takes minutes; the
    manifest already holds each component's parameter count and sha256.
    """

    def __init__(self, manifest: dict[str, Any]):
        super().__init__()
        self.entries = manifest["components"]
        self.param_counts = {cid: int(e["params"]) for cid, e in self.entries.items()}
        self.loaded_state = int(manifest["state"])
        self.set_state(manifest["system"])

    def params(self, cid: str) -> int:
        return self.param_counts[cid]

    def component_ids(self) -> list[str]:
        return list(self.entries)

    def fingerprint(self, task_or_path: str | Path) -> str:
        """sha256 over the sha256 of every weight the path uses, as `System.fingerprint`."""
        path = self.path(task_or_path) if isinstance(task_or_path, str) else task_or_path
        digest = hashlib.sha256()
        for cid in path.components:
            digest.update(self.entries[cid]["sha256"].encode())
        return digest.hexdigest()

    def flops(self, path: Path) -> int | None:
        """FLOPs of one forward pass for one example; None if a component is not built in."""
        shape: tuple | None = (path.image_size, path.image_size, 3)
        total = 0
        for cid in path.components:
            entry = self.entries[cid]
            count = costs.flops(entry["class"], entry["config"], shape)
            shape = costs.output_shape(entry["class"], entry["config"], shape)
            if count is None or shape is None:
                return None
            total += count
        return total


def read_structure(workdir: str | os.PathLike) -> SavedStructure:
    """The newest readable saved state of `workdir`'s system, without its weights.

    The manifests are read, checked and passed over as `store.load` does (one reader).
    """
    if not os.path.isdir(workdir):
        raise UserInputError(
            f"--workdir {workdir} does not exist: run `evomt run RECIPE --workdir {workdir}` first."
        )
    directory = store.system_dir(workdir)
    structure, warnings = store.newest_good(directory, lambda n: _structure(directory, n))
    structure.load_warnings = warnings
    return structure


def _structure(directory, number: int) -> SavedStructure:
    manifest = store.read_manifest(directory, number)
    try:
        return SavedStructure(manifest)
    except (KeyError, TypeError, ValueError) as error:  # a schema-valid but inconsistent state
        raise CorruptStateError(f"state {number} does not describe a system: {error}") from None
