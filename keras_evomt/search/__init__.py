"""µ2Net's evolutionary search: space, mutation, parents, scoring, population, loop."""

from keras_evomt.search import clone_modes
from keras_evomt.search.clone_modes import clone_mode_names, register_clone_mode
from keras_evomt.search.config import default_config
from keras_evomt.search.loop import Search, evolve
from keras_evomt.search.mutation import MutationOptions, make_candidate
from keras_evomt.search.parents import choose_parent
from keras_evomt.search.population import Population
from keras_evomt.search.scoring import Scorer, joins_population
from keras_evomt.search.space import REFERENCE_DEFAULTS, REFERENCE_SPACE, mutate

__all__ = [
    "REFERENCE_DEFAULTS",
    "REFERENCE_SPACE",
    "MutationOptions",
    "Population",
    "Scorer",
    "Search",
    "choose_parent",
    "clone_mode_names",
    "clone_modes",
    "default_config",
    "evolve",
    "joins_population",
    "make_candidate",
    "mutate",
    "register_clone_mode",
]
