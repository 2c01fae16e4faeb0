"""Checks of the estimators' inputs and fitted parameters, in scikit-learn's wording."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data as sklearn_validate_data

from .. import _gaussian
from .. import covariance as structures
from .._validation import check_integers_fit_float, is_dask_collection
from ..covariance import ILL_DEFINED

FLOAT_DTYPES = [np.float64, np.float32]


def validate_data(estimator: Any, X: Any = "no_validation", y: Any = "no_validation", **kwargs):
    """scikit-learn's ``validate_data``, with integers beyond float64 a ``ValueError``.

    scikit-learn lets numpy's bare ``OverflowError`` escape for e.g.
    ``X=[[10**400, 0]]``; here the message names ``X`` or ``y``.
    """
    check_integers_fit_float(X, "X")
    check_integers_fit_float(y, "y")
    if kwargs.get("reset", True):  # a fit: its parameters too
        check_parameters_fit_float(estimator)
    return sklearn_validate_data(estimator, X, y, **kwargs)


#: Parameters that are counts or seeds, never converted to float.
_INTEGER_PARAMETERS = frozenset(
    {"n_components", "max_iter", "n_init", "random_state", "verbose", "verbose_interval"}
)


def check_parameters_fit_float(estimator: Any) -> None:
    """Refuse real-valued parameters (``reg_covar``, ``tol``, ``weights_init``, priors...)
    holding integers beyond float64, naming the parameter.

    scikit-learn's ``Interval(Real, ...)`` accepts ``reg_covar=10**400`` and
    ``check_array`` lets ``weights_init=[10**400, 0]`` raise a bare
    ``OverflowError``; here either is a ``ValueError``.
    """
    for name, value in estimator.get_params(deep=False).items():
        if name in _INTEGER_PARAMETERS or value is None or isinstance(value, str):
            continue
        check_integers_fit_float(value, name)


def check_shape(value: np.ndarray, shape: tuple, name: str) -> None:
    if value.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {value.shape}"
        )


def checked_weights(weights: ArrayLike, k: int) -> np.ndarray:
    weights = check_array(weights, dtype=FLOAT_DTYPES, ensure_2d=False)
    check_shape(weights, (k,), "weights")
    if (weights < 0).any() or (weights > 1).any():
        # scikit-learn's wording, which prints the minimum first.
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.min(weights):.5f}, min value {np.max(weights):.5f}"
        )
    # scikit-learn's tolerance: float32 weights summing to 1 in float32 pass.
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(np.abs(1.0 - np.sum(weights)), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got sum(weights) = "
            f"{np.sum(weights):.5f}"
        )
    return weights


def checked_means(means: ArrayLike, k: int, d: int) -> np.ndarray:
    means = check_array(means, dtype=FLOAT_DTYPES, ensure_2d=False)
    check_shape(means, (k, d), "means")
    return means


def check_spd(matrices: np.ndarray, name: str) -> None:
    symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2))
    if not symmetric or (np.linalg.eigvalsh(matrices) <= 0.0).any():
        raise ValueError(f"'{name}' should be symmetric, positive-definite")


def checked_precisions(precisions: ArrayLike, covariance_type: str, k: int, d: int) -> np.ndarray:
    precisions = check_array(
        precisions,
        dtype=FLOAT_DTYPES,
        ensure_2d=False,
        allow_nd=len(structures.get(covariance_type).compact_shape(k, d)) > 2,
    )
    structures.get(covariance_type).check_compact_precisions(precisions, k, d)
    return precisions


def check_positive_definite(covariances: np.ndarray) -> None:
    try:
        np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(ILL_DEFINED) from None


def log_gaussians(X: np.ndarray, log_priors: np.ndarray, means: np.ndarray, chol: np.ndarray):
    """(log p(x), log responsibilities) under components with (unnormalized) log priors."""
    top = float(np.max(log_priors))
    log_norm, log_resp = _gaussian.mixture_log_density(X, np.exp(log_priors - top), means, chol)
    return log_norm + top, log_resp


def n_rows(X: Any) -> int:
    """Rows of X; for a Dask array with unknown chunk sizes, counted in one pass."""
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if is_dask_collection(X) and not np.isfinite(n):
        counts = X.map_blocks(
            block_rows, drop_axis=1, chunks=((1,) * X.numblocks[0],), dtype=np.int64
        )
        n = counts.sum().compute()
    return int(n)


def block_rows(block: np.ndarray) -> np.ndarray:
    return np.array([block.shape[0]], dtype=np.int64)


def check_symmetric(covariances: np.ndarray, covariance_type: str, source: str) -> None:
    if structures.get(covariance_type).compact_is_matrix and not np.allclose(
        covariances, np.swapaxes(covariances, -1, -2), rtol=1e-10, atol=0.0
    ):
        raise ValueError(f"{source}: covariances_ must be symmetric")
