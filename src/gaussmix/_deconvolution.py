"""Math over arrays for noisy measurements: the convolved mixture and extreme deconvolution.

Each row x_i is a noisy measurement of a true value v_i drawn from the
mixture, x_i = v_i + e_i with e_i ~ N(0, S_i) and S_i known. The measured
rows then follow the convolved mixture, p(x_i) = sum_j pi_j N(x_i | mu_j,
T_ij) with T_ij = V_j + S_i, and the posterior of v_i given component j is
N(b_ij, B_ij) with

    b_ij = mu_j + V_j T_ij^-1 (x_i - mu_j),   B_ij = V_j - V_j T_ij^-1 V_j

(Bovy, Hogg & Roweis 2011, "Extreme deconvolution: inferring complete
distribution functions from noisy, heterogeneous and incomplete
observations", Ann. Appl. Stat. 5(2B), eq. 16). Everything here runs on a
chunk of rows and all k components at once: the (m, k) matrices T_ij are
factorized by one batched Cholesky (numpy's stacked ``cholesky``), never in
a Python loop over rows or components.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._gaussian import LOG_2PI, normalize_log_weights
from ._linalg import SMALL_MATRIX_DIM, cholesky_columns, forward_solve_columns

__all__ = [
    "NoiseCovariances",
    "convolved_log_density",
    "deconvolve_chunk",
    "deconvolve_diagonal_chunk",
    "noise_chunk_rows",
]

# Elements of the largest (rows, k, d, d) intermediate of a chunk: 2^20
# float64 numbers (8 MiB), whatever n, so B_ij is never stored for all rows.
_CHUNK_ELEMENTS = 1 << 20


class NoiseCovariances(NamedTuple):
    """Checked noise covariances of the rows, in the form they were given.

    ``values`` is (n, d, d) for ``kind == "matrices"``, (n, d) variances for
    ``kind == "variances"`` and (d, d) for ``kind == "shared"`` (one
    covariance for every row); see
    :func:`gaussmix._validation.check_noise_covariances`.
    """

    values: np.ndarray
    kind: str

    def rows(self, rows: slice) -> np.ndarray:
        """The covariances of ``rows`` as (m, d, d) matrices, or (1, d, d) when shared."""
        if self.kind == "shared":
            return self.values[None]
        if self.kind == "matrices":
            return self.values[rows]
        variances = self.values[rows]
        m, d = variances.shape
        matrices = np.zeros((m, d, d))
        diagonal = np.arange(d)
        matrices[:, diagonal, diagonal] = variances
        return matrices

    def take(self, rows: slice) -> NoiseCovariances:
        """The noise of a subset of the rows (the shared covariance unchanged)."""
        if self.kind == "shared":
            return self
        return NoiseCovariances(self.values[rows], self.kind)


def noise_chunk_rows(k: int, d: int) -> int:
    """Rows per chunk so that a chunk's (rows, k, d, d + 1) arrays hold about 8 MiB."""
    return int(max(1, min(8192, _CHUNK_ELEMENTS // max(1, k * d * (d + 1)))))


_NOT_POSITIVE = (
    "a component's covariance plus a row's noise covariance is not positive "
    "definite (V_j + S_i singular): use reg_covar > 0 to keep every V_j "
    "positive definite"
)


def _deconvolve_entry_major(
    X: np.ndarray,
    noise: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    posterior: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """:func:`deconvolve_chunk` for small d, with matrices stored entry-major.

    T_ij is built as a (d, d, m, k) array (every entry contiguous over rows
    and components) and factorized by :func:`gaussmix._linalg.cholesky_columns`;
    with shared noise the factors are (d, d, 1, k) and broadcast over rows.
    """
    d = X.shape[1]
    covs_t = np.moveaxis(covariances, 0, -1)[:, :, None, :]  # (d, d, 1, k)
    total = covs_t + np.moveaxis(noise, 0, -1)[:, :, :, None]  # (d, d, m or 1, k)
    try:
        factor, log_det = cholesky_columns(total)
    except np.linalg.LinAlgError as exc:
        raise ValueError(_NOT_POSITIVE) from exc
    diff = X.T[:, None, :, None] - means.T[:, None, None, :]  # (d, 1, m, k)
    z = forward_solve_columns(factor, diff)[:, 0]  # (d, m, k)
    log_dens = -0.5 * (d * LOG_2PI + log_det + np.einsum("dmk,dmk->mk", z, z))
    if not posterior:
        return log_dens, None, None
    # W = L^-1 V: V T^-1 (x - mu) = W^T z and V T^-1 V = W^T W (symmetric by construction).
    lifted = forward_solve_columns(factor, np.broadcast_to(covs_t, total.shape))
    b = means.T[:, None, :] + np.einsum("demk,dmk->emk", lifted, z)
    B = np.empty(total.shape)
    for e in range(d):
        for f in range(e, d):
            B[e, f] = covs_t[e, f] - np.einsum("dmk,dmk->mk", lifted[:, e], lifted[:, f])
            B[f, e] = B[e, f]
    return log_dens, np.moveaxis(b, 0, -1), np.moveaxis(B, (0, 1), (2, 3))


def _factor(noise: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Cholesky factors of T_ij = V_j + S_i: (m, k, d, d) (or (1, k, d, d) for shared noise)."""
    total = covariances[None] + noise[:, None]
    try:
        return np.linalg.cholesky(total)
    except np.linalg.LinAlgError as exc:
        raise ValueError(_NOT_POSITIVE) from exc


def deconvolve_chunk(
    X: np.ndarray,
    noise: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    posterior: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Convolved log densities and per-component posteriors of the true values of a chunk.

    Parameters
    ----------
    X : ndarray, shape (m, d)
        Measured rows.
    noise : ndarray, shape (m, d, d) or (1, d, d)
        Their noise covariances S_i (one for all rows when shared).
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
        The deconvolved components' covariances V_j.
    posterior : bool, default=True
        Whether to compute b and B (False: the densities only).

    Returns
    -------
    log_dens : ndarray, shape (m, k)
        log N(x_i | mu_j, V_j + S_i).
    b : ndarray, shape (m, k, d), or None
        Posterior means b_ij of the true values (Bovy et al. 2011, eq. 16).
    B : ndarray, shape (m, k, d, d) or (1, k, d, d), or None
        Posterior covariances B_ij (one per component for shared noise).
    """
    d = X.shape[1]
    if d <= SMALL_MATRIX_DIM:
        return _deconvolve_entry_major(X, noise, means, covariances, posterior)
    chol = _factor(noise, covariances)
    diff = X[:, None, :] - means[None]
    lifted = None
    if noise.shape[0] == 1:
        # Shared noise: k factorizations; all rows solved against each at once.
        z = np.swapaxes(np.linalg.solve(chol[0], np.transpose(diff, (1, 2, 0))), 1, 2)
        z = np.swapaxes(z, 0, 1)
        if posterior:
            lifted = np.linalg.solve(chol, covariances[None])
    else:
        # One solve with L_ij for both x_i - mu_j and V_j: with W = L^-1 V and
        # z = L^-1 (x - mu), V T^-1 (x - mu) = W^T z and V T^-1 V = W^T W, so B is
        # symmetric by construction.
        rhs = diff[..., None]
        if posterior:
            rhs = np.concatenate([rhs, np.broadcast_to(covariances[None], chol.shape)], axis=-1)
        solved = np.linalg.solve(chol, rhs)
        z = solved[..., 0]
        if posterior:
            lifted = solved[..., 1:]
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    log_dens = -0.5 * (d * LOG_2PI + log_det + np.einsum("mkd,mkd->mk", z, z))
    if lifted is None:
        return log_dens, None, None
    lifted_t = np.swapaxes(lifted, -1, -2)
    b = means[None] + np.matmul(lifted_t, z[..., None])[..., 0]
    B = covariances[None] - np.matmul(lifted_t, lifted)
    return log_dens, b, B


def deconvolve_diagonal_chunk(
    X: np.ndarray,
    variances: np.ndarray,
    means: np.ndarray,
    covariance_diagonals: np.ndarray,
    posterior: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """:func:`deconvolve_chunk` for diagonal noise and diagonal components, element-wise.

    With S_i and V_j diagonal, T_ij = V_j + S_i is diagonal and every
    quantity is a product over coordinates: no d x d matrix is formed.

    Parameters
    ----------
    X : ndarray, shape (m, d)
    variances : ndarray, shape (m, d)
        The rows' noise variances.
    means : ndarray, shape (k, d)
    covariance_diagonals : ndarray, shape (k, d)
        The diagonals of V_j.
    posterior : bool, default=True

    Returns
    -------
    log_dens : ndarray, shape (m, k)
    b : ndarray, shape (m, k, d), or None
    B : ndarray, shape (m, k, d), or None
        The diagonals of B_ij.
    """
    d = X.shape[1]
    total = covariance_diagonals[None] + variances[:, None]  # (m, k, d)
    if not np.all(total > 0):
        raise ValueError(_NOT_POSITIVE)
    diff = X[:, None, :] - means[None]
    log_dens = -0.5 * (d * LOG_2PI + np.log(total).sum(axis=-1) + (diff**2 / total).sum(axis=-1))
    if not posterior:
        return log_dens, None, None
    gain = covariance_diagonals[None] / total  # V T^-1
    return log_dens, means[None] + gain * diff, covariance_diagonals[None] * (1.0 - gain)


def convolved_log_density(
    X: np.ndarray,
    noise: NoiseCovariances,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Log density of the convolved mixture and the log responsibilities, in row chunks.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    noise : NoiseCovariances
        Of the n rows.
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)

    Returns
    -------
    log_density : ndarray, shape (n,)
        log sum_j pi_j N(x_i | mu_j, V_j + S_i).
    log_resp : ndarray, shape (n, k)
    """
    n, d = X.shape
    k = means.shape[0]
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    log_density, log_resp = np.empty(n), np.empty((n, k))
    step = noise_chunk_rows(k, d)
    diagonals = np.diagonal(covariances, axis1=1, axis2=2)
    elementwise = noise.kind == "variances" and np.array_equal(
        covariances, diagonals[:, :, None] * np.eye(d)
    )
    for start in range(0, n, step):
        rows = slice(start, start + step)
        if elementwise:
            log_dens, _, _ = deconvolve_diagonal_chunk(
                X[rows], noise.values[rows], means, diagonals, posterior=False
            )
        else:
            log_dens, _, _ = deconvolve_chunk(
                X[rows], noise.rows(rows), means, covariances, posterior=False
            )
        log_density[rows], log_resp[rows] = normalize_log_weights(log_dens + log_priors)
    return log_density, log_resp
