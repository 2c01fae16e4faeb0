"""Math over arrays for projected noisy measurements: extreme deconvolution with R_i.

Each row y_i (m entries) measures a linear map of a true value v_i drawn
from the mixture, y_i = R_i v_i + e_i with e_i ~ N(0, S_i) and R_i (m x d),
S_i (m x m) known (Bovy, Hogg & Roweis 2011, eq. 5). Per component the
measured rows follow N(y_i | R_i mu_j, T_ij) with T_ij = R_i V_j R_i^T + S_i,
and the posterior of v_i is N(b_ij, B_ij) with

    b_ij = mu_j + V_j g_ij,   B_ij = V_j - V_j H_ij V_j,
    g_ij = R_i^T T_ij^-1 (y_i - R_i mu_j),   H_ij = R_i^T T_ij^-1 R_i

(their eq. 16). The M-step needs only sum_i r_ij (B_ij + (b_ij - mu_j)(b_ij -
mu_j)^T) = N_j V_j + V_j A_j V_j and sum_i r_ij (b_ij - mu_j) = V_j G_j with
A_j = sum_i r_ij (g_ij g_ij^T - H_ij) and G_j = sum_i r_ij g_ij, so the
E-step adds up the d x d matrices A_j and vectors G_j over row chunks and
no B_ij is ever stored for all rows.

Missing entries are the projection onto the observed coordinates. With
every row padded to d entries (missing ones set to 0, R_i = diag(observed),
S_i's missing rows and columns replaced by those of the identity), T_ij is
block diagonal with the identity on the missing block: the factorization,
the solves and the log-determinant are those of the observed block, and
the batch keeps one shape whatever the pattern.
"""

from __future__ import annotations

import numpy as np

from ._deconvolution import NoiseCovariances
from ._gaussian import LOG_2PI, normalize_log_weights

__all__ = [
    "ProjectedRows",
    "projected_chunk_rows",
    "projected_deconvolve_chunk",
    "projected_log_density",
    "second_moments_from_terms",
]

# Elements of the largest (rows, k, m, d + 1) intermediate of a chunk (8 MiB).
_CHUNK_ELEMENTS = 1 << 20

_NOT_POSITIVE = (
    "a component's projected covariance plus a row's noise covariance is not "
    "positive definite (R_i V_j R_i^T + S_i singular): use reg_covar > 0, "
    "give the rows some noise, or check that the projection has full row rank"
)


