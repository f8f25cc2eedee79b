"""A task's population (search/population.py)."""

import json

from keras_evomt.path import Path
from keras_evomt.search import Population


def test_ties_rank_older_first_and_the_best_is_the_newest():
    population = Population.start("a", ["root"], None)
    for serial in range(3):
        path = Path(task="a", components=[], hparams={"image_size": 32}, id=f"a#{serial}")
        population.add(path, quality=0.5, score=0.5)
    assert population.ranked_ids() == ["a#0", "a#1", "a#2"]
    assert population.best().id == "a#2"


def test_population_state_round_trips():
    population = Population.start("a", ["root"], None)
    population.offspring["root"] = 2
    assert Population.from_state(json.loads(json.dumps(population.get_state()))) == population


def test_ids_continue_over_visits():
    kept = Path(task="a", components=[], hparams={"image_size": 32}, id="a#1")
    revisit = Population.start("a", ["root"], kept, serial=4)  # a#2, a#3 were dropped
    assert revisit.new_id() == "a#4"
    # A state written before serials were kept: numbered after the kept path.
    assert Population.start("a", ["root"], kept).new_id() == "a#2"
