"""The hyperparameter space and µ2Net's incremental mutation.

Each mutable key has an ordered list of values; mutating moves to an adjacent
value (up or down, clipped at the ends) with probability µ. `_mu_` sorts first,
so it is mutated first and its new value drives the other keys.

Example:
    rng = np.random.default_rng(0)
    child = mutate(REFERENCE_DEFAULTS, REFERENCE_SPACE, rng, keys=model_keys(REFERENCE_SPACE))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from keras_evomt.hparams import REFERENCE_DEFAULTS, HParams  # noqa: F401 (re-exported)

REFERENCE_SPACE: dict[str, list] = {
    "_mu_": [round(0.10 + 0.02 * i, 2) for i in range(11)],
    "opt_lr": [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
    "opt_lr_warmup_ratio": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4],
    "opt_momentum": [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99],
    "opt_nesterov": [True, False],
    "ds_area_range_min": [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
    "ds_crop": [True, False],
    "ds_aspect_ratio_range_min": [0.25, 0.5, 0.75, 1.0],
    "ds_flip_left_right": [True, False],
    "ds_brightness_delta": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
    "ds_contrast_delta": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
    "ds_saturation_delta": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
    "ds_hue_delta": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
}
# Mutated in smaller configurations (on when a recipe lists them in its space).
EXTRA_SPACE: dict[str, list] = {
    "opt_lr_schedule": ["constant", "cosine", "restarts"],
    "adapter_dim": [8, 16, 32, 64, 128],
    "image_size": [16 * i for i in range(1, 25)],
}


def is_data_key(key: str) -> bool:
    """Keys shared by a whole generation: the input pipeline's (ds_*) and the image size
    (the reference's ds_image_size), so all its candidates can be fed the same batches."""
    return key.startswith("ds_") or key == "image_size"


def model_keys(space: Mapping[str, list]) -> list[str]:
    """Keys mutated when a candidate is made (all but the data keys), `_mu_` first."""
    return sorted(k for k in space if not is_data_key(k))


def data_keys(space: Mapping[str, list]) -> list[str]:
    """Keys sampled once per generation (see `is_data_key`)."""
    return sorted(k for k in space if is_data_key(k))


def mutate(
    hparams: Mapping[str, Any],
    space: Mapping[str, list],
    rng: np.random.Generator,
    *,
    keys: Iterable[str],
    mu: float | None = None,
) -> dict[str, Any]:
    """A copy of `hparams` where each of `keys` moves to an adjacent value w.p. µ.

    µ is `mu` if given, else the hparams' own `_mu_` (mutated first when in `keys`).
    """
    child = dict(hparams)
    for key in sorted(keys):
        values = list(space[key])
        if len(values) < 2:
            continue
        rate = mu if mu is not None else HParams.of(child).mu
        if rng.random() < rate:
            index = _index_of(values, child.get(key, values[0]), key)
            index = min(len(values) - 1, max(0, index + (1 if rng.random() < 0.5 else -1)))
            child[key] = values[index]
    return child


def _index_of(values: list, value: Any, key: str) -> int:
    for index, candidate in enumerate(values):
        if candidate == value or (
            isinstance(value, float)
            and isinstance(candidate, float)
            and abs(candidate - value) < 1e-12
        ):
            return index
    # A value outside the list (e.g. a recipe default): start from the closest one.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(np.argmin([abs(float(v) - float(value)) for v in values]))
    raise ValueError(f"hyperparameter {key}={value!r} is not among its values {values}.")
