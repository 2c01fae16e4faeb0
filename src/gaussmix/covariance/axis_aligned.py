"""mclust's diagonal models beyond VVI and VII: EII, EEI, VEI and EVI.

Every covariance is diagonal, Sigma_k = lambda_k A_k (orientation the
identity), so the E-step uses the diagonal features and the M-step sees only
the diagonal w_k of each scatter matrix. Closed forms are those of Celeux &
Govaert (1995), "Gaussian parsimonious clustering models", Pattern
Recognition 28(5), 781-793, section 3.2 and 3.3; VEI has none and alternates
its two closed-form conditional updates (each lowers eq. (1) of
:mod:`gaussmix.covariance.decomposed`, so the M-step never lowers the
expected complete-data log-likelihood).
"""

from __future__ import annotations

import numpy as np

from .._linalg import volume_shape_iterations
from .decomposed import (
    FLOOR,
    TINY,
    Decomposed,
    converged,
    floored,
    geometric_mean,
    unit_determinant,
)

__all__ = ["EqualDiagonal", "EqualShapeDiagonal", "EqualSpherical", "EqualVolumeDiagonal"]


def _diagonal_matrices(variances: np.ndarray) -> np.ndarray:
    """Diagonal matrices (..., d, d) of variances (..., d)."""
    return variances[..., None] * np.eye(variances.shape[-1])


def variable_volume_equal_shape(
    values: np.ndarray,
    nk: np.ndarray,
    tol: float,
    max_iter: int,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Volumes lambda_k (B, k) and one shape a (B, d), prod(a) = 1, minimizing
    sum_k n_k d ln lambda_k + sum_j values_kj / (lambda_k a_j) for each of B problems.

    The M-step of VEI (``values`` (B, k, d) the scatter's diagonals) and of
    VEV (the scatter's eigenvalues, largest first): Celeux & Govaert (1995),
    the alternating updates lambda_k = sum_j values_kj / a_j / (d n_k) and
    a = unit(sum_k values_k / lambda_k), from the shape ``start`` (B, d) if
    given, else a = unit(sum_k values_k). Both are exact minimizations over
    one block, so the objective never rises; each problem stops on its own.
    """
    compiled = volume_shape_iterations(values, nk, tol, max_iter, start, FLOOR)
    if compiled is not None:  # the same updates (numpy's made ~15 calls an iteration)
        return compiled
    d = values.shape[-1]
    pooled = values.sum(axis=1) if start is None else np.maximum(start, TINY)
    shape = unit_determinant(pooled)
    previous = np.full(len(values), np.inf)
    scale = nk.sum(axis=1) * d
    active = np.arange(len(values))
    for _ in range(max_iter):
        if not active.size:
            break
        own, counts = values[active], nk[active]
        volumes = floored((own / shape[active, None, :]).sum(axis=2) / (d * counts))
        shape[active] = unit_determinant((own / volumes[:, :, None]).sum(axis=1))
        current = d * (counts * np.log(volumes)).sum(axis=1) + (
            (own / shape[active, None, :]) / volumes[:, :, None]
        ).sum(axis=(1, 2))
        done = converged(previous[active], current, scale[active], tol)
        previous[active] = current
        active = active[~done]
    volumes = floored((values / shape[:, None, :]).sum(axis=2) / (d * nk))
    return volumes, shape


class EqualSpherical(Decomposed):
    """lambda I, one variance for every component and feature (mclust's EII)."""

    name = "EII"
    mclust_name = "EII"
    features = "diagonal"
    shared = True
    isotropic = True
    marker = "^"  # R's pch 17
    color = "gray"
    seed_key = 10

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        d = scatter.shape[-1]
        variance = np.maximum(scatter.sum(axis=(1, 2)) / (d * nk.sum(axis=1)), 0.0)
        return _diagonal_matrices(np.broadcast_to(variance[:, None, None], scatter.shape))

    def n_parameters(self, k: int, d: int) -> int:
        return 1

    def min_component_rows(self, d: int) -> int:
        return 0


class EqualDiagonal(Decomposed):
    """lambda A, one diagonal covariance for every component (mclust's EEI)."""

    name = "EEI"
    mclust_name = "EEI"
    features = "diagonal"
    shared = True
    marker = "o"  # R's pch 16
    color = "#218B21"
    seed_key = 12

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        pooled = np.maximum(scatter.sum(axis=1), 0.0) / nk.sum(axis=1)[:, None]
        return _diagonal_matrices(np.broadcast_to(pooled[:, None, :], scatter.shape))

    def n_parameters(self, k: int, d: int) -> int:
        return d

    def min_component_rows(self, d: int) -> int:
        return 0


class EqualShapeDiagonal(Decomposed):
    """lambda_k A, diagonal with one shape and a volume per component (mclust's VEI).

    Iterative: ``variable_volume_equal_shape`` on the scatter's diagonals.
    """

    name = "VEI"
    mclust_name = "VEI"
    features = "diagonal"
    marker = "$\\otimes$"  # R's pch 13
    color = "#508476"
    seed_key = 13
    warm_start = True

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        values = np.maximum(scatter, 0.0)
        start = None if previous is None else np.einsum("bkii->bi", previous)
        iterations = self.iterations(previous, max_iter)
        volumes, shape = variable_volume_equal_shape(values, nk, self.tol, iterations, start)
        return _diagonal_matrices(volumes[:, :, None] * shape[:, None, :])

    def n_parameters(self, k: int, d: int) -> int:
        return k + d - 1


class EqualVolumeDiagonal(Decomposed):
    """lambda A_k, diagonal with one volume and a shape per component (mclust's EVI).

    Closed form: A_k = unit(w_k), lambda = sum_k prod(w_k)^(1/d) / n.
    """

    name = "EVI"
    mclust_name = "EVI"
    features = "diagonal"
    marker = "$\\oplus$"  # R's pch 10
    color = "#41884F"
    seed_key = 14

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        values = np.maximum(scatter, 0.0)
        volume_k = floored(geometric_mean(values))
        volume = volume_k.sum(axis=1) / nk.sum(axis=1)
        return _diagonal_matrices(volume[:, None, None] * values / volume_k[:, :, None])

    def n_parameters(self, k: int, d: int) -> int:
        return 1 + k * (d - 1)
