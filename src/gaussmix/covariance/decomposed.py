"""Shared machinery of mclust's eigenvalue-decomposition models beyond scikit-learn's four.

Banfield & Raftery (1993) and Celeux & Govaert (1995) write each component's
covariance as

    Sigma_k = lambda_k D_k A_k D_k^T,

with volume lambda_k = det(Sigma_k)^(1/d), a diagonal shape A_k with det(A_k) = 1
and an orthogonal orientation D_k. Each of the three is Equal across
components, Variable, or the Identity, which gives mclust's three-letter
codes (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV).

The M-step of each model maximizes the covariance part of the expected
complete-data log-likelihood, that is it minimizes

    F(Sigma) = sum_k n_k ln det(Sigma_k) + tr(W_k Sigma_k^-1)          (1)

over covariances of the model's form, where W_k = sum_i r_ik (x_i - mu_k)
(x_i - mu_k)^T is component k's scatter and n_k = sum_i r_ik
(:func:`objective` computes it).

Regularization
--------------
``reg_covar`` enters every model the same way, before the constrained
maximization: W_k is replaced by W_k + reg_covar n_k I. For the unconstrained
models (VVV, VVI, VII, EEE) that is exactly scikit-learn's rule, W_k / n_k +
reg_covar I; for the others it is the maximum of (1) plus the penalty
reg_covar sum_k n_k tr(Sigma_k^-1) (the log of an inverse-Wishart-like prior),
so the result keeps the model's equal volumes, shapes and orientations, and
every covariance is positive definite when reg_covar > 0. With reg_covar = 0
the plain maximum-likelihood M-step of the papers is computed (mclust adds no
ridge).

Compact form
------------
scikit-learn's ``covariances_`` of these ten models are the full (k, d, d)
matrices (there is no smaller form scikit-learn's code would understand).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._linalg import safe_cholesky
from .base import OVERFLOW, CovarianceStructure

__all__ = [
    "FLOOR",
    "TINY",
    "Decomposed",
    "floored",
    "geometric_mean",
    "objective",
    "regularized_scatter",
    "sorted_eigh",
    "unit_determinant",
]

#: The smallest positive float: a floor for volumes and determinants when
#: reg_covar = 0 meets a collapsed component (the fit is then degenerate, but
#: the M-step still returns finite numbers).
TINY = np.finfo(np.float64).tiny


#: Volumes and variances below this fraction of the largest are raised to it in the
#: M-steps: with reg_covar = 0 a collapsed component's volume is 0, and dividing
#: by it would overflow; such a fit is degenerate, but its numbers stay finite.
FLOOR = 1e-12


def floored(values: np.ndarray) -> np.ndarray:
    """``values`` (B, ...) with the entries of each ``values[b]`` below FLOOR times its
    largest raised to that (TINY where they are all 0)."""
    if not values.size:
        return values
    top = values.reshape(values.shape[0], -1).max(axis=1)
    floor = np.maximum(FLOOR * top, TINY).reshape((-1,) + (1,) * (values.ndim - 1))
    return np.maximum(values, floor)


def regularized_scatter(scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
    """W_k + reg_covar n_k I of (..., k, d, d) scatter (or of its (..., k, d) diagonal)."""
    if reg_covar == 0.0:
        return scatter
    scatter = scatter.copy()
    if scatter.ndim == nk.ndim + 2:
        np.einsum("...ii->...i", scatter)[...] += reg_covar * nk[..., None]
    else:
        scatter += reg_covar * nk[..., None]
    return scatter


def geometric_mean(values: np.ndarray) -> np.ndarray:
    """Geometric mean over the last axis (of positive values; zeros floored at TINY)."""
    return np.exp(np.log(np.maximum(values, TINY)).mean(axis=-1))


def unit_determinant(values: np.ndarray) -> np.ndarray:
    """Positive diagonals (..., d) scaled to product 1 (a shape matrix A with det(A) = 1)."""
    return values / geometric_mean(values)[..., None]


def sorted_eigh(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (..., d), largest first, clipped at 0; eigenvectors (..., d, d) in columns."""
    eigvals, eigvecs = np.linalg.eigh(matrices)
    return np.maximum(eigvals[..., ::-1], 0.0), eigvecs[..., ::-1]


