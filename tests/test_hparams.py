"""keras_evomt.hparams: the one place of the hyperparameter defaults."""

import ast
import dataclasses
import pathlib

import pytest

from keras_evomt.hparams import (
    DATA_HPARAM_DEFAULTS,
    REFERENCE_DEFAULTS,
    STRUCTURE_KEYS,
    HParams,
)

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_evomt"
FIELDS = {field.name for field in dataclasses.fields(HParams)}
READERS = ["training/trainer.py", "training/schedules.py", "search/mutation.py", "search/space.py"]


def test_reference_values_unchanged():
    # The µ2Net reference notebook's values (as they were before they moved here).
    assert REFERENCE_DEFAULTS == {
        "_mu_": 0.2,
        "opt_lr": 0.01,
        "opt_lr_schedule": "cosine",
        "opt_lr_warmup_ratio": 0.05,
        "opt_momentum": 0.9,
        "opt_nesterov": False,
        "ds_area_range_min": 0.05,
        "ds_crop": True,
        "ds_aspect_ratio_range_min": 0.75,
        "ds_flip_left_right": True,
        "ds_brightness_delta": 0.0,
        "ds_contrast_delta": 0.0,
        "ds_saturation_delta": 0.0,
        "ds_hue_delta": 0.0,
        "adapter_dim": 32,
    }
    assert DATA_HPARAM_DEFAULTS == {k: v for k, v in REFERENCE_DEFAULTS.items() if "ds_" in k}


def test_of_fills_defaults_and_ignores_other_keys():
    # A saved path's hparams hold structural and unknown keys too.
    typed = HParams.of({"opt_lr": 0.5, "image_size": 32, "adapter_layers": [1], "other": 1})
    assert typed.opt_lr == 0.5 and typed.opt_momentum == 0.9 and typed.mu == 0.2
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.opt_lr = 1.0


def test_defaults_cover_every_key_the_space_mutates():
    from keras_evomt.search.config import default_config
    from keras_evomt.search.space import EXTRA_SPACE, REFERENCE_SPACE

    mutated = set(REFERENCE_SPACE) | set(EXTRA_SPACE) | {"num_layers"}
    assert mutated - set(STRUCTURE_KEYS) <= FIELDS
    assert default_config().defaults.to_dict() == REFERENCE_DEFAULTS


def _string_keys(tree: ast.AST) -> set[str]:
    """Keys read as `x.get("key", ...)` or `x["key"]`."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get" and node.args:
            first = node.args[0]
        elif isinstance(node, ast.Subscript):
            first = node.slice
        else:
            continue
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            keys.add(first.value)
    return keys


def _hparam_like(key: str) -> bool:
    return key == "_mu_" or key.startswith(("opt_", "ds_", "adapter_")) or key in STRUCTURE_KEYS


@pytest.mark.parametrize("module", READERS)
def test_every_key_read_by_trainer_schedules_mutation_is_known(module):
    tree = ast.parse((PACKAGE / module).read_text())
    read = {key for key in _string_keys(tree) if _hparam_like(key)}
    assert read <= FIELDS | set(STRUCTURE_KEYS), read - FIELDS - set(STRUCTURE_KEYS)
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)} & {
        name for name in dir(HParams) if not name.startswith("__")
    }
    assert attributes <= FIELDS | {"mu", "of", "as_dict"}


def _repeated_defaults(source: str) -> list[int]:
    """Lines of `source` with `x.get("<hparam>", <literal>)`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "get"
            and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in FIELDS
        ):
            try:
                ast.literal_eval(node.args[1])
            except ValueError:
                continue  # not a literal (e.g. the parent's value)
            lines.append(node.lineno)
    return lines


def test_no_module_repeats_a_default():
    """Defaults live in HParams: no module of the package spells one again."""
    offenders = [
        f"{file.relative_to(PACKAGE)}:{line}"
        for file in sorted(PACKAGE.rglob("*.py"))
        for line in _repeated_defaults(file.read_text())
    ]
    assert not offenders


def test_the_scan_finds_a_repeated_default():
    source = 'a = hparams.get("opt_lr", 0.01)\nb = hparams.get("image_size", parent.size)\n'
    source += 'c = hparams.get("adapter_dim", -1)\n'
    assert _repeated_defaults(source) == [1, 3]
