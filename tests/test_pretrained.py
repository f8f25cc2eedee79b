"""Shipped pretrained roots (keras_evomt/pretrained) and the tool that makes them."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from keras_evomt import pretrained
from keras_evomt.components import checkpoints
from keras_evomt.data.offline import fashion_mnist_files_present
from keras_evomt.errors import EvomtError, UserInputError
from keras_evomt.system import System
from tests.helpers import load_tool


def test_the_shipped_root_matches_its_checksum_and_loads():
    sums = pretrained.checksums()
    assert "vit_mini_fashion_mnist.npz" in sums
    path = Path(pretrained.resolve("builtin:vit_mini_fashion_mnist"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[path.name]
    assert path.stat().st_size < 1_000_000  # a few hundred KB
    header = checkpoints.read_header(path)
    assert header["root"] == "vit_mini" and "Fashion-MNIST" in header["source"]
    system = System.create("vit_mini", image_size=32, checkpoint="builtin:vit_mini_fashion_mnist")
    assert system.info["checkpoint"] == "builtin:vit_mini_fashion_mnist"
    embedding = system.components[system.root.components[0]].get_weights()[0]
    with np.load(path) as stored:
        assert np.array_equal(embedding, stored["embedding/projection/kernel"])


def test_a_damaged_or_unknown_builtin_root_is_refused(tmp_path, monkeypatch):
    with pytest.raises(UserInputError, match="unknown built-in root"):
        pretrained.resolve("builtin:vit_huge")
    assert pretrained.resolve("/ckpt/ViT.npz") == "/ckpt/ViT.npz"
    copy = tmp_path / "roots"
    shutil.copytree(pretrained.HERE, copy)
    data = bytearray((copy / "vit_mini_fashion_mnist.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "vit_mini_fashion_mnist.npz").write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "HERE", copy)
    with pytest.raises(EvomtError, match="is damaged"):
        pretrained.resolve("builtin:vit_mini_fashion_mnist")


@pytest.mark.slow
@pytest.mark.skipif(
    not fashion_mnist_files_present(),
    reason="needs Debian's dataset-fashion-mnist (CI installs it)",
)
def test_pretrain_tool_runs_on_a_short_budget(tmp_path):
    pretrain_root = load_tool("pretrain_root")
    out = tmp_path / "root.npz"
    figures = pretrain_root.pretrain(str(out), epochs=1, batch_size=64, limit=128, seed=0)
    assert 0.0 <= figures["test_accuracy"] <= 1.0 and figures["params"] > 100_000
    system = System.create("vit_mini", image_size=32, checkpoint=str(out))
    assert system.root is not None and checkpoints.read_header(out)["root"] == "vit_mini"
