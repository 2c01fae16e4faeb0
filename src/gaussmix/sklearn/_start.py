"""The engine's side of the estimators' starts: statistics of scikit-learn's initial
responsibilities (the same random draws), and the M-step that refuses singular
covariances as scikit-learn does.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

from .. import covariance as structures
from ..em.estep import responsibility_statistics
from ..em.families import Gaussians, MaximumLikelihood
from ..em.kmeans import sklearn_kmeans
from ..em.stats import Statistics
from ..kernels import clustering
from ..kernels.threads import map_blocks, resolve_n_jobs
from ._checks import check_positive_definite


def all_rows_shared_scatter(stats: Statistics, X: np.ndarray, means: np.ndarray) -> None:
    """Give one-row initial responsibilities scikit-learn's tied covariance, in place.

    scikit-learn computes a tied covariance from responsibilities as
    (X^T X - sum_j N_j mu_j mu_j^T) / sum_j N_j: the scatter of *all* rows,
    which is the tied scatter whenever every row's responsibilities sum to
    one (every EM iteration), but not for the "k-means++" and
    "random_from_data" starts, whose responsibilities cover k rows only.
    ``stats`` are those rows' moments about themselves (``means``), all zero
    but the counts; only the sum over components of the second moments
    enters a tied M-step, so putting scikit-learn's scatter into the first
    component's makes :func:`gaussmix.em.families.m_step` reproduce its start.
    """
    d = X.shape[1]
    xtx = np.zeros((d, d))
    for start in range(0, X.shape[0], 1 << 16):
        block = X[start : start + (1 << 16)].astype(np.float64, copy=False)
        xtx += block.T @ block
    scatter = xtx - np.einsum("k,ki,kj->ij", stats.resp_sum, means, means)
    stats.add_second_moment(0, scatter)


def label_statistics(
    X: np.ndarray, labels: np.ndarray, centres: np.ndarray, covariance_type: str
) -> Statistics:
    """Statistics of hard labels, each row's moments taken about its own centre.

    Moments about the data's mean would lose the precision of a tight
    cluster far from it (relative error eps |x - mean|^2 / variance); about
    a point near each cluster (its k-means centre, or for a one-row start
    the row itself, which gives scikit-learn's reg_covar start exactly) they
    do not. The M-step then reads them with ``shift=centres`` (k, d).
    """
    k, d = centres.shape
    n_phi = Statistics.n_columns(d, covariance_type)
    if clustering.has_label_moments() and X.dtype == np.float64 and X.flags.c_contiguous:
        labels = np.ascontiguousarray(labels, dtype=np.int32)

        def block(rows: slice, _index: int) -> np.ndarray:
            return clustering.label_moments(
                X[rows], labels[rows], centres, None, n_phi != d * (d + 1) // 2 + d + 1
            )

        moments = sum(map_blocks(block, X.shape[0], 1 << 14, resolve_n_jobs(None), blas=False))
        return Statistics(moments, np.zeros(k), 0.0, float(X.shape[0]))
    total = Statistics.zeros(k, n_phi)
    origin = np.zeros(d)
    for start in range(0, X.shape[0], 1 << 16):
        rows = slice(start, start + (1 << 16))
        block = X[rows].astype(np.float64, copy=False) - centres[labels[rows]]
        total += responsibility_statistics(
            block, labels[rows], origin, covariance_type, n_components=k
        )
    return total


class CheckedMaximumLikelihood(MaximumLikelihood):
    """Maximum likelihood that refuses covariances that are not positive definite.

    scikit-learn stops a fit whose M-step produces a singular covariance
    (e.g. ``reg_covar=0`` with collapsed samples); gaussmix's own EM would
    regularize it. This keeps scikit-learn's behaviour. The check runs on
    the M-step's final result (:meth:`objective` receives it after the
    source has redone an imprecise M-step about each component's mean), so
    that a covariance is refused only when it is singular, not when moments
    about the shared shift merely lost its precision.

    One case carries on, as in scikit-learn: a diag or spherical component
    that holds a row's worth of weight but whose variance is exactly zero
    (after a step with ``reg_covar=0`` its responsibilities of every other
    row underflowed, so it sits on one point). scikit-learn's raw moments
    E[x^2] - 2 E[x] mu + mu^2 leave a rounding residue of order eps * mu^2
    there, which passes its ``variance > 0`` check; gaussmix's centred
    moments give exactly 0, which is set to that residue, eps * mu^2 (at
    least the smallest normal float). Components without data and collapsed
    full or tied covariances are still refused.
    """

    def objective(self, stats: Statistics, state: Gaussians) -> float:
        structure = structures.get(self.covariance_type)
        if not structure.quadratic and not structure.shared:  # diag, spherical
            lone_point_variances_to_rounding(state, stats.resp_sum, structure.isotropic)
        check_positive_definite(state.covariances)
        return super().objective(stats, state)


def lone_point_variances_to_rounding(
    state: Gaussians, resp_sum: np.ndarray, isotropic: bool
) -> None:
    """Zero variances of components holding data set to eps * mean^2, in place.

    ``isotropic``: one variance per component (spherical), the mean over features.
    """
    variances = np.diagonal(state.covariances, axis1=1, axis2=2)
    lone = (variances <= 0.0) & (resp_sum >= 0.5)[:, None]
    if not lone.any():
        return
    residue = np.finfo(np.float64).eps * np.square(state.means)
    if isotropic:
        residue = np.broadcast_to(residue.mean(axis=1, keepdims=True), residue.shape)
    floor = np.maximum(residue, np.finfo(np.float64).tiny)
    k, d = np.nonzero(lone)
    state.covariances[k, d, d] = floor[k, d]


def kmeans_labels(
    X: np.ndarray, k: int, random_state: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centres of ``KMeans(n_clusters=k, n_init=1, random_state=random_state)``.

    float64 data run gaussmix's compiled k-means (:func:`gaussmix.em.kmeans.sklearn_kmeans`:
    the same draws, distances and stopping rule, so the same labels up to rows
    within rounding of two centres, at a fraction of the cost); float32 data,
    which scikit-learn clusters in float32, run scikit-learn's KMeans itself.
    Warns as scikit-learn does when fewer than k clusters are distinct.
    """
    if X.dtype != np.float64:
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(X)
        return kmeans.labels_, np.asarray(kmeans.cluster_centers_, dtype=np.float64)
    result = sklearn_kmeans(X, k, random_state)
    distinct = int(np.count_nonzero(np.bincount(result.labels, minlength=k)))
    if distinct < k:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({k}). "
            "Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return result.labels, result.centres


def initial_responsibility_statistics(
    estimator, X, source, random_state
) -> tuple[Statistics, np.ndarray]:
    """Statistics of scikit-learn's initial responsibilities (same random draws).

    Returns the statistics and the point(s) they are taken about: the
    data's mean for soft random responsibilities, each component's own
    centre (k, d) for hard labels, so that no start loses precision.
    """
    n, k = X.shape[0], estimator.n_components
    ctype = estimator.covariance_type
    if estimator.init_params == "kmeans":
        labels, centres = kmeans_labels(X, k, random_state)
        return label_statistics(X, labels, centres, ctype), centres
    if estimator.init_params == "random":
        total = None
        step = max(1, (1 << 20) // max(1, k))
        for start in range(0, n, step):
            resp = random_state.uniform(size=(min(step, n - start), k))
            resp /= resp.sum(axis=1, keepdims=True)
            part = responsibility_statistics(X[start : start + step], resp, source.shift, ctype)
            total = part if total is None else total + part
        return total, source.shift
    if estimator.init_params == "random_from_data":
        indices = random_state.choice(n, size=k, replace=False)
    else:
        _, indices = kmeans_plusplus(X, k, random_state=random_state)
    rows = np.asarray(X[indices], dtype=np.float64)
    stats = label_statistics(rows, np.arange(k), rows, ctype)
    if structures.get(ctype).shared:
        all_rows_shared_scatter(stats, X, rows)
    return stats, rows
