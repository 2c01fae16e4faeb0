"""Access to the optional compiled kernels (``_fused.c``).

The EM kernel computes the same per-chunk statistics as
:func:`gaussmix.em.estep.chunk_statistics` for full quadratic features (covariance
types "full" and "tied") and for diagonal ones ([y * y, y, 1]: "diag" and
"spherical"), but a few rows at a time with every intermediate in
cache, which makes a float64 EM iteration 2-3 times as fast
(``benchmarks/bench_kernels.py``). It is built when
gaussmix is installed from source with a C compiler available; without it, or
with the environment variable ``GAUSSMIX_DISABLE_COMPILED=1`` set before
gaussmix is imported, everything runs on the numpy path. Both paths give the
same results up to rounding (tested).

Two more compute the predictive means (and covariances, return_covariance=True)
of :func:`gaussmix._gaussian.predict_conditional` eight query rows at a time,
the rows in the vector lanes: the posterior weights as in the EM kernel, then
each row's mixture mean and law of total covariance, instead of through
(n, k, d_out) temporaries.

The shared library is loaded with :mod:`ctypes`, which releases the GIL during
the call, so the row blocks of :mod:`gaussmix.kernels.threads` run on all cores.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

import numpy as np

from .buffers import aligned_zeros, readable_rows
from .buffers import row_stride as _row_stride

# Components per register tile in the kernel (GM_TILE), rows per block
# (GM_BLOCK): the parameters are padded to a multiple of the tile.
_TILE = 8
_BLOCK = 8
_MISSING_BLOCK = 64  # GM_MISSING_BLOCK


def _load():
    if os.environ.get("GAUSSMIX_DISABLE_COMPILED", "") not in ("", "0"):
        return None
    try:
        from . import _fused
    except ImportError:
        return None
    try:
        lib = ctypes.CDLL(_fused.__file__)
        statistics = lib.gm_em_statistics
        exp_array = lib.gm_exp_array
    except (OSError, AttributeError):
        return None
    pointer, int64 = ctypes.c_void_p, ctypes.c_int64
    statistics.restype = int64
    statistics.argtypes = [pointer, ctypes.c_int, int64, int64, int64, pointer, pointer]
    statistics.argtypes += [pointer, pointer]
    statistics.argtypes += [int64, int64, pointer, pointer, pointer, pointer]
    exp_array.restype = None
    exp_array.argtypes = [pointer, int64, pointer]
    log_array = getattr(lib, "gm_log_array", None)
    if log_array is not None:
        log_array.restype = None
        log_array.argtypes = [pointer, int64, pointer]
    moments = lib.gm_predict_moments
    moments.restype = int64
    moments.argtypes = [pointer, ctypes.c_int, int64, int64, int64, pointer, pointer, int64]
    moments.argtypes += [int64, pointer, pointer, int64, pointer, pointer, pointer]
    spd = getattr(lib, "gm_spd_inverse", None)
    if spd is not None:
        spd.restype = None
        spd.argtypes = [pointer, int64, int64, pointer, pointer, pointer]
    centred = getattr(lib, "gm_centred_statistics", None)
    if centred is not None:
        centred.restype = int64
        centred.argtypes = [pointer, ctypes.c_int, int64, int64, int64, pointer, pointer]
        centred.argtypes += [pointer, pointer, pointer, pointer, pointer, int64, ctypes.c_int]
        centred.argtypes += [pointer, pointer, pointer, pointer]
    gather = getattr(lib, "gm_em_statistics_gather", None)
    if gather is not None:
        gather.restype = int64
        gather.argtypes = [*statistics.argtypes, ctypes.c_int, pointer, pointer]
    means = getattr(lib, "gm_predict_means", None)
    if means is not None:
        means.restype = int64
        means.argtypes = [pointer, ctypes.c_int, int64, int64, int64, pointer, pointer, int64]
        means.argtypes += [int64, pointer, int64, pointer, pointer]
    # Diagonal features (diag, spherical) and rows with missing entries;
    # absent from builds before issue 14.
    diagonal = getattr(lib, "gm_em_statistics_diagonal", None)
    if diagonal is not None:
        diagonal.restype = int64
        diagonal.argtypes = statistics.argtypes
    single = getattr(lib, "gm_em_statistics_f32", None)
    if single is not None:
        single.restype = int64
        single.argtypes = [pointer, ctypes.c_int, int64, int64, int64, pointer, pointer]
        single.argtypes += [pointer, pointer, int64, int64, pointer, pointer, pointer]
        single.argtypes += [pointer, pointer]
    wide = getattr(lib, "gm_wide_vectors", None)
    if wide is not None:
        wide.restype = ctypes.c_int
        wide.argtypes = []
    expf = getattr(lib, "gm_expf_array", None)
    if expf is not None:
        expf.restype = None
        expf.argtypes = [pointer, int64, pointer]
    linear = getattr(lib, "gm_em_statistics_linear", None)
    if linear is not None:
        linear.restype = int64
        linear.argtypes = statistics.argtypes
    missing = getattr(lib, "gm_missing_statistics", None)
    if missing is not None:
        missing.restype = int64
        missing.argtypes = [pointer, int64, int64, int64, pointer, int64, pointer, pointer]
        missing.argtypes += [pointer, pointer, pointer, pointer, pointer, pointer, int64]
        missing.argtypes += [ctypes.c_int, pointer, pointer, pointer, pointer]
    # Extreme deconvolution's E-step (issue 23).
    deconvolution = getattr(lib, "gm_xd_statistics", None)
    if deconvolution is not None:
        deconvolution.restype = int64
        deconvolution.argtypes = [pointer, int64, int64, int64, pointer, ctypes.c_int]
        deconvolution.argtypes += [pointer, pointer, pointer, pointer, pointer, pointer]
        deconvolution.argtypes += [pointer, int64, pointer, pointer, pointer, pointer]
    return lib


_lib = _load()
enabled = _lib is not None


def library():
    """The loaded kernel library (a :class:`ctypes.CDLL`), or None where it is not in use.

    For the modules that wrap further kernels of the same library
    (:mod:`gaussmix.kernels.clustering`).
    """
    return _lib if enabled else None


def available() -> bool:
    """Whether the compiled kernels are built, loaded and enabled."""
    return enabled and _lib is not None


def has_diagonal() -> bool:
    """Whether the kernel also takes diagonal features (covariance types diag, spherical)."""
    return available() and hasattr(_lib, "gm_em_statistics_diagonal")


def has_linear() -> bool:
    """Whether the kernel also takes linear features [y, 1] (one shared covariance)."""
    return available() and hasattr(_lib, "gm_em_statistics_linear")


def has_predict_means() -> bool:
    """Whether the kernel for GMR means alone (:func:`predict_means`) is built and pays here
    (where AVX-512 runs: built for AVX2 it took 4.5x numpy's time, 100k x 8 queries, k = 16)."""
    return available() and hasattr(_lib, "gm_predict_means") and wide_vectors()


def has_deconvolution() -> bool:
    """Whether the kernel of extreme deconvolution (:func:`deconvolution_statistics`) is built."""
    return available() and hasattr(_lib, "gm_xd_statistics")


def has_missing() -> bool:
    """Whether the kernel for rows with missing entries is built (:func:`missing_statistics`)."""
    return available() and hasattr(_lib, "gm_missing_statistics")


def missing_kernel_pays() -> bool:
    """Whether :func:`missing_statistics` beats the numpy path here: where AVX-512 runs (built
    for AVX2 it took 1.9x numpy's time at 10 % missing, (200k, 16, 16), one thread)."""
    return has_missing() and wide_vectors()


def missing_statistics(
    X: np.ndarray,
    missing: np.ndarray,
    pattern: np.ndarray,
    inverses: np.ndarray,
    log_dets: np.ndarray,
    shift: np.ndarray,
    precisions: np.ndarray,
    prec_centred: np.ndarray,
    consts: np.ndarray,
    weights: np.ndarray | None,
    diagonal: bool,
    need_resp_sq: bool,
):
    """Statistics of rows that each miss c entries, or None when the kernel cannot take them.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        float64 rows (NaN where missing; those entries are not read).
    missing : ndarray of int, shape (n, c)
        Each row's missing columns.
    pattern : ndarray of int, shape (n,)
        Each row's index into ``inverses`` and ``log_dets``.
    inverses, log_dets : ndarray, shape (q, k, c, c) and (q, k)
        P_mm^-1 and log|P_mm| of the patterns.
    shift : (d,), precisions : (k, d, d), prec_centred : (k, d), consts : (k,)
        See ``gm_missing_statistics`` in ``_fused.c``.
    weights : ndarray, shape (n,), optional
    diagonal : bool
        Diagonal moments (diag, spherical) instead of vech.
    need_resp_sq : bool

    Returns
    -------
    (moments (k, n_phi), resp_sq (k,), log_lik_sum, weight_sum, resp_entropy), or None:
    no kernel, or rows whose logits were not finite (the caller's numpy path handles them).
    """
    if not has_missing():
        return None
    n, d = X.shape
    k = precisions.shape[0]
    c = missing.shape[1]
    X = np.ascontiguousarray(X, dtype=np.float64)
    missing = np.ascontiguousarray(missing, dtype=np.int64)
    pattern = np.ascontiguousarray(pattern, dtype=np.int64)
    inverses = np.ascontiguousarray(inverses, dtype=np.float64)
    log_dets = np.ascontiguousarray(log_dets, dtype=np.float64)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    n_phi = (d if diagonal else d * (d + 1) // 2) + d + 1
    moments = np.zeros((k, n_phi))
    resp_sq = np.zeros(k)
    totals = np.zeros(3)
    width = max(c, 1)
    rows = _MISSING_BLOCK
    padded = -(-d // _TILE) * _TILE
    lanes, pairs = -(-k // _TILE) * _TILE, d * (d + 1) // 2  # the logits' layouts
    work = aligned_zeros(
        rows * d
        + d
        + rows * k * width
        + rows * k
        + rows
        + 2 * rows * padded
        + k * d * padded
        + k
        + (pairs + d * d + d + 2 + width * width) * lanes
        + pairs
        + (width + 1) * _TILE
    )
    prec_padded = np.zeros((k, d, padded))
    prec_padded[:, :, :d] = precisions
    lost = _lib.gm_missing_statistics(
        X.ctypes.data,
        n,
        d,
        d,
        missing.ctypes.data,
        c,
        pattern.ctypes.data,
        inverses.ctypes.data,
        log_dets.ctypes.data,
        np.ascontiguousarray(shift, dtype=np.float64).ctypes.data,
        prec_padded.ctypes.data,
        np.ascontiguousarray(prec_centred, dtype=np.float64).ctypes.data,
        np.ascontiguousarray(consts, dtype=np.float64).ctypes.data,
        address(weights),
        k,
        int(diagonal),
        moments.ctypes.data,
        resp_sq.ctypes.data if need_resp_sq else None,
        totals.ctypes.data,
        work.ctypes.data,
    )
    if lost != 0:
        return None
    return moments, resp_sq, float(totals[0]), float(totals[1]), float(totals[2])


def padded_parameters(theta: np.ndarray, tile: int = _TILE // 2) -> np.ndarray:
    """theta (k, n_phi) as the kernels want it: (n_phi, kp), kp a multiple of ``tile``.

    The EM statistics kernels (:func:`em_statistics`) take a multiple of 4 (a
    last half tile of components: k = 1..4 computes four, not eight); the
    prediction kernels (:func:`predict_moments`, :func:`predict_means`) need
    ``tile=8``.
    """
    k, n_phi = theta.shape
    padded = aligned_zeros((n_phi, -(-k // tile) * tile))
    padded[:, :k] = theta.T
    return padded


def address(array: np.ndarray | None):
    """The data pointer of ``array`` for a ctypes call, or None (a C NULL)."""
    return None if array is None else array.ctypes.data


def has_gather() -> bool:
    """Whether the EM kernel takes a subset of rows and columns (:func:`em_statistics`)."""
    return available() and hasattr(_lib, "gm_em_statistics_gather")


def em_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    theta_t: np.ndarray,
    k: int,
    shift: np.ndarray,
    theta_prev_t: np.ndarray | None,
    need_resp_sq: bool,
    rows: np.ndarray | None = None,
    columns: np.ndarray | None = None,
):
    """Statistics of the rows of X, or None when the kernel cannot take them.

    Parameters
    ----------
    X : ndarray, shape (n, d_all)
        float64 or float32 rows with unit column stride (computed in float64).
    weights : ndarray, shape (m,), optional
        One per row taken (``rows``' order when given).
    theta_t, theta_prev_t : ndarray, shape (n_phi, kp)
        From :func:`padded_parameters`.
    k : int
        Number of components (the unpadded width).
    shift : ndarray, shape (d,)
    need_resp_sq : bool
    rows : ndarray of int64, shape (m,), optional
        Take only these rows of X (valid indices, not checked), read in place.
    columns : ndarray of int64, shape (d,), optional
        With ``rows``: take only these columns (valid indices, not checked).

    Returns
    -------
    (moments (k, n_phi), resp_sq (k,), log_lik_sum, weight_sum, resp_change_sq),
    or None: no kernel, unsuitable layout, or logits that overflowed (the
    caller then uses the numpy path, which handles those rows).
    """
    if not available():
        return None
    m, d = X.shape
    n_phi, kp = theta_t.shape
    row_stride = _row_stride(X)
    if row_stride is None:
        return None
    if rows is not None:
        if not has_gather():
            return None
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        m = rows.size
        if columns is not None:
            columns = np.ascontiguousarray(columns, dtype=np.int64)
            d = columns.size
    if n_phi == d * (d + 1) // 2 + d + 1:
        diagonal = False
        function = _lib.gm_em_statistics
    elif n_phi == 2 * d + 1 and has_diagonal():
        diagonal = True
        function = _lib.gm_em_statistics_diagonal
    elif n_phi == d + 1 and rows is None and has_linear():
        diagonal = True
        function = _lib.gm_em_statistics_linear
    else:
        return None
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    out = _StatisticsOutput(n_phi, kp, k)
    work = aligned_zeros(_BLOCK * (2 * n_phi + 2 * d + 7 * kp + 2))  # two blocks' buffers
    args = [
        *_rows_arguments(X, m, d, row_stride, shift, theta_t, theta_prev_t, weights, k, kp),
        *out.arguments(need_resp_sq),
        work.ctypes.data,
    ]
    if rows is None:
        lost = function(*args)
    else:
        lost = _lib.gm_em_statistics_gather(
            *args, int(diagonal), rows.ctypes.data, address(columns)
        )
    return None if lost != 0 else out.result()


def _rows_arguments(X, m, d, row_stride, shift, theta_t, theta_prev_t, weights, k, kp) -> list:
    """The leading arguments of the EM statistics kernels (rows, shift, parameters, sizes)."""
    return [
        X.ctypes.data,
        int(X.dtype == np.float32),
        m,
        d,
        row_stride,
        shift.ctypes.data,
        theta_t.ctypes.data,
        address(theta_prev_t),
        address(weights),
        k,
        kp,
    ]


class _StatisticsOutput:
    """The output arrays of the EM statistics kernels and the tuple they give back."""

    def __init__(self, n_phi: int, kp: int, k: int) -> None:
        self.moments_t = aligned_zeros((n_phi, kp))
        self.resp_sq = np.zeros(k)
        self.totals = np.zeros(3)
        self.k = k

    def arguments(self, need_resp_sq: bool) -> list:
        resp_sq = self.resp_sq.ctypes.data if need_resp_sq else None
        return [self.moments_t.ctypes.data, resp_sq, self.totals.ctypes.data]

    def result(self) -> tuple:
        """(moments (k, n_phi), resp_sq (k,), log_lik_sum, weight_sum, resp_change_sq)."""
        totals = self.totals
        moments = self.moments_t[:, : self.k].T.copy()
        return moments, self.resp_sq, float(totals[0]), float(totals[1]), float(totals[2])


def exp_nonpositive(x: np.ndarray) -> np.ndarray:
    """The kernel's exponential of values <= 0 (clipped at -700); for tests."""
    if not available():
        raise RuntimeError("the compiled kernel is not available")
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _lib.gm_exp_array(x.ctypes.data, x.size, out.ctypes.data)
    return out


def log_positive(x: np.ndarray) -> np.ndarray:
    """The kernel's logarithm of positive normal values (the softmax's sums); for tests."""
    if not available() or not hasattr(_lib, "gm_log_array"):
        raise RuntimeError("the compiled kernel is not available")
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _lib.gm_log_array(x.ctypes.data, x.size, out.ctypes.data)
    return out


def regression_parameters(coef_rows: np.ndarray, cond_cov: np.ndarray):
    """Coefficients and conditional covariances as the covariance kernel takes them.

    Parameters
    ----------
    coef_rows : ndarray, shape (d_in + 1, k * d_out)
        Regression coefficients of all components (columns ordered component
        by component), offsets in the last row.
    cond_cov : ndarray, shape (k, d_out, d_out)

    Returns
    -------
    (coef_t (k * d_out, d_in + 1), cond_cov (k, d_out, d_out) symmetrized), or
    None when the kernel is not available or does not pay (where AVX-512 does not run:
    built for AVX2 it took 1.6x numpy's time).
    """
    if not available() or not wide_vectors():
        return None
    coef_t = np.ascontiguousarray(coef_rows.T, dtype=np.float64)
    symmetric = np.ascontiguousarray(0.5 * (cond_cov + np.swapaxes(cond_cov, -1, -2)))
    return coef_t, symmetric


def _query_layout(
    X: np.ndarray, theta_t: np.ndarray, k: int, coef_t: np.ndarray, out_mean: np.ndarray
) -> tuple | None:
    """(row_stride, d_in, d_out, n_phi, kp) when the predict kernels can take these
    arrays (query rows, natural parameters, coefficients, mean output), else None."""
    m, d_in = X.shape
    n_phi, kp = theta_t.shape
    d_out = out_mean.shape[1] if out_mean.ndim == 2 else -1
    row_stride = _row_stride(X)
    if (
        row_stride is None
        or d_out < 1
        or n_phi != d_in * (d_in + 1) // 2 + d_in + 1
        or coef_t.shape != (k * d_out, d_in + 1)
        or out_mean.shape != (m, d_out)
        or any(a.dtype != np.float64 or not a.flags.c_contiguous for a in (coef_t, out_mean))
    ):
        return None
    return row_stride, d_in, d_out, n_phi, kp


def predict_moments(
    X: np.ndarray,
    shift: np.ndarray,
    theta_t: np.ndarray,
    k: int,
    regression: tuple,
    out_mean: np.ndarray,
    out_cov: np.ndarray,
) -> bool:
    """Means and covariances of p(y | x) for the rows of X; False if not done.

    Parameters
    ----------
    X : ndarray, shape (m, d_in)
        Query inputs, float64 or float32 rows with unit column stride.
    shift : ndarray, shape (d_in,)
        Point the input features and the coefficients are taken about.
    theta_t : ndarray, shape (n_phi, kp)
        Natural parameters of the inputs' marginal mixture, from
        :func:`padded_parameters`.
    k : int
    regression : tuple
        From :func:`regression_parameters`.
    out_mean : ndarray, shape (m, d_out)
    out_cov : ndarray, shape (m, d_out, d_out)
        C-contiguous float64 outputs.

    Returns
    -------
    bool
        False when the kernel is unavailable, a layout does not suit it, or
        some row's input features overflowed (the caller's numpy path then
        handles the rows; the outputs may have been partly written).
    """
    if not available():
        return False
    coef_t, cond_cov = regression
    X = readable_rows(X)
    layout = _query_layout(X, theta_t, k, coef_t, out_mean)
    if (
        layout is None
        or cond_cov.shape != (k, layout[2], layout[2])
        or out_cov.shape != (X.shape[0], layout[2], layout[2])
        or any(a.dtype != np.float64 or not a.flags.c_contiguous for a in (cond_cov, out_cov))
    ):
        return False
    row_stride, d_in, d_out, n_phi, kp = layout
    m = X.shape[0]
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    work = aligned_zeros(_BLOCK * (n_phi + d_in + kp + 1 + k * d_out + 2 * d_out + 1))
    lost = _lib.gm_predict_moments(
        X.ctypes.data,
        int(X.dtype == np.float32),
        m,
        d_in,
        row_stride,
        shift.ctypes.data,
        theta_t.ctypes.data,
        k,
        kp,
        coef_t.ctypes.data,
        cond_cov.ctypes.data,
        d_out,
        out_mean.ctypes.data,
        out_cov.ctypes.data,
        work.ctypes.data,
    )
    return lost == 0


def predict_means(
    X: np.ndarray,
    shift: np.ndarray,
    theta_t: np.ndarray,
    k: int,
    coef_t: np.ndarray,
    out_mean: np.ndarray,
) -> bool:
    """Means of p(y | x) for the rows of X; False if not done.

    Parameters
    ----------
    X : ndarray, shape (m, d_in)
        Query inputs, float64 or float32 rows with unit column stride.
    shift : ndarray, shape (d_in,)
        Point the input features and the coefficients are taken about.
    theta_t : ndarray, shape (n_phi, kp)
        Natural parameters of the inputs' marginal mixture, from
        :func:`padded_parameters`.
    k : int
    coef_t : ndarray, shape (k * d_out, d_in + 1)
        Row ``j * d_out + a``: the coefficients of output a of component j on
        the shifted inputs, then its offset.
    out_mean : ndarray, shape (m, d_out)
        C-contiguous float64 output.

    Returns
    -------
    bool
        False when the kernel is unavailable, a layout does not suit it, or
        some row's input features overflowed (the caller's numpy path then
        handles the rows; the output may have been partly written).
    """
    if not has_predict_means():
        return False
    X = readable_rows(X)
    layout = _query_layout(X, theta_t, k, coef_t, out_mean)
    if layout is None:
        return False
    row_stride, d_in, d_out, n_phi, kp = layout
    m = X.shape[0]
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    work = aligned_zeros(_BLOCK * (n_phi + d_in + kp + 1))
    lost = _lib.gm_predict_means(
        X.ctypes.data,
        int(X.dtype == np.float32),
        m,
        d_in,
        row_stride,
        shift.ctypes.data,
        theta_t.ctypes.data,
        k,
        kp,
        coef_t.ctypes.data,
        d_out,
        out_mean.ctypes.data,
        work.ctypes.data,
    )
    return lost == 0


def has_centred() -> bool:
    """Whether the kernel for statistics about each component's mean is built."""
    return available() and hasattr(_lib, "gm_centred_statistics")


def centred_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    means: np.ndarray,
    factors: np.ndarray,
    consts: np.ndarray,
    previous: tuple | None,
    diagonal: bool,
    need_resp_sq: bool,
):
    """Statistics of the rows of X about each component's mean, or None if not done.

    Parameters
    ----------
    X : ndarray, shape (m, d)
        float64 or float32 rows with unit column stride.
    weights : ndarray, shape (m,), optional
    means : ndarray, shape (k, d)
    factors : ndarray, shape (k, d, d) or (k, d)
        W_j = L_j^-1 (lower triangular, Sigma_j = L_j L_j^T) or, when
        ``diagonal``, the precisions 1 / sigma_ji^2.
    consts : ndarray, shape (k,)
        log pi_j - d/2 log(2 pi) - log|L_j| (-inf for a zero prior).
    previous : (means, factors, consts) or None
        The previous parameters, for the change of the responsibilities.
    diagonal : bool
        Diagonal features (diag, spherical) instead of vech.
    need_resp_sq : bool

    Returns
    -------
    (moments (k, n_phi), resp_sq (k,), log_lik_sum, weight_sum, resp_change_sq,
    resp_entropy), or None: no kernel, unsuitable layout, or rows whose
    logits were not usable (the caller's numpy path handles them).
    """
    if not has_centred():
        return None
    m, d = X.shape
    k = means.shape[0]
    row_stride = _row_stride(X)
    if row_stride is None:
        return None
    n_phi = (d if diagonal else d * (d + 1) // 2) + d + 1

    def prepared(array):
        return np.ascontiguousarray(array, dtype=np.float64)

    arrays = [prepared(means), prepared(factors), prepared(consts)]
    prev = [None, None, None] if previous is None else [prepared(a) for a in previous]
    if weights is not None:
        weights = prepared(weights)
    moments = np.zeros((k, n_phi))
    resp_sq = np.zeros(k)
    totals = np.zeros(4)
    sub = 8  # GM_CENTRED_SUB
    work = aligned_zeros(_BLOCK * (sub * (3 * d + k) + d + 3 * k + 4) + _BLOCK * k * n_phi)
    lost = _lib.gm_centred_statistics(
        X.ctypes.data,
        int(X.dtype == np.float32),
        m,
        d,
        row_stride,
        *(a.ctypes.data for a in arrays),
        *(None if a is None else a.ctypes.data for a in prev),
        address(weights),
        k,
        int(diagonal),
        moments.ctypes.data,
        resp_sq.ctypes.data if need_resp_sq else None,
        totals.ctypes.data,
        work.ctypes.data,
    )
    if lost != 0:
        return None
    return moments, resp_sq, float(totals[0]), float(totals[1]), float(totals[2]), float(totals[3])


def spd_inverse(A: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Inverses and log-determinants of a stack (..., c, c) of small SPD matrices, or None.

    The kernel's version of :func:`gaussmix._missing.spd_inverse` (same
    pivot floor); None when the kernel is not built.
    """
    if not available() or not hasattr(_lib, "gm_spd_inverse"):
        return None
    shape = A.shape
    c = shape[-1]
    stack = np.ascontiguousarray(A, dtype=np.float64).reshape(-1, c, c)
    inverse = np.empty_like(stack)
    log_det = np.empty(stack.shape[0])
    work = np.empty(2 * c * c + 1)
    _lib.gm_spd_inverse(
        stack.ctypes.data,
        stack.shape[0],
        c,
        inverse.ctypes.data,
        log_det.ctypes.data,
        work.ctypes.data,
    )
    return inverse.reshape(shape), log_det.reshape(shape[:-2])


def deconvolution_statistics(
    X: np.ndarray,
    noise: np.ndarray,
    form: int,
    means: np.ndarray,
    covariances: np.ndarray,
    log_priors: np.ndarray,
    previous: tuple | None,
    weights: np.ndarray | None,
    need_resp_sq: bool,
):
    """Extreme deconvolution's E-step sums of the rows of X, or None if not done.

    For each component j, with T_ij = V_j + S_i and u_ij = T_ij^-1 (x_i - mu_j),
    the sums M_j = sum_i w_i r_ij (T_ij^-1 - u_ij u_ij^T), U_j = sum_i w_i r_ij
    u_ij and N_j = sum_i w_i r_ij (see ``gm_xd_statistics`` in ``_fused.c``).

    Parameters
    ----------
    X : ndarray, shape (m, d)
        float64 rows with unit column stride.
    noise : ndarray
        The rows' noise: (m, d, d) matrices (``form`` 0) or (m, d) variances
        (``form`` 1, or 2 with diagonal components).
    form : int
        0, 1 or 2 as above.
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
        V_j (only their diagonals are read for ``form`` 2).
    log_priors : ndarray, shape (k,)
        log pi_j (-inf for a zero prior).
    previous : (means, covariances, log_priors) or None
        The previous parameters, for the change of the responsibilities.
    weights : ndarray, shape (m,), optional
    need_resp_sq : bool

    Returns
    -------
    (M (k, p) with p = d (d + 1) / 2 in numpy.triu_indices order, or p = d
    diagonals for ``form`` 2; U (k, d); N (k,); resp_sq (k,); totals
    [sum w log p, sum w, sum (r - r')^2, -sum w r ln r]), or None: no kernel,
    unsuitable layout, rows the kernel cannot take (logits not usable,
    pivots that are not normal numbers) or some V_j + S_i that is not
    positive definite; the caller's numpy path then handles the rows (and
    raises its error for the last).
    """
    if not has_deconvolution() or form not in (0, 1, 2):
        return None
    m, d = X.shape
    k = means.shape[0]
    row_stride = _row_stride(X)
    if row_stride is None or X.dtype != np.float64:
        return None
    q = d * (d + 1) // 2
    p = d if form == 2 else q

    def packed(covs):
        covs = np.asarray(covs, dtype=np.float64)
        if form == 2:
            return np.ascontiguousarray(np.diagonal(covs, axis1=1, axis2=2))
        rows, cols = np.tril_indices(d)
        return np.ascontiguousarray(covs[:, rows, cols])

    def prepared(array):
        return np.ascontiguousarray(array, dtype=np.float64)

    noise = prepared(noise)
    if noise.shape != ((m, d, d) if form == 0 else (m, d)):
        return None
    current = [prepared(means), packed(covariances), prepared(log_priors)]
    prev = [None, None, None]
    if previous is not None:
        prev = [prepared(previous[0]), packed(previous[1]), prepared(previous[2])]
    if weights is not None:
        weights = prepared(weights)
    moments = np.zeros((k, p + d + 1))
    resp_sq = np.zeros(k)
    totals = np.zeros(4)
    # GM_XD_GROUP (4) blocks' values and weights are kept before they are summed
    ring = 3 * k * (p + d + 1)
    work = aligned_zeros(_BLOCK * (3 * q + 4 * d + k * (2 * p + 2 * d + 6) + ring + 4) + 8)
    lost = _lib.gm_xd_statistics(
        X.ctypes.data,
        m,
        d,
        row_stride,
        noise.ctypes.data,
        form,
        *(a.ctypes.data for a in current),
        *(address(a) for a in prev),
        address(weights),
        k,
        moments.ctypes.data,
        resp_sq.ctypes.data if need_resp_sq else None,
        totals.ctypes.data,
        work.ctypes.data,
    )
    if lost != 0:
        return None
    return moments[:, :p], moments[:, p : p + d], moments[:, -1], resp_sq, totals


_TILE32 = 16  # GM_TILE32
_BLOCK32 = 16  # GM_BLOCK32


def has_float32() -> bool:
    """Whether the float32 EM kernel for full features (:func:`em_statistics_float32`) is built."""
    return available() and hasattr(_lib, "gm_em_statistics_f32")


@functools.cache
def wide_vectors() -> bool:
    """Whether the kernels' AVX-512 clone runs here. Built for AVX2, the float32, missing-data,
    GMR predict and precise-path kernels took 1.6-4.5x numpy's time (issue 27): not used."""
    wide = getattr(_lib, "gm_wide_vectors", None) if available() else None
    return wide is not None and bool(wide())


def float32_min_features() -> int:
    """Features from which the float32 kernel is faster than the float64 one here.

    1 where the kernels' AVX-512 clone runs (kernel alone, one thread, 100k rows,
    k = 16: float64/float32 1.34x at d = 1-4, 1.9x at d = 8, 2.0x at d = 16 and 32);
    never elsewhere (AVX2 build, one thread, 200k rows, k = 16: the float64 kernel's
    narrow form is 1.8-2.0x faster than the float32 kernel at d = 4 to 32).
    """
    return 1 if wide_vectors() else sys.maxsize


def padded_parameters_float32(theta: np.ndarray) -> np.ndarray:
    """theta (k, n_phi) as the float32 kernel reads it: (n_phi, kp) float32, kp = 16 m."""
    k, n_phi = theta.shape
    kp = -(-k // _TILE32) * _TILE32
    out = aligned_zeros((n_phi, kp), dtype=np.float32)
    out[:, :k] = theta.T
    return out


def em_statistics_float32(
    X: np.ndarray,
    weights: np.ndarray | None,
    theta_t: np.ndarray,
    k: int,
    shift: np.ndarray,
    theta_prev_t: np.ndarray | None,
    need_resp_sq: bool,
):
    """Full-feature statistics of the rows of X computed in float32 (sums in float64).

    As :func:`em_statistics` (same return value, or None) for parameters from
    :func:`padded_parameters_float32`.
    """
    if not has_float32():
        return None
    m, d = X.shape
    n_phi, kp = theta_t.shape
    row_stride = _row_stride(X)
    if row_stride is None or n_phi != d * (d + 1) // 2 + d + 1:
        return None
    shift = np.ascontiguousarray(shift, dtype=np.float64)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    out = _StatisticsOutput(n_phi, kp, k)
    work32 = aligned_zeros(_BLOCK32 * (n_phi + d + 2 * kp) + n_phi * kp, dtype=np.float32)
    work64 = aligned_zeros(_BLOCK32 * (2 * kp + 2))
    lost = _lib.gm_em_statistics_f32(
        *_rows_arguments(X, m, d, row_stride, shift, theta_t, theta_prev_t, weights, k, kp),
        *out.arguments(need_resp_sq),
        work32.ctypes.data,
        work64.ctypes.data,
    )
    return None if lost != 0 else out.result()
