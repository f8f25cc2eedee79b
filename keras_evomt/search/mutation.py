"""Making a candidate: µ2Net's layer cloning and its structural mutations.

A path's encoder is a stack of layers, each an encoder block optionally preceded by
a residual adapter. For every component the candidate takes over: clone it if the
active task may train it, else clone it with probability µ, else share it frozen.
The final norm and the head are always the task's own (a new zero-initialised head
when the parent is of another task; with `head_init="ridge"` the proposer then fits it,
search/head_init.py). A new image size resizes the position embedding.

Structural mutations, as the reference's smaller configurations make them:
- `num_layers` (when the recipe's space lists it): the candidate keeps the parent's
  bottom blocks up to its `num_layers`; a missing top block is taken from the closest
  ancestor that has a block at that index, else initialised at random.
- adapters (`MutationOptions.adapters`): before each block, independently with
  probability µ, a residual adapter is added (never removed). An adapter is taken
  over from the closest ancestor that has one of the same `adapter_dim` before that
  block; a changed `adapter_dim` therefore starts new (identity) adapters.
- `insert_block` (µ2Net+): an identity-initialised block inserted w.p. µ.
The baselines are clone modes of this same function.

Example:
    child = make_candidate(system, parent, "digits", 10, hparams, rng, MutationOptions())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_evomt.components import roots
from keras_evomt.components.base import (
    ADAPTER,
    BLOCK,
    EMBEDDING,
    HEAD,
    NORM,
    POSITIONS,
    config_of,
    copy_component,
)
from keras_evomt.components.vit import EncoderBlock, PositionEmbedding, ResidualAdapter
from keras_evomt.hparams import HParams
from keras_evomt.path import Path
from keras_evomt.search.clone_modes import clone_mode
from keras_evomt.system import System, base_name


@dataclasses.dataclass(frozen=True)
class MutationOptions:
    """What a candidate may change besides hyperparameters.

    clone_mode: a registered clone mode (`register_clone_mode`): 'mu' (µ2Net), 'all'
    (fine-tune all), 'freeze_bottom' (share the embeddings and the bottom
    `freeze_bottom` blocks), 'adapters' (share the root, an adapter before every
    block), 'scratch' (independent models).
    adapters: the reference's adapter mutation (see the module docstring).
    insert_block: µ2Net+'s identity-initialised block insertion.
    head_init: how a new head starts: 'zeros' (the reference) or 'ridge' (the ridge
    classifier of the candidate's frozen features, search/head_init.py).
    """

    clone_mode: str = "mu"
    freeze_bottom: int = 0
    adapters: bool = False
    insert_block: bool = False
    head_init: str = "zeros"


@dataclasses.dataclass
class Layer:
    """One encoder layer of a path: a block and the adapter before it, if any."""

    block: str
    adapter: str | None = None


def encoder_layers(system: System, path: Path) -> list[Layer]:
    """The path's encoder layers, bottom first.

    Example:
        [layer.block for layer in encoder_layers(system, system.root)]
    """
    layers: list[Layer] = []
    pending: str | None = None
    for cid in path.components:
        role = system.components[cid].role
        if role == ADAPTER:
            pending = cid
        elif role == BLOCK:
            layers.append(Layer(cid, pending))
            pending = None
    return layers


def structure_hparams(system: System, path: Path) -> dict[str, Any]:
    """`num_layers` and `adapter_layers` as the path's components have them."""
    layers = encoder_layers(system, path)
    return {
        "num_layers": len(layers),
        "adapter_layers": [i for i, layer in enumerate(layers) if layer.adapter],
    }


def make_candidate(
    system: System,
    parent: Path,
    task: str,
    num_classes: int,
    hparams: dict[str, Any],
    rng: np.random.Generator,
    options: MutationOptions,
    ancestors: Sequence[Path] = (),
) -> Path:
    """A new candidate path for `task` derived from `parent` (any task's, or the root).

    `ancestors` are the parent's own ancestors still in the system, closest first:
    where the parent lacks a layer the candidate needs, they are searched for it.
    """
    mode = clone_mode(options.clone_mode)
    typed = HParams.of(hparams)
    mu = typed.mu
    image_size = int(hparams.get("image_size", parent.image_size))
    lineage = [parent, *ancestors]
    layers = encoder_layers(system, parent)
    num_layers = int(hparams.get("num_layers", len(layers)))
    adapter_layers = _adapter_layers(hparams, layers, num_layers, mu, rng, options)
    adapter_dim = int(typed.adapter_dim)

    def take(cid: str, layer_index: int) -> str:
        if _must_clone(system, cid, task, layer_index, mu, rng, options):
            return _fresh(system, cid) if mode.fresh else system.clone(cid)
        return cid

    ids: list[str] = []
    for cid in parent.components:
        role = system.components[cid].role
        if role in (BLOCK, ADAPTER, NORM, HEAD):
            continue
        if role == POSITIONS and image_size != parent.image_size:
            ids.append(_resized_positions(system, cid, image_size, parent))
        else:
            ids.append(take(cid, -1))
    for index in range(num_layers):
        if index in adapter_layers:
            found = _find(system, lineage, index, adapter_dim=adapter_dim)
            ids.append(
                take(found, index) if found else _new_adapter(system, ids, image_size, adapter_dim)
            )
        found = _find(system, lineage, index)
        ids.append(take(found, index) if found else _new_block(system, index))
    if options.insert_block:
        _insert_identity_block(system, ids, rng, mu)
    norm = next(c for c in parent.components if system.components[c].role == NORM)
    ids.append(_fresh(system, norm) if mode.fresh else system.clone(norm))
    hidden_shape = (None, *system.input_shapes(ids, image_size)[-1])
    if keeps_parent_head(system, parent, task):
        ids.append(system.clone(parent.components[-1]))
    else:
        ids.append(system.new_head(num_classes, hidden_shape))
    origin = parent.origin if parent.task == task else parent.task
    child = Path(task=task, components=ids, parent=parent.id or parent.task, origin=origin)
    child.hparams = {**hparams, "image_size": image_size, **structure_hparams(system, child)}
    return child


def keeps_parent_head(system: System, parent: Path, task: str) -> bool:
    """Whether a candidate of `task` from `parent` clones the parent's head; if not (a new
    task, or a parent of another task or the root), it gets a new one.

    Example:
        keeps_parent_head(system, system.paths["digits"], "digits")  # True
    """
    return parent.task == task and system.components[parent.components[-1]].role == HEAD


def _adapter_layers(hparams, layers, num_layers, mu, rng, options) -> set[int]:
    if clone_mode(options.clone_mode).adapters:
        return set(range(num_layers))
    chosen = {i for i, layer in enumerate(layers) if layer.adapter}
    chosen |= {int(i) for i in hparams.get("adapter_layers", [])}
    if options.adapters:
        chosen |= {i for i in range(num_layers) if rng.random() < mu}
    return {i for i in chosen if i < num_layers}


def _find(
    system: System, lineage: list[Path], index: int, *, adapter_dim: int | None = None
) -> str | None:
    """The closest ancestor's block (or, with `adapter_dim`, adapter of that size) at
    encoder layer `index`."""
    for path in lineage:
        layers = encoder_layers(system, path)
        if index >= len(layers):
            continue
        if adapter_dim is None:
            return layers[index].block
        adapter = layers[index].adapter
        if adapter and system.components[adapter].adapter_dim == adapter_dim:
            return adapter
    return None


def _must_clone(
    system: System,
    cid: str,
    task: str,
    layer_index: int,
    mu: float,
    rng: np.random.Generator,
    options: MutationOptions,
) -> bool:
    if system.is_trainable(cid, task):
        return True
    rule = clone_mode(options.clone_mode).rule
    return bool(rule(system.components[cid], layer_index, mu, rng, options))


def _resized_positions(system: System, cid: str, image_size: int, parent: Path) -> str:
    source = system.components[cid]
    assert isinstance(source, PositionEmbedding)
    embedding = next(
        system.components[c] for c in parent.components if system.components[c].role == EMBEDDING
    )
    return system.add(base_name(cid), source.resized(image_size // embedding.patch_size))


def _fresh(system: System, cid: str) -> str:
    """A randomly re-initialised copy of `cid` (independent-model baseline)."""
    copy = copy_component(system.components[cid], name=base_name(cid), weights=False)
    return system.add(base_name(cid), copy)


def _new_block(system: System, index: int) -> str:
    """A randomly initialised block for layer `index`, shaped as the root's blocks."""
    template = encoder_layers(system, system.root)[0].block
    block = copy_component(system.components[template], name=roots.block_name(index), weights=False)
    return system.add(roots.block_name(index), block)


def _new_adapter(system: System, ids: list[str], image_size: int, adapter_dim: int) -> str:
    """A new (identity) adapter taking the output of `ids`."""
    last = system.components[ids[-1]]
    shape = last.compute_output_shape((None, *system.input_shapes(ids, image_size)[-1]))
    adapter = ResidualAdapter(adapter_dim, name=f"adapter_{adapter_dim}")
    adapter.build(tuple(shape))
    return system.add(f"adapter_{adapter_dim}", adapter)


def _insert_identity_block(system: System, ids: list[str], rng, mu: float) -> None:
    blocks = [i for i, cid in enumerate(ids) if isinstance(system.components[cid], EncoderBlock)]
    if not blocks or rng.random() >= mu:
        return
    position = blocks[int(rng.integers(len(blocks)))]
    source = system.components[ids[position]]
    name = f"{base_name(ids[position])}_inserted"
    block = EncoderBlock.from_config({**config_of(source), "identity_init": True, "name": name})
    block.build(tuple(source.get_build_config()["input_shape"]))
    ids.insert(position + 1, system.add(name, block))
