"""Pure functions over arrays: the math of Gaussians and their mixtures.

Shapes: ``n`` samples (rows), ``k`` components, ``d`` features; ``d_in`` and
``d_out`` the input and output dimensions of a conditioning. Every function
evaluates all k components together with batched linear algebra and walks
over rows in fixed-size chunks so that temporaries stay small. Nothing here
validates input: :mod:`gaussmix._validation` has done that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from . import covariance as structures
from ._linalg import (
    inverse_cholesky,
    log_det_from_cholesky,
    safe_cholesky,
    sqrtm_psd,
    symmetrize,
    upper_triangle,
)
from .kernels import compiled as _compiled
from .kernels.threads import map_blocks

LOG_2PI = float(np.log(2.0 * np.pi))

# Rows per chunk are chosen so that one (rows, k * d) temporary holds about
# this many float64 numbers (2 MiB): large enough for efficient BLAS calls,
# small enough to stay in cache and keep memory flat in n.
_CHUNK_ELEMENTS = 1 << 18
# predict's per-chunk buffers (k * d_out values per row and more) are larger;
# about 8 MiB per chunk measured fastest for 100k queries.
_PREDICT_CHUNK_ELEMENTS = 1 << 20
# Posterior weights below this are set to zero in predict (see there).
_NEGLIGIBLE_WEIGHT = 1e-300


def row_chunks(n_rows: int, row_width: int, target: int = _CHUNK_ELEMENTS) -> Iterator[slice]:
    """Yield slices of at most ``target // row_width`` rows (at least 64) covering n_rows."""
    step = max(64, target // max(1, row_width))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


# --------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------
def whitening_operators(means: np.ndarray, chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stacked whitening maps of all components for one GEMM.

    Component j whitens x as ``z_j = L_j^-1 (x - mu_j)``. Returns ``W`` of
    shape (d, k * d) and ``b`` of shape (k * d,) such that ``x @ W - b`` holds
    all k whitened vectors side by side.
    """
    k, d = means.shape
    inv = inverse_cholesky(chol)  # (k, d, d)
    weights = inv.transpose(2, 0, 1).reshape(d, k * d)
    offsets = np.einsum("kij,kj->ki", inv, means).reshape(k * d)
    return weights, offsets


def squared_mahalanobis(X: np.ndarray, means: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every row to every component.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    means : ndarray, shape (k, d)
    chol : ndarray, shape (k, d, d)
        Lower Cholesky factors of the covariances.

    Returns
    -------
    dist2 : ndarray, shape (n, k)
    """
    n = X.shape[0]
    k, d = means.shape
    weights, offsets = whitening_operators(means, chol)
    out = np.empty((n, k))
    with np.errstate(over="ignore"):
        for rows in row_chunks(n, k * d):
            z = X[rows] @ weights
            z -= offsets
            np.square(z, out=z)
            out[rows] = z.reshape(-1, k, d).sum(axis=2)
    return out


def log_normalizers(chol: np.ndarray) -> np.ndarray:
    """log of each component's normalization constant, -d/2 log 2pi - 1/2 log|Sigma|; (k,)."""
    d = chol.shape[-1]
    return -0.5 * (d * LOG_2PI + log_det_from_cholesky(chol))


def component_log_densities(X: np.ndarray, means: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log N(x_i | mu_j, Sigma_j) for all rows i and components j; shape (n, k)."""
    return log_normalizers(chol) - 0.5 * squared_mahalanobis(X, means, chol)


def normalize_log_weights(log_weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-sum-exp normalization across components.

    Parameters
    ----------
    log_weighted : ndarray, shape (n, k)
        log prior + log density per row and component.

    Returns
    -------
    log_norm : ndarray, shape (n,)
        log sum_j exp(log_weighted[:, j]): the mixture's log density.
    log_resp : ndarray, shape (n, k)
        Normalized log responsibilities; each row's exp sums to one.

    Notes
    -----
    A row whose every entry is -inf (a point so far from all components that
    every density underflows) gets uniform responsibilities over the
    components with a finite prior instead of NaN, and log_norm -inf.
    """
    row_max = log_weighted.max(axis=1, keepdims=True)
    lost = ~np.isfinite(row_max[:, 0])
    if lost.any():
        row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        shifted = log_weighted - row_max
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_resp = shifted - log_sum
    log_norm = (row_max + log_sum)[:, 0]
    if lost.any():
        log_resp[lost] = -np.log(log_weighted.shape[1])
        log_norm[lost] = -np.inf
    return log_norm, log_resp


def mixture_log_density(
    X: np.ndarray, priors: np.ndarray, means: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log density of a mixture and log responsibilities of its components.

    Rows so far out that every squared distance overflows get the
    responsibilities of the limit |x| -> inf (:func:`far_log_weights`) and
    log density -inf.

    Returns
    -------
    log_density : ndarray, shape (n,)
    log_resp : ndarray, shape (n, k)
    """
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    log_density, log_resp = normalize_log_weights(
        component_log_densities(X, means, chol) + log_priors
    )
    lost = ~np.isfinite(log_density)
    if lost.any():
        log_resp[lost] = far_log_weights(X[lost], log_priors, means, chol)
    return log_density, log_resp


def far_log_weights(
    X: np.ndarray, log_priors: np.ndarray, means: np.ndarray, chol: np.ndarray
) -> np.ndarray:
    """Log responsibilities in the limit of points infinitely far away.

    Writes z_j = L_j^-1 (x - mu_j) = s * u_j with s = max |x - mu|: the log
    density is -s^2 |u_j|^2 / 2 + const_j, so as s grows the components with
    the smallest |u_j| take all the weight, shared by prior times normalizer.
    Works for rows whose squared distances overflow float64.

    Returns
    -------
    log_resp : ndarray, shape (n, k)
    """
    inv = inverse_cholesky(chol)
    scale = np.abs(X).max(axis=1, keepdims=True) + np.abs(means).max()
    scale = np.where(scale > 0, scale, 1.0)
    scaled = X / scale  # (n, d)
    u = np.einsum("kij,nkj->nki", inv, scaled[:, None, :] - means[None] / scale[:, :, None])
    dist2 = np.einsum("nki,nki->nk", u, u)
    closest = dist2 <= dist2.min(axis=1, keepdims=True) * (1.0 + 1e-12)
    with np.errstate(divide="ignore"):
        logits = np.where(closest, log_priors + log_normalizers(chol), -np.inf)
    return normalize_log_weights(logits)[1]


# --------------------------------------------------------------------------
# Quadratic features: log densities of all components as one GEMM
# --------------------------------------------------------------------------
def uses_full_features(covariance_type: str) -> bool:
    """Whether the structure's E-step needs the full quadratic features."""
    return structures.get(covariance_type).quadratic


def n_phi_features(d: int, covariance_type: str) -> int:
    """Number of quadratic-feature columns for d features."""
    return structures.get(covariance_type).n_phi(d)


class Features:
    """Reusable buffer that turns row chunks into quadratic features.

    The buffer is laid out transposed, (n_phi, rows): every feature is one
    contiguous row, so building the features and the softmax over components
    are elementwise operations along long contiguous rows.
    """

    def __init__(self, d: int, covariance_type: str, rows: int, dtype=np.float64):
        self.d = d
        self.full = uses_full_features(covariance_type)
        self.width = n_phi_features(d, covariance_type)
        self.rows = rows
        self.buffer = np.empty((self.width, rows), dtype=dtype)
        self.buffer[-1] = 1.0
        self.dtype = dtype
        self.quad_width = d * (d + 1) // 2 if self.full else d
        # Row blocks of vech(y y^T): block i holds y_i * y[i:] (numpy's triu_indices order).
        starts = np.concatenate([[0], np.cumsum(np.arange(d, 0, -1))]).astype(int)
        self.blocks = [(i, int(starts[i]), int(starts[i + 1])) for i in range(d)]

    def __call__(self, X_chunk: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """Features of ``X_chunk - shift``; a (n_phi, m) view into the buffer."""
        m = X_chunk.shape[0]
        phi = self.buffer[:, :m] if m < self.rows else self.buffer
        d, q = self.d, self.quad_width
        y = phi[q : q + d]
        np.subtract(X_chunk.T, shift[:, None], out=y, casting="unsafe")
        if self.full:
            # A loop over the d rows of the triangle (never over samples or
            # components); each step is one contiguous vectorized product.
            for i, start, stop in self.blocks:
                np.multiply(y[i], y[i:], out=phi[start:stop])
        else:
            np.multiply(y, y, out=phi[:d])
        return phi


def natural_parameters(
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
) -> np.ndarray:
    """theta (k, n_phi) with theta @ phi(x - shift) = log prior + log N(x | mu, Sigma).

    For full and tied covariances the quadratic block holds the upper triangle
    of -P/2 with off-diagonal entries doubled (P = Sigma^-1); for diag and
    spherical it holds -diag(P)/2. The linear block is P c with c = mu - shift
    and the constant is log prior - (c^T P c + log|Sigma| + d log 2pi) / 2.
    """
    return _natural_parameters(priors, means, covariances, shift, covariance_type)[0]


def guarded_natural_parameters(
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
) -> tuple[np.ndarray | None, float]:
    """:func:`natural_parameters` and a bound of :func:`shared_shift_error` from one factorization.

    The bound uses ||P||_F >= ||P||_2 (at most sqrt(d) times the exact
    value), so it never calls a shift precise that is not; it costs nothing
    beyond theta, where the exact value needs an eigendecomposition.

    Returns
    -------
    theta : ndarray (k, n_phi) or None
        None (error inf) when a covariance is not positive definite, or its
        precision overflows (denormal entries): the caller takes the precise path.
    error : float
    """
    chol = None
    if uses_full_features(covariance_type):
        try:
            chol = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            return None, np.inf
    elif not (np.diagonal(covariances, axis1=1, axis2=2) > 0).all():
        return None, np.inf
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        theta, norms = _natural_parameters(
            priors, means, covariances, shift, covariance_type, chol
        )
        dist2 = np.square(means - shift).sum(axis=1)
        error = float((np.finfo(np.float64).eps * dist2 * norms).max())
    if not (np.isfinite(error) and np.isfinite(norms).all()):
        return None, np.inf
    return theta, error


def _natural_parameters(
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
    chol: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """theta and an upper bound of each component's ||P||_2 (its Frobenius norm)."""
    _k, d = means.shape
    centred = means - shift
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    if uses_full_features(covariance_type):
        chol = safe_cholesky(covariances) if chol is None else chol
        inv = inverse_cholesky(chol)
        prec = np.swapaxes(inv, -1, -2) @ inv
        log_det = log_det_from_cholesky(chol)
        iu, ju, weight = upper_triangle(d)
        quad = -0.5 * prec[:, iu, ju] * weight
        lin = np.einsum("kij,kj->ki", prec, centred)
        norms = np.sqrt(np.einsum("kij,kij->k", prec, prec))
    else:
        var = np.diagonal(covariances, axis1=1, axis2=2)
        var = np.where(var > 0, var, _tiny_variance(var))
        prec_diag = 1.0 / var
        log_det = np.log(var).sum(axis=1)
        quad = -0.5 * prec_diag
        lin = prec_diag * centred
        norms = prec_diag.max(axis=1)
    const = log_priors - 0.5 * (np.einsum("ki,ki->k", lin, centred) + log_det + d * LOG_2PI)
    return np.concatenate([quad, lin, const[:, None]], axis=1), norms


def _tiny_variance(var: np.ndarray) -> np.ndarray:
    scale = np.where(var.max(axis=1, keepdims=True) > 0, var.max(axis=1, keepdims=True), 1.0)
    return 1e-10 * scale


# Shifted logits are clipped here before exp: exp of anything below about
# -708 underflows, which libm handles on a slow path (4x slower here), and the
# clipped value exp(-700) ~ 1e-304 is as negligible next to the row's largest
# term (exp(0) = 1) as the exact one.
_EXP_FLOOR = -700.0


def softmax_columns(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-place softmax over components of (k, m) logits; returns (resp, log_norm).

    A column without a finite maximum (its logits overflowed) gets log_norm
    -inf, so that callers can treat it separately; its resp is meaningless.
    """
    col_max = logits.max(axis=0)
    lost = ~np.isfinite(col_max)
    if lost.any():
        col_max[lost] = 0.0
    logits -= col_max
    np.maximum(logits, _EXP_FLOOR, out=logits)
    np.exp(logits, out=logits)
    total = logits.sum(axis=0)
    logits /= total
    log_norm = np.log(total) + col_max
    if lost.any():
        log_norm[lost] = -np.inf
    return logits, log_norm


# --------------------------------------------------------------------------
# Conditioning: p(y | x) of every component at once
# --------------------------------------------------------------------------
class Conditioner(NamedTuple):
    """Everything needed to condition all components on the same input dims.

    ``coef`` (k, d_out, d_in) are the regression coefficients
    Sigma_oi Sigma_ii^-1, ``cond_cov`` (k, d_out, d_out) the conditional
    covariances Sigma_oo - Sigma_oi Sigma_ii^-1 Sigma_io (they do not depend on
    x), ``in_means`` (k, d_in) and ``in_chol`` (k, d_in, d_in) describe the
    inputs' marginals, ``out_means`` (k, d_out) the outputs' means.
    """

    coef: np.ndarray
    cond_cov: np.ndarray
    in_means: np.ndarray
    in_chol: np.ndarray
    out_means: np.ndarray


def make_conditioner(
    means: np.ndarray, covariances: np.ndarray, in_idx: np.ndarray, out_idx: np.ndarray
) -> Conditioner:
    """Schur complements of all components (Bishop 2006, eqs. 2.81-2.82)."""
    cov_ii = covariances[:, in_idx][:, :, in_idx]
    cov_oi = covariances[:, out_idx][:, :, in_idx]
    cov_oo = covariances[:, out_idx][:, :, out_idx]
    in_chol = safe_cholesky(cov_ii)
    inv = inverse_cholesky(in_chol)
    # G = Sigma_oi L^-T, so that coef = G L^-1 and the Schur complement is
    # Sigma_oo - G G^T: symmetric and positive semi-definite by construction.
    half = cov_oi @ np.swapaxes(inv, -1, -2)
    coef = half @ inv
    cond_cov = symmetrize(cov_oo - half @ np.swapaxes(half, -1, -2))
    return Conditioner(coef, cond_cov, means[:, in_idx], in_chol, means[:, out_idx])


def conditional_log_weights(
    X_in: np.ndarray, priors: np.ndarray, cond: Conditioner
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior component weights given the inputs.

    Returns
    -------
    log_weights : ndarray, shape (n, k)
        log p(j | x): priors reweighted by each component's marginal
        likelihood of x, normalized in log space.
    log_marginal : ndarray, shape (n,)
        log p(x) under the mixture's marginal of the input dimensions.
    """
    log_marginal, log_weights = mixture_log_density(X_in, priors, cond.in_means, cond.in_chol)
    return log_weights, log_marginal


def conditional_means(X_in: np.ndarray, cond: Conditioner) -> np.ndarray:
    """mu_o + coef (x - mu_i) for every row and component; shape (n, k, d_out)."""
    k, d_out, d_in = cond.coef.shape
    stacked = cond.coef.transpose(2, 0, 1).reshape(d_in, k * d_out)
    offsets = cond.out_means - np.einsum("koi,ki->ko", cond.coef, cond.in_means)
    return (X_in @ stacked).reshape(-1, k, d_out) + offsets


# Precision guard shared with EM. Quadratic features about one shared point lose about
# eps * |mu_j - shift|^2 * ||P_j|| of relative precision in component j; beyond this
# limit the computation is done about each component's own mean instead.
PRECISION_LIMIT = 1e-10


def shared_shift_error(means: np.ndarray, covariances: np.ndarray, shift: np.ndarray) -> float:
    """Largest relative error of quadratic features about ``shift`` (inf: not PD)."""
    return float(shared_shift_errors(means[None], covariances[None], shift)[0])


def shared_shift_errors(means: np.ndarray, covariances: np.ndarray, shift) -> np.ndarray:
    """:func:`shared_shift_error` of B mixtures: means (B, k, d), covariances (B, k, d, d)
    (||P|| = 1 / smallest eigenvalue; one not positive, or infinite entries: inf)."""
    dist2 = np.square(means - shift).sum(axis=2)
    finite = np.isfinite(covariances).all(axis=(-2, -1))
    smallest = np.linalg.eigvalsh(np.where(finite[..., None, None], covariances, 0.0))[..., 0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        errors = (np.finfo(np.float64).eps * dist2 / smallest).max(axis=1)
    return np.where((smallest > 0).all(axis=1), errors, np.inf)


def mixture_moments(
    weights: np.ndarray, comp_means: np.ndarray, covariances: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and covariance of row-specific mixtures sharing component covariances.

    Law of total covariance, computed around the mixture mean:
    Cov = sum_j w_j C_j + sum_j w_j (m_j - m)(m_j - m)^T.

    Parameters
    ----------
    weights : ndarray, shape (n, k)
    comp_means : ndarray, shape (n, k, d)
    covariances : ndarray, shape (k, d, d) or (n, k, d, d), or None for the mean only

    Returns
    -------
    mean : ndarray, shape (n, d)
    covariance : ndarray, shape (n, d, d) or None
    """
    mean = np.einsum("nk,nkd->nd", weights, comp_means)
    if covariances is None:
        return mean, None
    k, d = covariances.shape[-3:-1]
    dev = (comp_means - mean[:, None, :]) * np.sqrt(weights)[:, :, None]
    if covariances.ndim == 4:
        within = np.einsum("nk,nkde->nde", weights, covariances)
    else:
        within = (weights @ covariances.reshape(k, d * d)).reshape(-1, d, d)
    return mean, within + np.swapaxes(dev, 1, 2) @ dev


def _predict_conditional_centred(
    X_in: np.ndarray, priors: np.ndarray, cond: Conditioner, return_covariance: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`predict_conditional` about each component's own mean (precise, slower)."""
    n = X_in.shape[0]
    k, d_out, _ = cond.coef.shape
    mean = np.empty((n, d_out))
    cov = np.empty((n, d_out, d_out)) if return_covariance else None
    component_covs = cond.cond_cov if return_covariance else None
    for rows in row_chunks(n, k * max(d_out * d_out, X_in.shape[1])):
        weights = np.exp(conditional_log_weights(X_in[rows], priors, cond)[0])  # (m, k)
        comp_means = conditional_means(X_in[rows], cond)  # (m, k, d_out)
        mean[rows], chunk_cov = mixture_moments(weights, comp_means, component_covs)
        if cov is not None:
            cov[rows] = chunk_cov
    return mean, cov


def predict_conditional(
    X_in: np.ndarray,
    priors: np.ndarray,
    cond: Conditioner,
    *,
    return_covariance: bool = False,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean (and covariance) of the conditional mixture p(y | x) for every row.

    Works on chunks of rows in a transposed layout (features x rows): the
    posterior weights of all components come from one GEMM of quadratic
    input features against the inputs' natural parameters, the component
    conditional means from one GEMM of the inputs against all regression
    coefficients, and the mixing is elementwise along contiguous rows. The
    covariance follows the law of total covariance,
    Cov = sum_j w_j C_j + sum_j w_j (m_j - m)(m_j - m)^T.

    Parameters
    ----------
    X_in : ndarray, shape (n, d_in)
    priors : ndarray, shape (k,)
    cond : Conditioner
    return_covariance : bool
    n_jobs : int
        Threads sharing the row blocks (see :mod:`gaussmix.kernels.threads`).

    Returns
    -------
    mean : ndarray, shape (n, d_out)
    covariance : ndarray, shape (n, d_out, d_out) or None
    """
    n, d_in = X_in.shape
    k, d_out, _ = cond.coef.shape
    shift = priors @ cond.in_means
    in_covariances = cond.in_chol @ np.swapaxes(cond.in_chol, -1, -2)
    if shared_shift_error(cond.in_means, in_covariances, shift) > PRECISION_LIMIT:
        return _predict_conditional_centred(X_in, priors, cond, return_covariance)
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    theta = natural_parameters(priors, cond.in_means, in_covariances, shift, "full")
    coef = cond.coef.reshape(k * d_out, d_in)
    offsets = cond.out_means - np.einsum("koi,ki->ko", cond.coef, cond.in_means - shift)
    offsets = offsets.reshape(k * d_out, 1)
    width = k * max(d_out, d_in) * (3 if return_covariance else 1) + theta.shape[1]
    rows_per_chunk = max(256, _PREDICT_CHUNK_ELEMENTS // width)
    rows = max(1, min(rows_per_chunk, n))
    mean = np.empty((n, d_out))
    cov = np.empty((n, d_out, d_out)) if return_covariance else None
    # The mean: sum_j w_j (A_j y + b_j) = sum_i y_i (A_[:, :, i] w) + B w, one
    # GEMM of all coefficients against the weights, then d_in elementwise
    # multiply-adds along contiguous rows.
    coef_by_input = cond.coef.transpose(2, 1, 0).reshape(d_in * d_out, k)
    offsets_t = offsets.reshape(k, d_out).T.copy()
    # [y; 1] against [coefficients; offsets] gives every component's
    # conditional mean: the compiled kernel's input, and (one GEMM per output
    # dimension a, (rows, k)) that of the numpy covariance path.
    coef_rows = np.vstack([coef.T, offsets.reshape(1, k * d_out)])  # (d_in + 1, k * d_out)
    compiled = (
        _compiled.regression_parameters(coef_rows, cond.cond_cov) if return_covariance else None
    )
    # Means alone: the kernel's coefficients, row j * d_out + a = [A_ja, b_ja].
    compiled_coef = (
        None
        if return_covariance or not _compiled.has_predict_means()
        else np.ascontiguousarray(coef_rows.T)
    )
    compiled_theta = (
        _compiled.padded_parameters(theta, tile=8)
        if compiled is not None or compiled_coef is not None
        else None
    )
    if return_covariance:
        mean_coef = coef_rows.reshape(d_in + 1, k, d_out).transpose(2, 0, 1).copy()
        cond_cov_flat = cond.cond_cov.reshape(k, d_out * d_out)

    def work(block: slice, _index: int) -> None:
        features = Features(d_in, "full", rows)
        q = features.quad_width
        # Buffers reused across chunks: fresh large temporaries cost page faults.
        logits_buf = np.empty((k, rows))
        per_input_buf = np.empty((d_in * d_out, rows))
        mixed_buf = np.empty((d_out, rows))
        extra_buf = np.empty((d_out, rows))
        if cov is not None:
            dev_buf = np.empty((d_out, rows, k))
            weights_rows_buf = np.empty((rows, k))
            weighted_buf = np.empty((d_out, rows, k))
            between_buf = np.empty((rows, d_out, d_out))
        for start in range(block.start, block.stop, rows):
            stop = min(start + rows, block.stop)
            m = stop - start
            # The compiled kernels do the whole chunk in one pass, with or
            # without the covariances.
            if compiled_coef is not None and _compiled.predict_means(
                X_in[start:stop], shift, compiled_theta, k, compiled_coef, mean[start:stop]
            ):
                continue
            if compiled is not None and _compiled.predict_moments(
                X_in[start:stop],
                shift,
                compiled_theta,
                k,
                compiled,
                mean[start:stop],
                cov[start:stop],
            ):
                continue
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                phi = features(X_in[start:stop], shift)
                logits = logits_buf[:, :m]
                np.matmul(theta, phi, out=logits)
                weights, log_norm = softmax_columns(logits)  # (k, m)
            lost = ~np.isfinite(log_norm)
            if lost.any():
                # Inputs so large that their squares overflow: weights of the
                # limit |x| -> inf, and the linear part recomputed without phi.
                far = far_log_weights(
                    X_in[start:stop][lost], log_priors, cond.in_means, cond.in_chol
                )
                weights[:, lost] = np.exp(far.T)
                phi[q : q + d_in] = (X_in[start:stop] - shift).T
            # The softmax clips shifted logits at -700: a weight at that floor
            # (exp(-700) ~ 1e-304) is zero in exact arithmetic and must not
            # meet a component mean of 1e150 in the covariance.
            np.putmask(weights, weights < _NEGLIGIBLE_WEIGHT, 0.0)
            y = phi[q : q + d_in]
            per_input = per_input_buf[:, :m]
            np.matmul(coef_by_input, weights, out=per_input)
            per_input3 = per_input.reshape(d_in, d_out, m)
            per_input3 *= y[:, None, :]
            mixed = mixed_buf[:, :m]
            np.sum(per_input3, axis=0, out=mixed)
            extra = extra_buf[:, :m]
            np.matmul(offsets_t, weights, out=extra)
            mixed += extra
            mean[start:stop] = mixed.T
            if cov is None:
                continue
            # Law of total covariance, Cov = sum_j w_j C_j + sum_j w_j d_j d_j^T,
            # d_j = m_j - m. The component means are taken relative to the
            # heaviest component r of the row, e_j = m_j - m_r (e_r = 0), and
            # sum_j w_j d_j d_j^T = sum_j w_j e_j e_j^T - e e^T with e the
            # weighted mean of the e_j: a row dominated by one component far
            # away (|m_j| ~ 1e140) keeps its small spread, and the subtraction
            # loses at most a factor k since w_r >= 1 / k.
            comp = dev_buf[:, :m]  # (d_out, m, k)
            inputs = phi[q:].T
            for a in range(d_out):  # a loop over output dimensions, not rows
                np.matmul(inputs, mean_coef[a], out=comp[a])
            weights_rows = weights_rows_buf[:m]
            weights_rows[...] = weights.T
            heaviest = np.argmax(weights_rows, axis=1)
            comp -= comp[:, np.arange(m), heaviest][:, :, None]
            weighted = weighted_buf[:, :m]
            np.multiply(comp, weights_rows, out=weighted)
            mean_dev = weighted.sum(axis=2).T  # (m, d_out)
            between = between_buf[:m]
            # Per row (d_out x k) @ (k x d_out) on strided views (BLAS takes
            # the leading dimension). Distinct operands on purpose: numpy
            # sends A @ A^T to syrk, which OpenBLAS may multithread even for
            # such tiny matrices.
            np.matmul(weighted.transpose(1, 0, 2), comp.transpose(1, 2, 0), out=between)
            between -= mean_dev[:, :, None] * mean_dev[:, None, :]
            out = cov[start:stop]
            np.matmul(weights_rows, cond_cov_flat, out=out.reshape(m, d_out * d_out))
            out += between
            # Exactly symmetric, as the compiled kernel's result.
            np.add(out, np.swapaxes(out, 1, 2), out=between)
            np.multiply(between, 0.5, out=out)

    if n:
        map_blocks(work, n, rows, n_jobs)
    return mean, cov


# --------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------
# With a RandomState (gmr's kind of generator) every draw consumes the stream as
# gmr 2.0.3 does, so that a seeded gmr script gives the same numbers: component
# labels from rng.choice(k, size=n, p=priors), then one standard normal (n, d)
# block for the components in increasing order (gmr's grouping; the legacy
# normal stream does not depend on how it is split into calls), mapped by
# numpy's multivariate_normal factor. A Generator keeps the faster Cholesky
# factor and the labels in draw order.
_CHOICE_ATOL = float(np.sqrt(np.finfo(np.float64).eps))


def is_legacy_generator(rng) -> bool:
    """Whether ``rng`` is a numpy ``RandomState`` (gmr's stream) rather than a Generator."""
    return isinstance(rng, np.random.RandomState)


def sampling_factors(covariances: np.ndarray) -> np.ndarray:
    """A_j with A_j A_j^T = Sigma_j from the SVD, as RandomState.multivariate_normal uses.

    numpy maps standard normal rows z to z @ (sqrt(s)[:, None] * vh) for
    Sigma = u diag(s) vh; this returns the transposes, (k, d, d), so that
    x = mu + A z (:func:`sample_components`). Singular covariances need no
    regularization: their samples stay in the covariance's range.
    """
    _, s, vh = np.linalg.svd(covariances)
    return np.swapaxes(np.sqrt(s)[..., :, None] * vh, -1, -2)


def draw_components(rng, priors: np.ndarray, n: int) -> np.ndarray:
    """Component label of each of n draws, with probabilities ``priors``; shape (n,).

    RandomState: gmr's draw, rng.choice(k, size=n, p=priors) (one uniform
    number per draw), returned sorted (components in increasing order, as gmr
    lays its samples out). Generator: rng.choice in draw order.
    """
    k = priors.shape[0]
    total = float(priors.sum())
    # choice refuses p whose sum is off by more than sqrt(eps); gmr passes the
    # priors unchanged, so only normalize what numpy would refuse.
    p = priors if abs(total - 1.0) <= _CHOICE_ATOL else priors / total
    labels = rng.choice(k, size=n, p=p)
    if not is_legacy_generator(rng):
        return labels
    return np.repeat(np.arange(k), np.bincount(labels, minlength=k))


def sample_components(
    rng, means: np.ndarray, chol: np.ndarray, labels: np.ndarray, standard: np.ndarray
) -> np.ndarray:
    """x = mu_label + L_label z for each row (z given in ``standard``, (n, d)).

    ``chol`` (k, d, d) is any factor with L L^T = Sigma: a Cholesky factor or
    :func:`sampling_factors`. Vectorized over all rows, in chunks.
    """
    n, d = standard.shape
    out = np.empty((n, d))
    for rows in row_chunks(n, d * d):
        lab = labels[rows]
        out[rows] = means[lab] + np.einsum("nij,nj->ni", chol[lab], standard[rows])
    return out


def uniform_directions(rng, n: int, d: int) -> np.ndarray:
    """n unit vectors drawn uniformly from the sphere in R^d; shape (n, d)."""
    z = rng.standard_normal((n, d))
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    # A zero vector has probability zero; guard against it anyway.
    bad = norms[:, 0] == 0
    if bad.any():
        z[bad] = 0.0
        z[bad, 0] = 1.0
        norms[bad] = 1.0
    return z / norms


def truncated_chi2_radii(rng, n: int, d: int, alpha: float) -> np.ndarray:
    """Radii r with r^2 ~ chi2(d) truncated to its lower ``alpha`` quantile; shape (n,).

    Inverse-CDF sampling: r^2 = F^-1(u * alpha) with u ~ U(0, 1).
    """
    from scipy.stats import chi2

    u = rng.uniform(0.0, 1.0, size=n)
    return np.sqrt(chi2.ppf(u * alpha, d))


def confidence_region_samples(
    rng, means: np.ndarray, chol: np.ndarray, labels: np.ndarray, alpha: float
) -> np.ndarray:
    """Exact samples of N(mu_label, Sigma_label) restricted to its alpha region.

    A Gaussian is a whitened radius times a uniform direction; restricting it
    to {squared Mahalanobis <= chi2.ppf(alpha, d)} truncates only the radius.
    """
    n = labels.shape[0]
    d = means.shape[1]
    standard = uniform_directions(rng, n, d) * truncated_chi2_radii(rng, n, d, alpha)[:, None]
    return sample_components(rng, means, chol, labels, standard)


def gaussian_sigma_points(mean: np.ndarray, covariance: np.ndarray, alpha: float, kappa: float):
    """Sigma points of the unscented transform (Julier & Uhlmann 2004); (2d+1, d)."""
    d = mean.shape[0]
    lam = alpha**2 * (d + kappa) - d
    offsets = sqrtm_psd((d + lam) * covariance)
    return np.vstack([mean, mean + offsets, mean - offsets])


def unscented_weights(d: int, alpha: float, beta: float, kappa: float):
    """Mean and covariance weights of the 2d+1 sigma points."""
    lam = alpha**2 * (d + kappa) - d
    mean_w = np.full(2 * d + 1, 1.0 / (2.0 * (d + lam)))
    cov_w = mean_w.copy()
    mean_w[0] = lam / (d + lam)
    cov_w[0] = lam / (d + lam) + (1.0 - alpha**2 + beta)
    return mean_w, cov_w


# --------------------------------------------------------------------------
# Batched conditional mixtures: one p(y | x_i) per query row
# --------------------------------------------------------------------------
def conditional_mixture_log_density(
    Y: np.ndarray, log_weights: np.ndarray, cond_means: np.ndarray, cond_chol: np.ndarray
) -> np.ndarray:
    """log p(y_i | x_i) of row-specific mixtures sharing component covariances.

    Parameters
    ----------
    Y : ndarray, shape (n, d_out)
    log_weights : ndarray, shape (n, k)
    cond_means : ndarray, shape (n, k, d_out)
    cond_chol : ndarray, shape (k, d_out, d_out) or (n, k, d_out, d_out)

    Returns
    -------
    log_density : ndarray, shape (n,)
    """
    inv = inverse_cholesky(cond_chol)  # (k, d, d) or (n, k, d, d)
    dev = Y[:, None, :] - cond_means  # (n, k, d)
    z = np.einsum("...kij,...kj->...ki", inv, dev)
    log_comp = log_normalizers(cond_chol) - 0.5 * np.einsum("nki,nki->nk", z, z)
    return normalize_log_weights(log_comp + log_weights)[0]


def mixture_modes(
    weights: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima of many Gaussian mixtures at once by fixed-point iteration.

    Each of the n mixtures (weights (n, k), means (n, k, d), covariances
    (k, d, d) shared or (n, k, d, d)) is searched from every component mean. The update
    x <- (sum_j q_j P_j)^-1 sum_j q_j P_j mu_j with q_j the posterior of
    component j at x is the mean-shift / fixed-point iteration for Gaussian
    mixtures (Carreira-Perpinan 2000, 2007); its fixed points are the
    stationary points of the density.

    Returns
    -------
    points : ndarray, shape (n, k, d)
        Converged points of the k starts of each mixture.
    log_density : ndarray, shape (n, k)
        Log density of each mixture at its points.
    converged : ndarray of bool, shape (n, k)
    """
    n, k, _d = means.shape
    chol = safe_cholesky(covariances)
    inv = inverse_cholesky(chol)
    prec = np.swapaxes(inv, -1, -2) @ inv  # (k, d, d) or (n, k, d, d)
    prec_means = np.einsum("...kij,...kj->...ki", prec, means)  # (n, k, d)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    log_norm = log_normalizers(chol)
    if covariances.ndim == 4:  # per-mixture covariances: broadcast over the starts
        inv, prec, log_norm = inv[:, None], prec[:, None], log_norm[:, None]
    x = means.copy()  # (n, s=k starts, d)
    converged = np.zeros((n, k), dtype=bool)
    scale = np.sqrt(np.diagonal(covariances, axis1=-2, axis2=-1).min())
    for _ in range(max_iter):
        # posterior q (n, s, k) of every component at every current point
        dev = x[:, :, None, :] - means[:, None, :, :]  # (n, s, k, d)
        z = np.einsum("...kij,...kj->...ki", inv, dev)
        log_q = log_w[:, None, :] + log_norm - 0.5 * np.einsum("nski,nski->nsk", z, z)
        log_q -= log_q.max(axis=2, keepdims=True)
        q = np.exp(log_q)
        q /= q.sum(axis=2, keepdims=True)
        lhs = np.einsum("...k,...kij->...ij", q, prec)
        rhs = np.einsum("nsk,nki->nsi", q, prec_means)
        new_x = np.linalg.solve(lhs, rhs[..., None])[..., 0]
        step = np.abs(new_x - x).max(axis=2)
        x = new_x
        converged = step <= tol * max(scale, 1e-300) + tol * np.abs(x).max(axis=2)
        if converged.all():
            break
    dev = x[:, :, None, :] - means[:, None, :, :]
    z = np.einsum("...kij,...kj->...ki", inv, dev)
    log_terms = log_w[:, None, :] + log_norm - 0.5 * np.einsum("nski,nski->nsk", z, z)
    top = log_terms.max(axis=2, keepdims=True)
    log_density = (top + np.log(np.exp(log_terms - top).sum(axis=2, keepdims=True)))[..., 0]
    return x, log_density, converged


def merge_modes(
    points: np.ndarray, log_density: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the converged starts of each mixture into distinct modes.

    A start is a duplicate when an earlier start of the same mixture lies
    within ``radius`` (n,) of it. Returns the modes sorted by density,
    padded with NaN: (n, k, d) and their log densities (n, k) (-inf padding).
    """
    _n, s, _d = points.shape
    dist = np.sqrt(((points[:, :, None, :] - points[:, None, :, :]) ** 2).sum(-1))  # (n, s, s)
    earlier = np.tril(np.ones((s, s), dtype=bool), k=-1)  # [a, b]: b < a
    duplicate = ((dist <= radius[:, None, None]) & earlier).any(axis=2)
    keyed = np.where(duplicate, -np.inf, log_density)
    order = np.argsort(-keyed, axis=1, kind="stable")
    sorted_points = np.take_along_axis(points, order[:, :, None], axis=1)
    sorted_logd = np.take_along_axis(keyed, order, axis=1)
    sorted_points[~np.isfinite(sorted_logd)] = np.nan
    return sorted_points, sorted_logd
