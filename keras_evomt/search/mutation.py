"""Making a candidate: µ2Net's layer cloning plus the optional structural actions.

For every component of the parent: clone it if the active task may train it,
else clone it with probability µ, else share it frozen. The final norm and the
head are always the task's own (a new zero-initialised head when the parent is
of another task). A new image size resizes the position embedding. Recipes can
turn on identity-initialised block or adapter insertion and top-block removal,
and the baselines are clone modes of this same function.

Example:
    child = make_candidate(system, parent, "digits", 10, hparams, rng, MutationOptions())
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_evomt.components import roots
from keras_evomt.components.base import config_of, copy_component
from keras_evomt.components.vit import EncoderBlock, PositionEmbedding, ResidualAdapter
from keras_evomt.path import Path
from keras_evomt.system import System, base_name

CLONE_MODES = ("mu", "all", "freeze_bottom", "adapters", "scratch")


@dataclasses.dataclass(frozen=True)
class MutationOptions:
    """What a candidate may change besides hyperparameters.

    clone_mode: 'mu' (µ2Net), 'all' (fine-tune all), 'freeze_bottom' (share the
    embeddings and the bottom `freeze_bottom` blocks), 'adapters' (share the root,
    add a residual adapter after each block), 'scratch' (independent models).
    """

    clone_mode: str = "mu"
    freeze_bottom: int = 0
    insert_block: bool = False
    insert_adapter: bool = False
    remove_block: bool = False


def make_candidate(
    system: System,
    parent: Path,
    task: str,
    num_classes: int,
    hparams: dict[str, Any],
    rng: np.random.Generator,
    options: MutationOptions,
) -> Path:
    """A new candidate path for `task` derived from `parent` (any task's, or the root)."""
    mu = float(hparams.get("_mu_", 0.2))
    image_size = int(hparams.get("image_size", parent.image_size))
    ids: list[str] = []
    block_index = -1
    for cid in parent.components:
        name = base_name(cid)
        if name == roots.HEAD:
            continue
        if name.startswith("encoderblock_"):
            block_index += 1
        if name == roots.POSITIONS and image_size != parent.image_size:
            ids.append(_resized_positions(system, cid, image_size, parent))
        elif _must_clone(system, cid, task, name, block_index, mu, rng, options):
            ids.append(
                _fresh(system, cid) if options.clone_mode == "scratch" else system.clone(cid)
            )
        else:
            ids.append(cid)
    ids = _structural_actions(system, ids, parent, task, hparams, rng, options, mu)
    hidden_shape = (None, *system.input_shapes(ids, image_size)[-1])
    if parent.task == task and base_name(parent.components[-1]) == roots.HEAD:
        ids.append(system.clone(parent.components[-1]))
    else:
        ids.append(system.new_head(num_classes, hidden_shape))
    origin = parent.origin if parent.task == task else parent.task
    return Path(
        task=task,
        components=ids,
        hparams={**hparams, "image_size": image_size},
        parent=parent.id or parent.task,
        origin=origin,
    )


def _must_clone(
    system: System,
    cid: str,
    task: str,
    name: str,
    block_index: int,
    mu: float,
    rng: np.random.Generator,
    options: MutationOptions,
) -> bool:
    if name == roots.NORM or system.is_trainable(cid, task):
        return True
    mode = options.clone_mode
    if mode in ("all", "scratch"):
        return True
    if mode == "freeze_bottom":
        return name.startswith("encoderblock_") and block_index >= options.freeze_bottom
    if mode == "adapters":
        return False
    return bool(rng.random() < mu)


def _structural_actions(system, ids, parent, task, hparams, rng, options, mu):
    blocks = [i for i, cid in enumerate(ids) if base_name(cid).startswith("encoderblock_")]
    has_adapters = any(base_name(c).startswith("adapter") for c in ids)
    adapter_dim = int(hparams.get("adapter_dim", 32))
    if options.clone_mode == "adapters" and not has_adapters:
        for position in reversed(blocks):
            ids.insert(position + 1, _new_adapter(system, ids, position, adapter_dim))
        return ids
    if options.insert_adapter and blocks and rng.random() < mu:
        position = blocks[int(rng.integers(len(blocks)))]
        ids.insert(position + 1, _new_adapter(system, ids, position, adapter_dim))
    if options.insert_block and blocks and rng.random() < mu:
        position = blocks[int(rng.integers(len(blocks)))]
        ids.insert(position + 1, _identity_block(system, ids[position]))
    blocks = [i for i, cid in enumerate(ids) if base_name(cid).startswith("encoderblock_")]
    if options.remove_block and len(blocks) > 1 and rng.random() < mu:
        del ids[blocks[-1]]
    return ids


def _resized_positions(system: System, cid: str, image_size: int, parent: Path) -> str:
    source = system.components[cid]
    assert isinstance(source, PositionEmbedding)
    embedding = system.components[parent.components[0]]
    return system.add(roots.POSITIONS, source.resized(image_size // embedding.patch_size))


def _fresh(system: System, cid: str) -> str:
    """A randomly re-initialised copy of `cid` (independent-model baseline)."""
    copy = copy_component(system.components[cid], name=base_name(cid), weights=False)
    return system.add(base_name(cid), copy)


def _new_adapter(system: System, ids: list[str], after: int, adapter_dim: int) -> str:
    shape = system.components[ids[after]].get_build_config()["input_shape"]
    adapter = ResidualAdapter(adapter_dim, name=f"adapter_{adapter_dim}")
    adapter.build(tuple(shape))
    return system.add(f"adapter_{adapter_dim}", adapter)


def _identity_block(system: System, like: str) -> str:
    source = system.components[like]
    config = {**config_of(source), "identity_init": True}
    block = EncoderBlock.from_config({**config, "name": f"{base_name(like)}_inserted"})
    block.build(tuple(source.get_build_config()["input_shape"]))
    return system.add(f"{base_name(like)}_inserted", block)
