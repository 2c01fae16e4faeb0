"""k-means with scikit-learn's draws and stopping rule, in compiled code.

scikit-learn's ``GaussianMixture`` starts from the labels of
``KMeans(n_clusters=k, n_init=1, random_state=random_state)``: k-means++
seeding (Arthur & Vassilvitskii 2007, with 2 + int(ln k) local trials per
seed, the greedy variant) followed by Lloyd's iterations. On large data that
start costs more than the EM iterations it precedes. :func:`sklearn_kmeans`
does the same arithmetic with the same random draws, taken in the same order
from the same ``RandomState``:

- the data's mean is subtracted (as scikit-learn does; here on the fly, so
  the data are not copied) and every distance is formed as scikit-learn forms
  it (see ``gm_kmeans_assign`` in ``kernels/_fused.c``);
- seeding: the first seed by ``random_state.choice(n, p=w / sum(w))``, then
  for each further seed ``random_state.uniform(size=trials)`` times the
  current potential, searched in the running sum of w_i D_i^2, and the
  candidate that lowers the potential most;
- Lloyd: labels by the first nearest centre, centres as weighted means
  (empty clusters take the rows farthest from their centres, as
  scikit-learn relocates them), stop when no label changes or when the
  squared shift of the centres is at most ``tol`` times the mean variance of
  the features; then, unless the labels settled, one last assignment.

Only the order of the terms in the dot products differs (scikit-learn calls
BLAS), so the labels are scikit-learn's except for a row within rounding of
two centres, and the generator is left in the same state. The rows run in
threads (the kernels release the GIL); without the compiled kernel the same
steps run on numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import clustering
from ..kernels.threads import map_blocks, resolve_n_jobs

__all__ = ["KMeansResult", "sklearn_kmeans"]

# Rows per chunk of the numpy path, and the unit in which rows are split
# into thread blocks.
_CHUNK = 4096


@dataclass
class KMeansResult:
    """Outcome of :func:`sklearn_kmeans`.

    Attributes
    ----------
    labels : ndarray of int32, shape (n,)
    centres : ndarray, shape (k, d)
        Final centres, in the data's coordinates.
    n_iter : int
        Lloyd iterations run.
    """

    labels: np.ndarray
    centres: np.ndarray
    n_iter: int


def sklearn_kmeans(
    X: np.ndarray,
    n_clusters: int,
    random_state: np.random.RandomState,
    *,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    n_jobs: int | None = None,
) -> KMeansResult:
    """k-means as ``sklearn.cluster.KMeans(n_clusters, n_init=1).fit(X)`` computes it.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Finite float64 rows (other dtypes are converted); n >= n_clusters.
    n_clusters : int
    random_state : numpy.random.RandomState
        Consumed exactly as scikit-learn's KMeans consumes it.
    sample_weight : ndarray, shape (n,), optional
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative to the mean variance of the features, as in scikit-learn.
    n_jobs : int, optional
        Threads (default: every core).

    Returns
    -------
    KMeansResult
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_samples={n} should be >= n_clusters={n_clusters}.")
    weights = None
    if sample_weight is not None:
        weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
    rows = _Rows(X, X.mean(axis=0), weights, resolve_n_jobs(n_jobs))
    centres, total_variance = _seeds(rows, n_clusters, random_state)
    # scikit-learn's tolerance: tol times the mean of the features' variances
    threshold = total_variance / (n * d) * tol
    labels, centres, n_iter = _lloyd(rows, centres, max_iter, threshold)
    return KMeansResult(labels, centres + rows.mean, n_iter)


class _Rows:
    """The data seen about their mean, with the passes over them (kernel or numpy)."""

    def __init__(self, X, mean, weights, n_jobs):
        self.X, self.mean, self.weights, self.n_jobs = X, mean, weights, n_jobs
        self.n = X.shape[0]
        self.compiled = clustering.has_kmeans()

    def weight_of(self, rows: slice) -> np.ndarray | None:
        return None if self.weights is None else self.weights[rows]

    def centred(self, index) -> np.ndarray:
        return self.X[index] - self.mean

    def assign(self, centres: np.ndarray, labels: np.ndarray, update: bool):
        """(labels changed, weighted sums (k, d), weights (k,)); labels in place."""

        def work(rows: slice, _index: int):
            if self.compiled:
                return clustering.kmeans_assign(
                    self.X[rows], self.mean, self.weight_of(rows), centres, labels[rows], update
                )
            return self._assign_numpy(rows, centres, labels, update)

        parts = map_blocks(work, self.n, _CHUNK, self.n_jobs, blas=not self.compiled)
        changed = sum(part[0] for part in parts)
        if not update:
            return changed, None, None
        return changed, sum(part[1] for part in parts), sum(part[2] for part in parts)

    def _assign_numpy(self, rows, centres, labels, update):
        k, d = centres.shape
        norms = np.einsum("ij,ij->i", centres, centres)
        changed, sums, weight_sums = 0, np.zeros((k, d)), np.zeros(k)
        for start in range(rows.start, rows.stop, _CHUNK):
            part = slice(start, min(rows.stop, start + _CHUNK))
            y = self.centred(part)
            nearest = np.argmin(norms + -2.0 * (y @ centres.T), axis=1).astype(np.int32)
            changed += int(np.count_nonzero(labels[part] != nearest))
            labels[part] = nearest
            if update:
                w = self.weight_of(part)
                w = np.ones(y.shape[0]) if w is None else w
                sums += (nearest[:, None] == np.arange(k)).T.astype(np.float64) @ (y * w[:, None])
                weight_sums += np.bincount(nearest, weights=w, minlength=k)
        return changed, sums, weight_sums

    def trial_potentials(self, candidates: np.ndarray, closest: np.ndarray) -> np.ndarray:
        """sum_i w_i min(closest_i, |y_i - c|^2) for each candidate c."""

        def work(rows: slice, _index: int):
            if self.compiled:
                return clustering.kmeans_trials(
                    self.X[rows], self.mean, self.weight_of(rows), candidates, closest[rows]
                )
            y = self.centred(rows)
            w = self.weight_of(rows)
            distances = _squared_distances(candidates, y)
            np.minimum(closest[rows], distances, out=distances)
            return distances.sum(axis=1) if w is None else distances @ w

        return sum(map_blocks(work, self.n, _CHUNK, self.n_jobs, blas=not self.compiled))

    def take(self, centre, closest, targets) -> tuple[np.ndarray, float, float]:
        """Lower ``closest`` to ``centre`` (unless None); rows where the running sum
        of w_i closest_i first reaches each target (numpy's searchsorted), the
        total, and (with a centre) sum_i |y_i|^2.
        """
        order = np.argsort(targets, kind="stable")
        norm_sum = 0.0
        if centre is not None:  # lower closest in threads, then one sequential search

            def lower(rows: slice, _index: int) -> float:
                if self.compiled:
                    return clustering.kmeans_take(
                        self.X[rows], self.mean, None, centre, closest[rows], np.empty(0)
                    )[2]
                y = self.centred(rows)
                near = _squared_distances(centre[None, :], y)[0]
                np.minimum(closest[rows], near, out=closest[rows])
                return float(np.einsum("ij,ij->", y, y))

            norm_sum = sum(map_blocks(lower, self.n, _CHUNK, self.n_jobs, blas=not self.compiled))
        if self.compiled:
            found, total, _ = clustering.kmeans_take(
                self.X, self.mean, self.weights, None, closest, targets[order]
            )
        else:
            weighted = closest if self.weights is None else self.weights * closest
            running = np.cumsum(weighted)
            found = np.searchsorted(running, targets[order])
            total = float(running[-1])
        result = np.empty_like(found)
        result[order] = found
        return result, total, norm_sum


