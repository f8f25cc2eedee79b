"""Pretrained ViT roots: fill a root's components from a checkpoint file.

`load_into` reads, by content rather than by file name:
- a `.npz` in the vit_jax / big_vision naming: the AugReg files the reference starts from
  (pre-Linen names `LayerNorm_0`, `MultiHeadDotProductAttention_1`, `LayerNorm_2`,
  `MlpBlock_3`), Linen names (`..._0`, `LayerNorm_1`, `MlpBlock_0`), per-layer or scanned
  (`Transformer/encoderblock/...` stacked on a first axis) blocks;
- a keras-hub ViT preset directory or a ViTBackbone `.weights.h5` (optional extra:
  `pip install keras_evomt[hub]`);
- a ready root written by `save_root` (`tools/convert_root.py`): an `.npz` keyed by our own
  component and variable names plus a JSON header with the RootSpec, read without renaming.

As vit_jax does when fine-tuning, the position embeddings are resized (linearly) to the
root's image size, and the pretrained head (and `pre_logits`) is dropped. Every tensor
is checked before any is assigned; mismatches raise `UserInputError` naming the tensor,
the expected and the received shape. Neither Keras nor keras-hub reads vit_jax `.npz`
files, hence this module; keras-hub, when installed, does the reading of its own formats.

Example:
    spec = root_spec("vit_l16", image_size=384)
    parts = build_root("vit_l16", image_size=384)
    load_into(parts, "L_16-i21k-300ep-lr_0.001-aug_strong1-wd_0.1-do_0.0-sd_0.0.npz", spec)
    convert_root("vit_l16", "L_16-i21k-....npz", "vit_l16_384.npz", image_size=384)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path as FsPath
from typing import Any

import numpy as np

from keras_evomt.components.base import (
    BLOCK,
    CLASS_TOKEN,
    EMBEDDING,
    NORM,
    POSITIONS,
    Component,
)
from keras_evomt.components.roots import RootSpec, build_root, root_spec
from keras_evomt.components.vit import (
    ClassToken,
    EncoderBlock,
    EncoderNorm,
    PatchEmbedding,
    PositionEmbedding,
    resize_position_table,
)
from keras_evomt.errors import EvomtError, UserInputError

FORMAT = "keras_evomt.root"
FORMAT_VERSION = 1
HEADER_KEY = "__keras_evomt_root__"
HUB_EXTRA = "pip install keras_evomt[hub]"
_ARCH_FIELDS = ("hidden_dim", "mlp_dim", "num_heads", "num_layers", "patch_size")
_KINDS = (
    "a vit_jax/big_vision .npz, a keras_evomt root .npz (tools/convert_root.py), a "
    "keras-hub ViT preset directory or a ViTBackbone .weights.h5"
)
_log = logging.getLogger(__name__)

# Our variable (path inside the component) -> vit_jax name (pre-Linen, Linen).
_JAX_BLOCK = {
    "attention_norm/gamma": ("LayerNorm_0/scale", "LayerNorm_0/scale"),
    "attention_norm/beta": ("LayerNorm_0/bias", "LayerNorm_0/bias"),
    **{
        f"attention/{ours}/{var}": (
            f"MultiHeadDotProductAttention_1/{theirs}/{var}",
            f"MultiHeadDotProductAttention_0/{theirs}/{var}",
        )
        for ours, theirs in [
            ("query", "query"),
            ("key", "key"),
            ("value", "value"),
            ("attention_output", "out"),
        ]
        for var in ("kernel", "bias")
    },
    "mlp_norm/gamma": ("LayerNorm_2/scale", "LayerNorm_1/scale"),
    "mlp_norm/beta": ("LayerNorm_2/bias", "LayerNorm_1/bias"),
    **{
        f"{ours}/{var}": (f"MlpBlock_3/{theirs}/{var}", f"MlpBlock_0/{theirs}/{var}")
        for ours, theirs in [("mlp_in", "Dense_0"), ("mlp_out", "Dense_1")]
        for var in ("kernel", "bias")
    },
}
# Our variable -> keras-hub ViTBackbone variable path (block i is transformer_block_{i+1}).
_HUB_BLOCK = {
    "attention_norm": "ln_1",
    "attention": "mha",
    "mlp_norm": "ln_2",
    "mlp_in": "mlp/dense_1",
    "mlp_out": "mlp/dense_2",
}
_LN = {"gamma": "scale", "beta": "bias"}


@dataclasses.dataclass
class RootWeights:
    """Arrays read from a checkpoint, keyed like `'encoderblock_3/attention/query/kernel'`.

    `sources` names each array as the checkpoint does (for messages); `ignored` lists the
    checkpoint's tensors that the root does not use (the head, pre_logits, extra blocks).
    """

    tensors: dict[str, np.ndarray]
    sources: dict[str, str]
    origin: str
    ignored: list[str] = dataclasses.field(default_factory=list)


# === Public API ===
def load_into(
    parts: list[tuple[str, Component]], checkpoint: str | os.PathLike, spec: RootSpec
) -> None:
    """Fills the built root components `parts` in place from `checkpoint`.

    Example:
        parts = build_root("vit_tiny")
        load_into(parts, "vit_tiny.npz", root_spec("vit_tiny"))
    """
    variables = root_variables(parts)
    weights = read_checkpoint(checkpoint, parts, spec)
    problems = []
    for key, variable in variables.items():
        received = weights.tensors[key].shape
        if tuple(received) != tuple(variable.shape):
            problems.append(
                f"tensor '{weights.sources[key]}' (for {key}): expected shape "
                f"{tuple(variable.shape)}, received {tuple(received)}"
            )
    if problems:
        raise UserInputError(
            f"{weights.origin} does not fit root {_describe(spec)}:\n  "
            + "\n  ".join(problems[:12])
            + ("\n  ..." if len(problems) > 12 else ""),
            hint="check the root name, --patch-size and that the file is a ViT with a class token.",
        )
    for key, variable in variables.items():  # all checked: now assign
        variable.assign(np.asarray(weights.tensors[key], dtype=variable.dtype))
    if weights.ignored:
        _log.info(
            "%s: ignored %d tensors: %s",
            weights.origin,
            len(weights.ignored),
            ", ".join(weights.ignored[:8]) + (" ..." if len(weights.ignored) > 8 else ""),
        )


def read_checkpoint(
    checkpoint: str | os.PathLike, parts: list[tuple[str, Component]], spec: RootSpec
) -> RootWeights:
    """Reads the arrays for `parts`' variables (keyed as `root_variables` keys them),
    positions fitted to `spec`. Which checkpoint tensor a variable takes follows from its
    part's role and index (`root_layout`), not from the part's name.

    Example:
        parts = build_root("vit_tiny")
        read_checkpoint("vit_tiny.npz", parts, root_spec("vit_tiny")).tensors
    """
    keys = list(root_variables(parts))
    layout = root_layout(parts)
    path = FsPath(checkpoint).expanduser()
    if not path.exists():
        raise UserInputError(f"checkpoint not found: expected {_KINDS} at '{path}'.")
    kind = _sniff(path)
    if kind == "npz":
        with _open_npz(path) as npz:
            if HEADER_KEY in npz.files:
                weights = _read_own(npz, path, keys, spec)
            else:
                weights = _read_vit_jax(npz, path, keys, layout)
    elif kind in ("preset", "h5"):
        weights = _read_keras_hub(path, keys, layout, spec, preset=kind == "preset")
    else:
        raise UserInputError(
            f"'{path}' is not a checkpoint keras_evomt can read; expected {_KINDS}."
        )
    for key in keys:
        if layout[key.split("/", 1)[0]][0] == POSITIONS:
            weights.tensors[key] = _fit_positions(
                weights.tensors[key], weights.sources[key], spec, weights.origin
            )
    return weights


def root_layout(parts: list[tuple[str, Component]]) -> dict[str, tuple[str, int]]:
    """Each part's role (`Component.role`) and its index among the parts of that role.

    Example:
        root_layout(build_root("vit_tiny"))["encoderblock_1"]  # ('block', 1)
    """
    counts: dict[str, int] = {}
    layout = {}
    for name, component in parts:
        layout[name] = (component.role, counts.get(component.role, 0))
        counts[component.role] = layout[name][1] + 1
    return layout


def root_variables(parts: list[tuple[str, Component]]) -> dict[str, Any]:
    """The root's variables keyed `'<part name>/<variable path inside the component>'`.

    Example:
        list(root_variables(build_root("vit_tiny")))[:2]
        # ['embedding/projection/kernel', 'embedding/projection/bias']
    """
    known = (PatchEmbedding, ClassToken, PositionEmbedding, EncoderBlock, EncoderNorm)
    variables = {}
    for name, component in parts:
        if not isinstance(component, known):
            raise EvomtError(
                f"cannot load a checkpoint into root part '{name}' of type "
                f"{type(component).__name__}; known: "
                f"{', '.join(k.__name__ for k in known)}."
            )
        if not component.built:
            raise EvomtError(f"root part '{name}' must be built before loading weights.")
        for variable in component.weights:
            segments = variable.path.split("/")
            inner = (
                segments[segments.index(component.name) + 1 :]
                if component.name in segments
                else segments[1:]
            )
            variables[f"{name}/{'/'.join(inner)}"] = variable
    return variables


def save_root(
    parts: list[tuple[str, Component]],
    spec: RootSpec,
    out: str | os.PathLike,
    *,
    root: str | None = None,
    source: str | None = None,
) -> FsPath:
    """Writes the root's weights as a ready root `.npz` (atomically); returns the path.

    Example:
        save_root(parts, root_spec("vit_tiny"), "runs/vit_tiny_root.npz", root="vit_tiny")
    """
    out = FsPath(out).expanduser()
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "root": root,
        "spec": dataclasses.asdict(spec),
        "source": source,
    }
    arrays = {key: np.asarray(variable.numpy()) for key, variable in root_variables(parts).items()}
    arrays[HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a root is meant to share
        os.replace(tmp, out)
    except BaseException:
        FsPath(tmp).unlink(missing_ok=True)
        raise
    return out


def convert_root(
    root: str,
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    image_size: int | None = None,
    patch_size: int | None = None,
) -> dict:
    """Converts `checkpoint` once into a ready root for `root` at `image_size`.

    Returns a summary (root, spec, params, source, out).

    Example:
        convert_root("vit_l16", "L_16-i21k.npz", "vit_l16_384.npz", image_size=384)
    """
    approximate = uses_approximate_gelu(checkpoint)
    spec = root_spec(
        root, image_size=image_size, patch_size=patch_size, gelu_approximate=approximate
    )
    parts = build_root(
        root, image_size=image_size, patch_size=patch_size, gelu_approximate=approximate
    )
    load_into(parts, checkpoint, spec)
    written = save_root(parts, spec, out, root=root, source=str(checkpoint))
    return {
        "root": root,
        "spec": dataclasses.asdict(spec),
        "out": str(written),
        "source": str(checkpoint),
        "params": sum(c.param_count() for _, c in parts),
    }


def uses_approximate_gelu(checkpoint: str | os.PathLike) -> bool:
    """Whether the checkpoint's architecture uses the tanh GELU.

    vit_jax / big_vision models call Flax's `nn.gelu`, whose default is the tanh
    approximation; keras-hub's ViT uses the exact GELU; a ready root records its own.

    Example:
        uses_approximate_gelu("L_16-i21k.npz")  # True
    """
    path = FsPath(checkpoint).expanduser()
    if not path.exists() or _sniff(path) != "npz":
        return False
    header = read_header(path)
    if header is not None:
        return bool(header["spec"].get("gelu_approximate", False))
    return True


def read_header(path: str | os.PathLike) -> dict | None:
    """The JSON header of a ready root `.npz`, or None for any other file.

    Example:
        read_header("vit_l16_384.npz")["spec"]["image_size"]  # 384
    """
    path = FsPath(path).expanduser()
    if not path.is_file() or _sniff(path) != "npz":
        return None
    with _open_npz(path) as npz:
        return _header(npz, path) if HEADER_KEY in npz.files else None


# === Readers ===
def _read_own(npz, path: FsPath, keys: list[str], spec: RootSpec) -> RootWeights:
    header = _header(npz, path)
    stored = header.get("spec", {})
    differ = [
        f"{field}: file {stored.get(field)}, root {getattr(spec, field)}"
        for field in _ARCH_FIELDS
        if stored.get(field) != getattr(spec, field)
    ]
    if differ:
        raise UserInputError(
            f"ready root '{path}' was converted for another architecture ("
            f"{header.get('root')}): " + "; ".join(differ) + ".",
            hint="convert the original checkpoint again for this root.",
        )
    origin = f"ready root '{path}' ({header.get('root')}, from {header.get('source')})"
    return _collect(
        npz.files, lambda name: npz[name], keys, lambda key: [key], origin, extra=(HEADER_KEY,)
    )


def _read_vit_jax(
    npz, path: FsPath, keys: list[str], layout: dict[str, tuple[str, int]]
) -> RootWeights:
    files = set(npz.files)
    linen = not any("MultiHeadDotProductAttention_1/" in name for name in files)

    def candidates(key: str) -> list[str]:
        part, inner = key.split("/", 1)
        role, index = layout[part]
        leaf = inner.rsplit("/", 1)[-1]
        if role == POSITIONS:
            return [
                "Transformer/posembed_input/pos_embedding",
                "pos_embedding",
                "Transformer/pos_embedding",
            ]
        if role == EMBEDDING:
            return [f"embedding/{leaf}"]
        if role == CLASS_TOKEN:
            return ["cls"]
        if role == NORM:
            return [f"Transformer/encoder_norm/{_LN[leaf]}"]
        if role != BLOCK:
            raise KeyError(key)
        theirs = _JAX_BLOCK[inner][int(linen)]
        return [
            f"Transformer/encoderblock_{index}/{theirs}",
            f"Transformer/encoderblock/{theirs}#{index}",
        ]  # scanned

    cache: dict[str, np.ndarray] = {}

    def load(name: str) -> np.ndarray:  # each stored tensor is read once
        if name not in cache:
            cache[name] = npz[name]
        return cache[name]

    def get(name: str) -> np.ndarray:
        name, _, row = name.partition("#")
        return load(name)[int(row)] if row else load(name)

    def exists(name: str) -> bool:
        name, _, row = name.partition("#")
        return name in files and (not row or len(load(name)) > int(row))

    theirs = {
        m.group(1) for name in files if (m := re.match(r"Transformer/(encoderblock_\d+)/", name))
    }
    ours = sum(role == BLOCK for role, _ in layout.values())
    hint = (
        f"the checkpoint has {len(theirs)} encoder blocks, the root {ours}."
        if theirs and len(theirs) < ours
        else None
    )
    weights = _collect(
        files, get, keys, candidates, f"checkpoint '{path}'", exists=exists, hint=hint
    )
    if len(theirs) > ours:  # as the reference, a shallower root keeps the bottom blocks
        _log.warning(
            "checkpoint '%s' has %d encoder blocks; the root uses the first %d.",
            path,
            len(theirs),
            ours,
        )
    return weights


def _read_keras_hub(
    path: FsPath,
    keys: list[str],
    layout: dict[str, tuple[str, int]],
    spec: RootSpec,
    *,
    preset: bool,
) -> RootWeights:
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            f"reading '{path}' (a keras-hub preset or .weights.h5) needs keras-hub: {HUB_EXTRA}"
        ) from error
    try:
        if preset:
            backbone = keras_hub.models.Backbone.from_preset(str(path))
        else:
            grid = _h5_grid(path)
            backbone = keras_hub.models.ViTBackbone(
                image_shape=(grid * spec.patch_size, grid * spec.patch_size, 3),
                patch_size=spec.patch_size,
                num_layers=spec.num_layers,
                num_heads=spec.num_heads,
                hidden_dim=spec.hidden_dim,
                mlp_dim=spec.mlp_dim,
            )
            backbone.load_weights(str(path))
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise UserInputError(
            f"keras-hub could not load '{path}' as a ViT backbone for root "
            f"{_describe(spec)}: {error}"
        ) from error
    if type(backbone).__name__ != "ViTBackbone":
        raise UserInputError(f"'{path}' holds a {type(backbone).__name__}, not a ViTBackbone.")
    if not backbone.use_class_token or abs(backbone.layer_norm_epsilon - 1e-6) > 1e-12:
        raise UserInputError(
            f"'{path}' is a ViT with use_class_token={backbone.use_class_token}, "
            f"layer_norm_epsilon={backbone.layer_norm_epsilon}; keras_evomt roots need a "
            f"class token and epsilon 1e-6."
        )
    arrays = {variable.path: variable.numpy() for variable in backbone.weights}
    weights_file = path if not preset else path / "model.weights.h5"
    if weights_file.is_file():  # Keras may leave a layer it could not match at its init
        stored = _h5_scan(weights_file)[1]
        unloaded = [name for name, value in arrays.items() if _digest(value) not in stored]
        if unloaded:
            raise UserInputError(
                f"keras-hub did not load {len(unloaded)} variables of "
                f"'{path}' (e.g. {unloaded[0]}); is it a ViTBackbone's?"
            )

    def candidates(key: str) -> list[str]:
        part, inner = key.split("/", 1)
        role, index = layout[part]
        leaf = inner.rsplit("/", 1)[-1]
        if role == POSITIONS:
            return ["vit_patching_and_embedding/position_embedding/embeddings"]
        if role == EMBEDDING:
            return [f"vit_patching_and_embedding/patch_embedding/{leaf}"]
        if role == CLASS_TOKEN:
            return ["vit_patching_and_embedding/class_token"]
        if role == NORM:
            return [f"vit_encoder/ln/{leaf}"]
        if role != BLOCK:
            raise KeyError(key)
        layer, rest = inner.split("/", 1)
        return [f"vit_encoder/transformer_block_{index + 1}/{_HUB_BLOCK[layer]}/{rest}"]

    kind = "keras-hub preset" if preset else "keras-hub .weights.h5"
    return _collect(arrays, arrays.__getitem__, keys, candidates, f"{kind} '{path}'")


# === Helpers ===
def _collect(
    names,
    get: Callable[[str], np.ndarray],
    keys: list[str],
    candidates: Callable[[str], list[str]],
    origin: str,
    *,
    exists: Callable[[str], bool] | None = None,
    extra: tuple[str, ...] = (),
    hint: str | None = None,
) -> RootWeights:
    """Picks, for each key, the first candidate name the checkpoint holds.

    A candidate 'name#i' means row i of the stacked tensor 'name' (scanned blocks).
    """
    exists = exists or (lambda name: name in names)
    tensors, sources, missing, used = {}, {}, [], set(extra)
    for key in keys:
        try:
            options = candidates(key)
        except KeyError as error:
            raise EvomtError(f"no checkpoint name is known for root variable '{key}'.") from error
        found = next((name for name in options if exists(name)), None)
        if found is None:
            missing.append(f"'{options[0]}' (for {key})")
            continue
        name, _, row = found.partition("#")
        tensors[key], sources[key] = get(found), f"{name}[{row}]" if row else name
        used.add(name)
    if missing:
        raise UserInputError(
            f"{origin} lacks {len(missing)} tensor(s) the root needs: "
            + ", ".join(missing[:4])
            + (", ..." if len(missing) > 4 else "")
            + ".",
            hint=hint or "is it a ViT with a class token, of this root's size?",
        )
    return RootWeights(tensors, sources, origin, sorted(n for n in names if n not in used))


def _fit_positions(table: np.ndarray, name: str, spec: RootSpec, origin: str) -> np.ndarray:
    """(1, [1 +] g*g, d) or ([1 +] g*g, d) -> (1, 1 + G*G, d) for the spec's grid G."""
    table = np.asarray(table)
    if table.ndim == 2:
        table = table[None]
    length = table.shape[1] if table.ndim == 3 and table.shape[0] == 1 else -1
    grid = math.isqrt(max(length - 1, 0))
    if length > 0 and grid * grid + 1 != length and math.isqrt(length) ** 2 == length:
        grid = math.isqrt(length)  # big_vision: no class-token row; the token gets none
        table = np.concatenate([np.zeros_like(table[:, :1]), table], axis=1)
    if length <= 1 or grid * grid + 1 != table.shape[1]:
        raise UserInputError(
            f"tensor '{name}' in {origin} has shape {tuple(table.shape)}: "
            f"expected (1, 1 + n*n, d) position embeddings of a square grid."
        )
    new_grid = spec.image_size // spec.patch_size
    if grid != new_grid:
        _log.info(
            "%s: position embeddings resized from %dx%d to %dx%d.",
            origin,
            grid,
            grid,
            new_grid,
            new_grid,
        )
        table = resize_position_table(table, grid, new_grid, class_token=True)
    return table


