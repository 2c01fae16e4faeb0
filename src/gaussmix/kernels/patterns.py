"""The EM kernel over many frequent missing-data patterns in one call (issue 27).

Rows of a frequent pattern (the same observed columns) go through the EM
statistics kernel reading their observed columns in place
(:func:`gaussmix.kernels.compiled.em_statistics` with ``rows`` and
``columns``). A pattern has a few hundred rows, so a call per pattern spent
most of its time in Python (the arguments, the buffers) holding the GIL:
:func:`em_statistics_patterns` takes all the patterns of a work unit (the
same number of observed columns) at once.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import compiled
from .buffers import aligned_zeros, row_stride
from .functions import declared

__all__ = ["em_statistics_patterns", "has_patterns"]

_BLOCK = 8  # GM_BLOCK: rows per block
_TILE = 4  # GM_NARROW: the EM kernel's components come in (half) tiles of four


def _padded(theta: np.ndarray, kp: int) -> np.ndarray:
    """(p, k, n_phi) parameters as the kernel reads them: (p, n_phi, kp), zero padding."""
    p, k, n_phi = theta.shape
    out = aligned_zeros((p, n_phi, kp))
    out[:, :, :k] = np.swapaxes(theta, 1, 2)
    return out


_POINTER, _INT64 = ctypes.c_void_p, ctypes.c_int64
_ARGTYPES = [_POINTER, ctypes.c_int, _INT64, _POINTER, _POINTER, _POINTER, _INT64, _INT64]
_ARGTYPES += [_POINTER, _POINTER, _POINTER, _POINTER, _INT64, _INT64, _POINTER, _POINTER]
_ARGTYPES += [_POINTER, _POINTER, ctypes.c_int]


def has_patterns() -> bool:
    """Whether the kernel of :func:`em_statistics_patterns` is built."""
    lib = compiled.library()
    return lib is not None and hasattr(lib, "gm_em_statistics_patterns")


def em_statistics_patterns(
    X: np.ndarray,
    weights: np.ndarray | None,
    theta: np.ndarray,
    shifts: np.ndarray,
    theta_prev: np.ndarray | None,
    need_resp_sq: bool,
    rows: np.ndarray,
    starts: np.ndarray,
    columns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Shared-shift statistics of p patterns' rows, their observed columns read in place.

    Parameters
    ----------
    X : ndarray, shape (n, d_all)
        float64 rows with unit column stride; the entries taken hold no NaN.
    weights : ndarray, shape (m,), optional
        One per row taken, in ``rows``' order.
    theta, theta_prev : ndarray, shape (p, k, n_phi)
        Each pattern's natural parameters about its shift
        (:func:`gaussmix._gaussian.natural_parameters` of its observed columns;
        ``theta_prev`` optional: the change of responsibilities).
    shifts : ndarray, shape (p, d)
        Each pattern's shift (the shared shift's observed entries).
    need_resp_sq : bool
    rows : ndarray of int64, shape (m,)
        The patterns' rows one after the other (valid indices, not checked).
    starts : ndarray of int64, shape (p + 1,)
        Pattern q's rows are ``rows[starts[q]:starts[q + 1]]``.
    columns : ndarray of int64, shape (p, d)
        Each pattern's observed columns (valid indices, not checked).

    Returns
    -------
    (moments (p, k, n_phi), resp_sq (p, k), totals (p, 3)) with totals the
    log-likelihood sum, the weight sum and the squared change of
    responsibilities; or None where the kernel does not apply or some rows'
    logits overflowed (the caller then takes the patterns one at a time).
    """
    stride = row_stride(X)
    function = declared("gm_em_statistics_patterns", _INT64, _ARGTYPES)
    if function is None or X.dtype != np.float64 or stride is None:
        return None
    p, k, n_phi = theta.shape
    kp = -(-k // _TILE) * _TILE
    d = columns.shape[1]
    if n_phi == d * (d + 1) // 2 + d + 1:
        diagonal = 0
    elif n_phi == 2 * d + 1 and compiled.has_diagonal():
        diagonal = 1
    else:
        return None
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    columns = np.ascontiguousarray(columns, dtype=np.int64)
    shifts = np.ascontiguousarray(shifts, dtype=np.float64)
    theta_t = _padded(theta, kp)
    theta_prev_t = None if theta_prev is None else _padded(theta_prev, kp)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    moments_t = aligned_zeros((p, n_phi, kp))
    resp_sq = np.zeros((p, k))
    totals = np.zeros((p, 3))
    work = aligned_zeros(_BLOCK * (2 * n_phi + 2 * d + 7 * kp + 2))
    lost = function(
        X.ctypes.data,
        0,
        p,
        starts.ctypes.data,
        rows.ctypes.data,
        columns.ctypes.data,
        d,
        stride,
        shifts.ctypes.data,
        theta_t.ctypes.data,
        compiled.address(theta_prev_t),
        compiled.address(weights),
        k,
        kp,
        moments_t.ctypes.data,
        resp_sq.ctypes.data if need_resp_sq else None,
        totals.ctypes.data,
        work.ctypes.data,
        diagonal,
    )
    if lost != 0:
        return None
    return np.swapaxes(moments_t[:, :, :k], 1, 2).copy(), resp_sq, totals