def projected_chunk_rows(k: int, m: int, d: int) -> int:
    """Rows per chunk so that a chunk's (rows, k, m, d + m + 1) arrays hold about 8 MiB."""
    return int(max(1, min(8192, _CHUNK_ELEMENTS // max(1, k * m * (d + m + 1)))))


class ProjectedRows:
    """Rows y_i with their maps R_i and noise S_i, served in chunks of one shape.

    Built by :meth:`from_projection` (y_i = R_i v_i + noise) or
    :meth:`from_missing` (NaN entries: the projection onto the observed
    coordinates, padded to d entries).

    Attributes
    ----------
    n_samples : int
    n_measured : int
        m, the entries of a (padded) row.
    n_features : int
        d, the dimension of the true values.
    """

    def __init__(
        self,
        values: np.ndarray,
        noise: NoiseCovariances | None,
        projection: np.ndarray | None,
        observed: np.ndarray | None,
        n_features: int,
    ) -> None:
        self.values = values
        self.noise = noise
        self.projection = projection
        self.observed = observed
        self.n_samples, self.n_measured = values.shape
        self.n_features = n_features

    @classmethod
    def from_projection(
        cls, Y: np.ndarray, noise: NoiseCovariances | None, projection: np.ndarray
    ) -> ProjectedRows:
        """Rows Y (n, m) of y_i = R_i v_i + e_i; projection (n, m, d) or (m, d)."""
        return cls(Y, noise, projection, None, projection.shape[-1])

    @classmethod
    def from_missing(cls, X: np.ndarray, noise: NoiseCovariances | None) -> ProjectedRows:
        """Rows X (n, d) with NaN entries, noise given for all d coordinates."""
        observed = ~np.isnan(X)
        return cls(np.where(observed, X, 0.0), noise, None, observed, X.shape[1])

    def take(self, rows: np.ndarray) -> ProjectedRows:
        """The subset ``rows`` (an index array)."""
        per_row = self.projection is not None and self.projection.ndim == 3
        return ProjectedRows(
            self.values[rows],
            None if self.noise is None else self.noise.take(rows),
            self.projection[rows] if per_row else self.projection,
            None if self.observed is None else self.observed[rows],
            self.n_features,
        )

    def chunk(self, rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Y (c, m), R (c or 1, m, d), S (c or 1, m, m), observed counts (c,) of ``rows``."""
        Y = self.values[rows]
        c, m = Y.shape
        if self.noise is None:
            S = np.zeros((1, m, m))
        else:
            S = self.noise.rows(rows)
        if self.observed is None:
            R = self.projection[rows] if self.projection.ndim == 3 else self.projection[None]
            return Y, R, S, np.full(c, float(m))
        mask = self.observed[rows]
        R = np.zeros((c, m, m))
        diagonal = np.arange(m)
        R[:, diagonal, diagonal] = mask
        pair = mask[:, :, None] & mask[:, None, :]
        S = np.where(pair, S, 0.0)
        S[:, diagonal, diagonal] += ~mask
        return Y, R, S, mask.sum(axis=1).astype(np.float64)

    def starts(self) -> np.ndarray:
        """Rows in the space of the true values for the starts, (n, d).

        Missing entries: the observed column means; a projection: the
        minimum-norm least-squares solutions R_i^+ y_i.
        """
        if self.observed is not None:
            counts = self.observed.sum(axis=0)
            means = self.values.sum(axis=0) / np.maximum(counts, 1)
            return np.where(self.observed, self.values, means)
        pinv = np.linalg.pinv(self.projection)
        if pinv.ndim == 2:
            return self.values @ pinv.T
        return np.einsum("ndm,nm->nd", pinv, self.values)


def projected_deconvolve_chunk(
    Y: np.ndarray,
    R: np.ndarray,
    S: np.ndarray,
    n_observed: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    posterior: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Log densities N(y_i | R_i mu_j, T_ij) and the terms g_ij and L_ij^-1 R_i of a chunk.

    Parameters
    ----------
    Y : ndarray, shape (c, m)
    R : ndarray, shape (c, m, d) or (1, m, d)
    S : ndarray, shape (c, m, m) or (1, m, m)
    n_observed : ndarray, shape (c,)
        Entries of each row that are measured (m without missing values),
        for the normalizing constant.
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
    posterior : bool, default=True

    Returns
    -------
    log_dens : ndarray, shape (c, k)
    g : ndarray, shape (c, k, d), or None
        R_i^T T_ij^-1 (y_i - R_i mu_j).
    W : ndarray, shape (c, k, m, d) or (1, k, m, d), or None
        L_ij^-1 R_i with L_ij L_ij^T = T_ij, so that H_ij = W^T W.

    Raises
    ------
    ValueError
        If some T_ij is not positive definite.
    """
    projected = np.einsum("cmd,kde->ckme", R, covariances)  # R V: (c|1, k, m, d)
    total = np.einsum("ckme,cne->ckmn", projected, R) + S[:, None]
    try:
        chol = np.linalg.cholesky(total)
    except np.linalg.LinAlgError as exc:
        raise ValueError(_NOT_POSITIVE) from exc
    residual = Y[:, None, :] - np.einsum("cmd,kd->ckm", R, means)  # (c, k, m)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    if not posterior:
        z = np.linalg.solve(chol, residual[..., None])[..., 0]
        maha = np.einsum("ckm,ckm->ck", z, z)
        return -0.5 * (n_observed[:, None] * LOG_2PI + log_det + maha), None, None
    if chol.shape[0] == 1 and Y.shape[0] > 1:
        # Shared factors: solve for R once, for the residuals of all rows at once.
        W = np.linalg.solve(chol, np.broadcast_to(R[:, None], chol.shape[:2] + R.shape[1:]))
        z = np.linalg.solve(chol[0], np.transpose(residual, (1, 2, 0)))  # (k, m, c)
        z = np.transpose(z, (2, 0, 1))
    else:
        rhs = np.concatenate(
            [residual[..., None], np.broadcast_to(R[:, None], chol.shape[:2] + R.shape[1:])],
            axis=-1,
        )
        solved = np.linalg.solve(chol, rhs)
        z, W = solved[..., 0], solved[..., 1:]
    maha = np.einsum("ckm,ckm->ck", z, z)
    log_dens = -0.5 * (n_observed[:, None] * LOG_2PI + log_det + maha)
    g = np.einsum("ckmd,ckm->ckd", np.broadcast_to(W, z.shape + W.shape[-1:]), z)
    return log_dens, g, W


def second_moments_from_terms(
    covariances: np.ndarray, resp_sums: np.ndarray, A: np.ndarray, G: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """sum_i r_ij (B_ij + y y^T) = N_j V_j + V_j A_j V_j and sum_i r_ij y = V_j G_j.

    Parameters
    ----------
    covariances : ndarray, shape (k, d, d)
    resp_sums : ndarray, shape (k,)
    A : ndarray, shape (k, d, d)
    G : ndarray, shape (k, d)

    Returns
    -------
    second : ndarray, shape (k, d, d)
    first : ndarray, shape (k, d)
    """
    second = resp_sums[:, None, None] * covariances + covariances @ A @ covariances
    second = 0.5 * (second + np.swapaxes(second, 1, 2))
    return second, np.einsum("kde,ke->kd", covariances, G)


def projected_log_density(
    rows: ProjectedRows, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log density of the projected, convolved mixture and the log responsibilities.

    Returns
    -------
    log_density : ndarray, shape (n,)
        log sum_j pi_j N(y_i | R_i mu_j, R_i V_j R_i^T + S_i).
    log_resp : ndarray, shape (n, k)
    """
    n, k = rows.n_samples, means.shape[0]
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    log_density, log_resp = np.empty(n), np.empty((n, k))
    step = projected_chunk_rows(k, rows.n_measured, rows.n_features)
    for start in range(0, n, step):
        part = slice(start, min(start + step, n))
        log_dens, _, _ = projected_deconvolve_chunk(
            *rows.chunk(part), means, covariances, posterior=False
        )
        log_density[part], log_resp[part] = normalize_log_weights(log_dens + log_priors)
    return log_density, log_resp