def _squared_distances(centres: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(c, m) squared distances in scikit-learn's form max((-2 c.y + |c|^2) + |y|^2, 0)."""
    distances = -2.0 * (centres @ y.T)
    distances += np.einsum("ij,ij->i", centres, centres)[:, None]
    distances += np.einsum("ij,ij->i", y, y)[None, :]
    return np.maximum(distances, 0.0, out=distances)


def _seeds(rows: _Rows, k: int, random_state: np.random.RandomState):
    """Greedy k-means++ seeds (about the mean), drawing as scikit-learn draws, and
    sum_i |x_i - mean|^2 (from the first pass)."""
    n = rows.n
    trials = 2 + int(np.log(k))
    w = np.ones(n) if rows.weights is None else rows.weights
    first = random_state.choice(n, p=w / w.sum())
    centres = np.empty((k, rows.X.shape[1]))
    centres[0] = rows.centred(first)
    closest = np.full(n, np.inf)
    _, potential, total_variance = rows.take(centres[0], closest, np.empty(0))
    pending = None  # the last seed, not yet folded into closest
    for c in range(1, k):
        targets = random_state.uniform(size=trials) * potential
        candidates, _, _ = rows.take(pending, closest, targets)
        np.minimum(candidates, n - 1, out=candidates)
        points = rows.centred(candidates)
        potentials = rows.trial_potentials(points, closest)
        best = int(np.argmin(potentials))
        potential = float(potentials[best])
        centres[c] = pending = points[best]
    return centres, total_variance


def _lloyd(rows: _Rows, centres: np.ndarray, max_iter: int, threshold: float):
    labels = np.full(rows.n, -1, dtype=np.int32)
    settled = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        changed, sums, weight_sums = rows.assign(centres, labels, update=True)
        if np.any(weight_sums == 0):
            _relocate_empty(rows, centres, labels, sums, weight_sums)
        new = np.empty_like(centres)
        filled = weight_sums > 0
        new[filled] = sums[filled] * (1.0 / weight_sums[filled])[:, None]
        if not filled.all():
            # scikit-learn fills them in order with the heaviest centre, which is
            # still its weighted sum when it comes later than the empty one.
            top, empty = int(np.argmax(weight_sums)), np.flatnonzero(~filled)
            new[empty] = np.where((empty > top)[:, None], new[top], sums[top])
        shift = float(np.sum(np.sum((new - centres) ** 2, axis=1)))
        centres = new
        if changed == 0:
            settled = True
            break
        if shift <= threshold:
            break
    if not settled:
        rows.assign(centres, labels, update=False)
    return labels, centres, n_iter


def _relocate_empty(rows, centres, labels, sums, weight_sums) -> None:
    """Give each empty cluster one of the rows farthest from their centres, in place.

    As scikit-learn relocates them: the rows' weighted contributions move from
    their clusters' sums to the empty ones' (their labels stay); nothing moves
    when every row sits on its centre.
    """
    empty = np.flatnonzero(weight_sums == 0)
    distances = np.empty(rows.n)
    for start in range(0, rows.n, _CHUNK):
        part = slice(start, min(rows.n, start + _CHUNK))
        distances[part] = ((rows.centred(part) - centres[labels[part]]) ** 2).sum(axis=1)
    if np.max(distances) == 0:
        return
    m = empty.size
    farthest = np.argpartition(distances, -m)[: -m - 1 : -1]
    w = np.ones(rows.n) if rows.weights is None else rows.weights
    for cluster, row in zip(empty, farthest, strict=True):  # at most k empty clusters
        point = rows.centred(row) * w[row]
        sums[labels[row]] -= point
        sums[cluster] = point
        weight_sums[cluster] = w[row]
        weight_sums[labels[row]] -= w[row]
