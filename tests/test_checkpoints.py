"""Pretrained roots: vit_jax / keras-hub / ready-root loading, numerically faithful."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import sys

import numpy as np
import pytest
import scipy.special

from keras_evomt.components import ClassificationHead, build_root, checkpoints, root_spec
from keras_evomt.components.vit import resize_position_table
from keras_evomt.errors import UserInputError
from keras_evomt.path import PathModel
from keras_evomt.system import System
from tests.helpers import load_tool

SPEC = root_spec("vit_tiny")  # hidden 16, mlp 32, 2 heads, 2 blocks, patch 8, 32 px

# Our variable -> AugReg (pre-Linen) name, written out here independently of the loader.
BLOCK_NAMES = {
    "attention_norm/gamma": "LayerNorm_0/scale",
    "attention_norm/beta": "LayerNorm_0/bias",
    "attention/query/kernel": "MultiHeadDotProductAttention_1/query/kernel",
    "attention/query/bias": "MultiHeadDotProductAttention_1/query/bias",
    "attention/key/kernel": "MultiHeadDotProductAttention_1/key/kernel",
    "attention/key/bias": "MultiHeadDotProductAttention_1/key/bias",
    "attention/value/kernel": "MultiHeadDotProductAttention_1/value/kernel",
    "attention/value/bias": "MultiHeadDotProductAttention_1/value/bias",
    "attention/attention_output/kernel": "MultiHeadDotProductAttention_1/out/kernel",
    "attention/attention_output/bias": "MultiHeadDotProductAttention_1/out/bias",
    "mlp_norm/gamma": "LayerNorm_2/scale",
    "mlp_norm/beta": "LayerNorm_2/bias",
    "mlp_in/kernel": "MlpBlock_3/Dense_0/kernel",
    "mlp_in/bias": "MlpBlock_3/Dense_0/bias",
    "mlp_out/kernel": "MlpBlock_3/Dense_1/kernel",
    "mlp_out/bias": "MlpBlock_3/Dense_1/bias",
}


# === Helpers ===
def vit_jax_tensors(spec=SPEC, *, grid: int | None = None, seed: int = 0) -> dict:
    """Random weights of a ViT in the AugReg .npz layout, with a head and pre_logits."""
    rng = np.random.default_rng(seed)
    dim, heads, mlp, patch = spec.hidden_dim, spec.num_heads, spec.mlp_dim, spec.patch_size
    grid = grid or spec.image_size // patch

    def w(*shape, scale=0.3, mean=0.0):
        return (mean + scale * rng.standard_normal(shape)).astype(np.float32)

    t = {
        "embedding/kernel": w(patch, patch, 3, dim, scale=0.1),
        "embedding/bias": w(dim),
        "cls": w(1, 1, dim),
        "Transformer/posembed_input/pos_embedding": w(1, grid**2 + 1, dim),
        "Transformer/encoder_norm/scale": w(dim, mean=1.0, scale=0.1),
        "Transformer/encoder_norm/bias": w(dim, scale=0.1),
        "pre_logits/kernel": w(dim, dim),
        "pre_logits/bias": w(dim),
        "head/kernel": w(dim, 5),
        "head/bias": w(5),
    }
    for i in range(spec.num_layers):
        b = f"Transformer/encoderblock_{i}/"
        for norm in ("LayerNorm_0", "LayerNorm_2"):
            t[f"{b}{norm}/scale"], t[f"{b}{norm}/bias"] = w(dim, mean=1.0, scale=0.1), w(dim)
        for proj in ("query", "key", "value"):
            t[f"{b}MultiHeadDotProductAttention_1/{proj}/kernel"] = w(dim, heads, dim // heads)
            t[f"{b}MultiHeadDotProductAttention_1/{proj}/bias"] = w(heads, dim // heads)
        t[f"{b}MultiHeadDotProductAttention_1/out/kernel"] = w(heads, dim // heads, dim)
        t[f"{b}MultiHeadDotProductAttention_1/out/bias"] = w(dim)
        t[f"{b}MlpBlock_3/Dense_0/kernel"], t[f"{b}MlpBlock_3/Dense_0/bias"] = w(dim, mlp), w(mlp)
        t[f"{b}MlpBlock_3/Dense_1/kernel"], t[f"{b}MlpBlock_3/Dense_1/bias"] = w(mlp, dim), w(dim)
    return t


def to_linen(t: dict, *, scanned: bool = False) -> dict:
    """The same weights in big_vision's Linen names (optionally scanned: stacked blocks)."""
    renames = [
        ("MultiHeadDotProductAttention_1", "MultiHeadDotProductAttention_0"),
        ("LayerNorm_2", "LayerNorm_1"),
        ("MlpBlock_3", "MlpBlock_0"),
    ]
    out = {}
    for name, value in t.items():
        for old, new in renames:
            name = name.replace(old, new)
        out[name] = value
    if scanned:
        blocks = sorted({n.split("/")[1] for n in out if n.startswith("Transformer/encoderb")})
        suffixes = {n.split("/", 2)[2] for n in out if n.startswith(f"Transformer/{blocks[0]}/")}
        for suffix in suffixes:
            out[f"Transformer/encoderblock/{suffix}"] = np.stack(
                [out.pop(f"Transformer/{b}/{suffix}") for b in blocks]
            )
    return out


