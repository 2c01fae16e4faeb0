"""Batched linear algebra for stacks of covariance matrices.

Everything here works on arrays of shape (..., d, d) at once, so that all k
components of a mixture are handled by one LAPACK/BLAS call each.

Regularization rule
-------------------
A covariance that is not numerically positive definite (a collapsed
component, a constant feature, duplicated rows, a user-supplied singular
matrix) cannot be factorized. Instead of failing, :func:`safe_cholesky`
adds ``delta * I`` to each such matrix, with

    delta = max(1e-290, 1e-10 * scale - lambda_min),

where lambda are the eigenvalues of that matrix and ``scale`` is lambda_max
(or 1 when lambda_max <= 0, e.g. an all-zero matrix), and multiplies
``delta`` by 10 until the factorization succeeds. Matrices that factorize
are left untouched. This is the only implicit regularization in gaussmix;
EM additionally adds the explicit ``reg_covar`` to every diagonal, as scikit-learn does.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from .kernels.functions import declared

_REL_JITTER = 1e-10
_MIN_JITTER = 1e-290
_MAX_JITTER_TRIES = 12


def safe_cholesky(covariances: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of covariances, regularized if needed.

    Parameters
    ----------
    covariances : ndarray, shape (..., d, d)
        Symmetric matrices.

    Returns
    -------
    chol : ndarray, shape (..., d, d)
        Lower-triangular ``L`` with ``L @ L.T == covariances (+ delta * I)``.

    Raises
    ------
    ValueError
        If a matrix contains NaN or infinite values.
    """
    if not np.isfinite(covariances).all():
        raise ValueError("covariance matrices contain NaN or infinite values")
    try:
        return np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        pass
    stack = covariances.reshape((-1, *covariances.shape[-2:]))
    d = stack.shape[-1]
    eigvals = np.linalg.eigvalsh(stack)
    scale = np.where(eigvals[:, -1] > 0, eigvals[:, -1], 1.0)
    # The absolute floor keeps the jitter from underflowing to zero for a
    # matrix of denormal entries (a component collapsed onto one point).
    delta = np.maximum(_REL_JITTER * scale - eigvals[:, 0], _MIN_JITTER)
    eye = np.eye(d)
    chol = np.empty_like(stack)
    todo = np.ones(stack.shape[0], dtype=bool)
    for _ in range(_MAX_JITTER_TRIES):
        # Each pass factorizes every matrix still failing, all at once; the
        # loop is over jitter sizes (at most a dozen), never over components.
        idx = np.flatnonzero(todo)
        trial = stack[idx] + delta[idx, None, None] * eye
        ok, factors = _cholesky_where_possible(trial)
        chol[idx[ok]] = factors[ok]
        todo[idx[ok]] = False
        if not todo.any():
            return chol.reshape(covariances.shape)
        delta[todo] = np.maximum(delta[todo] * 10.0, _REL_JITTER * scale[todo])
    raise ValueError("a covariance matrix could not be regularized to positive definiteness")


def _cholesky_where_possible(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorize a stack; return which succeeded and their factors (others NaN)."""
    try:
        return np.ones(stack.shape[0], dtype=bool), np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        pass
    # Fall back to eigen-based check to find the failing members in one call.
    eigvals = np.linalg.eigvalsh(stack)
    ok = eigvals[:, 0] > 0
    factors = np.full_like(stack, np.nan)
    if ok.any():
        try:
            factors[ok] = np.linalg.cholesky(stack[ok])
        except np.linalg.LinAlgError:
            ok[:] = False
    return ok, factors


def log_det_from_cholesky(chol: np.ndarray) -> np.ndarray:
    """log |Sigma| from its Cholesky factor, shape (...,)."""
    return 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)


def inverse_cholesky(chol: np.ndarray) -> np.ndarray:
    """Inverse of lower-triangular factors, shape (..., d, d) (lower-triangular)."""
    d = chol.shape[-1]
    eye = np.broadcast_to(np.eye(d), chol.shape)
    return np.linalg.solve(chol, eye)


def precisions_from_cholesky(chol: np.ndarray) -> np.ndarray:
    """Precision matrices Sigma^-1 = L^-T L^-1 from Cholesky factors."""
    inv = inverse_cholesky(chol)
    return np.swapaxes(inv, -1, -2) @ inv


def symmetrize(matrices: np.ndarray) -> np.ndarray:
    """(A + A^T) / 2 over the last two axes, as A/2 + A^T/2.

    Halving first cannot overflow (A + A^T does above ~9e307) and, scaling by
    a power of two being exact, gives the same bits in the normal range.
    """
    return 0.5 * matrices + 0.5 * np.swapaxes(matrices, -1, -2)


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root B sqrt(D) B^T of a PSD matrix; negative eigenvalues clipped to 0."""
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))[..., None, :]) @ np.swapaxes(
        eigvecs, -1, -2
    )


