"""Starting points of EM: random rows, k-means++ seeds, spread-based covariances.

Memory stays bounded by the data plus one float64 per row: k-means++ is
chunked (the distances to the closest seed are the only row-sized array;
the next seed is drawn by inverse transform over chunked cumulative sums,
which consumes one uniform number per seed, as ``rng.choice(n, p=p)``
does), and the covariance spread is estimated on at most 100,000 rows (drawn with
``rng.choice``, whose RandomState form permutes the row indices: 8 bytes a
row for the moment of the draw).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

__all__ = [
    "kmeans_plus_plus",
    "mean_pairwise_abs_difference",
    "random_initial_means",
    "random_rows",
    "subsample_rows",
]

_CHUNK_ROWS = 1 << 16


def _uniform(rng: Any) -> float:
    """One uniform number in [0, 1), from a RandomState or a Generator."""
    if isinstance(rng, np.random.Generator):
        return float(rng.random())
    return float(rng.random_sample())


def _draw(rng: Any, mass: Any, n: int, total: float) -> int:
    """Index i with probability mass(i) / total, by one uniform draw.

    ``mass(start, stop)`` returns the non-negative masses of rows
    [start, stop); they are summed chunk by chunk, never stored for all rows.
    """
    target = _uniform(rng) * total
    running = 0.0
    last_positive = -1
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        chunk = mass(start, stop)
        sums = np.cumsum(chunk) + running
        # searchsorted(..., side="right"): the first cumulative sum above the
        # target, as rng.choice's inverse transform does.
        index = int(np.searchsorted(sums, target, side="right"))
        if index < chunk.size:
            return start + index
        positive = np.flatnonzero(chunk > 0)
        if positive.size:
            last_positive = start + int(positive[-1])
        running = float(sums[-1])
    # Rounding put the target at the very end: take the last row with mass.
    return last_positive


def kmeans_plus_plus(
    X: np.ndarray, n_components: int, rng: Any, weights: np.ndarray | None = None
) -> np.ndarray:
    """Indices of k-means++ seeds (Arthur & Vassilvitskii 2007), in bounded memory.

    The first seed is drawn with probability proportional to ``weights``
    (uniformly without: with a RandomState by gmr's ``randint(0, n, 1)``, the
    same row as gmr's); each next seed with probability proportional to the
    weighted squared distance to its **closest** already chosen seed. When
    every remaining point coincides with a seed, the next one is drawn among
    the rows not yet chosen (with positive weight if there are any).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    n_components : int
    rng : numpy RandomState or Generator
    weights : ndarray, shape (n,), optional

    Returns
    -------
    seeds : ndarray of int, shape (n_components,)
        Distinct row indices.
    """
    n = X.shape[0]
    chosen = np.empty(n_components, dtype=np.intp)

    def weight(start: int, stop: int) -> np.ndarray:
        return np.ones(stop - start) if weights is None else weights[start:stop]

    def excluding_chosen(values: np.ndarray, start: int, count: int) -> np.ndarray:
        taken = chosen[:count]
        local = taken[(taken >= start) & (taken < start + values.size)] - start
        values[local] = 0.0
        return values

    total_weight = float(n if weights is None else weights.sum())
    if weights is None and isinstance(rng, np.random.RandomState):
        # gmr's first center, choice(n, 1) = randint(0, n, 1): the same row, and
        # the same use of the stream (each next center takes one uniform number,
        # as gmr's choice(n, 1, p=...) does, so the stream stays aligned with gmr's).
        chosen[0] = int(rng.randint(0, n, size=1)[0])
    else:
        chosen[0] = _draw(rng, weight, n, total_weight)
    closest_sq = np.full(n, np.inf)
    _update_closest(closest_sq, X, X[chosen[0]])
    for j in range(1, n_components):
        # Sequential over the k seeds by definition; each step is vectorized
        # over chunks of rows.
        def mass(start: int, stop: int, j: int = j) -> np.ndarray:
            return excluding_chosen(closest_sq[start:stop] * weight(start, stop), start, j)

        total = _chunked_sum(mass, n)
        if not total > 0:

            def mass(start: int, stop: int, j: int = j) -> np.ndarray:
                return excluding_chosen((weight(start, stop) > 0).astype(np.float64), start, j)

            total = _chunked_sum(mass, n)
            if not total > 0:

                def mass(start: int, stop: int, j: int = j) -> np.ndarray:
                    return excluding_chosen(np.ones(stop - start), start, j)

                total = float(n - j)
        chosen[j] = _draw(rng, mass, n, total)
        _update_closest(closest_sq, X, X[chosen[j]])
    return chosen


def _chunked_sum(mass: Any, n: int) -> float:
    return float(
        sum(mass(start, min(start + _CHUNK_ROWS, n)).sum() for start in range(0, n, _CHUNK_ROWS))
    )


def _update_closest(closest_sq: np.ndarray, X: np.ndarray, center: np.ndarray) -> None:
    """closest_sq = min(closest_sq, |x - center|^2) row by row, chunked and in place."""
    center = center.astype(np.float64)
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        diff = X[start : start + _CHUNK_ROWS] - center
        part = closest_sq[start : start + _CHUNK_ROWS]
        np.minimum(part, np.einsum("ij,ij->i", diff, diff), out=part)


def mean_pairwise_abs_difference(X: np.ndarray) -> np.ndarray:
    """Mean |x_a - x_b| over all pairs a < b, per column, in O(n log n).

    For sorted values s_0 <= ... <= s_{n-1}, sum_{a<b} (s_b - s_a) =
    sum_i (2 i - n + 1) s_i.
    """
    n = X.shape[0]
    if n < 2:
        return np.zeros(X.shape[1])
    ordered = np.sort(X.astype(np.float64, copy=False), axis=0)
    coeff = 2.0 * np.arange(n) - n + 1.0
    return (coeff @ ordered) / (n * (n - 1) / 2.0)


_SPREADS: list = []  # (weakref to an array, fingerprint, spread), most recent last
_SPREADS_LOCK = threading.Lock()


def data_spread(X: np.ndarray) -> np.ndarray:
    """:func:`mean_pairwise_abs_difference` of X, remembered for the last few arrays.

    A grid of fits (model selection, ``n_init`` runs) initializes again and
    again from the same rows, and this O(n log n) sort per column can cost
    more than the EM iterations. An entry is found by the array object itself
    and checked against a fingerprint of its contents (the column sums of x
    and x^2, a pass without temporaries), so an array changed in place is
    computed again.
    """
    fingerprint = np.concatenate(
        [X.sum(axis=0, dtype=np.float64), np.einsum("ij,ij->j", X, X, dtype=np.float64)]
    )
    with _SPREADS_LOCK:
        for ref, known, spread in _SPREADS:
            if ref() is X and np.array_equal(known, fingerprint, equal_nan=True):
                return spread.copy()
    spread = mean_pairwise_abs_difference(X)
    try:
        ref = weakref.ref(X)
    except TypeError:  # an object that takes no weak references: not remembered
        return spread
    with _SPREADS_LOCK:
        _SPREADS[:] = [entry for entry in _SPREADS if entry[0]() is not None][-3:]
        _SPREADS.append((ref, fingerprint, spread.copy()))
    return spread


def random_rows(
    n: int, n_components: int, rng: Any, weights: np.ndarray | None = None
) -> np.ndarray:
    """Indices of ``n_components`` distinct rows drawn at random (weighted if given).

    With a RandomState this is gmr 2.0.3's draw, ``rng.choice(n, k)`` (with
    replacement; ``p`` added for weights), so a seeded fit starts where
    gmr's does. gmr may pick the same row twice, which gives two identical
    components that EM never separates; those picks are redrawn, in order,
    from the rows not yet picked (``rng.choice(rest, m, replace=False)``),
    which consumes more of the stream only when a repeat happened. With a
    Generator: ``rng.choice(n, k, replace=False)``.

    Parameters
    ----------
    n : int
        Number of rows, at least n_components.
    n_components : int
    rng : numpy RandomState or Generator
    weights : ndarray, shape (n,), optional
        Non-negative row weights; used as probabilities when at least
        n_components rows have a positive weight (otherwise ignored).

    Returns
    -------
    rows : ndarray of int, shape (n_components,)
        Distinct row indices.
    """
    p = None
    if weights is not None:
        positive = int((weights > 0).sum())
        p = weights / weights.sum() if positive >= n_components else None
    if not isinstance(rng, np.random.RandomState):
        return rng.choice(n, size=n_components, replace=False, p=p)
    rows = rng.choice(n, size=n_components, p=p)
    first = np.zeros(n_components, dtype=bool)
    first[np.unique(rows, return_index=True)[1]] = True
    repeats = np.flatnonzero(~first)
    if repeats.size:
        rest = np.setdiff1d(np.arange(n), rows[first], assume_unique=True)
        p_rest = None
        if p is not None:
            p_rest = p[rest] / p[rest].sum()
        rows[repeats] = rng.choice(rest, size=repeats.size, replace=False, p=p_rest)
    return rows


def random_initial_means(
    X: np.ndarray, n_components: int, rng: Any, weights: np.ndarray | None = None
) -> np.ndarray:
    """Means drawn from distinct data rows (:func:`random_rows`); shape (k, d), float64."""
    return X[random_rows(X.shape[0], n_components, rng, weights)].astype(np.float64)


def subsample_rows(X: np.ndarray, rng: Any, limit: int = 100_000) -> np.ndarray:
    """At most ``limit`` distinct rows of X, drawn at random, in row order.

    ``rng.choice`` without replacement, as before the engine existed, so
    seeded fits keep their random stream; with a RandomState it permutes the
    n row indices (8 bytes a row for the moment of the draw).
    """
    if X.shape[0] <= limit:
        return X
    return X[np.sort(rng.choice(X.shape[0], size=limit, replace=False))]
