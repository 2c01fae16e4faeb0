"""The compiled E-step of extreme deconvolution (the fast path of NoisySource).

With T_ij = V_j + S_i and u_ij = T_ij^-1 (x_i - mu_j), the posterior of the
true value given component j has mean b_ij = mu_j + V_j u_ij and covariance
B_ij = V_j - V_j T_ij^-1 V_j (Bovy, Hogg & Roweis 2011, eq. 16), so the
source's sums about each component's mean are

    sum_i w r (b - mu)                 = V_j U_j,
    sum_i w r (B + (b - mu)(b - mu)^T) = N_j V_j - V_j M_j V_j,

with U_j = sum_i w r u, M_j = sum_i w r (T^-1 - u u^T) and N_j = sum_i w r:
the compiled kernel (``gm_xd_statistics`` in ``kernels/_fused.c``) sums M_j,
U_j and N_j row block by row block and the k products with V_j are done here.
Shared noise (one S for all rows) is plain EM on the convolved components
T_j = V_j + S: the kernel of the precise EM path gives the moments of x - mu_j,
and b - mu_j = V_j T_j^-1 (x - mu_j) is linear in them.

Every function returns None when the kernel is not built or cannot take the
rows (then the numpy path of :mod:`gaussmix._deconvolution` runs, which also
raises the error for a V_j + S_i that is not positive definite).
"""

from __future__ import annotations

import numpy as np

from .. import covariance as structures
from .._deconvolution import NoiseCovariances
from .._gaussian import LOG_2PI
from .._linalg import inverse_cholesky
from ..kernels import compiled
from .families import Gaussians
from .stats import Statistics

__all__ = ["compiled_noisy_statistics"]


def _log_priors(gaussians: Gaussians) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(gaussians.priors, dtype=np.float64))


def _symmetric(packed: np.ndarray, d: int) -> np.ndarray:
    """(k, d, d) symmetric matrices from their upper triangles in numpy.triu_indices order."""
    iu, ju = np.triu_indices(d)
    full = np.empty((packed.shape[0], d, d))
    full[:, iu, ju] = packed
    full[:, ju, iu] = packed
    return full


def _packed(second: np.ndarray, quadratic: bool) -> np.ndarray:
    """The features' quadratic block of (k, d, d) second moments (vech or diagonals)."""
    if quadratic:
        iu, ju = np.triu_indices(second.shape[-1])
        return second[:, iu, ju]
    return np.diagonal(second, axis1=1, axis2=2).copy()


def compiled_noisy_statistics(
    X: np.ndarray,
    noise: NoiseCovariances,
    weights: np.ndarray | None,
    gaussians: Gaussians,
    previous: Gaussians | None,
    covariance_type: str,
    need_resp_sq: bool,
) -> Statistics | None:
    """The statistics of :class:`gaussmix.em.noisy.NoisySource` for rows X, or None.

    Parameters
    ----------
    X : ndarray, shape (m, d)
        float64 rows.
    noise : NoiseCovariances
        Of these rows (or shared).
    weights : ndarray, shape (m,), optional
    gaussians : Gaussians
        The deconvolved components (means mu_j, covariances V_j).
    previous : Gaussians, optional
        The previous components, for the change of the responsibilities.
    covariance_type : str
        The structure: its feature form decides the layout of the moments.
    need_resp_sq : bool

    Returns
    -------
    Statistics or None
        None when the compiled kernels are not available or did not take
        the rows (the caller's numpy path then runs).
    """
    quadratic = structures.get(covariance_type).quadratic
    if noise.kind == "shared":
        return _shared_noise_statistics(
            X, noise.values, weights, gaussians, previous, quadratic, need_resp_sq
        )
    if not compiled.has_deconvolution():
        return None
    k, d = gaussians.means.shape
    covariances = np.asarray(gaussians.covariances, dtype=np.float64)
    # 0: (m, d, d) matrices; 1: (m, d) variances; 2: variances with diagonal V_j.
    form = 0 if noise.kind == "matrices" else (1 if quadratic else 2)
    prev = None
    if previous is not None:
        prev = (previous.means, previous.covariances, _log_priors(previous))
    result = compiled.deconvolution_statistics(
        X,
        noise.values,
        form,
        gaussians.means,
        covariances,
        _log_priors(gaussians),
        prev,
        weights,
        need_resp_sq,
    )
    if result is None:
        return None
    M, U, N, resp_sq, totals = result
    if form == 2:
        v = np.diagonal(covariances, axis1=1, axis2=2)
        quad = N[:, None] * v - v * v * M
        first = v * U
    else:
        second = N[:, None, None] * covariances - covariances @ _symmetric(M, d) @ covariances
        quad = _packed(second, quadratic)
        first = np.einsum("kab,kb->ka", covariances, U)
    moments = np.concatenate([quad, first, N[:, None]], axis=1)
    log_lik, weight_sum, change, entropy = (float(t) for t in totals)
    return Statistics(
        moments,
        resp_sq if need_resp_sq else np.zeros(k),
        log_lik,
        weight_sum,
        change if previous is not None else 0.0,
        entropy,
    )