def objective(scatter: np.ndarray, nk: np.ndarray, covariances: np.ndarray) -> float:
    """F = sum_k n_k ln det(Sigma_k) + tr(W_k Sigma_k^-1), eq. (1); the M-step minimizes it.

    Parameters
    ----------
    scatter : ndarray, shape (k, d, d)
    nk : ndarray, shape (k,)
    covariances : ndarray, shape (k, d, d)
        Positive definite.

    Returns
    -------
    float
        -2 times the covariance part of the expected complete-data
        log-likelihood (up to a constant).
    """
    _, logdet = np.linalg.slogdet(covariances)
    trace = np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))
    return float(nk @ logdet + trace.sum())


def converged(
    previous: np.ndarray, current: np.ndarray, scale: np.ndarray, tol: float
) -> np.ndarray:
    """Which of a batch of iterative M-steps stopped moving (or are not finite), (B,) bool.

    Each compares its objective's change with ``tol`` times max(abs(current), scale).
    """
    with np.errstate(invalid="ignore"):
        small = np.abs(previous - current) <= tol * np.maximum(np.abs(current), scale)
    return small | ~np.isfinite(current)


class Decomposed(CovarianceStructure):
    """Base of the ten models beyond scikit-learn's four (mclust's codes as names).

    Subclasses implement :meth:`maximize_batch`, the M-step of eq. (1)
    without regularization for a batch of independent problems (the EM runs
    of :mod:`gaussmix.em.dense`; :meth:`maximize` is a batch of one);
    :meth:`estimate` adds ``reg_covar`` to the scatter first (see the module's
    docstring) and :meth:`project` is the same M-step with the starting
    covariances, weighted by the priors, as scatter (for a covariance that
    already has the model's form it returns it unchanged). An iterative
    M-step stops each problem of a batch on its own, so a problem's result
    does not depend on the others.

    Attributes
    ----------
    tol : float
        Iterative M-steps (VEI, VEE, VEV, EVE, VVE) stop when an iteration
        changes eq. (1) by less than ``tol`` times max(abs(F), n d).
    max_iter : int
        At most this many iterations of an iterative M-step.
    warm_max_iter : int
        At most this many when the M-step starts from the previous
        iteration's covariances (``previous``). It then lowers eq. (1) from
        the previous parameters but may stop short of its minimum: a
        generalized EM step (Dempster, Laird & Rubin 1977), which keeps EM's
        likelihood monotone and its fixed points, and saves the slow tail of
        the orientation's iterations far from EM's convergence.
    start_max_iter : int
        At most this many in :meth:`project` (EM's start): EM's M-steps go on
        from there. On the 14 x 9 grids of Old Faithful, iris, diabetes and
        the Swiss banknotes, 50 instead of ``max_iter`` gave the same cells
        at 0.88-1.04x the CPU time (EVE and VVE's orientation steps converge
        slowly from a hierarchy's partition: up to 65 ms for 500 of them).
    """

    tol: ClassVar[float] = 1e-10
    max_iter: ClassVar[int] = 500
    warm_max_iter: ClassVar[int] = 10
    start_max_iter: ClassVar[int] = 50
    variational = False

    def maximize_batch(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        previous: np.ndarray | None = None,
        max_iter: int | None = None,
    ) -> np.ndarray:
        """Covariances (B, k, d, d) minimizing eq. (1) under the model's constraints,
        for each of B independent problems.

        Parameters
        ----------
        scatter : ndarray, shape (B, k, d, d), or (B, k, d) for diagonal features
        nk : ndarray, shape (B, k)
        previous : ndarray, shape (B, k, d, d), optional
            Covariances of the model's form to start an iterative M-step
            from (the last E-step's): each result is then never worse than
            its ``previous`` under eq. (1). Closed forms ignore it.
        max_iter : int, optional
            At most this many iterations of an iterative M-step (default:
            :meth:`iterations`).
        """
        raise NotImplementedError

    def maximize(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        previous: np.ndarray | None = None,
        max_iter: int | None = None,
    ) -> np.ndarray:
        """:meth:`maximize_batch` of one problem: scatter (k, d, d) or (k, d), nk (k,)."""
        previous = None if previous is None else previous[None]
        return self.maximize_batch(scatter[None], nk[None], previous, max_iter)[0]

    def iterations(self, previous: np.ndarray | None, max_iter: int | None = None) -> int:
        """The most iterations of this M-step: ``max_iter`` cold, ``warm_max_iter`` warm.

        A given ``max_iter`` (e.g. :meth:`project`'s ``start_max_iter``) overrides both.
        """
        if max_iter is not None:
            return max_iter
        return self.max_iter if previous is None else self.warm_max_iter

    def estimate(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.maximize(regularized_scatter(scatter, nk, reg_covar), nk, previous)

    def estimate_batch(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        if not np.isfinite(scatter).all() or (
            previous is not None and not np.isfinite(previous).all()
        ):  # eigh and inv would fail with numpy's errors
            raise ValueError(OVERFLOW)
        if self._overrides_below("estimate_batch", "estimate") or self._overrides_below(
            "maximize_batch", "maximize"
        ):  # a subclass's own per-problem M-step (only ``maximize``, say)
            return super().estimate_batch(scatter, nk, reg_covar, previous)
        return self.maximize_batch(regularized_scatter(scatter, nk, reg_covar), nk, previous)

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        problem = self._start_problem(covariances, priors)
        if self._overrides_below("maximize_batch", "maximize"):
            # a subclass's own M-step, with CONTRIBUTING.md's signature (no max_iter)
            return self.maximize(*problem)
        return self.maximize(*problem, max_iter=self.start_max_iter)

    def project_batch(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        if self._overrides_below("maximize_batch", "maximize") or self._overrides_below(
            "project_batch", "project"
        ):  # a subclass's own per-problem M-step or projection
            return super().project_batch(covariances, priors)
        return self.maximize_batch(
            *self._start_problem(covariances, priors), max_iter=self.start_max_iter
        )

    def _start_problem(
        self, covariances: np.ndarray, priors: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The M-step problem (scatter, counts) whose solution projects covariances
        (..., k, d, d) with priors (..., k): the priors (normalized) as counts.

        Covariances that are not positive definite (a start's spread of data with a
        constant column) are first regularized as :func:`gaussmix._linalg.safe_cholesky`
        does: the models' shapes and volumes need every eigenvalue positive."""
        covariances = np.asarray(covariances, dtype=np.float64)
        if not np.isfinite(covariances).all():
            raise ValueError(OVERFLOW)
        try:
            np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            factors = safe_cholesky(covariances)
            covariances = factors @ np.swapaxes(factors, -1, -2)
        weights = np.maximum(np.asarray(priors, dtype=np.float64), TINY)
        weights = weights / weights.sum(axis=-1, keepdims=True)
        scatter = covariances * weights[..., None, None]
        if not self.quadratic:
            scatter = np.diagonal(scatter, axis1=-2, axis2=-1)
        return scatter, weights

    def min_component_rows(self, d: int) -> int:
        # A component's covariance is singular only when every one of its
        # volume, shape and orientation comes from its own rows.
        return 2

    # -- scikit-learn's attribute shapes: the full matrices --------------------
    def compact_shape(self, k: int, d: int) -> tuple[int, ...]:
        return (k, d, d)

    @property
    def compact_is_matrix(self) -> bool:
        return True

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        return np.array(covariances, dtype=np.float64)

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.array(compact, dtype=np.float64)
