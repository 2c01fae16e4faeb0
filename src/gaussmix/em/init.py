"""Starting points of EM: random rows, k-means++ seeds, spread-based covariances, k-means.

Memory stays bounded by the data plus one float64 per row: k-means++ is
chunked (the distances to the closest seed are the only row-sized array;
the next seed is drawn by inverse transform over chunked cumulative sums,
which consumes one uniform number per seed, as ``rng.choice(n, p=p)``
does), and the covariance spread is estimated on at most 100,000 rows (drawn with
``rng.choice``, whose RandomState form permutes the row indices: 8 bytes a
row for the moment of the draw).

:func:`kmeans_start` (``select_model(init_params="kmeans")``) works on a
subsample of bounded size: greedy k-means++ seeds, Lloyd iterations and the
moments of the resulting partition, all batched over rows.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from .agglomerative import HC_ROWS, Hierarchy
from .families import project_covariances

__all__ = [
    "greedy_kmeans_plus_plus",
    "initial_parameters",
    "kmeans_plus_plus",
    "kmeans_start",
    "lloyd",
    "mean_pairwise_abs_difference",
    "mixture_log_likelihood",
    "partition_moments",
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
    """Mean ``|x_a - x_b|`` over all pairs a < b, per column, in O(n log n).

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


def greedy_kmeans_plus_plus(
    X: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    n_trials: int | None = None,
) -> np.ndarray:
    """Indices of greedy k-means++ seeds (Arthur & Vassilvitskii 2007, section 5).

    As scikit-learn's ``kmeans_plusplus``: the first seed is drawn with
    probability proportional to ``weights`` (uniformly without); each next
    step draws ``n_trials`` candidates (default 2 + int(ln k)) with
    probability proportional to the weighted squared distance to the closest
    seed so far, and keeps the one that lowers the potential (the weighted sum
    of those squared distances) most. The candidates of a step are evaluated
    at once (an (n, n_trials) array of distances), so X should be a
    subsample of moderate size (:func:`kmeans_start` passes at most
    ``sample_rows``).

    Random stream, per step: ``rng.random(n_trials)`` (the first seed: one
    ``rng.random()``), each number times the potential located by
    ``searchsorted`` in the cumulative sums of the masses (rows with no mass
    are never drawn; when every mass is zero the candidates are the first
    rows not yet chosen).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    n_components : int
        At most n.
    rng : numpy Generator
    weights : ndarray, shape (n,), optional
        Non-negative row weights.
    n_trials : int, optional
        Candidates per step; 1 gives plain (non-greedy) k-means++.

    Returns
    -------
    seeds : ndarray of int, shape (n_components,)
        Distinct row indices (when X has that many distinct rows).
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if n_trials is None:
        n_trials = 2 + int(np.log(n_components))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    chosen = np.empty(n_components, dtype=np.intp)
    taken = np.zeros(n, dtype=bool)

    def draw(mass: np.ndarray, count: int) -> np.ndarray:
        sums = np.cumsum(mass)
        total = sums[-1] if n else 0.0
        if not total > 0:
            free = np.flatnonzero(~taken)
            return free[np.arange(count) % free.size]
        targets = rng.random(count) * total
        index = np.searchsorted(sums, targets, side="right")
        return np.minimum(index, n - 1)

    chosen[0] = draw(w, 1)[0]
    taken[chosen[0]] = True
    closest = _squared_distances(X, X[chosen[0]][None, :])[:, 0]
    for j in range(1, n_components):
        # Sequential over the k seeds by definition; each step is vectorized.
        mass = closest * w
        mass[taken] = 0.0
        candidates = draw(mass, n_trials)
        trial = np.minimum(closest[:, None], _squared_distances(X, X[candidates]))
        potentials = w @ trial
        best = int(np.argmin(potentials))
        chosen[j] = candidates[best]
        taken[chosen[j]] = True
        closest = trial[:, best].copy()
    return chosen


def _squared_distances(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """|x_i - c_j|^2, shape (n, m), by the expansion (clipped at 0)."""
    out = np.einsum("ij,ij->i", X, X)[:, None] - 2.0 * (X @ centers.T)
    out += np.einsum("ij,ij->i", centers, centers)[None, :]
    return np.maximum(out, 0.0, out=out)


def _cluster_sums(X: np.ndarray, labels: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """sum_i w_i x_i over the rows of every label, shape (k, d): one bincount per feature."""
    return np.stack(
        [np.bincount(labels, weights=w * X[:, f], minlength=k) for f in range(X.shape[1])],
        axis=1,
    )


def lloyd(
    X: np.ndarray,
    centers: np.ndarray,
    weights: np.ndarray | None = None,
    n_iter: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means iterations from ``centers``, until no label changes or ``n_iter``.

    Each iteration assigns every row to its closest center and moves every
    center to the weighted mean of its rows; a center left without rows is
    moved onto the row farthest from its own center (as scikit-learn does
    for empty clusters), so k clusters stay in use.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    centers : ndarray, shape (k, d)
    weights : ndarray, shape (n,), optional
    n_iter : int, default=10

    Returns
    -------
    centers : ndarray, shape (k, d)
    labels : ndarray of int, shape (n,)
        The closest center of every row under the returned centers.
    """
    X = np.asarray(X, dtype=np.float64)
    centers = np.array(centers, dtype=np.float64)
    k = centers.shape[0]
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    labels = _closest(X, centers)
    for _ in range(n_iter):
        mass = np.bincount(labels, weights=w, minlength=k)
        sums = _cluster_sums(X, labels, w, k)
        empty = np.flatnonzero(mass <= 0)
        filled = mass > 0
        if empty.size:
            diff = X - centers[labels]
            own = np.einsum("ij,ij->i", diff, diff)
            own[w <= 0] = -1.0
            far = np.argsort(own, kind="stable")[::-1][: empty.size]
        centers[filled] = sums[filled] / mass[filled, None]
        if empty.size:
            centers[empty] = X[far]
        new = _closest(X, centers)
        if np.array_equal(new, labels) and not empty.size:
            break
        labels = new
    return centers, labels