def _sniff(path: FsPath) -> str:
    if path.is_dir():
        return "preset" if (path / "config.json").is_file() else "dir"
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PK"):
        return "npz"
    if magic.startswith(b"\x89HDF"):
        return "h5"
    return "unknown"


def _open_npz(path: FsPath):
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise UserInputError(f"could not read checkpoint '{path}' as .npz: {error}") from error


def _header(npz, path: FsPath) -> dict:
    try:
        header = json.loads(npz[HEADER_KEY].tobytes().decode())
    except (ValueError, UnicodeDecodeError) as error:
        raise UserInputError(f"ready root '{path}' has an unreadable header: {error}") from error
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise UserInputError(
            f"ready root '{path}' has format {header.get('format')} "
            f"v{header.get('version')}; this keras_evomt reads {FORMAT} "
            f"v{FORMAT_VERSION}."
        )
    return header


def _h5_scan(path: FsPath) -> tuple[list[tuple], set[str]]:
    """Shapes of the position tables in a Keras `.weights.h5`, and digests of all arrays."""
    import h5py  # a Keras dependency

    positions, digests = [], set()

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            digests.add(_digest(obj[()]))
            if "position_embedding" in name:
                positions.append(obj.shape)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return positions, digests


def _h5_grid(path: FsPath) -> int:
    """The patch grid of a ViTBackbone `.weights.h5`, from its position table."""
    shapes = _h5_scan(path)[0]
    if (
        len(shapes) != 1
        or len(shapes[0]) != 2
        or shapes[0][0] < 2
        or math.isqrt(shapes[0][0] - 1) ** 2 + 1 != shapes[0][0]
    ):
        raise UserInputError(
            f"'{path}' does not look like a ViTBackbone .weights.h5 with a "
            f"class token (position tables found: {shapes})."
        )
    return math.isqrt(shapes[0][0] - 1)


def _digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


def _describe(spec: RootSpec) -> str:
    return (
        f"(hidden_dim={spec.hidden_dim}, mlp_dim={spec.mlp_dim}, num_heads="
        f"{spec.num_heads}, num_layers={spec.num_layers}, patch_size={spec.patch_size}, "
        f"image_size={spec.image_size})"
    )
