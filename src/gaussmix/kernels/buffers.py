"""Buffers for the compiled kernels."""

from __future__ import annotations

import math

import numpy as np


def aligned_zeros(shape: int | tuple[int, ...], dtype=np.float64) -> np.ndarray:
    """Zeros whose first element lies on a 64-byte boundary (a cache line).

    The kernels read and write rows of 64 bytes (one AVX-512 vector) in their
    work buffers and parameter tables; numpy's allocations are only 16-byte
    aligned, and a vector that straddles two cache lines costs two accesses
    (the EM statistics at (200k, 16, 16) took 4 % longer with their buffers
    16 bytes off a line, 7-8 % at d = 4 and 8).

    Parameters
    ----------
    shape : int or tuple of int
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray
        C-contiguous, a view into a slightly larger buffer.
    """
    dtype = np.dtype(dtype)
    size = int(shape) if isinstance(shape, (int, np.integer)) else math.prod(shape)
    raw = np.zeros(size * dtype.itemsize + 64, dtype=np.uint8)
    start = -raw.__array_interface__["data"][0] % 64  # (.ctypes costs microseconds)
    return raw[start : start + size * dtype.itemsize].view(dtype).reshape(shape)


def row_stride(X: np.ndarray) -> int | None:
    """Row stride in elements of 2-d float64/float32 rows with unit column stride, else None.

    The kernels read such rows where they lie (a C-contiguous array, or a
    slice of columns of one).

    Parameters
    ----------
    X : ndarray

    Returns
    -------
    int or None
        Elements from one row's start to the next's; None for other dtypes,
        shapes or layouts (a column stride other than one element).
    """
    if X.dtype not in (np.float64, np.float32) or X.ndim != 2:
        return None
    m, d = X.shape
    size = X.dtype.itemsize
    if (m > 1 and X.strides[0] % size) or (d > 1 and X.strides[1] != size):
        return None
    stride = X.strides[0] // size if m > 1 else d
    return stride if stride >= d else None


def readable_rows(X: np.ndarray) -> np.ndarray:
    """X, or a C-ordered copy of it where the kernels could not read its rows in place.

    The kernels read rows where each row's entries are adjacent (C order, or
    columns sliced out of a C-ordered array); column-major rows (Fortran
    order, as a pandas DataFrame's ``values`` usually is) would send every
    call to the numpy paths (3x the time of an EM iteration, 2x a GMR
    prediction). One copy costs less than one such call.

    Parameters
    ----------
    X : ndarray, shape (n, d)

    Returns
    -------
    ndarray
        ``X`` itself where :func:`row_stride` gives a stride, else
        ``np.ascontiguousarray(X)`` (same dtype).
    """
    return X if row_stride(X) is not None else np.ascontiguousarray(X)
