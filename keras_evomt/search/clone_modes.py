"""Clone modes: how a candidate takes over the parent's components its task may not
train, registered by name (`mutation.clone_mode`), so a recipe can add its own.

µ2Net's own mode is 'mu'; the baselines are the others ('all': fine-tune all;
'freeze_bottom'; 'adapters'; 'scratch': independent models).

Example:
    @register_clone_mode("blocks_only")
    def _blocks(component, layer_index, mu, rng, options):
        return component.role == "block"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras_evomt.components.base import BLOCK
from keras_evomt.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class CloneMode:
    """How a candidate takes over a parent's component that its task may not train.

    rule(component, layer_index, mu, rng, options) -> whether to clone it (layer_index
    is -1 outside the encoder layers); `fresh`: clones are re-initialised at random;
    `adapters`: an adapter before every block.
    """

    rule: Callable[..., bool]
    fresh: bool = False
    adapters: bool = False


_CLONE_MODES: dict[str, CloneMode] = {}


def register_clone_mode(name: str, *, fresh: bool = False, adapters: bool = False):
    """Registers a clone rule under `name` (`mutation.clone_mode=name`); a recipe may
    register its own.

    Example:
        @register_clone_mode("blocks_only")
        def _blocks(component, layer_index, mu, rng, options):
            return isinstance(component, EncoderBlock)
    """

    def register(rule: Callable[..., bool]) -> Callable[..., bool]:
        _CLONE_MODES[name] = CloneMode(rule, fresh=fresh, adapters=adapters)
        return rule

    return register


def clone_mode_names() -> list[str]:
    return list(_CLONE_MODES)


def clone_mode(name: str) -> CloneMode:
    """The registered clone mode `name`, else a UserInputError listing them."""
    if name not in _CLONE_MODES:
        raise UserInputError(
            f"config mutation.clone_mode={name!r} is invalid: use one of "
            f"{', '.join(clone_mode_names())}."
        )
    return _CLONE_MODES[name]


@register_clone_mode("mu")
def _clone_mu(component, layer_index, mu, rng, options) -> bool:
    """µ2Net: each component w.p. µ."""
    return bool(rng.random() < mu)


@register_clone_mode("all")
def _clone_all(component, layer_index, mu, rng, options) -> bool:
    """Fine-tune all: every component."""
    return True


@register_clone_mode("freeze_bottom")
def _clone_top_blocks(component, layer_index, mu, rng, options) -> bool:
    """The blocks from `freeze_bottom` up; the embeddings and the bottom blocks are shared."""
    return component.role == BLOCK and layer_index >= options.freeze_bottom


@register_clone_mode("adapters", adapters=True)
def _clone_none(component, layer_index, mu, rng, options) -> bool:
    """Adapters: the root is shared, an adapter trains before every block."""
    return False


register_clone_mode("scratch", fresh=True)(_clone_all)  # independent models