def save_npz(path: pathlib.Path, tensors: dict) -> str:
    np.savez(path, **tensors)
    return str(path)


def ours_to_vit_jax(key: str) -> str:
    part, inner = key.split("/", 1)
    if part.startswith("encoderblock_"):
        return f"Transformer/{part}/{BLOCK_NAMES[inner]}"
    return {
        "embedding/projection/kernel": "embedding/kernel",
        "embedding/projection/bias": "embedding/bias",
        "cls/cls": "cls",
        "posembed_input/pos_embedding": "Transformer/posembed_input/pos_embedding",
        "encoder_norm/norm/gamma": "Transformer/encoder_norm/scale",
        "encoder_norm/norm/beta": "Transformer/encoder_norm/bias",
    }[key]


def numpy_vit(t: dict, images: np.ndarray, spec=SPEC, approximate_gelu: bool = False):
    """An independent float64 ViT forward pass (vit_jax semantics) up to the final norm."""
    t = {k: np.asarray(v, np.float64) for k, v in t.items()}
    n, size, _, _ = images.shape
    p, g, dim = spec.patch_size, size // spec.patch_size, spec.hidden_dim
    patches = images.astype(np.float64).reshape(n, g, p, g, p, 3).transpose(0, 1, 3, 2, 4, 5)
    x = patches.reshape(n, g * g, p * p * 3) @ t["embedding/kernel"].reshape(-1, dim)
    x = x + t["embedding/bias"]
    x = np.concatenate([np.repeat(t["cls"], n, axis=0), x], axis=1)
    x = x + t["Transformer/posembed_input/pos_embedding"]

    def norm(v, prefix):
        mean, var = v.mean(-1, keepdims=True), v.var(-1, keepdims=True)
        return (v - mean) / np.sqrt(var + 1e-6) * t[f"{prefix}/scale"] + t[f"{prefix}/bias"]

    def gelu(v):
        if approximate_gelu:
            return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))
        return 0.5 * v * (1 + scipy.special.erf(v / np.sqrt(2)))

    for i in range(spec.num_layers):
        b = f"Transformer/encoderblock_{i}/"
        a = b + "MultiHeadDotProductAttention_1/"
        y = norm(x, b + "LayerNorm_0")
        q, k, v = (
            np.einsum("bnd,dhk->bnhk", y, t[f"{a}{m}/kernel"]) + t[f"{a}{m}/bias"]
            for m in ("query", "key", "value")
        )
        logits = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attended = np.einsum("bhqs,bshk->bqhk", weights, v)
        x = x + np.einsum("bqhk,hkd->bqd", attended, t[f"{a}out/kernel"]) + t[f"{a}out/bias"]
        y = norm(x, b + "LayerNorm_2")
        y = gelu(y @ t[b + "MlpBlock_3/Dense_0/kernel"] + t[b + "MlpBlock_3/Dense_0/bias"])
        x = x + y @ t[b + "MlpBlock_3/Dense_1/kernel"] + t[b + "MlpBlock_3/Dense_1/bias"]
    return norm(x, "Transformer/encoder_norm")


def images(size: int = 32, n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, size, size, 3)).astype(np.float32)