def _closest(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the closest center of every row (|x|^2 left out: it does not change the order)."""
    scores = X @ (-2.0 * centers.T)
    scores += np.einsum("ij,ij->i", centers, centers)[None, :]
    return np.argmin(scores, axis=1)


def partition_moments(
    X: np.ndarray,
    labels: np.ndarray,
    n_components: int,
    weights: np.ndarray | None = None,
    reg_covar: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Priors, means and full covariances of a hard partition (an M-step of 0/1 responsibilities).

    A cluster with at most d rows of weight (whose covariance would be
    singular) takes the pooled within-cluster covariance instead, and a
    cluster without weight also the overall mean; ``reg_covar`` is added to
    every diagonal, as the M-step does.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    labels : ndarray of int, shape (n,)
        Values in [0, n_components).
    n_components : int
    weights : ndarray, shape (n,), optional
    reg_covar : float, default=1e-6

    Returns
    -------
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
    """
    X = np.asarray(X, dtype=np.float64)
    k, d = n_components, X.shape[1]
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    mass = np.bincount(labels, weights=w, minlength=k)
    total = mass.sum()
    overall = (w @ X) / total
    sums = _cluster_sums(X, labels, w, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(mass[:, None] > 0, sums / mass[:, None], overall)
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=k))
    centered = X[order] - means[labels[order]]
    weighted = centered * w[order, None]
    scatter = np.zeros((k, d, d))
    for j in range(k):  # one product per cluster (a slice of the sorted rows), not per row
        rows = slice(ends[j - 1] if j else 0, ends[j])
        scatter[j] = weighted[rows].T @ centered[rows]
    pooled = scatter.sum(axis=0) / total
    counts = np.bincount(labels, weights=(w > 0).astype(np.float64), minlength=k)
    sound = counts > d
    covariances = np.where(
        sound[:, None, None], scatter / np.where(sound, mass, 1.0)[:, None, None], pooled
    )
    covariances = covariances + reg_covar * np.eye(d)
    priors = np.maximum(mass, 0.0) / total
    if not (priors > 0).all():
        priors = (mass + total / (k * X.shape[0])) / (total + total / X.shape[0])
    return priors, means, covariances


