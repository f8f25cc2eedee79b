"""µ2Net's reference run: 69 image classification tasks grown into one system.

The sequence of the paper (Gesmundo & Dean 2022): ViT benchmark (3), VTAB-full
(23), Visual Domain Decathlon (10), character classification (8), VTAB-1k (25).
Root: ViT-L/16 pretrained on ImageNet-21k (AugReg checkpoint, vit_jax .npz
layout), 384x384, batch 64, 4 generations x 32 candidates per task, 4
validation rounds of min(train, 128,116) examples, the reference space.

Command:   evomt run recipes/mu2net_69.py --workdir runs/mu2net \\
               --set root.checkpoint=/ckpt/ViT-L_16_augreg_i21k.npz --set data.data_dir=/data/tfds
           (variants: vit, vtab_full, vdd, chars, vtab_1k run one benchmark each)
Hardware:  the reference used TPUv4 (one candidate per core); expect days on 8 GPUs.
Data:      the TFDS datasets, prepared beforehand (`evomt data prepare NAME --download`;
           imagenet2012, diabetic_retinopathy and others need manual downloads).
Result:    the paper reports cifar10 99.49% test accuracy and a 13.1B parameter system.

Variant `tiny` runs the whole 69-task sequence on TFDS mock data with a tiny ViT, one
candidate per task and one training step (a slow-tier test runs it); `tiny_short` runs
its first 3 tasks with 2 candidates (the everyday tests run it).

Variants `size_scale_98`, `_95`, `_90`, `_70`, `_30`, `_2` are the reference's "Size
scale" configurations: score = accuracy x (N/100) ** (accounted params / 303,303,682),
and `num_layers` mutates over 1..24 (dropping top blocks, or growing them back).
Variants combine with a comma: `mu2net_69.py:vtab_1k,size_scale_90`.
"""

from __future__ import annotations

from keras_evomt.data import list_tasks
from keras_evomt.recipe_parts import base, budget, size_scale, size_scale_names, small_vit

BENCHMARKS = ("vit", "vtab_full", "vdd", "chars", "vtab_1k")
SIZE_SCALES = (98, 95, 90, 70, 30, 2)


def get_config(variant: str | None = None):
    config = _reference()
    for part in (variant or "").split(","):
        _apply_variant(config, part.strip() or None)
    return config


def _reference():
    config = base()
    config.root.name = "vit_l16"
    config.root.image_size = 384
    config.root.patch_size = 16
    config.tasks = [t for group in BENCHMARKS for t in list_tasks(group)]
    budget(
        config,
        generations=4,
        candidates=32,
        validations=4,
        steps=0,
        batch_size=64,
        validation_examples=10_000,
    )
    config.score.base_params = 1.0  # the µ2Net run: score = validation accuracy
    config.score.ref_params = 303_303_682.0  # ViT-L/16, the notebook's reference size
    return config


def _apply_variant(config, variant: str | None) -> None:
    if variant is None:
        return
    scale = size_scale(variant, SIZE_SCALES)
    if scale is not None:
        config.score.base_params = scale
        config.space.num_layers = list(range(1, 25))
    elif variant in BENCHMARKS:
        config.tasks = list_tasks(variant)
    elif variant in ("tiny", "tiny_short"):
        small_vit(config, "vit_tiny", image_size=32, patch_size=8)
        if variant == "tiny_short":
            config.tasks = config.tasks[:3]
        budget(
            config,
            generations=1,
            candidates=2 if variant == "tiny_short" else 1,
            validations=1,
            steps=2 if variant == "tiny_short" else 1,
            batch_size=8,
            validation_examples=16 if variant == "tiny_short" else 8,
        )
        config.data.mock_examples = 64 if variant == "tiny_short" else 16
    else:
        raise ValueError(
            f"unknown variant {variant!r}; mu2net_69 has: {', '.join(BENCHMARKS)}, tiny, "
            f"tiny_short, {size_scale_names(SIZE_SCALES)}"
        )
