"""Information criteria and the degenerate-fit rule of model selection."""

from __future__ import annotations

import numpy as np

from .. import covariance as structures
from .._validation import (
    INIT_PARAMS,
)

#: Criteria of :func:`select_model`; "r2" needs ``y``.
CRITERIA = ("bic", "aic", "icl", "cv", "r2")

#: Starts of :func:`select_model`: ``from_samples``'s two, "kmeans", and "auto".
SELECT_INIT_PARAMS = (*INIT_PARAMS, "kmeans", "auto")

#: ``init_params="auto"`` takes "kmeans" from this many fitted rows on
#: (below, "kmeans++", which is then the faster start).
AUTO_KMEANS_ROWS = 50_000


class DegenerateFitWarning(UserWarning):
    """Some candidates of a model selection were degenerate and were not chosen."""


# ----------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------
def n_parameters(n_components: int, n_features: int, covariance_type: str) -> int:
    """Free parameters of a mixture: covariances, k d means and k - 1 priors.

    Parameters
    ----------
    n_components, n_features : int
    covariance_type : {"full", "tied", "diag", "spherical"}

    Returns
    -------
    p : int
        scikit-learn's count (``GaussianMixture._n_parameters``), the same
        as mclust's for VVV, EEE, VVI and VII.
    """
    return structures.get(covariance_type).n_mixture_parameters(n_components, n_features)


def data_resolution(X: np.ndarray) -> np.ndarray:
    """Smallest positive gap between the distinct values of each column (NaN ignored).

    Parameters
    ----------
    X : ndarray, shape (n, d)

    Returns
    -------
    resolution : ndarray, shape (d,)
        0 for a column with fewer than two distinct values.
    """
    out = np.zeros(X.shape[1])
    for j in range(X.shape[1]):  # one sort per feature, not per row
        values = np.unique(X[:, j][~np.isnan(X[:, j])])
        gaps = np.diff(values)
        gaps = gaps[gaps > 0]
        out[j] = gaps.min() if gaps.size else 0.0
    return out


def is_degenerate(
    priors: np.ndarray,
    covariances: np.ndarray,
    covariance_type: str,
    n_samples: float,
    resolution: np.ndarray,
) -> str | None:
    """Whether a fitted mixture is degenerate, and why (None when it is sound).

    The rule (the user guide's "Choosing the model" explains why): a component
    is degenerate when

    1. it rests on too few rows to estimate its covariance: effective rows
       n_j = n * prior_j, rounded, at most d for "full" (d points span at most d - 1
       dimensions, so their covariance is singular), below 2 for "diag" and
       "spherical" (one point has no spread); "tied" pools all rows and is
       not tested here; or
    2. its variance along some feature f is below the variance of rounding
       to that feature's resolution, h_f^2 / 12 (h_f the smallest gap between
       distinct values of f; a uniform rounding error of width h has variance
       h^2 / 12). Such a component models the grid the data were recorded
       on, not their distribution: on discretized data it collapses onto rows
       that share one value of f, its variance falls to ``reg_covar`` and its
       likelihood grows without bound (mclust refuses these fits by the
       reciprocal condition number of their covariances and reports them as
       missing).

    Parameters
    ----------
    priors : ndarray, shape (k,)
    covariances : ndarray, shape (k, d, d)
    covariance_type : str
    n_samples : float
        Rows (total weight) the mixture was fitted to.
    resolution : ndarray, shape (d,)
        :func:`data_resolution` of the data.

    Returns
    -------
    reason : str or None
    """
    d = covariances.shape[-1]
    counts = priors * n_samples
    minimum = structures.get(covariance_type).min_component_rows(d)
    # Soft responsibilities leak a little weight everywhere: count rows rounded.
    few = np.flatnonzero(np.round(counts) < minimum)
    if few.size:
        j = int(few[0])
        return (
            f"component {j} rests on {counts[j]:.3g} effective rows; a {covariance_type} "
            f"covariance needs at least {minimum}"
        )
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    floor = resolution**2 / 12.0
    below = variances < floor
    if below.any():
        j, f = (int(i) for i in np.argwhere(below)[0])
        return (
            f"component {j} has variance {variances[j, f]:.3g} along feature {f}, below "
            f"the variance of the data's rounding there ({floor[f]:.3g} = {resolution[f]:.3g}"
            "^2 / 12)"
        )
    return None
