"""The search state (search/state.py)."""

import pytest

from keras_evomt.search import Population


def test_search_state_round_trips_and_keeps_bookkeeping_per_system_state(tmp_path):
    from keras_evomt.search.state import SearchState

    class Saved:  # stands for a System: numbered saves
        number = 0

        def save(self, workdir, keep):
            self.number += 1
            return self.number

    state, system = SearchState.new(seed=3), Saved()
    in_flight = Population.start("a", ["root"], None)
    state.rng.random()
    for position in range(4):
        state.position = position
        state.offspring["a"] = {"root": position}  # in place, as the search does
        state.serials["a"] = 10 + position
        state.candidates_log_bytes = 100 * position
        # States 1-2 end task iterations; state 3 begins one, still in flight at state 4.
        state.population = in_flight if position >= 2 else None
        state.commit(tmp_path, system, keep=2)
    opened = SearchState.open(tmp_path, seed=3)
    assert opened.to_dict() == state.to_dict() and opened.population == state.population
    assert sorted(opened.checkpoints) == ["3", "4"]  # as many as the system states kept
    opened.serials["b"] = 4
    opened.population.serial = 20
    opened.rewind_to(3, info={})
    assert opened.position == 2 and opened.offspring == {"a": {"root": 2}}
    # The log is cut back to where the iteration in flight began (state 2's length).
    assert opened.candidates_log_bytes == 100
    assert opened.serials == {"a": 20, "b": 4}  # numbers never go back: no id is reused
    assert opened.population is None
    # Version 1 kept the bookkeeping in the system's info: taken over on opening.
    legacy = SearchState.from_dict({"version": 1, "position": 1}, seed=3)
    info = {"offspring": {"a": {"root": 5}}, "sequence_position": 1, "root": "vit_tiny"}
    legacy.adopt_legacy(info)
    assert legacy.offspring == {"a": {"root": 5}} and info == {"root": "vit_tiny"}


def test_a_damaged_state_file_is_named_with_what_to_do(tmp_path):
    from keras_evomt.errors import CorruptStateError
    from keras_evomt.search.state import SearchState

    SearchState.file(tmp_path).parent.mkdir(parents=True)
    SearchState.file(tmp_path).write_text('{"version": 2, ')  # cut short
    with pytest.raises(CorruptStateError, match="state.json is not readable JSON") as error:
        SearchState.open(tmp_path, seed=0)
    assert "restore it from a backup" in str(error.value) and "eval, export" in str(error.value)