def kmeans_start(
    X: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    *,
    reg_covar: float = 1e-6,
    sample_rows: int = 20_000,
    kmeans_rows: int = 2048,
    n_lloyd: int = 10,
    n_starts: int = 1,
    covariance_type: str = "full",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A starting mixture from k-means: greedy k-means++, Lloyd, and the partition's moments.

    1. At most ``sample_rows`` rows of X are drawn at random (all when
       there are fewer), and of those at most ``kmeans_rows`` for k-means.
    2. ``n_starts`` times: :func:`greedy_kmeans_plus_plus` seeds, then up
       to ``n_lloyd`` :func:`lloyd` iterations. With more than one start,
       the one whose partition's moments (projected on ``covariance_type``)
       give the k-means rows the highest likelihood is kept.
    3. Every row of the sample goes to its closest center, and the start is
       :func:`partition_moments` of that partition: the M-step of hard
       responsibilities, as scikit-learn's ``init_params="kmeans"`` starts.

    EM then begins near a local optimum, where
    :meth:`GMM.from_samples`'s start (k-means++ seeds, equal priors,
    covariances from the data's spread) is still far from one.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    n_components : int
        At most the number of rows.
    rng : numpy Generator
    weights : ndarray, shape (n,), optional
        Non-negative row weights.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    sample_rows : int, default=20000
    kmeans_rows : int, default=2048
    n_lloyd : int, default=10
    n_starts : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        The structure the starts are ranked in (the returned covariances
        are full; :class:`gaussmix.em.families.MaximumLikelihood`'s ``start``
        projects them).

    Returns
    -------
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
    """
    n = X.shape[0]
    if n > max(sample_rows, n_components):
        rows = np.sort(rng.choice(n, size=sample_rows, replace=False))
        X = X[rows]
        weights = None if weights is None else weights[rows]
    X = np.asarray(X, dtype=np.float64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    center = X.mean(axis=0) if w is None else (w @ X) / w.sum()
    Xc = X - center  # the distance expansion loses digits far from the origin
    m = Xc.shape[0]
    if m > max(kmeans_rows, n_components):
        few = np.sort(rng.choice(m, size=kmeans_rows, replace=False))
        Xk, wk = Xc[few], None if w is None else w[few]
    else:
        Xk, wk = Xc, w
    best, best_score = None, -np.inf
    for _ in range(n_starts):
        seeds = greedy_kmeans_plus_plus(Xk, n_components, rng, wk)
        centers, labels = lloyd(Xk, Xk[seeds], wk, n_lloyd)
        if n_starts > 1:
            priors, means, covariances = partition_moments(Xk, labels, n_components, wk, reg_covar)
            projected = project_covariances(covariances, priors, covariance_type)
            score = mixture_log_likelihood(Xk, priors, means, projected, wk)
            if best is not None and not score > best_score:
                continue
            best_score = score
        best = centers
    labels = _closest(Xc, best)
    priors, means, covariances = partition_moments(Xc, labels, n_components, w, reg_covar)
    return priors, means + center, covariances


def mixture_log_likelihood(
    X: np.ndarray,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """Total (weighted) log-likelihood of the rows of X under a mixture (for ranking starts).

    Parameters
    ----------
    X : ndarray, shape (n, d)
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
        Positive definite.
    weights : ndarray, shape (n,), optional

    Returns
    -------
    log_likelihood : float
        -inf when a covariance is not positive definite.
    """
    k, d = means.shape
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        return -np.inf
    inverse = np.linalg.inv(chol)
    log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    log_p = np.empty((X.shape[0], k))
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    for j in range(k):  # one product per component, not per row
        z = (X - means[j]) @ inverse[j].T
        log_p[:, j] = log_priors[j] - log_det[j] - 0.5 * np.einsum("ij,ij->i", z, z)
    log_p -= 0.5 * d * np.log(2.0 * np.pi)
    top = log_p.max(axis=1)
    per_row = top + np.log(np.exp(log_p - top[:, None]).sum(axis=1))
    return float(per_row.sum() if weights is None else weights @ per_row)


def hierarchical_start(
    X: np.ndarray,
    weights: np.ndarray | None,
    n_components: int,
    random_state: Any,
    hierarchy: Hierarchy | None = None,
    reg_covar: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The start of ``init_params="hc"``: the moments of the hierarchy's k-cluster partition.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    weights : ndarray, shape (n,), or None
    n_components : int
    random_state : RandomState
        Draws the agglomerated subsample of large data (not used otherwise).
    hierarchy : Hierarchy, optional
        Made of X once and shared (e.g. by the candidates of a model search).
    reg_covar : float, default=1e-6

    Returns
    -------
    priors, means, covariances : ndarrays, shapes (k,), (k, d), (k, d, d)
    """
    if hierarchy is None:
        rng = None
        if X.shape[0] > HC_ROWS:
            rng = np.random.default_rng(random_state.randint(2**31))
        hierarchy = Hierarchy(X, weights, rng)
    labels = hierarchy.labels(n_components)
    return partition_moments(hierarchy.X, labels, n_components, hierarchy.weights, reg_covar)


def initial_parameters(
    X: np.ndarray,
    weights: np.ndarray | None,
    init_params: str,
    n_components: int,
    random_state: Any,
    start: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gmr's starting mixture: the parameters ``start`` gives, the rest drawn from X.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        The rows the start sees (complete; a source's initialization data).
    weights : ndarray, shape (n,), or None
    init_params : {"random", "kmeans++", "hc"}
        "random": means at random rows (gmr's draws) and identity covariances;
        "kmeans++": k-means++ seeds as means and covariances of the data's
        spread divided by k; "hc": the moments of the k-cluster partition of
        the model-based agglomerative hierarchy
        (:class:`gaussmix.em.agglomerative.Hierarchy`).
    n_components : int
    random_state : RandomState
        Consumed as gmr consumes it.
    start : tuple of (priors, means, covariances), each None or an array, optional
        Parameters already given (used as they are).

    Returns
    -------
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
    """
    k, d = n_components, X.shape[1]
    priors, means, covs = start if start is not None else (None, None, None)
    if init_params == "hc" and (priors is None or means is None or covs is None):
        hc = hierarchical_start(X, weights, k, random_state)
        priors, means, covs = (
            given if given is not None else made
            for given, made in zip((priors, means, covs), hc, strict=True)
        )
    if priors is None:
        priors = np.full(k, 1.0 / k)
    if means is None:
        if init_params == "random":
            means = random_initial_means(X, k, random_state, weights)
        else:
            means = X[kmeans_plus_plus(X, k, random_state, weights)].astype(np.float64)
    if covs is None:
        if init_params == "random":
            covs = np.broadcast_to(np.eye(d), (k, d, d)).copy()
        else:
            std = data_spread(subsample_rows(X, random_state)) / k
            covs = np.broadcast_to(np.diag(std**2), (k, d, d)).copy()
    return priors, means, covs
