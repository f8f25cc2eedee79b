"""Pretrained roots that ship with keras_evomt, named `builtin:NAME` in a recipe.

Each file is made reproducibly by a tool of the project; its sha256 is in SHA256SUMS
beside it and is checked whenever the file is used:

- `vit_mini_fashion_mnist`: vit_mini (32 px, patch 8) trained on Fashion-MNIST (from
  Debian's dataset-fashion-mnist) by `python tools/pretrain_root.py` (its docstring has
  the command, data, seed and accuracy). The offline main job starts from it.

Example:
    resolve("builtin:vit_mini_fashion_mnist")  # .../keras_evomt/pretrained/vit_mini...npz
    resolve("/ckpt/ViT-L_16.npz")              # any other checkpoint is returned as it is
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from keras_evomt.errors import EvomtError, UserInputError

PREFIX = "builtin:"
HERE = Path(__file__).parent


def checksums() -> dict[str, str]:
    """{file name: sha256} from SHA256SUMS."""
    lines = (HERE / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def resolve(checkpoint: str) -> str:
    """The file behind `builtin:NAME` (checked against its sha256); other names as given."""
    if not checkpoint.startswith(PREFIX):
        return checkpoint
    name = checkpoint[len(PREFIX) :]
    sums = checksums()
    file_name = f"{name}.npz"
    if file_name not in sums:
        known = ", ".join(PREFIX + n.removesuffix(".npz") for n in sums)
        raise UserInputError(f"unknown built-in root '{checkpoint}'; known: {known}.")
    path = HERE / file_name
    if not path.is_file():
        raise EvomtError(f"built-in root {path} is missing from this installation.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sums[file_name]:
        raise EvomtError(
            f"built-in root {path} is damaged (sha256 {digest[:12]}..., expected "
            f"{sums[file_name][:12]}...).",
            hint="reinstall keras_evomt, or rebuild it with tools/pretrain_root.py.",
        )
    return str(path)
