"""Responsibilities of many small EM runs over the same rows in one kernel call.

:func:`gaussmix.em.dense.run_batch` runs a candidate's starts side by side on
a few thousand rows (a model search's screened rows, small data sets). Its
numpy E-step made about twenty calls per iteration on (n, runs, k) arrays,
most of an iteration's time at that size, all of it holding the GIL;
:func:`dense_responsibilities` does the distances, the runs' softmaxes and
their log-likelihoods in one call of the compiled library (which releases
the GIL).
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import compiled
from .buffers import aligned_zeros
from .functions import declared

__all__ = ["dense_responsibilities", "has_dense_responsibilities"]

_BLOCK = 8  # GM_BLOCK: rows per block


_POINTER, _INT64 = ctypes.c_void_p, ctypes.c_int64
_ARGTYPES = [_POINTER, _INT64, _INT64, _POINTER, _POINTER, _POINTER, _INT64, _INT64]
_ARGTYPES += [_POINTER, _POINTER, _POINTER, _POINTER, _POINTER]


def has_dense_responsibilities() -> bool:
    """Whether the kernel of :func:`dense_responsibilities` is built, enabled and pays here:
    where AVX-512 runs (built for AVX2 it took 4.5x the time, 2,000 x 8 rows, 15
    components, about numpy's path)."""
    lib = compiled.library()
    return (
        lib is not None and hasattr(lib, "gm_dense_responsibilities") and compiled.wide_vectors()
    )


def dense_responsibilities(
    columns: np.ndarray,
    inverse: np.ndarray,
    offsets: np.ndarray,
    constants: np.ndarray,
    weights: np.ndarray | None,
    responsibilities: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray] | None:
    """Weighted responsibilities and log-likelihoods of B runs of k components.

    Component j of run b has log pi_bj + log N(y | c_bj, L_bj L_bj^T) =
    ``constants[b, j]`` - |L_bj^-1 (y - c_bj)|^2 / 2.

    Parameters
    ----------
    columns : ndarray, shape (d, n)
        The rows' columns: the transpose of the (n, d) rows, C-contiguous float64
        (rows and means less the same shift).
    inverse : ndarray, shape (B, k, d, d)
        The inverse Cholesky factors L^-1 (lower triangular; only the lower
        triangle is read).
    offsets : ndarray, shape (B, k, d)
        The means c, less the rows' shift.
    constants : ndarray, shape (B, k)
        log pi - sum log diag(L) - d log(2 pi) / 2.
    weights : ndarray, shape (n,), optional
    responsibilities : bool, default=True
        False: the log-likelihoods alone (resp is None).

    Returns
    -------
    (resp (B, k, n), log_lik (B,), lost (B,)) or None where the kernel is not
    built (callers choose it by :func:`has_dense_responsibilities`): resp holds
    w_i r_ij, log_lik sum_i w_i log p_b(y_i), lost the rows of each run whose
    logits were not finite (that run's numbers are then meaningless).
    """
    function = declared("gm_dense_responsibilities", _INT64, _ARGTYPES)
    if function is None:
        return None
    # Each array the kernel reads is bound to a name until the call returns (a
    # copy made in the call's arguments would be freed before the kernel reads it).
    columns = np.ascontiguousarray(columns, dtype=np.float64)
    d, n = columns.shape
    B, k = constants.shape
    inverse = np.ascontiguousarray(inverse, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.float64)
    constants = np.ascontiguousarray(constants, dtype=np.float64)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    if (
        inverse.shape != (B, k, d, d)
        or offsets.shape != (B, k, d)
        or (weights is not None and weights.shape != (n,))
    ):
        raise ValueError(
            f"dense_responsibilities: columns {columns.shape}, constants {constants.shape} need"
            f" inverse {(B, k, d, d)}, offsets {(B, k, d)} and weights {(n,)}; got"
            f" {inverse.shape}, {offsets.shape} and"
            f" {None if weights is None else weights.shape}"
        )
    resp = np.empty((B, k, n)) if responsibilities else None
    log_lik = np.zeros(B)
    lost = np.zeros(B, dtype=np.int64)
    work = aligned_zeros(_BLOCK * (B * k + 2 * d + B))
    status = function(
        columns.ctypes.data,
        n,
        d,
        inverse.ctypes.data,
        offsets.ctypes.data,
        constants.ctypes.data,
        B,
        k,
        compiled.address(weights),
        compiled.address(resp),
        log_lik.ctypes.data,
        lost.ctypes.data,
        work.ctypes.data,
    )
    if status != 0:
        raise ValueError(f"the dense responsibilities kernel refused its sizes ({status})")
    return resp, log_lik, lost
