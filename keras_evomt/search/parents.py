"""Parent selection: µ2Net's 0.5 ** offspring rule over population, then seeds.

Example:
    choose_parent(["digits#3", "digits#1"], ["textures", "root"], {"digits#3": 2}, rng)
"""

from __future__ import annotations

import numpy as np


def choose_parent(
    population: list[str], seeds: list[str], offspring: dict[str, int], rng: np.random.Generator
) -> str:
    """Walks `population` (best first), then `seeds`; accepts each w.p. 0.5**children.

    If none is accepted, picks uniformly among all of them. After a seed is chosen the
    seeds rotate (in place) so that the next walk starts after it, as in the reference.
    """
    for candidates in (population, seeds):
        for index, pid in enumerate(candidates):
            if rng.random() < 0.5 ** offspring.get(pid, 0):
                if candidates is seeds:
                    seeds[:] = seeds[index + 1 :] + seeds[: index + 1]
                return pid
    everyone = population + seeds
    if not everyone:
        raise ValueError("no parent to choose from: the population and the seeds are empty.")
    return everyone[int(rng.integers(len(everyone)))]
