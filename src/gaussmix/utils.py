"""Small helpers shared with gmr's public API."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_random_state"]


def check_random_state(seed: Any) -> np.random.RandomState | np.random.Generator:
    """Turn ``seed`` into a random number generator.

    Parameters
    ----------
    seed : None, int, numpy.random.RandomState or numpy.random.Generator
        None (or the ``numpy.random`` module) gives numpy's global
        RandomState; an integer gives a new RandomState seeded with it; a
        RandomState or Generator is returned unchanged.

    Returns
    -------
    rng : numpy.random.RandomState or numpy.random.Generator

    Raises
    ------
    ValueError
        If ``seed`` is none of the above.

    Examples
    --------
    >>> from gaussmix.utils import check_random_state
    >>> rng = check_random_state(0)
    >>> check_random_state(rng) is rng
    True
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= int(seed) < 2**32:
            raise ValueError(
                f"random_state={seed} is not a valid seed; use an integer in [0, 2**32 - 1], "
                "None, a numpy.random.RandomState or a numpy.random.Generator"
            )
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState | np.random.Generator):
        return seed
    raise ValueError(
        f"random_state={seed!r} cannot be used to seed a random number generator; use "
        "None, an int, a numpy.random.RandomState or a numpy.random.Generator"
    )
