"""EM over a small in-memory array: one numpy pass per iteration, no per-iteration objects.

A model search (:func:`gaussmix.select_model`, mclust's 14 x 9 grid) runs
hundreds of EM fits, most of them on a few hundred rows, where an iteration of
the general engine (:func:`gaussmix.em.driver.run_em` over a
:class:`~gaussmix.em.sources.StatisticsSource`) costs mostly its fixed Python
work: E-step parameters about a shared shift, the precision check, thread
hand-off, statistics objects. :func:`run_em` here runs the same maximum-likelihood
EM on the rows themselves: every row's deviation from every component's mean,
y_ij = x_i - mu_j (one (k, n, d) array), serves both the E-step (squared
Mahalanobis distances through the inverse Cholesky factors) and the M-step
(moments about the E-step's means, which is the engine's precise path), and the
M-step is the engine's own (:func:`gaussmix.em.families.m_step_from_moments`).
The convergence rule, the objective (mean log-likelihood), the state returned
and the iteration count are those of the general driver.

It runs where the (k, n, d) deviations stay small (:data:`DENSE_MAX_ELEMENTS`)
and the rule is a float ``tol`` or none; a run whose covariances cannot be
factorized (a component collapsed with ``reg_covar=0``) is handed back to the
general driver from its start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import covariance as structures
from .._gaussian import PRECISION_LIMIT, shared_shift_error
from .driver import ConvergenceRule, EMResult
from .driver import run_em as run_em_general
from .families import Gaussians, MaximumLikelihood, m_step_from_moments
from .sources import StatisticsSource, weighted_mean

__all__ = ["DENSE_MAX_ELEMENTS", "DenseRows", "dense_applies", "run_em"]

#: Most entries (k n d) of the deviations array for which :func:`run_em` is used;
#: above it the general engine's row blocks (and compiled kernel) are faster.
DENSE_MAX_ELEMENTS = 20_000

_LOG_2PI = math.log(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)


class DenseRows:
    """Complete in-memory rows, their weights and their products, for :func:`run_em`.

    The rows are centred once on their (weighted) mean, ``shift``; the
    products y y^T (or y * y) of the centred rows y are made on first use, so
    that each M-step's second moments are one (k, n) x (n, d^2) product.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        float64 rows without NaN.
    weights : ndarray, shape (n,), or None
    """

    def __init__(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        X = np.asarray(X, dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.weight_sum = float(X.shape[0] if weights is None else self.weights.sum())
        self.shift = weighted_mean(X, self.weights)
        self.X = X
        self.centred = np.ascontiguousarray(X - self.shift)
        self._products: dict[bool, np.ndarray] = {}
        self._sums: dict[tuple[int, int], np.ndarray] = {}

    def products(self, quadratic: bool) -> np.ndarray:
        """y y^T flattened, (n, d^2), or y * y, (n, d), of the centred rows y."""
        if quadratic not in self._products:
            y = self.centred
            n, d = y.shape
            self._products[quadratic] = (
                (y[:, :, None] * y[:, None, :]).reshape(n, d * d) if quadratic else y * y
            )
        return self._products[quadratic]

    def block_sums(self, k: int, d: int) -> np.ndarray:
        """(k d, k) zeros and ones: the product with it sums each run of d columns."""
        if (k, d) not in self._sums:
            self._sums[(k, d)] = np.kron(np.eye(k), np.ones((d, 1)))
        return self._sums[(k, d)]


def dense_applies(rows: DenseRows | None, k: int, family: Any, rule: ConvergenceRule) -> bool:
    """Whether :func:`run_em` runs this fit: small, plain maximum likelihood, a float rule."""
    return (
        rows is not None
        and isinstance(family, MaximumLikelihood)
        and not family.oas
        and rule.r_diff is None
        and k * rows.X.size <= DENSE_MAX_ELEMENTS
    )


def _log_joint(rows: DenseRows, gaussians: Gaussians) -> tuple[np.ndarray, bool] | None:
    """log pi_j + log N(x_i | mu_j, Sigma_j), shape (n, k), and whether moments about
    ``rows.shift`` are precise for these components.

    None when a covariance is not positive definite (the general engine
    regularizes those).
    """
    priors, means, covariances = gaussians
    k, d = means.shape
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        return None
    diagonal = np.diagonal(chol, axis1=1, axis2=2)
    if not (diagonal > 0).all():
        return None
    inverse = np.linalg.inv(chol)  # (k, d, d) lower triangular: z = L^-1 (x - mu)
    offsets = means - rows.shift
    # All k whitened rows side by side: one (n, d) x (d, k d) product.
    whitened = rows.centred @ inverse.transpose(2, 0, 1).reshape(d, k * d)
    whitened -= np.einsum("kij,kj->ki", inverse, offsets).reshape(k * d)
    np.square(whitened, out=whitened)
    distances = whitened @ rows.block_sums(k, d)
    constants = np.log(priors) - np.log(diagonal).sum(axis=1) - 0.5 * d * _LOG_2PI
    # The shared-shift moments lose about eps |mu_j - shift|^2 ||Sigma_j^-1|| of
    # relative precision (||Sigma^-1|| <= ||L^-1||_F^2): past the engine's
    # limit the moments are taken about each component's own mean instead.
    error = _EPS * np.square(offsets).sum(axis=1) * np.square(inverse).sum(axis=(1, 2))
    return constants - 0.5 * distances, bool(error.max() <= PRECISION_LIMIT)


def _m_step(
    family: MaximumLikelihood,
    resp_sum: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    shift: np.ndarray,
    state: Gaussians,
) -> Gaussians:
    """The family's M-step from moments about ``shift``, warm-started at ``state``."""
    return Gaussians(
        *m_step_from_moments(
            resp_sum,
            first,
            second,
            shift,
            family.covariance_type,
            family.reg_covar,
            previous=state.covariances,
        )
    )


