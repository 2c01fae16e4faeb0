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
from .driver import ConvergenceRule, EMResult
from .driver import run_em as run_em_general
from .families import Gaussians, MaximumLikelihood, m_step_from_moments
from .sources import StatisticsSource

__all__ = ["DENSE_MAX_ELEMENTS", "DenseRows", "dense_applies", "run_em"]

#: Most entries (k n d) of the deviations array for which :func:`run_em` is used;
#: above it the general engine's row blocks (and compiled kernel) are faster.
DENSE_MAX_ELEMENTS = 200_000

_LOG_2PI = math.log(2.0 * math.pi)


class DenseRows:
    """Complete in-memory rows and their weights, for :func:`run_em`.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        float64 rows without NaN.
    weights : ndarray, shape (n,), or None
    """

    def __init__(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.weight_sum = float(X.shape[0] if weights is None else self.weights.sum())


def dense_applies(rows: DenseRows | None, k: int, family: Any, rule: ConvergenceRule) -> bool:
    """Whether :func:`run_em` runs this fit (small enough, plain maximum likelihood, a float rule)."""
    return (
        rows is not None
        and isinstance(family, MaximumLikelihood)
        and not family.oas
        and rule.r_diff is None
        and k * rows.X.size <= DENSE_MAX_ELEMENTS
    )


def _log_joint(
    X: np.ndarray, gaussians: Gaussians
) -> tuple[np.ndarray, np.ndarray] | None:
    """log pi_j + log N(x_i | mu_j, Sigma_j), shape (k, n), and the deviations (k, n, d).

    None when a covariance is not positive definite (the general engine
    regularizes those).
    """
    priors, means, covariances = gaussians
    d = means.shape[1]
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        return None
    diagonal = np.diagonal(chol, axis1=1, axis2=2)
    if not (diagonal > 0).all():
        return None
    inverse = np.linalg.inv(chol)  # (k, d, d) lower triangular
    deviations = X[None, :, :] - means[:, None, :]
    whitened = deviations @ np.swapaxes(inverse, 1, 2)
    distances = np.einsum("knd,knd->kn", whitened, whitened)
    with np.errstate(divide="ignore"):
        constants = np.log(priors) - np.log(diagonal).sum(axis=1) - 0.5 * d * _LOG_2PI
    return constants[:, None] - 0.5 * distances, deviations


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
    structure = structures.get(family.covariance_type)
    quadratic = structure.quadratic
    start, converged, iteration = state, False, 0
    for iteration in range(1, n_iter + 1):
        joint = _log_joint(X, state)
        if joint is None:
            return run_em_general(
                source, family, start, n_iter=n_iter, rule=rule, lower_bound=lower_bound
            )
        log_joint, deviations = joint
        top = log_joint.max(axis=0)
        if not np.isfinite(top).all():
            return run_em_general(
                source, family, start, n_iter=n_iter, rule=rule, lower_bound=lower_bound
            )
        with np.errstate(under="ignore"):
            resp = np.exp(log_joint - top)
        total = resp.sum(axis=0)
        resp /= total
        log_lik = top + np.log(total)
        if weights is not None:
            resp *= weights
            log_lik *= weights
        weighted = deviations * resp[:, :, None]
        first = weighted.sum(axis=1)
        if quadratic:
            second = np.swapaxes(weighted, 1, 2) @ deviations
        else:
            second = np.einsum("knd,knd->kd", weighted, deviations)
        new = Gaussians(
            *m_step_from_moments(
                resp.sum(axis=1),
                first,
                second,
                state.means,
                family.covariance_type,
                family.reg_covar,
                previous=state.covariances,
            )
        )
        prior_bound = lower_bound
        lower_bound = float(log_lik.sum()) / rows.weight_sum
        change = lower_bound - prior_bound
        state = new
        if rule.tol is not None and abs(change) < rule.tol:
            converged = True
            break
    family.e_step_covariances = None
    return EMResult(state, converged, iteration, lower_bound, False)