def root_outputs(system: System, x: np.ndarray) -> np.ndarray:
    return np.asarray(system.model(system.root)(x))


def weights_by_key(parts) -> dict[str, np.ndarray]:
    return {k: np.asarray(v.numpy()) for k, v in checkpoints.root_variables(parts).items()}


@pytest.fixture(scope="module")
def tensors():
    return vit_jax_tensors()


@pytest.fixture(scope="module")
def npz(tmp_path_factory, tensors):
    return save_npz(tmp_path_factory.mktemp("ckpt") / "Ti_tiny-i21k.npz", tensors)


# === vit_jax .npz ===
def test_vit_jax_npz_loads_bit_identically_and_drops_the_head(npz, tensors):
    system = System.create("vit_tiny", checkpoint=npz)
    assert system.info["checkpoint"] == npz
    parts = [(cid.rsplit(".", 1)[0], system.components[cid]) for cid in system.root.components]
    loaded = weights_by_key(parts)
    assert len(loaded) == 4 + 2 + 16 * SPEC.num_layers
    for key, value in loaded.items():
        expected = tensors[ours_to_vit_jax(key)]
        assert value.dtype == expected.dtype and np.array_equal(value, expected), key
    assert not any("head" in cid for cid in system.components)


def test_a_deeper_checkpoint_gives_its_bottom_blocks(tmp_path, caplog):
    deeper = vit_jax_tensors(dataclasses.replace(SPEC, num_layers=3))
    parts = build_root("vit_tiny")
    with caplog.at_level(logging.WARNING):
        checkpoints.load_into(parts, save_npz(tmp_path / "deep.npz", deeper), SPEC)
    assert "has 3 encoder blocks; the root uses the first 2" in caplog.text
    loaded = weights_by_key(parts)
    assert all(np.array_equal(v, deeper[ours_to_vit_jax(k)]) for k, v in loaded.items())


@pytest.mark.parametrize("variant", ["augreg", "linen", "linen_scanned", "big_vision_posemb"])
def test_root_outputs_match_numpy_reference(tmp_path, tensors, variant):
    reference = dict(tensors)
    stored = dict(tensors)
    if variant.startswith("linen"):
        stored = to_linen(stored, scanned=variant.endswith("scanned"))
    if variant == "big_vision_posemb":  # posemb without a class-token row, at top level
        table = stored.pop("Transformer/posembed_input/pos_embedding")
        stored["pos_embedding"] = table[:, 1:]
        reference["Transformer/posembed_input/pos_embedding"] = np.concatenate(
            [np.zeros_like(table[:, :1]), table[:, 1:]], axis=1
        )
    system = System.create("vit_tiny", checkpoint=save_npz(tmp_path / "c.npz", stored))
    x = images()
    # vit_jax blocks call Flax's nn.gelu: the tanh approximation, which the root adopts.
    np.testing.assert_allclose(
        root_outputs(system, x),
        numpy_vit(reference, x, approximate_gelu=True),
        atol=1e-5,
        rtol=1e-5,
    )


def test_numpy_reference_tells_gelu_variants_apart(tensors):
    # The comparison above could not hide a GELU mismatch: the two variants differ visibly.
    x = images()
    gap = np.abs(numpy_vit(tensors, x) - numpy_vit(tensors, x, approximate_gelu=True)).max()
    assert gap > 1e-5


# === Position embeddings ===
def test_resize_keeps_a_linear_grid_linear_and_the_class_token():
    old, new, dim = 4, 7, 3
    i, j = np.meshgrid(np.arange(old), np.arange(old), indexing="ij")
    grid = np.stack([2.0 * i + 3.0 * j + 1.0, -i + 0.5 * j, 0.25 * i], axis=-1)
    table = np.concatenate([np.full((1, dim), 9.0), grid.reshape(-1, dim)])[None]
    resized = resize_position_table(table.astype(np.float32), old, new)
    assert resized.shape == (1, new * new + 1, dim)
    np.testing.assert_array_equal(resized[0, 0], table[0, 0])
    s = (old - 1) / (new - 1)  # order-1 zoom maps the corners onto the corners
    u, v = np.meshgrid(np.arange(new) * s, np.arange(new) * s, indexing="ij")
    expected = np.stack([2.0 * u + 3.0 * v + 1.0, -u + 0.5 * v, 0.25 * u], axis=-1)
    np.testing.assert_allclose(resized[0, 1:].reshape(new, new, dim), expected, atol=1e-5)


