"""Expectation maximization for Gaussian mixtures, built on additive statistics.

One EM iteration is one pass over the rows in fixed-size chunks. For each
chunk we build quadratic features of the shifted data ``y = x - shift``,

    full / tied:     phi(y) = [vech(y y^T), y, 1]      (d(d+1)/2 + d + 1 columns)
    diag / spherical: phi(y) = [y * y, y, 1]            (2d + 1 columns)

so that every component's log prior + log density is linear in phi
(the natural parameters of the Gaussian). The features are stored
transposed, (n_phi, rows). The E-step of a chunk is then one GEMM
``theta @ phi`` (all k components at once) followed by a log-sum-exp over
components, and the M-step statistics of the chunk are a second GEMM
``resp @ phi^T``, which yields the responsibility sums, the weighted first
moments and the weighted second moments of all components together. The
statistics of the chunks are added up (:class:`SufficientStats`) and turned
into new parameters by :func:`m_step`. Because the statistics are additive,
blocks of chunks run in parallel threads (:mod:`gaussmix._parallel`), and the
same code can run on the chunks of a Dask array on remote workers.

Memory is the data plus a few chunk-sized buffers per thread: nothing of size
n * k or n * d^2 is ever allocated. The shift (the data's weighted mean)
keeps the moments well conditioned; when components lie so far from it that
shared moments would lose precision (:func:`shared_shift_error`), an
iteration uses moments about each component's own mean instead
(:func:`centred_statistics`).

For float64 fits with full features, :class:`CompleteData` hands each row
block to the compiled kernel of :mod:`gaussmix._compiled` when it is built: the
same statistics, computed eight rows at a time without the chunk buffers.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _compiled
from ._core import (
    PRECISION_LIMIT,
    Features,
    mixture_log_density,
    n_phi_features,
    natural_parameters,
    shared_shift_error,
    softmax_columns,
    uses_full_features,
)
from ._linalg import safe_cholesky, symmetrize
from ._parallel import map_blocks


class ConvergenceWarning(UserWarning):
    """EM stopped at ``n_iter`` before its convergence criterion was met."""


# Rows per chunk: the (features, rows) buffer then holds about 2^19 float64
# numbers (4 MiB), which keeps both GEMMs efficient and the softmax in cache.
_CHUNK_ELEMENTS = 1 << 19


def default_chunk_rows(n_features_phi: int) -> int:
    """Rows per chunk: ~4 MiB of features, between 4096 and 8192 rows (measured best)."""
    return int(max(4096, min(8192, _CHUNK_ELEMENTS // n_features_phi)))


@dataclass
class SufficientStats:
    """Additive statistics of a set of rows under fixed parameters.

    Attributes
    ----------
    resp_sum : (k,) sum_i w_i r_ij
    resp_sq_sum : (k,) sum_i w_i r_ij^2 (effective sample sizes for OAS)
    moments : (k, n_phi) sum_i w_i r_ij phi(x_i - shift): second moments,
        first moments and (last column) resp_sum again
    log_lik_sum : sum_i w_i log p(x_i)
    weight_sum : sum_i w_i
    resp_change_sq : sum_ij (r_ij - r_ij^prev)^2, gmr's convergence measure
    """

    resp_sum: np.ndarray
    resp_sq_sum: np.ndarray
    moments: np.ndarray
    log_lik_sum: float
    weight_sum: float
    resp_change_sq: float

    @classmethod
    def zeros(cls, k: int, n_phi: int) -> SufficientStats:
        return cls(np.zeros(k), np.zeros(k), np.zeros((k, n_phi)), 0.0, 0.0, 0.0)

    def __iadd__(self, other: SufficientStats) -> SufficientStats:
        self.resp_sum += other.resp_sum
        self.resp_sq_sum += other.resp_sq_sum
        self.moments += other.moments
        self.log_lik_sum += other.log_lik_sum
        self.weight_sum += other.weight_sum
        self.resp_change_sq += other.resp_change_sq
        return self


def chunk_statistics(
    phi: np.ndarray,
    theta: np.ndarray,
    weights: np.ndarray | None,
    theta_prev: np.ndarray | None = None,
    need_resp_sq: bool = True,
    workspace: np.ndarray | None = None,
) -> SufficientStats:
    """E-step of one chunk and its M-step statistics (two GEMMs).

    Parameters
    ----------
    phi : ndarray, shape (n_phi, m)
        Transposed features of the chunk's m rows.
    theta : ndarray, shape (k, n_phi)
        Natural parameters of all components.
    weights : ndarray, shape (m,), optional
    theta_prev : ndarray, shape (k, n_phi), optional
        Previous parameters, to measure the change of the responsibilities.
    need_resp_sq : bool
        Whether to compute sum r^2 (only OAS shrinkage uses it).
    workspace : ndarray, shape (>= k or 2k, >= m), optional
        Reused buffer for the logits: fresh large temporaries cost page
        faults on every chunk.
    """
    k, m = theta.shape[0], phi.shape[1]
    stacked = theta if theta_prev is None else np.concatenate([theta, theta_prev], axis=0)
    if workspace is None:
        workspace = np.empty((stacked.shape[0], m), dtype=phi.dtype)
    logits_all = workspace[: stacked.shape[0], :m]
    np.matmul(stacked, phi, out=logits_all)
    resp, log_norm = softmax_columns(logits_all[:k])
    change = 0.0
    if theta_prev is not None:
        resp_prev, _ = softmax_columns(logits_all[k:])
        resp_prev -= resp
        change = float(np.einsum("ij,ij->", resp_prev, resp_prev))
    resp_sq = np.zeros(k)
    if weights is None:
        log_lik_sum = float(log_norm.sum())
        weight_sum = float(phi.shape[1])
        if need_resp_sq:
            resp_sq = np.einsum("ij,ij->i", resp, resp)
    else:
        log_lik_sum = float(log_norm @ weights)
        weight_sum = float(weights.sum())
        if need_resp_sq:
            resp_sq = (resp * resp) @ weights
        resp *= weights
    # phi @ resp^T rather than resp @ phi^T: the same sums, but BLAS then
    # streams the long contiguous feature rows once (measured 1.2-1.5x faster
    # for k = 16, n_phi = 153).
    moments = (phi @ resp.T).T.astype(np.float64, copy=False)
    return SufficientStats(
        moments[:, -1].copy(),
        resp_sq.astype(np.float64, copy=False),
        moments,
        log_lik_sum,
        weight_sum,
        change,
    )


def accumulate_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    theta: np.ndarray,
    shift: np.ndarray,
    features: Features,
    theta_prev: np.ndarray | None = None,
    need_resp_sq: bool = True,
) -> SufficientStats:
    """Sum of :func:`chunk_statistics` over all row chunks of X."""
    n = X.shape[0]
    rows = features.rows
    theta = theta.astype(features.dtype, copy=False)
    if theta_prev is not None:
        theta_prev = theta_prev.astype(features.dtype, copy=False)
    total = SufficientStats.zeros(theta.shape[0], features.width)
    workspace = np.empty((2 * theta.shape[0], rows), dtype=features.dtype)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        phi = features(X[start:stop], shift)
        w = None if weights is None else weights[start:stop]
        total += chunk_statistics(phi, theta, w, theta_prev, need_resp_sq, workspace)
    return total


def centred_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str,
    rows: int,
    prev_params: tuple | None = None,
) -> SufficientStats:
    """Sufficient statistics about each component's own mean (precise path).

    The E-step evaluates every component through its whitening map
    (``x @ W - b``, one GEMM for all components) and the second moments
    sum r (x - mu_j)(x - mu_j)^T are one batched product over components,
    so no precision is lost when components lie far from each other
    relative to their spread. Costs about twice the shared-shift path; used
    only when :func:`shared_shift_error` says it is needed. The moments use
    the layout of :func:`m_step` with ``shift = means`` (k, d).
    """
    k, d = means.shape
    full = uses_full_features(covariance_type)
    iu, ju = np.triu_indices(d)
    chol = safe_cholesky(covariances)
    total = SufficientStats.zeros(k, n_phi_features(d, covariance_type))
    step = max(64, rows // max(1, k))
    for start in range(0, X.shape[0], step):
        chunk = X[start : start + step].astype(np.float64, copy=False)
        log_norm, log_resp = mixture_log_density(chunk, priors, means, chol)
        resp = np.exp(log_resp)
        change = 0.0
        if prev_params is not None:
            prev_resp = np.exp(mixture_log_density(chunk, *prev_params)[1])
            change = float(np.square(resp - prev_resp).sum())
        w = None if weights is None else weights[start : start + step]
        resp_sq = np.einsum("mk,mk->k", resp, resp) if w is None else (resp * resp).T @ w
        if w is not None:
            resp *= w[:, None]
        centred = chunk[None, :, :] - means[:, None, :]  # (k, m, d)
        weighted = centred * resp.T[:, :, None]
        first = weighted.sum(axis=1)
        resp_sum = resp.sum(axis=0)
        if full:
            quad = (np.swapaxes(weighted, 1, 2) @ centred)[:, iu, ju]
        else:
            quad = np.einsum("kmd,kmd->kd", weighted, centred)
        moments = np.concatenate([quad, first, resp_sum[:, None]], axis=1)
        total += SufficientStats(
            resp_sum,
            resp_sq,
            moments,
            float(log_norm.sum() if w is None else w @ log_norm),
            float(chunk.shape[0] if w is None else w.sum()),
            change,
        )
    return total


def m_step(
    stats: SufficientStats,
    shift: np.ndarray,
    covariance_type: str,
    reg_covar: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New (priors, means, covariances) from summed statistics.

    Follows scikit-learn's estimators exactly: N_j = sum r + 10 eps,
    mu_j = sum r x / N_j, Sigma_j = sum r (x - mu_j)(x - mu_j)^T / N_j
    + reg_covar I (tied: the sum over components divided by sum N_j; diag:
    only the diagonal; spherical: the mean of the diagonal), priors N_j / sum N.
    Covariances are always returned as full (k, d, d) matrices. ``shift`` is
    the point the moments were taken about: (d,) for all components, or
    (k, d), one per component (the precise path, :func:`centred_statistics`).
    """
    d = shift.shape[-1]
    resp_sum = stats.resp_sum
    nk = resp_sum + 10.0 * np.finfo(np.float64).eps
    full = uses_full_features(covariance_type)
    q = d * (d + 1) // 2 if full else d
    first = stats.moments[:, q : q + d]
    second = stats.moments[:, :q]
    centred_means = first / nk[:, None]
    means = centred_means + shift
    priors = nk / nk.sum()
    k = nk.shape[0]
    eye = np.eye(d)
    if full:
        iu, ju = np.triu_indices(d)
        scatter = np.zeros((k, d, d))
        scatter[:, iu, ju] = second
        scatter[:, ju, iu] = second
        # sum r (y - c)(y - c)^T = S2 - c s1^T - s1 c^T + (sum r) c c^T
        outer_cs = centred_means[:, :, None] * first[:, None, :]
        scatter += (
            -outer_cs
            - np.swapaxes(outer_cs, 1, 2)
            + resp_sum[:, None, None] * centred_means[:, :, None] * centred_means[:, None, :]
        )
        if covariance_type == "full":
            covariances = symmetrize(scatter / nk[:, None, None])
        else:
            tied = symmetrize(scatter.sum(axis=0) / nk.sum())
            covariances = np.broadcast_to(tied, (k, d, d)).copy()
        # A collapsed component's scatter can round to a matrix with tiny
        # negative eigenvalues (-1e-21): project those onto zero, since a
        # covariance is positive semi-definite.
        eigvals, eigvecs = np.linalg.eigh(covariances)
        if (eigvals[:, 0] < 0).any():
            covariances = symmetrize(
                (eigvecs * np.maximum(eigvals, 0.0)[:, None, :]) @ np.swapaxes(eigvecs, 1, 2)
            )
        diagonal = np.einsum("kii->ki", covariances)
        diagonal += reg_covar
    else:
        var = (second - 2.0 * centred_means * first + resp_sum[:, None] * centred_means**2) / nk[
            :, None
        ]
        var = np.maximum(var, 0.0) + reg_covar
        if covariance_type == "spherical":
            var = np.repeat(var.mean(axis=1, keepdims=True), d, axis=1)
        covariances = var[:, :, None] * eye
    return priors, means, covariances