#: Up to this dimension :func:`cholesky_columns` is the faster way to factorize a
#: large stack of small matrices (LAPACK's per-matrix overhead dominates below it).
SMALL_MATRIX_DIM = 8


def cholesky_columns(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factors of a stack of SPD matrices stored entry-major, (d, d, ...).

    Entry (i, j) of every matrix is one contiguous array over the stack, so
    the factorization runs column by column as O(d^3) element-wise
    operations over the whole stack instead of one LAPACK call per matrix
    (3-4x faster than numpy's stacked ``cholesky`` and ``solve`` at d = 4,
    tens of thousands of matrices; meant for d <= :data:`SMALL_MATRIX_DIM`).

    Parameters
    ----------
    matrices : ndarray, shape (d, d, ...)
        Symmetric positive definite; only the lower triangle is read.

    Returns
    -------
    factor : ndarray, shape (d, d, ...)
        Lower-triangular L with L L^T = matrices (upper entries zero).
    log_det : ndarray, shape (...)
        log |matrices| = 2 sum log diag L.

    Raises
    ------
    numpy.linalg.LinAlgError
        If a matrix is not positive definite.
    """
    d = matrices.shape[0]
    factor = np.zeros(matrices.shape)
    log_det = np.zeros(matrices.shape[2:])
    for j in range(d):
        pivot = matrices[j, j].copy()
        for q in range(j):
            pivot -= factor[j, q] * factor[j, q]
        if not np.all(pivot > 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        root = np.sqrt(pivot)
        factor[j, j] = root
        log_det += np.log(pivot)
        for i in range(j + 1, d):
            below = matrices[i, j].copy()
            for q in range(j):
                below -= factor[i, q] * factor[j, q]
            factor[i, j] = below / root
    return factor, log_det


def forward_solve_columns(factor: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """L^-1 rhs for entry-major factors of :func:`cholesky_columns`.

    Parameters
    ----------
    factor : ndarray, shape (d, d, ...)
    rhs : ndarray, shape (d, p, ...)
        Right-hand sides; the trailing (stack) axes broadcast against the
        factor's (e.g. one factor per component, many rows).

    Returns
    -------
    solved : ndarray, shape (d, p, ...)
        With the broadcast stack shape.
    """
    d = factor.shape[0]
    stack = np.broadcast_shapes(factor.shape[2:], rhs.shape[2:])
    solved = np.empty((d, rhs.shape[1], *stack))
    for j in range(d):
        row = np.broadcast_to(rhs[j], solved.shape[1:]).copy()
        for q in range(j):
            row -= factor[j, q][None] * solved[q]
        solved[j] = row / factor[j, j][None]
    return solved


@functools.cache
def upper_triangle(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column indices of the upper triangle of a d x d matrix (numpy's
    ``triu_indices`` order, row by row) and each entry's weight in a symmetric
    quadratic form (1 on the diagonal, 2 off it); made once per d, read-only."""
    first, second = np.triu_indices(d)
    weight = np.where(first == second, 1.0, 2.0)
    for array in (first, second, weight):
        array.setflags(write=False)  # shared by every call
    return first, second, weight


def plane_rotation_sweep(
    scatter: np.ndarray,
    inverse_diagonals: np.ndarray,
    orientation: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
) -> np.ndarray | None:
    """One sweep of plane rotations of the orientations D (B, d, d) minimizing
    sum_k tr(W_k D M_k D^T), in the compiled kernel; None where it is not built.

    The planes are the column pairs (first[p], second[p]) in order; each rotation is
    the exact minimum over its plane (see
    :func:`gaussmix.covariance.ellipsoidal.orientation_sweep`, the method and the
    numpy path). scatter (B, k, d, d), inverse_diagonals (B, k, d): M_k's diagonals.
    """
    pointer, int64 = ctypes.c_void_p, ctypes.c_int64
    argtypes = [pointer, pointer, pointer, int64, int64, int64, pointer, pointer, int64, pointer]
    function = declared("gm_orientation_sweep", None, argtypes)
    if function is None:
        return None
    B, k, d, _ = scatter.shape
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    inverse_diagonals = np.ascontiguousarray(inverse_diagonals, dtype=np.float64)
    out = np.array(orientation, dtype=np.float64, order="C")
    first = np.ascontiguousarray(first, dtype=np.int64)
    second = np.ascontiguousarray(second, dtype=np.int64)
    work = np.empty(2 * d)
    function(
        scatter.ctypes.data,
        inverse_diagonals.ctypes.data,
        out.ctypes.data,
        B,
        k,
        d,
        first.ctypes.data,
        second.ctypes.data,
        first.size,
        work.ctypes.data,
    )
    return out


def volume_shape_iterations(
    values: np.ndarray,
    nk: np.ndarray,
    tol: float,
    max_iter: int,
    start: np.ndarray | None,
    floor: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Volumes (B, k) and unit-determinant shapes (B, d) of B problems, in the compiled
    kernel; None where it is not built.

    :func:`gaussmix.covariance.axis_aligned.variable_volume_equal_shape` has the method
    and the numpy path (``floor``: its volumes' floor relative to the largest).
    """
    pointer, int64, double = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    argtypes = [pointer, pointer, int64, int64, int64, double, int64, pointer, double, double]
    function = declared("gm_volume_shape", None, [*argtypes, pointer, pointer])
    if function is None:
        return None
    B, k, d = values.shape
    values = np.ascontiguousarray(values, dtype=np.float64)
    nk = np.ascontiguousarray(nk, dtype=np.float64)
    if start is not None:
        start = np.ascontiguousarray(start, dtype=np.float64)
    volumes, shape = np.empty((B, k)), np.empty((B, d))
    function(
        values.ctypes.data,
        nk.ctypes.data,
        B,
        k,
        d,
        tol,
        max_iter,
        None if start is None else start.ctypes.data,
        floor,
        float(np.finfo(np.float64).tiny),
        volumes.ctypes.data,
        shape.ctypes.data,
    )
    return volumes, shape


def equal_shape_iterations(
    scatter: np.ndarray,
    nk: np.ndarray,
    start: np.ndarray,
    tol: float,
    max_iter: int,
    floor: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Volumes (B, k) and unit-determinant shapes (B, d, d) of B problems of VEE's M-step,
    in the compiled kernel; None where it is not built or a problem's matrices were not
    positive definite or its objective not finite (the caller then runs numpy's loop).

    :class:`gaussmix.covariance.ellipsoidal.EqualShapeOrientation` has the method and the
    numpy path (``start``: each problem's starting matrix, any positive scale;
    ``floor``: the volumes' floor relative to the largest).
    """
    pointer, int64, double = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    argtypes = [pointer, pointer, int64, int64, int64, double, int64, double, double]
    function = declared("gm_vee_shape", int64, [*argtypes, pointer, pointer, pointer])
    if function is None:
        return None
    B, k, d, _ = scatter.shape
    scatter = np.ascontiguousarray(scatter, dtype=np.float64)
    nk = np.ascontiguousarray(nk, dtype=np.float64)
    shape = np.array(start, dtype=np.float64, order="C")  # overwritten: a copy
    volumes = np.empty((B, k))
    work = np.empty(3 * d * d + k)
    failed = function(
        scatter.ctypes.data,
        nk.ctypes.data,
        B,
        k,
        d,
        tol,
        max_iter,
        floor,
        float(np.finfo(np.float64).tiny),
        shape.ctypes.data,
        volumes.ctypes.data,
        work.ctypes.data,
    )
    return None if failed else (volumes, shape)