def test_positions_are_resized_at_load_time(npz, tensors):
    system = System.create("vit_tiny", image_size=48, checkpoint=npz)
    table = next(c for cid, c in system.components.items() if cid.startswith("posembed"))
    original = tensors["Transformer/posembed_input/pos_embedding"]
    loaded = np.asarray(table.embedding.numpy())
    assert loaded.shape == (1, 6 * 6 + 1, SPEC.hidden_dim)
    np.testing.assert_array_equal(loaded[:, 0], original[:, 0])
    np.testing.assert_array_equal(loaded, resize_position_table(original, 4, 6))
    x = images(48)
    reference = {**tensors, "Transformer/posembed_input/pos_embedding": loaded}
    np.testing.assert_allclose(
        root_outputs(system, x),
        numpy_vit(reference, x, approximate_gelu=True),
        atol=1e-5,
        rtol=1e-5,
    )


# === Ready roots (tools/convert_root.py) ===
def _convert_cli():
    return load_tool("convert_root").main


def test_convert_root_once_then_load_it_directly(tmp_path, npz):
    from click.testing import CliRunner

    out = tmp_path / "roots" / "vit_tiny_48.npz"
    result = CliRunner().invoke(
        _convert_cli(),
        ["--root", "vit_tiny", "--checkpoint", npz, "--image-size", "48", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    header = checkpoints.read_header(out)
    assert header["root"] == "vit_tiny" and header["spec"]["image_size"] == 48
    assert not any(name.startswith(("head", "pre_logits")) for name in np.load(out).files)
    direct = build_root("vit_tiny", image_size=48)
    checkpoints.load_into(direct, npz, root_spec("vit_tiny", image_size=48))
    ready = build_root("vit_tiny", image_size=48)
    checkpoints.load_into(ready, out, root_spec("vit_tiny", image_size=48))
    expected = weights_by_key(direct)
    assert all(np.array_equal(v, expected[k]) for k, v in weights_by_key(ready).items())
    from_ready = System.create("vit_tiny", image_size=32, checkpoint=str(out))
    assert from_ready.info["checkpoint"]
    assert header["spec"]["gelu_approximate"] is True  # the vit_jax architecture, kept
    blocks = [c for c in from_ready.components.values() if hasattr(c, "gelu_approximate")]
    assert blocks and all(b.gelu_approximate for b in blocks)
    assert not any(getattr(c, "gelu_approximate", False) for _, c in build_root("vit_tiny"))

    with pytest.raises(UserInputError, match=r"hidden_dim: file 16, root 64"):
        System.create("vit_mini", checkpoint=str(out))
    missing = CliRunner().invoke(
        _convert_cli(),
        [
            "--root",
            "vit_tiny",
            "--checkpoint",
            str(tmp_path / "nope.npz"),
            "--out",
            str(tmp_path / "x.npz"),
        ],
    )
    assert missing.exit_code == 2 and "nope.npz" in missing.output


# === Errors ===
def test_wrong_shape_names_tensor_expected_and_received(tmp_path, tensors):
    bad = dict(tensors)
    name = "Transformer/encoderblock_1/MlpBlock_3/Dense_0/kernel"
    bad[name] = bad[name][:, :31]
    parts = build_root("vit_tiny")
    before = weights_by_key(parts)
    with pytest.raises(UserInputError) as error:
        checkpoints.load_into(parts, save_npz(tmp_path / "bad.npz", bad), SPEC)
    assert name in str(error.value) and "(16, 32)" in str(error.value)
    assert "(16, 31)" in str(error.value)
    after = weights_by_key(parts)  # nothing was assigned
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_wrong_patch_size_and_depth_are_reported(npz):
    with pytest.raises(
        UserInputError,
        match=r"'embedding/kernel' .*expected shape "
        r"\(4, 4, 3, 16\), received \(8, 8, 3, 16\)",
    ):
        System.create("vit_tiny", patch_size=4, checkpoint=npz)
    with pytest.raises(
        UserInputError,
        match=r"lacks 32 tensor.*encoderblock_2/LayerNorm_0"
        r"(.|\n)*has 2 encoder blocks, the root 4",
    ):
        System.create("vit_mini", checkpoint=npz)


def test_missing_tensor_is_named(tmp_path, tensors):
    bad = {k: v for k, v in tensors.items() if k != "Transformer/encoderblock_1/LayerNorm_2/scale"}
    with pytest.raises(UserInputError, match="encoderblock_1/LayerNorm_2/scale"):
        System.create("vit_tiny", checkpoint=save_npz(tmp_path / "bad.npz", bad))


def test_bad_position_table_and_unknown_files(tmp_path, tensors):
    bad = dict(tensors)
    bad["Transformer/posembed_input/pos_embedding"] = bad[
        "Transformer/posembed_input/pos_embedding"
    ][:, :15]
    with pytest.raises(UserInputError, match=r"posembed_input/pos_embedding.*\(1, 15, 16\)"):
        System.create("vit_tiny", checkpoint=save_npz(tmp_path / "bad.npz", bad))
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(UserInputError, match="not a checkpoint"):
        System.create("vit_tiny", checkpoint=str(text))
    with pytest.raises(UserInputError, match=r"checkpoint not found: expected .* at '.*nope"):
        System.create("vit_tiny", checkpoint=str(tmp_path / "nope.npz"))


def test_keras_hub_formats_need_the_extra(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # import keras_hub -> ImportError
    with pytest.raises(ImportError, match=r"pip install keras_evomt\[hub\]"):
        checkpoints.load_into(build_root("vit_tiny"), str(tmp_path), SPEC)


# === keras-hub ===
@pytest.mark.slow
def test_keras_hub_preset_and_weights_match(tmp_path, tensors, npz):
    keras_hub = pytest.importorskip(
        "keras_hub", reason="keras-hub not installed (pip install keras_evomt[hub])"
    )
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    by_path = {v.path: v for v in backbone.weights}
    for key in checkpoints.root_variables(build_root("vit_tiny")):
        part, inner = key.split("/", 1)
        value = tensors[ours_to_vit_jax(key)]
        if part.startswith("encoderblock_"):
            layer, rest = inner.split("/", 1)
            hub = {
                "attention_norm": "ln_1",
                "attention": "mha",
                "mlp_norm": "ln_2",
                "mlp_in": "mlp/dense_1",
                "mlp_out": "mlp/dense_2",
            }[layer]
            path = f"vit_encoder/transformer_block_{int(part[13:]) + 1}/{hub}/{rest}"
        else:
            path = {
                "embedding": "vit_patching_and_embedding/patch_embedding/" + inner[11:],
                "cls": "vit_patching_and_embedding/class_token",
                "posembed_input": "vit_patching_and_embedding/position_embedding/embeddings",
                "encoder_norm": "vit_encoder/ln/" + inner[5:],
            }[part]
        variable = by_path.pop(path)
        variable.assign(value.reshape(variable.shape))  # hub's position table is (n, d)
    assert not by_path
    backbone.save_to_preset(str(tmp_path / "preset"))
    backbone.save_weights(str(tmp_path / "vit.weights.h5"))
    x = images()
    hub_out = np.asarray(backbone(x))
    np.testing.assert_allclose(hub_out, numpy_vit(tensors, x), atol=1e-5, rtol=1e-5)
    reference = build_root("vit_tiny")
    checkpoints.load_into(reference, npz, SPEC)
    expected = weights_by_key(reference)
    for source in (tmp_path / "preset", tmp_path / "vit.weights.h5"):
        parts = build_root("vit_tiny")
        checkpoints.load_into(parts, str(source), SPEC)
        assert all(np.array_equal(v, expected[k]) for k, v in weights_by_key(parts).items())
        out = np.asarray(PathModel([c for _, c in parts])(x))
        np.testing.assert_allclose(out, hub_out, atol=1e-5, rtol=1e-5)


# === Sizes ===
@pytest.mark.slow
def test_vit_l16_has_the_reference_parameter_count():
    parts = build_root("vit_l16")
    head = ClassificationHead(2)
    head.build((None, 197, 1024))
    assert sum(c.param_count() for _, c in parts) + head.param_count() == 303_303_682