def run_em(
    rows: DenseRows,
    source: StatisticsSource,
    family: MaximumLikelihood,
    state: Gaussians,
    *,
    n_iter: int,
    rule: ConvergenceRule,
    lower_bound: float = -np.inf,
    **general: Any,
) -> EMResult:
    """One EM run from ``state``, as :func:`gaussmix.em.driver.run_em` over ``source``.

    Parameters
    ----------
    rows : DenseRows
        The rows of ``source``.
    source : StatisticsSource
        The general engine's source of the same rows: a run this function
        cannot carry out (a covariance that does not factorize) is redone
        there from ``state``.
    family : MaximumLikelihood
    state : Gaussians
    n_iter : int
    rule : ConvergenceRule
        A float ``tol`` or no criterion.
    lower_bound : float, default=-inf
    **general
        Passed to the general driver when it takes over (callback, verbose).

    Returns
    -------
    EMResult
    """
    if general.get("callback") is not None or general.get("verbose"):
        return run_em_general(
            source, family, state, n_iter=n_iter, rule=rule, lower_bound=lower_bound, **general
        )
    X, weights = rows.X, rows.weights
    d = X.shape[1]
    structure = structures.get(family.covariance_type)
    quadratic = structure.quadratic
    start, converged, iteration = state, False, 0
    for iteration in range(1, n_iter + 1):  # noqa: B007 - the count is returned
        joint = _log_joint(rows, state)
        if joint is None:
            return run_em_general(
                source, family, start, n_iter=n_iter, rule=rule, lower_bound=lower_bound
            )
        log_joint, precise = joint
        top = log_joint.max(axis=1)
        if not np.isfinite(top).all():
            return run_em_general(
                source, family, start, n_iter=n_iter, rule=rule, lower_bound=lower_bound
            )
        resp = np.exp(log_joint - top[:, None])
        total = resp.sum(axis=1)
        resp /= total[:, None]
        log_lik = top + np.log(total)
        if weights is not None:
            resp *= weights[:, None]
            log_lik *= weights
        resp_sum = resp.sum(axis=0)
        new = None
        if precise:
            second = resp.T @ rows.products(quadratic)
            if quadratic:
                second = second.reshape(-1, d, d)
            new = _m_step(family, resp_sum, resp.T @ rows.centred, second, rows.shift, state)
            # Moments about the shift cannot resolve an M-step whose result lies
            # too far from it (a component collapsed onto a far outlier): the
            # iteration is then redone about the E-step's means, as the engine does.
            if shared_shift_error(new.means, new.covariances, rows.shift) > PRECISION_LIMIT:
                new = None
        if new is None:
            deviations = X[None, :, :] - state.means[:, None, :]
            weighted = deviations * resp.T[:, :, None]
            if quadratic:
                second = np.swapaxes(weighted, 1, 2) @ deviations
            else:
                second = np.einsum("knd,knd->kd", weighted, deviations)
            new = _m_step(family, resp_sum, weighted.sum(axis=1), second, state.means, state)
        prior_bound = lower_bound
        lower_bound = float(log_lik.sum()) / rows.weight_sum
        change = lower_bound - prior_bound
        state = new
        if rule.tol is not None and abs(change) < rule.tol:
            converged = True
            break
    family.e_step_covariances = None
    return EMResult(state, converged, iteration, lower_bound, False)
