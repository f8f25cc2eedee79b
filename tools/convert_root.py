"""Converts a pretrained ViT checkpoint once into a ready keras_evomt root.

The ready root holds only what the root uses (no head), in our own names, with the
position embeddings already resized to the image size, so later runs load it directly:

    python tools/convert_root.py --root vit_l16 --image-size 384 \
        --checkpoint L_16-i21k-300ep-lr_0.001-aug_strong1-wd_0.1-do_0.0-sd_0.0.npz \
        --out roots/vit_l16_384.npz
    evomt run recipes/mu2net_69.py:vit --workdir runs/vit \
        --set root.checkpoint=roots/vit_l16_384.npz

Reads what `keras_evomt.components.checkpoints.load_into` reads (vit_jax/big_vision .npz,
keras-hub preset or .weights.h5). Exit status 2 on bad input, with the reason.
"""

from __future__ import annotations

import sys

import click

from keras_evomt.components import ROOTS
from keras_evomt.errors import UserInputError


@click.command()
@click.option(
    "--root",
    "root",
    required=True,
    type=click.Choice(sorted(ROOTS)),
    help="Named root the checkpoint is for, e.g. vit_l16.",
)
@click.option(
    "--checkpoint", required=True, type=click.Path(), help="The pretrained checkpoint to convert."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the ready root (.npz).",
)
@click.option(
    "--image-size",
    type=int,
    default=None,
    help="Image size of the root (default: the root's own, e.g. 224).",
)
@click.option("--patch-size", type=int, default=None, help="Patch size (default: the root's).")
def main(
    root: str, checkpoint: str, out: str, image_size: int | None, patch_size: int | None
) -> None:
    """Converts CHECKPOINT into a ready root for ROOT at IMAGE_SIZE, written to OUT."""
    from keras_evomt.components import checkpoints

    try:
        summary = checkpoints.convert_root(
            root, checkpoint, out, image_size=image_size, patch_size=patch_size
        )
    except UserInputError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    spec = summary["spec"]
    click.echo(
        f"wrote {summary['out']}: {root} at {spec['image_size']}px, patch "
        f"{spec['patch_size']}, {summary['params']:,} parameters (from "
        f"{summary['source']})."
    )


if __name__ == "__main__":
    main()
