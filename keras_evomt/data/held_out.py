"""Data that holds only the split `evomt eval` scores: an .npz of `x_test` and `y_test`
alone, or a folder of `test/` (and/or `validation/`) without `train/`.

Example:
    task = held_out_task("flowers", "dir:/data/held_out", "test", ["daisy", "rose"])
"""

from __future__ import annotations

from keras_evomt.data.catalog import absolute_spec
from keras_evomt.data.npz import npz_test_task
from keras_evomt.data.sources import held_out_loader, split_folders
from keras_evomt.data.task import Task
from keras_evomt.errors import UserInputError

FOLDER_OF = {"train": "train/", "validation": "validation/", "test": "test/"}


def held_out_task(
    name: str, source: str, split: str, class_names: list[str] | None = None
) -> Task | None:
    """The task of `source` when it holds the split to score alone; None when it is a
    task's whole data (read it with `get_task`). A folder's labels follow `class_names`,
    the trained task's, so a test folder may lack a class."""
    kind, _, path = absolute_spec(source).partition(":")
    if kind == "npz" and split == "test":
        return npz_test_task(name, path)
    if kind != "dir":
        return None
    layout = split_folders(path)
    if layout is None or "train" in layout:
        return None
    if split not in layout:
        held = sorted(layout, key=list(FOLDER_OF).index)
        raise UserInputError(
            f"{path} holds {' and '.join(FOLDER_OF[s] for s in held)}, not the {split} split "
            f"(and no train/ to carve it from)",
            hint=f"score a split it holds: --split {held[0]}",
        )
    loader, names = held_out_loader(layout[split], class_names)
    return Task(
        name,
        num_classes=len(names),
        source=f"directory:{path}",
        loader=loader,
        class_names=names,
    )
