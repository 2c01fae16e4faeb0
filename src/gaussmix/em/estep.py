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
- :func:`gaussmix.em.estep_missing.missing_e_step`: rows with NaN entries
  (Ghahramani & Jordan 1994), in :mod:`gaussmix.em.estep_missing`.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from .. import _gaussian, _missing
from .. import covariance as structures
from .._gaussian import (
    PRECISION_LIMIT,
    Features,
    guarded_natural_parameters,
    n_phi_features,
    natural_parameters,
    shared_shift_error,
    softmax_columns,
    uses_full_features,
)
from .._linalg import inverse_cholesky, safe_cholesky, upper_triangle
from ..kernels import compiled as _compiled
from .stats import Statistics

__all__ = [
    "EStepParameters",
    "MissingBlock",
    "e_step",
    "make_e_step_parameters",
    "pooled_log_lik_term",
    "responsibility_entropy",
    "responsibility_statistics",
    "scatter_about",
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
    whitening, whitening_inverse : ndarray, shape (d, d), or None
        Set for one covariance shared by all components (``pooled``): W = L^-1
        and L, the shared covariance's Cholesky factor. The rows are then
        whitened, z = W (x - shift), where every component is a unit-variance
        Gaussian, so the E-step runs on diagonal features (2d + 1 columns)
        instead of the full quadratic ones (d(d+1)/2 + d + 1) and ``theta``
        is in that layout; :func:`e_step` maps the moments back.
    block_scatter : bool
        With ``whitening``: each block adds its pooled second moments
        sum w (x - shift)(x - shift)^T (True), or leaves them to the caller,
        who knows them already (they do not change between iterations).
    linear_theta, linear_kernel_theta : ndarray, or None
        With ``whitening``, where the compiled kernel takes linear features:
        logits b_j . y + c_j on [y, 1] (y = x - shift; b_j = P (mu_j - shift),
        P = Sigma^-1), i.e. without the term -y^T P y / 2 that all components
        share and that cancels in the responsibilities. The E-step then costs
        about two (m, d) x (d, k) products. Blocks leave that term out of
        their log-likelihood unless ``block_scatter`` (then they subtract
        tr(P S_block) / 2 themselves); :func:`pooled_log_lik_term` gives the
        caller's part.
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
    whitening: np.ndarray | None = None
    whitening_inverse: np.ndarray | None = None
    block_scatter: bool = True
    linear_theta: np.ndarray | None = None
    linear_kernel_theta: np.ndarray | None = None


class MissingBlock(NamedTuple):
    """Rows with missing entries, grouped once (before the first iteration).

    Attributes
    ----------
    X : ndarray, shape (m, d)
        The rows; NaN marks a missing entry.
    complete : ndarray of int, or None
        Rows without a missing entry: :func:`~gaussmix.em.estep_missing.missing_e_step` sends them
        through :func:`e_step` (the compiled kernel included).
    sets : tuple of :class:`gaussmix._missing.PatternSet`
        Rows of rare patterns, one set per number of missing entries, sorted
        by pattern (rows with nothing observed are in none).
    patterns : tuple of (observed, missing, rows)
        Frequent patterns (at least :data:`gaussmix._missing.PATTERN_MIN_ROWS`
        rows): the complete-data E-step on the observed columns, expanded.
    incomplete : ndarray of int, or None
        Rows that miss some entries but not all, in order (the diagonal
        structures' E-step takes them all at once, whatever their pattern).
    """

    X: np.ndarray
    complete: np.ndarray | None = None
    sets: tuple = ()
    patterns: tuple = ()
    incomplete: np.ndarray | None = None

    @classmethod
    def from_rows(cls, X: np.ndarray) -> MissingBlock:
        """Group the rows of X by missing pattern (rows with nothing observed are dropped)."""
        mask = np.isnan(X)
        complete, sets, patterns = _missing.split_by_count(mask)
        counts = mask.sum(axis=1)
        incomplete = np.flatnonzero((counts > 0) & (counts < X.shape[1]))
        return cls(X, complete, tuple(sets), tuple(patterns), incomplete)


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
    pooled: bool = False,
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
    pooled : bool, default=False
        The caller needs only the sum over components of the second moments
        (complete rows, for a structure with one shared covariance): when the
        components share one covariance, the E-step then runs in whitened
        coordinates on diagonal features, and the pooled second moments
        sum_i w_i (x_i - shift)(x_i - shift)^T stand in the first component's
        row of the moments (the others zero). The missing-data E-step needs
        each component's, and does not ask for this.
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
    if pooled and previous is None and _one_shared_covariance(covariance_type, covariances):
        if shared_shift_error(means, covariances, shift) > PRECISION_LIMIT:
            return EStepParameters(shift=means, **common)
        return _whitened_parameters(common, shift, use_kernel)
    # theta and the precision check from one factorization (no eigendecomposition)
    theta, error = guarded_natural_parameters(priors, means, covariances, shift, covariance_type)
    if theta is None or error > PRECISION_LIMIT:
        return EStepParameters(shift=means, **common)
    theta_prev = None
    if previous is not None:
        theta_prev = natural_parameters(*previous, shift, covariance_type)
    kernel = kernel_prev = None
    if use_kernel and _float32_kernel_applies(covariance_type, dtype, means.shape[1]):
        kernel = _compiled.padded_parameters_float32(theta)
        if theta_prev is not None:
            kernel_prev = _compiled.padded_parameters_float32(theta_prev)
    elif use_kernel and kernel_applies(covariance_type, dtype):
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


def _one_shared_covariance(covariance_type: str, covariances: np.ndarray) -> bool:
    """Whether the structure shares one covariance and the given ones are indeed equal."""
    structure = structures.get(covariance_type)
    if not (structure.shared and structure.quadratic):
        return False
    return bool(np.array_equal(covariances, np.broadcast_to(covariances[:1], covariances.shape)))


def _whitened_parameters(common: dict, shift: np.ndarray, use_kernel: bool) -> EStepParameters:
    """Parameters of the E-step in whitened coordinates z = L^-1 (x - shift) (one shared L).

    Every component is N(z | L^-1 (mu_j - shift), I) there, and
    log N(x | mu_j, Sigma) = log N(z | ., I) - log|L|: natural parameters on
    diagonal features with the Jacobian in the constant, so the E-step's
    log-likelihoods and responsibilities are those of x.
    """
    priors, means, covariances = common["priors"], common["means"], common["covariances"]
    k, d = means.shape
    chol = safe_cholesky(covariances[:1])[0]
    whitening = inverse_cholesky(chol[None])[0]
    centred = (means - shift) @ whitening.T
    diagonal = structures.Diagonal.name
    unit = np.broadcast_to(np.eye(d), (k, d, d))
    theta = natural_parameters(priors, centred, unit, np.zeros(d), diagonal)
    theta[:, -1] -= np.log(np.diagonal(chol)).sum()
    kernel = linear = linear_kernel = None
    if use_kernel and kernel_applies(diagonal, common["dtype"]):
        kernel = _compiled.padded_parameters(theta)
        if _compiled.has_linear():
            # b_j = P c_j with c_j = mu_j - shift; c_j's own term -|W c_j|^2 / 2
            # is theta's constant already (the unit-variance components' quadratic
            # part at z = 0), so only the linear block changes.
            linear = np.concatenate([centred @ whitening, theta[:, -1:]], axis=1)
            linear_kernel = _compiled.padded_parameters(linear)
    return EStepParameters(
        **{**common, "covariance_type": diagonal},
        shift=shift,
        theta=theta,
        kernel_theta=kernel,
        whitening=whitening,
        whitening_inverse=chol,
        linear_theta=linear,
        linear_kernel_theta=linear_kernel,
    )


def pooled_log_lik_term(params: EStepParameters, scatter: np.ndarray) -> float:
    """What blocks of a pooled E-step left out of the log-likelihood: -tr(P S) / 2.

    ``scatter`` is sum_i w_i (x_i - shift)(x_i - shift)^T over the rows whose
    blocks ran without ``block_scatter``; zero unless they ran on linear features.
    """
    if params.linear_theta is None:
        return 0.0
    whitening = params.whitening  # tr(P S) = tr(W S W^T)
    return -0.5 * float(np.sum((whitening @ scatter) * whitening))


def _float32_kernel_applies(covariance_type: str, dtype, n_features: int) -> bool:
    """Whether the float32 kernel computes this E-step (full features, ``dtype=float32``,
    where it pays on this CPU: every width with AVX-512, never elsewhere,
    ``compiled.float32_min_features``)."""
    return (
        dtype == np.float32
        and structures.get(covariance_type).kernel
        and uses_full_features(covariance_type)
        and _compiled.has_float32()
        and n_features >= _compiled.float32_min_features()
    )


def kernel_applies(covariance_type: str, dtype) -> bool:
    """Whether the compiled kernel computes float64 statistics of this covariance type here.

    Also for ``dtype=float32`` where no float32 kernel applies: float64
    arithmetic in the kernel is both more precise and faster than the numpy
    path's float32 products.
    """
    if dtype not in (np.float64, np.float32) or not structures.get(covariance_type).kernel:
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
    if params.whitening is not None:
        return _whitened_statistics(block, weights, params)
    stats = _kernel_statistics(block, weights, params)
    if stats is not None:
        return stats
    stats = _shared_shift_statistics(block, weights, params)
    stats.resp_entropy = _entropy_from_moments(stats, params.theta)
    return stats


def _whitened_statistics(
    block: np.ndarray, weights: np.ndarray | None, params: EStepParameters
) -> Statistics:
    """The E-step of one shared covariance, on linear features or whitened coordinates.

    With the kernel's linear features (``params.linear_theta``) the first
    moments come out about the shift directly and the log-likelihood without
    the components' common quadratic term. Otherwise z = W (x - shift) goes
    through the diagonal-feature E-step (kernel or numpy) and the first
    moments map back as sum r (x - shift) = L sum r z (if linear features
    were asked for, the common term sum w |z|^2 / 2 is then taken back out, so
    that all blocks agree). The second moments, of which a shared
    covariance's M-step needs only the sum over components, are
    sum_i w_i (x_i - shift)(x_i - shift)^T: one (d, d) product, put in the
    first component's row (or left to the caller, see ``block_scatter``).
    """
    d = block.shape[1]
    centred = None
    stats = None
    if params.linear_kernel_theta is not None:
        stats = _compiled.em_statistics(
            block,
            weights,
            params.linear_kernel_theta,
            params.theta.shape[0],
            params.shift,
            None,
            params.need_resp_sq,
        )
    if stats is not None:
        moments, resp_sq, log_lik_sum, weight_sum, change = stats
        stats = Statistics(moments, resp_sq, log_lik_sum, weight_sum, change)
        stats.resp_entropy = _entropy_from_moments(stats, params.linear_theta)
        first = moments[:, :d]
    else:
        centred = np.subtract(block, params.shift, dtype=np.float64)
        z = centred @ params.whitening.T
        inner = params._replace(
            shift=np.zeros(d),
            whitening=None,
            whitening_inverse=None,
            linear_theta=None,
            linear_kernel_theta=None,
        )
        stats = e_step(z, weights, inner)
        first = stats.first_moments(d) @ params.whitening_inverse.T
        if params.linear_theta is not None:
            squares = np.einsum("ij,ij->i", z, z)
            stats.log_lik_sum += 0.5 * float(
                squares.sum() if weights is None else weights @ squares
            )
    k = stats.moments.shape[0]
    q = d * (d + 1) // 2
    moments = np.zeros((k, q + d + 1))
    if params.block_scatter:
        if centred is None:
            centred = np.subtract(block, params.shift, dtype=np.float64)
        scatter = scatter_about(centred, weights)
        moments[0, :q] = scatter[np.triu_indices(d)]
        stats.log_lik_sum += pooled_log_lik_term(params, scatter)
    moments[:, q : q + d] = first
    moments[:, -1] = stats.resp_sum
    return stats.with_moments(moments)


def scatter_about(centred: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """sum_i w_i y_i y_i^T of centred rows y (d, d), in float64."""
    weighted = centred if weights is None else centred * weights[:, None]
    return weighted.T @ centred


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
    arguments = (
        X,
        weights,
        params.kernel_theta,
        params.theta.shape[0],
        params.shift,
        params.kernel_theta_previous,
        params.need_resp_sq,
    )
    if params.kernel_theta.dtype == np.float32:  # the float32 kernel reads rows in place
        result = None if rows is not None else _compiled.em_statistics_float32(*arguments)
    else:
        result = _compiled.em_statistics(*arguments, rows=rows, columns=columns)
    if result is None:
        return None
    stats = Statistics(*result)
    stats.resp_entropy = _entropy_from_moments(stats, params.theta)
    return stats


def _entropy_from_moments(stats: Statistics, theta: np.ndarray) -> float:
    """-sum w r ln r of a shared-shift E-step, from its moments (no extra pass):
    :func:`entropies_from_moments` of one E-step."""
    return float(
        entropies_from_moments(np.array([stats.log_lik_sum]), theta[None], stats.moments[None])[0]
    )


def entropies_from_moments(
    log_lik_sums: np.ndarray, theta: np.ndarray, moments: np.ndarray
) -> np.ndarray:
    """-sum w r ln r of p shared-shift E-steps, from their moments (no extra pass).

    The logits are linear in the features, ln r_ij = theta_j . phi_i - ln p_i,
    and sum_j r_ij = 1, so sum_i w_i sum_j r_ij ln r_ij = sum_j theta_j . M_j
    - sum_i w_i ln p_i, with M the weighted moments. A component whose log
    prior is -inf has r = 0 and contributes nothing. With one such component
    every r is 1 and the entropy is exactly 0; otherwise the difference is
    taken, clipped at 0 (an entropy is not negative; rounding can make the
    difference of the two large sums slightly so).

    Parameters
    ----------
    log_lik_sums : ndarray, shape (p,)
        Each E-step's sum_i w_i ln p_i.
    theta : ndarray, shape (p, k, n_phi)
        Each E-step's natural parameters.
    moments : ndarray, shape (p, k, n_phi)
        Each E-step's weighted moments.

    Returns
    -------
    ndarray, shape (p,)
    """
    finite = np.isfinite(theta).all(axis=2)  # (p, k)
    expected = np.einsum("pkf,pkf->p", np.where(finite[..., None], theta, 0.0), moments)
    return np.where(
        finite.sum(axis=1) <= 1, 0.0, np.maximum(0.0, np.asarray(log_lik_sums) - expected)
    )


def responsibility_entropy(
    resp: np.ndarray, log_resp: np.ndarray, weights: np.ndarray | None
) -> float:
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
    iu, ju, _ = upper_triangle(d)
    chol = safe_cholesky(params.covariances)
    prev = None
    if params.previous is not None:
        prev_priors, prev_means, prev_covs = params.previous
        prev = (prev_priors, prev_means, safe_cholesky(prev_covs))
    if _compiled.has_centred() and _compiled.wide_vectors():
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
        entropy = responsibility_entropy(resp, log_resp, w)
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
