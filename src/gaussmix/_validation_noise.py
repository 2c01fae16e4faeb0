"""Checks of the inputs of extreme deconvolution beyond the noise covariances.

:func:`gaussmix._validation.check_noise_covariances` checks S_i; this module
checks Bovy, Hogg & Roweis's projections R_i (the data are y_i = R_i v_i +
noise), at the same front door.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import as_float_array

__all__ = ["blank_missing_noise", "check_projection"]


def blank_missing_noise(noise: Any, missing: np.ndarray) -> Any:
    """Per-row noise with the entries of missing coordinates set to 0 (NaN allowed there).

    A catalogue often gives no (NaN) uncertainty for a coordinate it did not
    measure; those entries are never used (missing entries are the
    projection onto the observed ones). Per-row (n, d) variances and (n, d,
    d) covariances have the rows and columns of each row's missing
    coordinates replaced by zeros; any other form (a shared covariance, an
    ambiguous or wrong shape) is returned unchanged for
    :func:`gaussmix._validation.check_noise_covariances` to check.

    Parameters
    ----------
    noise : array-like
    missing : ndarray of bool, shape (n, d)
        NaN entries of X.
    """
    values = as_float_array(noise, "noise_covariances", allow_nan=True, dtype=np.float64)
    n, d = missing.shape
    if values.shape == (n, d) and not n == d > 1:
        return np.where(missing, 0.0, values)
    if values.shape == (n, d, d):
        return np.where(missing[:, :, None] | missing[:, None, :], 0.0, values)
    return values


def check_projection(projection: Any, n_samples: int, n_measured: int) -> np.ndarray:
    """Check the maps R_i of n measured rows of m entries each.

    Accepted: (n, m, d) one map per row, (m, d) or (1, m, d) one map for all
    rows; d (the dimension of the true values, of the fitted mixture) is
    the last axis. Every entry must be finite.

    Returns
    -------
    projection : ndarray (float64)
        (n, m, d) or (m, d).

    Raises
    ------
    ValueError
        Naming ``projection``: wrong number of rows or entries, no columns,
        NaN or infinite entries.
    """
    name = "projection"
    values = as_float_array(projection, name, ndim=(2, 3), dtype=np.float64)
    n, m = n_samples, n_measured
    allowed = f"allowed: ({n}, {m}, d) one map per row or ({m}, d) / (1, {m}, d) one for all rows"
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.shape[-1] == 0:
        raise ValueError(f"{name} of shape {values.shape} maps from zero dimensions; {allowed}")
    expected = (m,) if values.ndim == 2 else (n, m)
    if values.shape[:-1] != expected:
        raise ValueError(f"{name} has shape {values.shape} for X of shape ({n}, {m}); {allowed}")
    return values