def _convolved_parameters(gaussians: Gaussians, S: np.ndarray) -> tuple | None:
    """(T_j^-1 factors W_j = L_j^-1, consts, T_j) of the convolved components, or None."""
    d = S.shape[0]
    total = np.asarray(gaussians.covariances, dtype=np.float64) + S[None]
    try:
        chol = np.linalg.cholesky(total)
    except np.linalg.LinAlgError:
        return None
    diagonal = np.diagonal(chol, axis1=1, axis2=2)
    if not np.all(diagonal > 0):
        return None
    consts = _log_priors(gaussians) - 0.5 * d * LOG_2PI - np.log(diagonal).sum(axis=1)
    return np.tril(inverse_cholesky(chol)), consts


def _shared_noise_statistics(
    X: np.ndarray,
    S: np.ndarray,
    weights: np.ndarray | None,
    gaussians: Gaussians,
    previous: Gaussians | None,
    quadratic: bool,
    need_resp_sq: bool,
) -> Statistics | None:
    """One S for every row: the precise EM kernel on T_j = V_j + S, then the linear map."""
    if not (compiled.has_centred() and compiled.wide_vectors()):
        return None
    d = gaussians.means.shape[1]
    S = np.asarray(S, dtype=np.float64)
    current = _convolved_parameters(gaussians, S)
    if current is None:
        return None
    prev = None
    if previous is not None:
        prev_parameters = _convolved_parameters(previous, S)
        if prev_parameters is None:
            return None
        prev = (previous.means, *prev_parameters)
    result = compiled.centred_statistics(
        X, weights, gaussians.means, *current, prev, False, need_resp_sq
    )
    if result is None:
        return None
    moments, resp_sq, log_lik, weight_sum, change, entropy = result
    q = d * (d + 1) // 2
    scatter = _symmetric(moments[:, :q], d)  # sum w r (x - mu)(x - mu)^T
    N = moments[:, -1]
    V = np.asarray(gaussians.covariances, dtype=np.float64)
    whitening = current[0]
    gain = V @ np.swapaxes(whitening, 1, 2) @ whitening  # V T^-1
    lifted = whitening @ V  # L^-1 V: V T^-1 V = lifted^T lifted
    posterior = V - np.swapaxes(lifted, 1, 2) @ lifted
    second = N[:, None, None] * posterior + gain @ scatter @ np.swapaxes(gain, 1, 2)
    first = np.einsum("kab,kb->ka", gain, moments[:, q : q + d])
    out = np.concatenate([_packed(second, quadratic), first, N[:, None]], axis=1)
    return Statistics(out, resp_sq, log_lik, weight_sum, change, entropy)
