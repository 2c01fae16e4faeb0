"""The E-step of one block of rows: module-level functions of (block, weights, parameters).

Everything an E-step needs travels in its arguments: the rows, their
weights, and an :class:`EStepParameters` (plain arrays, strings and
numbers), so the same functions run in this process's threads, in other
processes or on remote workers. Each returns additive :class:`Statistics`.

- :func:`e_step`: rows without missing entries. The log prior + log density
  of every component is linear in the quadratic features phi(x - shift)
  (see :mod:`gaussmix._gaussian`), so the E-step is one GEMM ``theta @ phi``
  and a log-sum-exp, and the moments are a second GEMM ``phi @ resp^T``.
  For float64 fits with full features the compiled kernel
  (:mod:`gaussmix.kernels.compiled`) computes the same sums eight rows at a time;
  rows it cannot take fall back to numpy. When the components lie too far
  from the shared shift for its moments to be precise, the parameters say
  so (``theta is None``) and the block is computed about each component's own
  mean instead.
- :func:`missing_e_step`: rows with NaN entries (Ghahramani & Jordan 1994),
  grouped by missing pattern; expected statistics in the same layout.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from .. import _gaussian, _missing
from .._gaussian import (
    PRECISION_LIMIT,
    Features,
    n_phi_features,
    natural_parameters,
    shared_shift_error,
    softmax_columns,
    uses_full_features,
)
from .._linalg import inverse_cholesky, safe_cholesky
from ..kernels import compiled as _compiled
from .stats import Statistics

__all__ = [
    "EStepParameters",
    "MissingBlock",
    "e_step",
    "make_e_step_parameters",
    "missing_e_step",
    "responsibility_statistics",
]


class EStepParameters(NamedTuple):
    """What the E-step of a block needs besides its rows.

    Attributes
    ----------
    covariance_type : str
    shift : ndarray, shape (d,) or (k, d)
        The point the moments are taken about: shared by all components
        (d,), or each component's own mean (k, d) on the precise path.
    priors, means, covariances : ndarray
        The Gaussians of the E-step (k,), (k, d), (k, d, d). A model family
        other than maximum likelihood puts its expected log weights in
        ``priors`` (unnormalized) and its effective covariances here.
    theta : ndarray, shape (k, n_phi), or None
        Natural parameters about ``shift``; None selects the precise path.
    previous : tuple (priors, means, covariances), or None
        The previous iteration's Gaussians, to measure the change of the
        responsibilities (gmr's R_diff); None when nobody asks.
    theta_previous : ndarray, shape (k, n_phi), or None
    kernel_theta, kernel_theta_previous : ndarray, or None
        ``theta`` padded for the compiled kernel; None: do not use it.
    need_resp_sq : bool
        Whether to compute sum r^2 (OAS shrinkage).
    dtype : numpy float type
        Precision of the feature GEMMs on the numpy path.
    chunk_rows : int
        Rows per feature chunk on the numpy path.
    """

    covariance_type: str
    shift: np.ndarray
    priors: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    theta: np.ndarray | None = None
    previous: tuple | None = None
    theta_previous: np.ndarray | None = None
    kernel_theta: np.ndarray | None = None
    kernel_theta_previous: np.ndarray | None = None
    need_resp_sq: bool = False
    dtype: type = np.float64
    chunk_rows: int = 4096


class MissingBlock(NamedTuple):
    """Rows with missing entries, grouped once (before the first iteration).

    Attributes
    ----------
    X : ndarray, shape (m, d)
        The rows; NaN marks a missing entry.
    complete : ndarray of int, or None
        Rows without a missing entry: :func:`missing_e_step` sends them
        through :func:`e_step` (the compiled kernel included).
    sets : tuple of :class:`gaussmix._missing.PatternSet`
        Rows of rare patterns, one set per number of missing entries, sorted
        by pattern (rows with nothing observed are in none).
    patterns : tuple of (observed, missing, rows)
        Frequent patterns (at least :data:`gaussmix._missing.PATTERN_MIN_ROWS`
        rows): the complete-data E-step on the observed columns, expanded.
    """

    X: np.ndarray
    complete: np.ndarray | None = None
    sets: tuple = ()
    patterns: tuple = ()

    @classmethod
    def from_rows(cls, X: np.ndarray) -> MissingBlock:
        """Group the rows of X by missing pattern (rows with nothing observed are dropped)."""
        complete, sets, patterns = _missing.split_by_count(np.isnan(X))
        return cls(X, complete, tuple(sets), tuple(patterns))


def make_e_step_parameters(
    covariance_type: str,
    gaussians: tuple,
    previous: tuple | None,
    shift: np.ndarray,
    *,
    need_resp_sq: bool = False,
    dtype: type = np.float64,
    chunk_rows: int = 4096,
    use_kernel: bool = True,
) -> EStepParameters:
    """The :class:`EStepParameters` of an iteration over complete rows, for any source.

    Chooses the path: moments about the shared ``shift`` (natural
    parameters, padded for the compiled kernel when ``use_kernel`` and it is
    built), or, when the components lie too far from ``shift`` for those
    moments to be precise (:func:`gaussmix._gaussian.shared_shift_error`),
    moments about each component's own mean.

    Parameters
    ----------
    covariance_type : str
    gaussians : (priors, means, covariances)
        The components of this E-step.
    previous : (priors, means, covariances) or None
        The previous iteration's, when the change of the responsibilities is
        needed (gmr's R_diff).
    shift : ndarray, shape (d,)
        The source's shared point (e.g. the data's mean); the same for all
        blocks, so that their statistics add up.
    need_resp_sq : bool, default=False
    dtype : numpy float type, default=numpy.float64
        Precision of the numpy path's feature GEMMs (the kernel is used only
        for float64, see :func:`kernel_applies`).
    chunk_rows : int, default=4096
    use_kernel : bool, default=True
    """
    priors, means, covariances = gaussians
    common = dict(
        covariance_type=covariance_type,
        priors=priors,
        means=means,
        covariances=covariances,
        previous=previous,
        need_resp_sq=need_resp_sq,
        dtype=dtype,
        chunk_rows=chunk_rows,
    )
    if shared_shift_error(means, covariances, shift) > PRECISION_LIMIT:
        return EStepParameters(shift=means, **common)
    theta = natural_parameters(priors, means, covariances, shift, covariance_type)
    theta_prev = None
    if previous is not None:
        theta_prev = natural_parameters(*previous, shift, covariance_type)
    kernel = kernel_prev = None
    if use_kernel and kernel_applies(covariance_type, dtype):
        kernel = _compiled.padded_parameters(theta)
        if theta_prev is not None:
            kernel_prev = _compiled.padded_parameters(theta_prev)
    return EStepParameters(
        shift=shift,
        theta=theta,
        theta_previous=theta_prev,
        kernel_theta=kernel,
        kernel_theta_previous=kernel_prev,
        **common,
    )


def kernel_applies(covariance_type: str, dtype) -> bool:
    """Whether the compiled kernel computes float64 statistics of this covariance type here."""
    if dtype != np.float64:
        return False
    if uses_full_features(covariance_type):
        return _compiled.available()
    return _compiled.has_diagonal()


# --------------------------------------------------------------------------
# Complete rows
# --------------------------------------------------------------------------
def e_step(block: np.ndarray, weights: np.ndarray | None, params: EStepParameters) -> Statistics:
    """Statistics of a block of complete rows under ``params``.

    Parameters
    ----------
    block : ndarray, shape (m, d)
        float64 or float32 rows without NaN.
    weights : ndarray, shape (m,), optional
    params : EStepParameters

    Returns
    -------
    Statistics
    """
    if params.theta is None:
        return _centred_statistics(block, weights, params)
    stats = _kernel_statistics(block, weights, params)
    if stats is not None:
        return stats
    stats = _shared_shift_statistics(block, weights, params)
    stats.resp_entropy = _entropy_from_moments(stats, params.theta)
    return stats


def e_step_rows(
    X: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray | None,
    weights: np.ndarray | None,
    params: EStepParameters,
) -> Statistics:
    """:func:`e_step` of ``X[rows]`` (only ``columns``, when given), read in place where it can.

    The compiled kernel reads the rows and columns where they lie; otherwise
    they are gathered and go through :func:`e_step`. The missing-data E-step
    uses this for its complete rows and its frequent patterns' observed
    columns, which would cost a copy of most of the data every iteration.

    Parameters
    ----------
    X : ndarray, shape (n, d_all)
        The data; the entries taken hold no NaN.
    rows : ndarray of int, shape (m,)
    columns : ndarray of int, shape (d,), optional
    weights : ndarray, shape (m,), optional
        The weights of the rows taken, in ``rows``' order.
    params : EStepParameters
        For d columns.

    Returns
    -------
    Statistics
    """
    if params.theta is not None:
        stats = _kernel_statistics(X, weights, params, rows, columns)
        if stats is not None:
            return stats
    block = X[rows] if columns is None else X[rows].take(columns, axis=1)
    return e_step(block, weights, params)


def _kernel_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    params: EStepParameters,
    rows: np.ndarray | None = None,
    columns: np.ndarray | None = None,
) -> Statistics | None:
    """The compiled kernel's shared-shift statistics (of ``X[rows]``, ``columns`` only,
    when given), or None where the kernel does not apply or gives the rows back."""
    if params.kernel_theta is None:
        return None
    result = _compiled.em_statistics(
        X,
        weights,
        params.kernel_theta,
        params.theta.shape[0],
        params.shift,
        params.kernel_theta_previous,
        params.need_resp_sq,
        rows=rows,
        columns=columns,
    )
    if result is None:
        return None
    moments, resp_sq, log_lik_sum, weight_sum, change = result
    stats = Statistics(moments, resp_sq, log_lik_sum, weight_sum, change)
    stats.resp_entropy = _entropy_from_moments(stats, params.theta)
    return stats


def _entropy_from_moments(stats: Statistics, theta: np.ndarray) -> float:
    """-sum w r ln r of a shared-shift E-step, from its moments (no extra pass).

    The logits are linear in the features, ln r_ij = theta_j . phi_i - ln p_i,
    and sum_j r_ij = 1, so sum_i w_i sum_j r_ij ln r_ij = sum_j theta_j . M_j
    - sum_i w_i ln p_i, with M the weighted moments. A component whose log
    prior is -inf has r = 0 and contributes nothing. With one such component
    every r is 1 and the entropy is exactly 0; otherwise the difference is
    taken, clipped at 0 (an entropy is not negative; rounding can make the
    difference of the two large sums slightly so).
    """
    finite = np.isfinite(theta).all(axis=1)
    if finite.sum() <= 1:
        return 0.0
    expected = float(np.einsum("kp,kp->", theta[finite], stats.moments[finite]))
    return max(0.0, stats.log_lik_sum - expected)


def _entropy(resp: np.ndarray, log_resp: np.ndarray, weights: np.ndarray | None) -> float:
    """-sum_i w_i sum_j r_ij ln r_ij of (m, k) responsibilities (0 ln 0 = 0)."""
    with np.errstate(invalid="ignore"):
        terms = np.where(resp > 0, resp * log_resp, 0.0).sum(axis=1)
    return -float(terms.sum() if weights is None else weights @ terms)


def responsibility_statistics(
    X: np.ndarray,
    responsibilities: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
    weights: np.ndarray | None = None,
    chunk_rows: int = 4096,
    n_components: int | None = None,
) -> Statistics:
    """Moments of the rows of X under given responsibilities (an initialization's M-step).

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Complete rows.
    responsibilities : ndarray, shape (n, k) or (n,) of int
        Soft responsibilities, or hard labels in [0, k) (one-hot rows).
    shift : ndarray, shape (d,)
        The point the moments are taken about.
    covariance_type : str
    weights : ndarray, shape (n,), optional
    chunk_rows : int, default=4096
    n_components : int, optional
        k for hard labels (default: the largest label + 1).

    Returns
    -------
    Statistics
        Only the moments are filled (no E-step ran, so no log-likelihood).
    """
    n, d = X.shape
    hard = responsibilities.ndim == 1
    if hard:
        k = int(responsibilities.max()) + 1 if n_components is None else n_components
    else:
        k = responsibilities.shape[1]
    rows = max(1, min(chunk_rows, n))
    features = Features(d, covariance_type, rows, np.float64)
    moments = np.zeros((features.width, k))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        if hard:
            resp = np.zeros((stop - start, k))
            resp[np.arange(stop - start), responsibilities[start:stop]] = 1.0
        else:
            resp = np.asarray(responsibilities[start:stop], dtype=np.float64)
        if weights is not None:
            resp = resp * weights[start:stop, None]
        moments += features(X[start:stop], shift) @ resp
    weight_sum = float(n if weights is None else weights.sum())
    return Statistics(moments.T.copy(), np.zeros(k), 0.0, weight_sum)


_buffers = threading.local()


def _features(d: int, covariance_type: str, rows: int, dtype) -> Features:
    # One reusable feature buffer per thread: fresh chunk-sized temporaries
    # would cost page faults on every chunk of every iteration.
    key = (d, uses_full_features(covariance_type), rows, np.dtype(dtype))
    cache = getattr(_buffers, "features", None)
    if cache is None or cache[0] != key:
        cache = (key, Features(d, covariance_type, rows, dtype))
        _buffers.features = cache
    return cache[1]


def _workspace(rows: int, n_logits: int, dtype) -> np.ndarray:
    # Exactly (n_logits, rows): a larger buffer left by another fit would make
    # every chunk's logits a strided view, which GEMM writes slower.
    key = (n_logits, rows, np.dtype(dtype))
    cached = getattr(_buffers, "logits", None)
    if cached is None or cached[0] != key:
        cached = (key, np.empty((n_logits, rows), dtype=dtype))
        _buffers.logits = cached
    return cached[1]


def _shared_shift_statistics(
    block: np.ndarray, weights: np.ndarray | None, params: EStepParameters
) -> Statistics:
    """Sum of :func:`chunk_statistics` over the feature chunks of a block."""
    m, d = block.shape
    dtype = params.dtype
    # Buffers of the source's chunk size even for a short last block, so they
    # are reused across blocks and iterations.
    rows = max(1, params.chunk_rows)
    features = _features(d, params.covariance_type, rows, dtype)
    theta = params.theta.astype(dtype, copy=False)
    theta_prev = params.theta_previous
    if theta_prev is not None:
        theta_prev = theta_prev.astype(dtype, copy=False)
    k = theta.shape[0]
    workspace = _workspace(rows, 2 * k, dtype)
    total = Statistics.zeros(k, features.width)
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        phi = features(block[start:stop], params.shift)
        w = None if weights is None else weights[start:stop]
        total += chunk_statistics(phi, theta, w, theta_prev, params.need_resp_sq, workspace)
    return total


def chunk_statistics(
    phi: np.ndarray,
    theta: np.ndarray,
    weights: np.ndarray | None,
    theta_prev: np.ndarray | None = None,
    need_resp_sq: bool = True,
    workspace: np.ndarray | None = None,
) -> Statistics:
    """E-step of one feature chunk and its M-step statistics (two GEMMs).

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
        Reused buffer for the logits.
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
        weight_sum = float(m)
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
    return Statistics(
        moments, resp_sq.astype(np.float64, copy=False), log_lik_sum, weight_sum, change
    )


def _centred_kernel_parameters(
    priors: np.ndarray, means: np.ndarray, chol: np.ndarray, full: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means, factors, consts) of :func:`gaussmix.kernels.compiled.centred_statistics`."""
    d = means.shape[1]
    diagonal = np.diagonal(chol, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore"):
        consts = np.log(priors) - 0.5 * d * _gaussian.LOG_2PI - np.log(diagonal).sum(axis=1)
    factors = np.tril(inverse_cholesky(chol)) if full else 1.0 / diagonal**2
    return means, factors, consts


def _centred_statistics(
    block: np.ndarray, weights: np.ndarray | None, params: EStepParameters
) -> Statistics:
    """Statistics about each component's own mean (the precise path).

    Every component is evaluated through its whitening map (one GEMM for all
    components) and the second moments sum r (x - mu_j)(x - mu_j)^T are one
    batched product over components, so no precision is lost when components
    lie far from each other relative to their spread. About twice the cost
    of the shared-shift path; used only when
    :func:`gaussmix._gaussian.shared_shift_error` says it is needed. The moments
    are taken about ``params.means`` (which is ``params.shift``).
    """
    priors, means = params.priors, params.means
    k, d = means.shape
    full = uses_full_features(params.covariance_type)
    iu, ju = np.triu_indices(d)
    chol = safe_cholesky(params.covariances)
    prev = None
    if params.previous is not None:
        prev_priors, prev_means, prev_covs = params.previous
        prev = (prev_priors, prev_means, safe_cholesky(prev_covs))
    if _compiled.has_centred():
        kernel_prev = None if prev is None else _centred_kernel_parameters(*prev, full)
        result = _compiled.centred_statistics(
            block,
            weights,
            means,
            *_centred_kernel_parameters(priors, means, chol, full)[1:],
            None if kernel_prev is None else kernel_prev,
            not full,
            params.need_resp_sq,
        )
        if result is not None:
            return Statistics(*result)
    total = Statistics.zeros(k, n_phi_features(d, params.covariance_type))
    # Rows per step: (k, rows, d) temporaries of about 2 MiB.
    step = max(64, (1 << 18) // max(1, k * d))
    for start in range(0, block.shape[0], step):
        chunk = block[start : start + step].astype(np.float64, copy=False)
        log_norm, log_resp = _gaussian.mixture_log_density(chunk, priors, means, chol)
        resp = np.exp(log_resp)
        change = 0.0
        if prev is not None:
            prev_resp = np.exp(_gaussian.mixture_log_density(chunk, *prev)[1])
            change = float(np.square(resp - prev_resp).sum())
        w = None if weights is None else weights[start : start + step]
        resp_sq = np.einsum("mk,mk->k", resp, resp) if w is None else (resp * resp).T @ w
        entropy = _entropy(resp, log_resp, w)
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
        total += Statistics(
            moments,
            resp_sq,
            float(log_norm.sum() if w is None else w @ log_norm),
            float(chunk.shape[0] if w is None else w.sum()),
            change,
            entropy,
        )
    return total


# --------------------------------------------------------------------------
# Rows with missing entries
# --------------------------------------------------------------------------
def missing_e_step(
    block: MissingBlock, weights: np.ndarray | None, params: EStepParameters
) -> Statistics:
    """Expected statistics of rows with missing entries under ``params``.

    For a row with observed dimensions o and missing dimensions m, component
    j contributes the marginal likelihood of x_o, the completed row
    x_hat = [x_o, E[x_m | x_o, j]] and the conditional covariance of x_m in
    the (m, m) block of the second moments (Ghahramani & Jordan 1994).
    Complete rows go through :func:`e_step` (kernel or numpy, shared shift
    or precise path, as ``params`` says); the others, all rows missing the
    same number c of entries at once, through the precision form of
    :class:`gaussmix._missing.PrecisionForm` (only c x c blocks factorized,
    once per pattern and component). Moments about ``params.shift``, in the
    layout of :func:`e_step`.

    Parameters
    ----------
    block : MissingBlock
    weights : ndarray, shape (m,), optional
        Weights of ``block.X``'s rows.
    params : EStepParameters
    """
    if block.complete is None:
        block = MissingBlock.from_rows(block.X)
    prepared = prepare_missing(block, params)
    total = Statistics.zeros(
        params.means.shape[0], n_phi_features(block.X.shape[1], params.covariance_type)
    )
    for unit in missing_work(prepared):
        total += missing_unit_statistics(block, weights, params, prepared, unit)
    return total


# Rows per work unit of a pattern set: (rows, k, max(d, c^2)) temporaries of
# 2^18 numbers (2 MiB); 8 and 32 MiB measured no faster (200k x 16, k = 16).
_SET_ELEMENTS = 1 << 18


# Gathered rows per work unit of complete rows or of one frequent pattern
# (4 MiB at d = 16).
_UNIT_ROWS = 1 << 15
# Rows per work unit of frequent patterns expanded together (see missing_work);
# 2^15 measured faster than 2^12 and 2^13 at 10 % missing (200k x 16, k = 16,
# 2 threads), the same at 1 %.
_PATTERN_BATCH_ROWS = 1 << 15


class MissingPrepared(NamedTuple):
    """What every work unit of one missing-data E-step shares (see :func:`prepare_missing`)."""

    sets: tuple
    form: _missing.PrecisionForm
    form_previous: _missing.PrecisionForm | None
    offset: np.ndarray | None
    complete_rows: np.ndarray
    set_rows: list
    patterns: tuple
    marginals: list


def prepare_missing(block: MissingBlock, params: EStepParameters) -> MissingPrepared:
    """Per-iteration quantities of :func:`missing_e_step`: the components' precision form.

    Everything per pattern (P_mm^-1, the observed marginals) is computed by
    the work units that need it, in their threads.
    """
    k, d = params.means.shape
    shift = np.asarray(params.shift)
    sets = tuple(block.sets)
    complete = block.complete
    if params.theta is None and shift.ndim == 1:
        # Parameters without natural parameters about a shared shift (built
        # by hand): the complete rows take the precision form too.
        no_missing = np.zeros((1, 0), np.intp)
        sets = (
            *sets,
            _missing.PatternSet(0, complete, np.zeros(complete.size, np.intp), no_missing),
        )
        complete = complete[:0]
    if shift.ndim == 1:
        base, offset = shift, None
    else:
        # Precise path: moments about each component's mean.
        base = shift.mean(axis=0)
        offset = base - shift
    form = _missing.precision_form(params.priors, params.means, params.covariances, base)
    form_prev = None
    if params.previous is not None:
        form_prev = _missing.precision_form(*params.previous, base)
    set_rows = [max(64, _SET_ELEMENTS // (k * max(d, s.count * s.count))) for s in sets]
    return MissingPrepared(
        sets,
        form,
        form_prev,
        offset,
        complete,
        set_rows,
        tuple(block.patterns),
        _marginal_parts(form, form_prev, tuple(block.patterns), params.covariance_type),
    )


def _marginal_theta(
    form: _missing.PrecisionForm, obs: np.ndarray, mis: np.ndarray, covariance_type: str
) -> tuple:
    """Natural parameters of the observed columns' marginals, from the full precision.

    Sigma_oo^-1 = P_oo - P_om P_mm^-1 P_mo, log|Sigma_oo| = log|Sigma| + log|P_mm|
    and the regression Sigma_mo Sigma_oo^-1 = -P_mm^-1 P_mo: one c x c
    inverse per pattern and component (c missing columns), no factorization
    of Sigma_oo. All p patterns (with the same c) at once.

    Parameters
    ----------
    obs, mis : ndarray of int, shape (p, o) and (p, c)

    Returns
    -------
    theta : (p, k, n_phi_o), about form.base[obs]
    coef : (p, k, c, o)
    cond_cov : (p, k, c, c)
    """
    prec = form.precisions

    def block(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.moveaxis(prec[:, rows[:, :, None], cols[:, None, :]], 0, 1)  # (p, k, r, c)

    inv_mm, log_det_mm = _missing.spd_inverse(block(mis, mis))
    coef = -inv_mm @ block(mis, obs)
    prec_oo = block(obs, obs) + block(obs, mis) @ coef
    centred = np.moveaxis(form.centred[:, obs], 0, 1)  # (p, k, o)
    n_obs = obs.shape[1]
    if uses_full_features(covariance_type):
        iu, ju = np.triu_indices(n_obs)
        quad = -0.5 * prec_oo[..., iu, ju] * np.where(iu == ju, 1.0, 2.0)
        lin = np.einsum("pkij,pkj->pki", prec_oo, centred)
    else:
        prec_diag = np.diagonal(prec_oo, axis1=-2, axis2=-1)
        quad = -0.5 * prec_diag
        lin = prec_diag * centred
    log_det = form.log_det + log_det_mm
    const = form.log_priors - 0.5 * (
        np.einsum("pki,pki->pk", lin, centred) + log_det + n_obs * _gaussian.LOG_2PI
    )
    return np.concatenate([quad, lin, const[..., None]], axis=-1), coef, inv_mm


def _marginal_parts(prepared_form, form_previous, patterns: tuple, covariance_type: str) -> list:
    """(theta, theta_previous, coef, cond_cov) of every frequent pattern, batched by count."""
    parts: list = [None] * len(patterns)
    by_count: dict = {}
    for index, (_, mis, _) in enumerate(patterns):
        by_count.setdefault(mis.size, []).append(index)
    for indices in by_count.values():
        obs = np.stack([patterns[i][0] for i in indices])
        mis = np.stack([patterns[i][1] for i in indices])
        theta, coef, cond_cov = _marginal_theta(prepared_form, obs, mis, covariance_type)
        theta_prev = None
        if form_previous is not None:
            theta_prev = _marginal_theta(form_previous, obs, mis, covariance_type)[0]
        for j, i in enumerate(indices):
            parts[i] = (
                theta[j],
                None if theta_prev is None else theta_prev[j],
                coef[j],
                cond_cov[j],
            )
    return parts


def _marginal_parameters(params: EStepParameters, prepared: MissingPrepared, index: int) -> tuple:
    """E-step parameters of the observed columns' marginal, and E[x_m | x_o, j] as an affine map.

    Returns ``(marginal, coef, intercept, cond_cov)``: with y_o = x_o - s_o
    (s the statistics' shift), x_hat_m - s_m = intercept_j + coef_j y_o and
    Cov[x_m | x_o, j] = cond_cov_j.
    """
    obs, mis, _ = prepared.patterns[index]
    shift = np.asarray(params.shift)
    means_o = params.means[:, obs]
    previous = None
    if params.previous is not None:
        p_priors, p_means, p_covs = params.previous
        previous = (p_priors, p_means[:, obs], p_covs[:, obs[:, None], obs[None, :]])
    common = dict(
        covariance_type=params.covariance_type,
        priors=params.priors,
        means=means_o,
        covariances=params.covariances[:, obs[:, None], obs[None, :]],
        previous=previous,
        need_resp_sq=params.need_resp_sq,
        dtype=params.dtype,
        chunk_rows=params.chunk_rows,
    )
    theta, theta_prev, coef, cond_cov = prepared.marginals[index]
    if shift.ndim == 2:
        # Precise path: moments about each component's mean, as the complete rows'.
        marginal = EStepParameters(shift=means_o, **common)
        s_o, s_m = shift[:, obs], shift[:, mis]
    else:
        kernel = kernel_prev = None
        if kernel_applies(params.covariance_type, params.dtype):
            kernel = _compiled.padded_parameters(theta)
            if theta_prev is not None:
                kernel_prev = _compiled.padded_parameters(theta_prev)
        marginal = EStepParameters(
            shift=shift[obs],
            theta=theta,
            theta_previous=theta_prev,
            kernel_theta=kernel,
            kernel_theta_previous=kernel_prev,
            **common,
        )
        s_o, s_m = shift[obs], shift[mis]
    intercept = params.means[:, mis] - s_m + np.einsum("kmo,ko->km", coef, s_o - means_o)
    return marginal, coef, intercept, cond_cov


def _expanded_statistics(
    stats: Statistics, covariance_type: str, d: int, obs, mis, coef, intercept, cond_cov
) -> Statistics:
    """Statistics of the full rows from those of their observed columns.

    With x_hat_m - s_m = a_j + K_j y_o affine in the observed part, every
    expected moment is a linear function of S0 = sum r, S1 = sum r y_o and
    S2 = sum r y_o y_o^T (Ghahramani & Jordan 1994, eqs. 5-6):
    sum r x_hat_m = S0 a + K S1, sum r y_o x_hat_m^T = S1 a^T + S2 K^T,
    sum r (x_hat_m x_hat_m^T + C) = S0 (a a^T + C) + a (K S1)^T + (K S1) a^T + K S2 K^T.
    """
    k = stats.moments.shape[0]
    n_obs = obs.size
    full = uses_full_features(covariance_type)
    q_o = n_obs * (n_obs + 1) // 2 if full else n_obs
    mom = stats.moments
    s0 = mom[:, -1]
    s1 = mom[:, q_o : q_o + n_obs]
    s2 = np.zeros((k, n_obs, n_obs))
    if full:
        iu, ju = np.triu_indices(n_obs)
        s2[:, iu, ju] = mom[:, :q_o]
        s2[:, ju, iu] = mom[:, :q_o]
    else:
        s2[:, np.arange(n_obs), np.arange(n_obs)] = mom[:, :q_o]
    ks1 = np.einsum("kmo,ko->km", coef, s1)
    first = np.empty((k, d))
    first[:, obs] = s1
    first[:, mis] = s0[:, None] * intercept + ks1
    second = np.empty((k, d, d))
    second[:, obs[:, None], obs[None, :]] = s2
    cross = s1[:, :, None] * intercept[:, None, :] + s2 @ np.swapaxes(coef, 1, 2)  # (k, o, m)
    second[:, obs[:, None], mis[None, :]] = cross
    second[:, mis[:, None], obs[None, :]] = np.swapaxes(cross, 1, 2)
    outer = intercept[:, :, None] * ks1[:, None, :]
    second[:, mis[:, None], mis[None, :]] = (
        s0[:, None, None] * (intercept[:, :, None] * intercept[:, None, :] + cond_cov)
        + outer
        + np.swapaxes(outer, 1, 2)
        + coef @ s2 @ np.swapaxes(coef, 1, 2)
    )
    if full:
        iu, ju = np.triu_indices(d)
        quad = second[:, iu, ju]
    else:
        quad = np.diagonal(second, axis1=1, axis2=2)
    moments = np.concatenate([quad, first, s0[:, None]], axis=1)
    return Statistics(
        moments,
        stats.resp_sq_sum,
        stats.log_lik_sum,
        stats.weight_sum,
        stats.resp_change_sq,
        stats.resp_entropy,
    )


def _patterns_statistics(
    block: MissingBlock,
    weights: np.ndarray | None,
    params: EStepParameters,
    prepared: MissingPrepared,
    indices: tuple,
) -> Statistics:
    """Statistics of all rows of frequent patterns with the same missing count.

    Each pattern's observed columns go through :func:`e_step` (the kernel);
    the expansion of :func:`_expanded_statistics` is then done for all the
    patterns at once and added into (k, d, d) with one ``bincount``.
    """
    X = block.X
    k, d = params.means.shape
    obs = np.stack([prepared.patterns[i][0] for i in indices])  # (p, o)
    mis = np.stack([prepared.patterns[i][1] for i in indices])  # (p, c)
    p_count, n_obs = obs.shape
    moments_o = []
    total = Statistics.zeros(k, n_phi_features(d, params.covariance_type))
    coefs, cond_covs, intercepts = [], [], []
    for i in indices:
        o, _, rows = prepared.patterns[i]
        marginal, coef, intercept, cond_cov = _marginal_parameters(params, prepared, i)
        stats = e_step_rows(X, rows, o, None if weights is None else weights[rows], marginal)
        moments_o.append(stats.moments)
        total.resp_sq_sum += stats.resp_sq_sum
        total.log_lik_sum += stats.log_lik_sum
        total.weight_sum += stats.weight_sum
        total.resp_change_sq += stats.resp_change_sq
        total.resp_entropy += stats.resp_entropy
        coefs.append(coef)
        cond_covs.append(cond_cov)
        intercepts.append(intercept)
    mom = np.stack(moments_o)  # (p, k, n_phi_o)
    coef, cond_cov, intercept = np.stack(coefs), np.stack(cond_covs), np.stack(intercepts)
    full = uses_full_features(params.covariance_type)
    q_o = n_obs * (n_obs + 1) // 2 if full else n_obs
    s0 = mom[..., -1]
    s1 = mom[..., q_o : q_o + n_obs]
    s2 = np.zeros((p_count, k, n_obs, n_obs))
    if full:
        iu, ju = np.triu_indices(n_obs)
        s2[..., iu, ju] = mom[..., :q_o]
        s2[..., ju, iu] = mom[..., :q_o]
    else:
        s2[..., np.arange(n_obs), np.arange(n_obs)] = mom[..., :q_o]
    coef_t = np.swapaxes(coef, -1, -2)
    ks1 = np.einsum("pkmo,pko->pkm", coef, s1)
    first_m = s0[..., None] * intercept + ks1
    cross = s1[..., :, None] * intercept[..., None, :] + s2 @ coef_t  # (p, k, o, c)
    outer = intercept[..., :, None] * ks1[..., None, :]
    block_mm = (
        s0[..., None, None] * (intercept[..., :, None] * intercept[..., None, :] + cond_cov)
        + outer
        + np.swapaxes(outer, -1, -2)
        + coef @ s2 @ coef_t
    )
    comp = np.arange(k)[None, :, None]
    first = np.bincount(
        np.concatenate(
            [(comp * d + obs[:, None, :]).ravel(), (comp * d + mis[:, None, :]).ravel()]
        ),
        np.concatenate([s1.ravel(), first_m.ravel()]),
        minlength=k * d,
    ).reshape(k, d)
    comp4 = np.arange(k)[None, :, None, None] * (d * d)

    def at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (comp4 + rows[:, None, :, None] * d + cols[:, None, None, :]).ravel()

    second = np.bincount(
        np.concatenate([at(obs, obs), at(obs, mis), at(mis, obs), at(mis, mis)]),
        np.concatenate(
            [s2.ravel(), cross.ravel(), np.swapaxes(cross, -1, -2).ravel(), block_mm.ravel()]
        ),
        minlength=k * d * d,
    ).reshape(k, d, d)
    if full:
        iu, ju = np.triu_indices(d)
        quad = second[:, iu, ju]
    else:
        quad = np.diagonal(second, axis1=1, axis2=2)
    total.moments = np.concatenate([quad, first, s0.sum(axis=0)[:, None]], axis=1)
    return total


def missing_work(prepared: MissingPrepared) -> list:
    """The work units of :func:`missing_e_step`: (kind, index, rows).

    kind "complete" (rows of ``prepared.complete_rows``), "pattern" (rows of
    frequent pattern ``index``), "patterns" (all rows of the frequent patterns
    ``index``, a tuple, with the same missing count) or "set" (rows of pattern
    set ``index``).
    """
    step = _UNIT_ROWS
    n_complete = prepared.complete_rows.size
    units = [("complete", 0, slice(a, a + step)) for a in range(0, n_complete, step)]
    # Frequent patterns with the same missing count share units of up to
    # _PATTERN_BATCH_ROWS rows, expanded together (fewer small numpy calls,
    # which hold the GIL); a pattern with more than ``step`` rows has units of
    # its own.
    batch_rows = _PATTERN_BATCH_ROWS
    batch: dict = {}
    for index, (_, mis, rows) in enumerate(prepared.patterns):
        if rows.size > step:
            units += [("pattern", index, slice(a, a + step)) for a in range(0, rows.size, step)]
            continue
        pending, size = batch.get(mis.size, ([], 0))
        if size + rows.size > batch_rows and pending:
            units.append(("patterns", tuple(pending), None))
            pending, size = [], 0
        batch[mis.size] = ([*pending, index], size + rows.size)
    units += [("patterns", tuple(pending), None) for pending, _ in batch.values() if pending]
    for index, (pattern_set, rows) in enumerate(
        zip(prepared.sets, prepared.set_rows, strict=True)
    ):
        n = pattern_set.rows.size
        units += [("set", index, slice(a, min(a + rows, n))) for a in range(0, n, rows)]
    return units


def missing_unit_statistics(
    block: MissingBlock,
    weights: np.ndarray | None,
    params: EStepParameters,
    prepared: MissingPrepared,
    unit: tuple,
) -> Statistics:
    """Statistics of one work unit of :func:`missing_work`."""
    kind, index, part = unit
    X = block.X
    if kind == "complete":
        idx = prepared.complete_rows[part]
        return e_step_rows(X, idx, None, None if weights is None else weights[idx], params)
    if kind == "patterns":
        return _patterns_statistics(block, weights, params, prepared, index)
    if kind == "pattern":
        obs, mis, rows = prepared.patterns[index]
        idx = rows[part]
        marginal, coef, intercept, cond_cov = _marginal_parameters(params, prepared, index)
        stats = e_step_rows(X, idx, obs, None if weights is None else weights[idx], marginal)
        return _expanded_statistics(
            stats, params.covariance_type, X.shape[1], obs, mis, coef, intercept, cond_cov
        )
    pattern_set = prepared.sets[index]
    idx = pattern_set.rows[part]
    pid = pattern_set.pattern[part]
    k, d = params.means.shape
    X_rows = X[idx].astype(np.float64, copy=False)
    missing_rows = pattern_set.missing[pid]
    gaussians = (params.priors, params.means, params.covariances)
    # Rows are sorted by pattern: each pattern of this unit is one run.
    starts = np.flatnonzero(np.concatenate([[True], pid[1:] != pid[:-1]]))
    pats = pid[starts]
    local = np.cumsum(np.concatenate([[False], pid[1:] != pid[:-1]]))
    inverses, log_dets = _missing.pattern_inverses(prepared.form, pattern_set.missing[pats])
    if prepared.offset is None and prepared.form_previous is None and _compiled.has_missing():
        # The compiled kernel: the same sums row by row, in registers.
        form = prepared.form
        centred_norm = np.einsum("kd,kd->k", form.centred, form.prec_centred)
        consts = form.log_priors - 0.5 * (
            (d - pattern_set.count) * _gaussian.LOG_2PI + form.log_det + centred_norm
        )
        result = _compiled.missing_statistics(
            X_rows,
            missing_rows,
            local,
            inverses,
            log_dets,
            form.base,
            form.precisions,
            form.prec_centred,
            consts,
            None if weights is None else weights[idx],
            not uses_full_features(params.covariance_type),
            params.need_resp_sq,
        )
        if result is not None:
            moments, resp_sq, log_lik_sum, weight_sum, entropy = result
            return Statistics(moments, resp_sq, log_lik_sum, weight_sum, 0.0, entropy)
    log_norm, log_resp, y_hat = _missing.incomplete_posterior(
        X_rows, missing_rows, inverses[local], log_dets[local], prepared.form, gaussians
    )
    resp = np.exp(log_resp)
    change = 0.0
    if prepared.form_previous is not None:
        prev_inv, prev_log_dets = _missing.pattern_inverses(
            prepared.form_previous, pattern_set.missing[pats]
        )
        prev_log_resp = _missing.incomplete_posterior(
            X_rows,
            missing_rows,
            prev_inv[local],
            prev_log_dets[local],
            prepared.form_previous,
            params.previous,
        )[1]
        change = float(np.square(resp - np.exp(prev_log_resp)).sum())
    w = None if weights is None else weights[idx]
    wresp = resp if w is None else resp * w[:, None]
    if prepared.offset is not None:
        y_hat += prepared.offset[:, None, :]
    resp_sum = wresp.sum(axis=0)
    weighted = y_hat * wresp.T[:, :, None]  # (k, n, d)
    first = weighted.sum(axis=1)
    # sum_i w_i r_ij Cov[x_m | x_o, j]: P_mm^-1 weighted by each pattern's
    # responsibility sums, added into the (m, m) blocks.
    c = pattern_set.count
    conditional = np.zeros(k * d * d)
    if c:
        sums = np.add.reduceat(wresp, starts, axis=0)  # (q, k)
        values = sums[:, :, None, None] * inverses
        mis = pattern_set.missing[pats]
        flat = (
            np.arange(k)[None, :, None, None] * (d * d)
            + mis[:, None, :, None] * d
            + mis[:, None, None, :]
        )
        conditional = np.bincount(flat.ravel(), values.ravel(), minlength=k * d * d)
    conditional = conditional.reshape(k, d, d)
    if uses_full_features(params.covariance_type):
        iu, ju = np.triu_indices(d)
        second = np.matmul(weighted.transpose(0, 2, 1), y_hat)
        quad = (second + conditional)[:, iu, ju]
    else:
        quad = np.einsum("knd,knd->kd", weighted, y_hat)
        quad += np.diagonal(conditional, axis1=1, axis2=2)
    moments = np.concatenate([quad, first, resp_sum[:, None]], axis=1)
    sq = resp * resp
    return Statistics(
        moments,
        sq.sum(axis=0) if w is None else w @ sq,
        float(log_norm.sum() if w is None else w @ log_norm),
        float(idx.size if w is None else w.sum()),
        change,
        _entropy(resp, log_resp, w),
    )
