"""The four structures scikit-learn knows: full, tied, diag and spherical.

In mclust's terms (volume, shape, orientation; Banfield & Raftery 1993,
Celeux & Govaert 1995) they are VVV, EEE, VVI and VII. The M-steps are
scikit-learn's: the weighted scatter divided by the responsibility sums,
pooled over components for "tied", its diagonal for "diag" and the mean of
that diagonal for "spherical", then ``reg_covar`` on the diagonal.
"""

from __future__ import annotations

import numpy as np

from .._linalg import symmetrize
from .base import CovarianceStructure, project_psd

__all__ = ["Diagonal", "Full", "Spherical", "Tied"]


class Full(CovarianceStructure):
    """Any positive-definite covariance per component (mclust's VVV)."""

    name = "full"
    aliases = ("VVV",)
    mclust_name = "VVV"
    marker = "s"  # R's pch 0
    marker_filled = False
    color = "#CC0000"
    seed_key = 0
    variational = True
    default_grid = True

    def estimate(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        covariances = project_psd(symmetrize(scatter / nk[:, None, None]))
        np.einsum("kii->ki", covariances)[...] += reg_covar
        return covariances

    def estimate_batch(self, scatter, nk, reg_covar, previous=None):
        if self._overrides_below("estimate_batch", "estimate"):
            return super().estimate_batch(scatter, nk, reg_covar, previous)
        # Components are independent: the batch's components are one stack.
        return self.estimate(
            scatter.reshape((-1, *scatter.shape[2:])), nk.reshape(-1), reg_covar
        ).reshape(scatter.shape)

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        return covariances

    def n_parameters(self, k: int, d: int) -> int:
        return k * d * (d + 1) // 2

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        return covariances

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.asarray(compact, dtype=np.float64)


class Tied(CovarianceStructure):
    """One covariance shared by all components (mclust's EEE)."""

    name = "tied"
    aliases = ("EEE",)
    mclust_name = "EEE"
    marker = "s"  # R's pch 15
    color = "#597DC3"
    seed_key = 3
    variational = True
    default_grid = True
    shared = True

    def estimate(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        return _tied(scatter[None], nk[None], reg_covar)[0]

    def estimate_batch(self, scatter, nk, reg_covar, previous=None):
        if self._overrides_below("estimate_batch", "estimate"):
            return super().estimate_batch(scatter, nk, reg_covar, previous)
        return _tied(scatter, nk, reg_covar)

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        k, d, _ = covariances.shape
        tied = np.einsum("k,kij->ij", priors, covariances) / priors.sum()
        return np.broadcast_to(tied, (k, d, d)).copy()

    def n_parameters(self, k: int, d: int) -> int:
        return d * (d + 1) // 2

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        return covariances[0]

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(compact, dtype=np.float64), (k, d, d)).copy()


def _tied(scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
    """The tied M-step of B problems: scatter (B, k, d, d), nk (B, k)."""
    B, k, d, _ = scatter.shape
    tied = symmetrize(scatter.sum(axis=1) / nk.sum(axis=1)[:, None, None])
    covariances = project_psd(np.repeat(tied, k, axis=0))
    np.einsum("kii->ki", covariances)[...] += reg_covar
    return covariances.reshape(B, k, d, d)


class Diagonal(CovarianceStructure):
    """Axis-aligned covariances, one variance per feature and component (mclust's VVI)."""

    name = "diag"
    aliases = ("VVI",)
    mclust_name = "VVI"
    marker = "o"  # R's pch 1
    marker_filled = False
    color = "#58819C"
    seed_key = 1
    variational = True
    default_grid = True
    features = "diagonal"

    def variances(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        """The (k, d) variances of the M-step from the scatter's diagonal."""
        return np.maximum(scatter / nk[:, None], 0.0) + reg_covar

    def estimate(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        var = self.variances(scatter, nk, reg_covar)
        return var[:, :, None] * np.eye(var.shape[1])

    def estimate_batch(self, scatter, nk, reg_covar, previous=None):
        if self._overrides_below("estimate_batch", "estimate", "variances"):
            return super().estimate_batch(scatter, nk, reg_covar, previous)
        # Components are independent: the batch's components are one stack.
        B, k, d = scatter.shape
        return self.estimate(scatter.reshape(B * k, d), nk.reshape(-1), reg_covar).reshape(
            B, k, d, d
        )

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        var = np.diagonal(covariances, axis1=1, axis2=2)
        return var[:, :, None] * np.eye(covariances.shape[-1])

    def n_parameters(self, k: int, d: int) -> int:
        return k * d

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        return np.diagonal(covariances, axis1=1, axis2=2).copy()

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.asarray(compact, dtype=np.float64)[:, :, None] * np.eye(d)


class Spherical(Diagonal):
    """One variance per component (mclust's VII)."""

    name = "spherical"
    aliases = ("VII",)
    mclust_name = "VII"
    marker = "^"  # R's pch 2
    marker_filled = False
    color = "black"
    seed_key = 2
    isotropic = True

    def variances(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        var = super().variances(scatter, nk, reg_covar)
        return np.repeat(var.mean(axis=1, keepdims=True), var.shape[1], axis=1)

    # Its variances are per component too: the same stacked batch.
    estimate_batch = Diagonal.estimate_batch

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        var = np.diagonal(covariances, axis1=1, axis2=2)
        d = covariances.shape[-1]
        return np.repeat(var.mean(axis=1, keepdims=True), d, axis=1)[:, :, None] * np.eye(d)

    def n_parameters(self, k: int, d: int) -> int:
        return k

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        return np.diagonal(covariances, axis1=1, axis2=2)[:, 0].copy()

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        return np.asarray(compact, dtype=np.float64)[:, None, None] * np.eye(d)
