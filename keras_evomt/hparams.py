"""A path's hyperparameters: the reference defaults, in one place.

A path stores its hyperparameters as a plain dict (`Path.hparams`, saved as JSON), and
a recipe's `config.defaults` starts from `REFERENCE_DEFAULTS`. Code that reads a
hyperparameter a path may lack reads it through `HParams.of(hparams)`, whose fields
carry the defaults; no other module repeats a default value.

The structural keys (`STRUCTURE_KEYS`: image size, number of layers, layers with an
adapter) have no constant default: a candidate without them keeps its parent's.

Example:
    HParams.of({"opt_lr": 0.1}).opt_momentum  # 0.9
    REFERENCE_DEFAULTS["opt_lr"]  # 0.01
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

STRUCTURE_KEYS = ("image_size", "num_layers", "adapter_layers")


@dataclasses.dataclass(frozen=True)
class HParams:
    """The µ2Net reference hyperparameters of a path (field names are the dict keys)."""

    _mu_: float = 0.2  # mutation probability
    opt_lr: float = 0.01
    opt_lr_schedule: str = "cosine"
    opt_lr_warmup_ratio: float = 0.05
    opt_momentum: float = 0.9
    opt_nesterov: bool = False
    # The input pipeline's (data.pipeline).
    ds_area_range_min: float = 0.05
    ds_crop: bool = True
    ds_aspect_ratio_range_min: float = 0.75
    ds_flip_left_right: bool = True
    ds_brightness_delta: float = 0.0
    ds_contrast_delta: float = 0.0
    ds_saturation_delta: float = 0.0
    ds_hue_delta: float = 0.0
    adapter_dim: int = 32  # width of a new residual adapter

    @classmethod
    def of(cls, hparams: Mapping[str, Any]) -> HParams:
        """The known keys of `hparams` over the defaults; other keys are ignored.

        Example:
            HParams.of({"_mu_": 0.5, "image_size": 32}).mu  # 0.5
        """
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in hparams.items() if key in names})

    @property
    def mu(self) -> float:
        return float(self._mu_)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


REFERENCE_DEFAULTS: dict[str, Any] = HParams().as_dict()
DATA_HPARAM_DEFAULTS: dict[str, Any] = {
    key: value for key, value in REFERENCE_DEFAULTS.items() if key.startswith("ds_")
}
