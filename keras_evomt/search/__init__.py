"""µ2Net's evolutionary search: space, mutation, parents, scoring, population, loop.

The public names import lazily (keras_evomt/lazy.py), so a module that reads a search's
files (`search.journal`, for `evomt report`) does not bring in TensorFlow.

Example:
    from keras_evomt.search import Search, default_config
"""

from keras_evomt.lazy import lazy_attributes

_WHERE = {
    "abandon_iteration": "keras_evomt.search.abandon",
    "clone_modes": "keras_evomt.search",
    "clone_mode_names": "keras_evomt.search.clone_modes",
    "register_clone_mode": "keras_evomt.search.clone_modes",
    "default_config": "keras_evomt.search.config",
    "Search": "keras_evomt.search.loop",
    "evolve": "keras_evomt.search.loop",
    "MutationOptions": "keras_evomt.search.mutation",
    "make_candidate": "keras_evomt.search.mutation",
    "choose_parent": "keras_evomt.search.parents",
    "Population": "keras_evomt.search.population",
    "Scorer": "keras_evomt.search.scoring",
    "joins_population": "keras_evomt.search.scoring",
    "REFERENCE_DEFAULTS": "keras_evomt.search.space",
    "REFERENCE_SPACE": "keras_evomt.search.space",
    "mutate": "keras_evomt.search.space",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