def project_covariances(
    covariances: np.ndarray, priors: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Impose a covariance structure on full (k, d, d) starting covariances."""
    k, d, _ = covariances.shape
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        tied = np.einsum("k,kij->ij", priors, covariances) / priors.sum()
        return np.broadcast_to(tied, (k, d, d)).copy()
    var = np.diagonal(covariances, axis1=1, axis2=2)
    if covariance_type == "spherical":
        var = np.repeat(var.mean(axis=1, keepdims=True), d, axis=1)
    return var[:, :, None] * np.eye(d)


def oas_shrinkage(covariances: np.ndarray, n_samples_eff: np.ndarray) -> np.ndarray:
    """Oracle approximating shrinkage of every covariance at once.

    Chen, Wiesel, Eldar & Hero, "Shrinkage Algorithms for MMSE Covariance
    Estimation", IEEE Trans. Signal Process. 58(10), 2010, eq. 23, in the
    form used by gmr and scikit-learn's ``oas``.
    """
    _k, d, _ = covariances.shape
    mu = np.trace(covariances, axis1=1, axis2=2) / d
    alpha = np.mean(covariances**2, axis=(1, 2))
    num = alpha + mu**2
    den = (n_samples_eff + 1.0) * (alpha - mu**2 / d)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where(den == 0, 1.0, np.minimum(num / np.where(den == 0, 1, den), 1.0))
    return (1.0 - shrinkage)[:, None, None] * covariances + (shrinkage * mu)[
        :, None, None
    ] * np.eye(d)


class EMResult(NamedTuple):
    priors: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    converged: bool
    n_iter: int
    lower_bound: float


def weighted_mean(X: np.ndarray, weights: np.ndarray | None, chunk: int = 1 << 16) -> np.ndarray:
    """Column means of X (optionally weighted), chunked and in float64."""
    total = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], chunk):
        block = X[start : start + chunk].astype(np.float64, copy=False)
        if weights is None:
            total += block.sum(axis=0)
        else:
            total += weights[start : start + chunk] @ block
    return total / (X.shape[0] if weights is None else weights.sum())


class CompleteData:
    """Statistics source of :func:`run_em` for data without missing entries.

    Uses the shared-shift GEMM path (:func:`accumulate_statistics`) while
    :func:`shared_shift_error` allows it, and :func:`centred_statistics`
    otherwise.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    weights : ndarray, shape (n,), optional
    covariance_type : str
    shift : ndarray, shape (d,)
        Point the shared moments are taken about (the data's mean).
    dtype : numpy float type
        Precision of the feature GEMMs.
    chunk_rows : int, optional
    """

    def __init__(
        self, X, weights, covariance_type, shift, dtype=np.float64, chunk_rows=None, n_jobs=1
    ):
        d = X.shape[1]
        self.X, self.weights, self.covariance_type, self.shift = X, weights, covariance_type, shift
        self.rows = chunk_rows or default_chunk_rows(n_phi_features(d, covariance_type))
        self.rows = max(1, min(self.rows, X.shape[0]))
        self.dtype = dtype
        self.n_jobs = n_jobs
        self._buffers: list[Features] = []

    def _features(self, block: int) -> Features:
        # One reusable feature buffer per worker block.
        while len(self._buffers) <= block:
            self._buffers.append(
                Features(self.X.shape[1], self.covariance_type, self.rows, self.dtype)
            )
        return self._buffers[block]

    def _theta(self, params: tuple) -> np.ndarray:
        return natural_parameters(*params, self.shift, self.covariance_type)

    def statistics(
        self, params: tuple, prev_params: tuple | None, need_resp_sq: bool
    ) -> tuple[SufficientStats, np.ndarray]:
        """Summed statistics under ``params`` and the point they are taken about."""
        means, covariances = params[1], params[2]
        if shared_shift_error(means, covariances, self.shift) > PRECISION_LIMIT:
            return self._centred(params, prev_params), means
        theta = self._theta(params)
        theta_prev = None if prev_params is None else self._theta(prev_params)
        compiled = None
        if (
            _compiled.available()
            and self.dtype == np.float64
            and self.X.dtype in (np.float64, np.float32)
            and uses_full_features(self.covariance_type)
        ):
            compiled = (
                _compiled.padded_parameters(theta),
                None if theta_prev is None else _compiled.padded_parameters(theta_prev),
            )

        def work(rows: slice, block: int) -> SufficientStats:
            weights = None if self.weights is None else self.weights[rows]
            if compiled is not None:
                result = _compiled.em_statistics(
                    self.X[rows],
                    weights,
                    compiled[0],
                    theta.shape[0],
                    self.shift,
                    compiled[1],
                    need_resp_sq,
                )
                if result is not None:
                    moments, resp_sq, log_lik_sum, weight_sum, change = result
                    return SufficientStats(
                        moments[:, -1].copy(), resp_sq, moments, log_lik_sum, weight_sum, change
                    )
            return accumulate_statistics(
                self.X[rows],
                weights,
                theta,
                self.shift,
                self._features(block),
                theta_prev,
                need_resp_sq,
            )

        parts = map_blocks(work, self.X.shape[0], self.rows, self.n_jobs)
        total = parts[0]
        for part in parts[1:]:
            total += part
        return total, self.shift

    def _centred(self, params: tuple, prev_params: tuple | None) -> SufficientStats:
        prev = None
        if prev_params is not None:
            prev = (prev_params[0], prev_params[1], safe_cholesky(prev_params[2]))
        return centred_statistics(
            self.X, self.weights, *params, self.covariance_type, self.rows, prev
        )

    def refine(self, params: tuple, stats_shift: np.ndarray, new: tuple, reg_covar: float):
        """Redo an M-step whose result the shared-shift moments cannot resolve."""
        if stats_shift is self.shift and (
            shared_shift_error(new[1], new[2], self.shift) > PRECISION_LIMIT
        ):
            # e.g. a component collapsed onto a far outlier: recompute this
            # iteration's statistics about each component's own mean.
            stats = self._centred(params, None)
            return m_step(stats, params[1], self.covariance_type, reg_covar), stats
        return new, None


def run_em(
    source,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    *,
    covariance_type: str,
    reg_covar: float,
    n_iter: int,
    tol: float | None,
    r_diff: float | None,
    oas: bool,
    verbose: int,
) -> EMResult:
    """Iterate EM from the given parameters.

    ``source`` computes the E-step statistics: :class:`CompleteData`, or
    :class:`gaussmix._missing.IncompleteData` for data with NaN entries.

    Convergence: with ``tol`` a float, stop after the iteration whose mean
    log-likelihood changed by less than ``tol`` (scikit-learn's rule); with
    ``r_diff`` a positive float, stop as soon as the Frobenius norm of the
    change of the responsibilities falls below it, before the M-step (gmr's
    rule); with both None, run exactly ``n_iter`` iterations.
    """
    params = (priors, means, project_covariances(covariances, priors, covariance_type))
    use_rdiff = r_diff is not None and r_diff > 0
    prev_params = None
    lower_bound = -np.inf
    converged = False
    iteration = 0
    start_time = time.perf_counter()
    for iteration in range(1, n_iter + 1):
        stats, stats_shift = source.statistics(
            params, prev_params if use_rdiff else None, need_resp_sq=oas
        )
        previous = lower_bound
        lower_bound = stats.log_lik_sum / stats.weight_sum
        change = lower_bound - previous
        if verbose:
            r_change = np.sqrt(stats.resp_change_sq) if use_rdiff and prev_params else None
            _report(iteration, lower_bound, change, time.perf_counter() - start_time, r_change)
        if use_rdiff and prev_params is not None and np.sqrt(stats.resp_change_sq) < r_diff:
            converged = True
            break
        new = m_step(stats, stats_shift, covariance_type, reg_covar)
        if hasattr(source, "refine"):
            new, redone = source.refine(params, stats_shift, new, reg_covar)
            stats = redone if redone is not None else stats
        if oas:
            n_eff = stats.resp_sum**2 / np.maximum(stats.resp_sq_sum, np.finfo(float).tiny)
            new = (new[0], new[1], oas_shrinkage(new[2], n_eff))
        prev_params, params = params, new
        if tol is not None and abs(change) < tol:
            converged = True
            break
    if converged and verbose:
        print("EM converged.", file=sys.stdout)
    return EMResult(*params, converged, iteration, lower_bound)


def _report(
    iteration: int, lower_bound: float, change: float, elapsed: float, r_change=None
) -> None:
    # Under gmr's rule the change of the responsibilities decides convergence:
    # show it too.
    r_text = "" if r_change is None else f"  R change {r_change:.3e}"
    print(
        f"EM iteration {iteration:4d}  mean log-likelihood {lower_bound: .8g}  "
        f"change {change: .3e}{r_text}  time {elapsed:.3f}s",
        file=sys.stdout,
        flush=True,
    )


def warn_not_converged(n_iter: int, criterion: str) -> None:
    warnings.warn(
        f"EM did not converge within n_iter={n_iter} iterations ({criterion}); "
        "increase n_iter, loosen the tolerance, or check the data's scaling.",
        ConvergenceWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------
def kmeans_plus_plus(
    X: np.ndarray, n_components: int, rng, weights: np.ndarray | None = None
) -> np.ndarray:
    """Indices of k-means++ seeds (Arthur & Vassilvitskii 2007).

    The first seed is drawn uniformly (or proportionally to ``weights``);
    each next seed is drawn with probability proportional to the squared
    distance to its **closest** already chosen seed. When every remaining
    point coincides with a seed, the next one is drawn uniformly among the
    points not yet chosen.
    """
    n = X.shape[0]
    base = np.ones(n) if weights is None else weights.astype(np.float64)
    chosen = np.empty(n_components, dtype=np.intp)
    chosen[0] = rng.choice(n, p=base / base.sum())
    closest_sq = _squared_distances_to(X, X[chosen[0]])
    for j in range(1, n_components):
        # Loop over the k seeds (k-means++ is sequential by definition); each
        # step is vectorized over all samples.
        prob = closest_sq * base
        prob[chosen[:j]] = 0.0
        total = prob.sum()
        if not total > 0:
            prob = (base > 0).astype(np.float64)
            prob[chosen[:j]] = 0.0
            if not prob.sum() > 0:
                prob = np.ones(n)
                prob[chosen[:j]] = 0.0
            total = prob.sum()
        chosen[j] = rng.choice(n, p=prob / total)
        np.minimum(closest_sq, _squared_distances_to(X, X[chosen[j]]), out=closest_sq)
    return chosen


def _squared_distances_to(X: np.ndarray, center: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty(X.shape[0])
    for start in range(0, X.shape[0], chunk):
        diff = X[start : start + chunk] - center
        out[start : start + chunk] = np.einsum("ij,ij->i", diff, diff)
    return out


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


def random_initial_means(
    X: np.ndarray, n_components: int, rng, weights: np.ndarray | None = None
) -> np.ndarray:
    """Means drawn from the data rows, without replacement (weighted if given)."""
    n = X.shape[0]
    p = None
    if weights is not None:
        positive = int((weights > 0).sum())
        p = weights / weights.sum() if positive >= n_components else None
    idx = rng.choice(n, size=n_components, replace=False, p=p)
    return X[idx].astype(np.float64)
