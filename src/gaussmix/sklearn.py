"""scikit-learn estimators built on :class:`gaussmix.GMM`.

Importing this module requires scikit-learn (``pip install gaussmix[sklearn]``);
nothing else in gaussmix depends on it.

- :class:`GaussianMixtureRegressor`: Gaussian mixture regression, with the
  predictive standard deviation or covariance of every prediction.
- :class:`GaussianMixtureImputer`: fills missing values with their
  conditional expectation under a mixture fitted to incomplete data.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import (
        BaseEstimator,
        DensityMixin,
        MultiOutputMixin,
        OneToOneFeatureMixin,
        RegressorMixin,
        TransformerMixin,
        _fit_context,
    )
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
    from sklearn.utils import check_array, check_random_state
    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.validation import check_is_fitted
    from sklearn.utils.validation import validate_data as _sklearn_validate_data
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    raise ImportError(
        "gaussmix.sklearn needs scikit-learn >= 1.6; install it with "
        "`pip install gaussmix[sklearn]`"
    ) from exc

from . import _gaussian
from . import io as _io
from ._linalg import inverse_cholesky, safe_cholesky
from ._validation import check_integers_fit_float, check_spread, is_dask_collection
from .em.driver import ConvergenceRule, run_em
from .em.estep import responsibility_statistics
from .em.families import Gaussians, MaximumLikelihood, m_step
from .em.sources import ArraySource
from .em.stats import Statistics
from .em.variational import (
    VariationalBayes,
    VariationalPriors,
    VariationalState,
    expected_weights,
)
from .gmm import GMM
from .kernels.threads import resolve_n_jobs

__all__ = [
    "BayesianGaussianMixture",
    "BayesianGaussianMixtureRegressor",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianMixtureRegressor",
]

_FLOAT_DTYPES = [np.float64, np.float32]


def _em_options(estimator: Any) -> dict:
    """from_samples keyword arguments shared by the estimators."""
    options = {
        "covariance_type": estimator.covariance_type,
        "n_init": estimator.n_init,
        "reg_covar": estimator.reg_covar,
    }
    options["tol"] = estimator.tol
    return options


def validate_data(estimator: Any, X: Any = "no_validation", y: Any = "no_validation", **kwargs):
    """scikit-learn's ``validate_data``, with integers beyond float64 a ``ValueError``.

    scikit-learn lets numpy's bare ``OverflowError`` escape for e.g.
    ``X=[[10**400, 0]]``; here the message names ``X`` or ``y``.
    """
    check_integers_fit_float(X, "X")
    check_integers_fit_float(y, "y")
    return _sklearn_validate_data(estimator, X, y, **kwargs)


class GaussianMixtureRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Gaussian mixture regression as a scikit-learn regressor.

    Fits a GMM to the joint data [X, y] with EM, then predicts the mean of
    the conditional mixture p(y | x), and optionally its standard deviation
    or covariance.

    Parameters
    ----------
    n_components : int
        Number of Gaussians.
    priors, means, covariances : array-like, optional
        Starting point of EM over the joint space (see :class:`gaussmix.GMM`).
    verbose : int, default=0
    random_state : None, int, RandomState or Generator, optional
    R_diff : float, default=1e-4
        gmr's convergence threshold on the change of the responsibilities
        (used with ``tol="auto"``; 0 runs all ``n_iter`` iterations).
    n_iter : int, default=500
        Maximum number of EM iterations.
    init_params : {"random", "kmeans++"}, default="random"
    covariance_type : {"full", "diag", "spherical", "tied"}, default="full"
        Structure of the joint covariances. Only "full" and "tied" model the
        correlation between inputs and outputs within a component.
    n_init : int, default=1
        EM restarts; the best likelihood is kept.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    tol : float, "auto" or None, default="auto"
        Convergence rule, as everywhere in gaussmix
        (:func:`gaussmix.em.convergence_rule`): a float is scikit-learn's
        criterion on the change of the mean log-likelihood (replacing
        ``R_diff``); "auto" is gmr's rule with ``R_diff``; None runs exactly
        ``n_iter`` iterations. Changed in 0.1 (engine issue): the default is
        now "auto", and an explicit ``tol=None`` means no criterion here too
        (it used to select ``R_diff``).

    Attributes
    ----------
    gmm_ : GMM
        The fitted joint mixture over [X, y].
    indices_ : ndarray, shape (n_features_in_,)
        Dimensions of the joint model that hold the inputs.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import GaussianMixtureRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, (500, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(500)
    >>> reg = GaussianMixtureRegressor(n_components=5, random_state=0).fit(X, y)
    >>> mean, std = reg.predict([[0.5]], return_std=True)
    >>> mean.shape, std.shape
    ((1,), (1,))
    """

    def __init__(
        self,
        n_components: int,
        priors: ArrayLike | None = None,
        means: ArrayLike | None = None,
        covariances: ArrayLike | None = None,
        verbose: int = 0,
        random_state: Any = None,
        R_diff: float = 1e-4,
        n_iter: int = 500,
        init_params: str = "random",
        *,
        covariance_type: str = "full",
        n_init: int = 1,
        reg_covar: float = 1e-6,
        tol: float | str | None = "auto",
    ) -> None:
        self.n_components = n_components
        self.priors = priors
        self.means = means
        self.covariances = covariances
        self.verbose = verbose
        self.random_state = random_state
        self.R_diff = R_diff
        self.n_iter = n_iter
        self.init_params = init_params
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.tol = tol

    def fit(self, X: ArrayLike, y: ArrayLike) -> GaussianMixtureRegressor:
        """Fit the joint mixture of X and y.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        if is_dask_collection(X) or is_dask_collection(y):
            return self._fit_dask(X, y)
        return self._fit_joint(*_joint_data(self, X, y))

    def _fit_dask(self, X: Any, y: Any) -> GaussianMixtureRegressor:
        # Dask arrays (issue 16): [X, y] joined lazily and fitted on their chunks
        # (gaussmix.dask checks them); scikit-learn's validate_data would compute
        # them into memory. predict keeps Dask input lazy the same way.
        from .dask import join_columns

        joint, self.n_features_in_, self._y_1d = join_columns(X, y)
        return self._fit_joint(joint, self.n_features_in_)

    def _fit_joint(self, joint: Any, n_inputs: int) -> GaussianMixtureRegressor:
        self.gmm_ = GMM(
            self.n_components,
            priors=self.priors,
            means=self.means,
            covariances=self.covariances,
            verbose=self.verbose,
            random_state=self.random_state,
        )
        self.indices_ = np.arange(n_inputs)
        self.gmm_.from_samples(
            joint,
            R_diff=self.R_diff,
            n_iter=self.n_iter,
            init_params=self.init_params,
            **_em_options(self),
        )
        return self

    def predict(
        self, X: ArrayLike, return_std: bool = False, return_cov: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Conditional mean E[y | x] of each row, optionally with its spread.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of p(y | x) per output.
        return_cov : bool, default=False
            Also return the covariance of p(y | x) (law of total covariance).

        Returns
        -------
        y_mean : ndarray, shape (n_samples,) or (n_samples, n_targets)
            1-D when fitted on a 1-D y.
        y_std : ndarray, same shape as y_mean
            Only with ``return_std=True``.
        y_cov : ndarray, shape (n_samples, n_targets, n_targets)
            Only with ``return_cov=True``.
        """
        return _predict_conditional(self, X, return_std, return_cov)


def _joint_data(estimator: Any, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, int]:
    """Validated [X, y] as one float64 array, and the number of inputs; sets ``_y_1d``."""
    X, y = validate_data(estimator, X, y, multi_output=True, y_numeric=True, dtype=_FLOAT_DTYPES)
    y = np.asarray(y, dtype=np.float64)
    estimator._y_1d = y.ndim == 1
    targets = y.reshape(-1, 1) if y.ndim == 1 else y
    return np.hstack([X.astype(np.float64), targets]), X.shape[1]


def _predict_conditional(
    estimator: Any, X: ArrayLike, return_std: bool, return_cov: bool
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """GMR prediction of a fitted regressor with ``gmm_``, ``indices_`` and ``_y_1d``."""
    if return_std and return_cov:
        raise ValueError("At most one of return_std or return_cov can be requested")
    check_is_fitted(estimator, ["gmm_", "indices_"])
    if not is_dask_collection(X):  # a Dask array stays lazy (gmm_.predict checks it)
        X = validate_data(estimator, X, reset=False, dtype=_FLOAT_DTYPES)
    one_d = estimator._y_1d
    if not (return_std or return_cov):
        mean = estimator.gmm_.predict(estimator.indices_, X)
        return mean[:, 0] if one_d else mean
    mean, cov = estimator.gmm_.predict(estimator.indices_, X, return_covariance=True)
    if return_cov:
        return (mean[:, 0] if one_d else mean), cov
    std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    if one_d:
        return mean[:, 0], std[:, 0]
    return mean, std


class GaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values with a Gaussian mixture fitted to incomplete data.

    ``fit`` runs the EM for incomplete data (Ghahramani & Jordan 1994) on X
    with NaN entries; ``transform`` replaces every NaN with its conditional
    mean given the observed entries of its row. Usable in pipelines like
    scikit-learn's own imputers.

    Parameters
    ----------
    n_components : int, default=1
        Number of Gaussians (1 gives conditional-Gaussian imputation).
    covariance_type : {"full", "diag", "spherical", "tied"}, default="full"
    n_iter : int, default=100
        Maximum number of EM iterations.
    tol : float, "auto" or None, default=1e-4
        Stop when the mean log-likelihood improves by less than this; "auto"
        uses gmr's rule on the change of the responsibilities (R_diff 1e-4);
        None runs all iterations (:func:`gaussmix.em.convergence_rule`).
    n_init : int, default=1
    reg_covar : float, default=1e-6
    init_params : {"random", "kmeans++"}, default="kmeans++"
    random_state : None, int, RandomState or Generator, optional
    verbose : int, default=0

    Attributes
    ----------
    gmm_ : GMM
        The fitted mixture.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import GaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 7.9]])
    >>> GaussianMixtureImputer(random_state=0).fit_transform(X)[2, 1].round(1)
    np.float64(6.0)
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        n_iter: int = 100,
        tol: float | None = 1e-4,
        n_init: int = 1,
        reg_covar: float = 1e-6,
        init_params: str = "kmeans++",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.init_params = init_params
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def fit(self, X: ArrayLike, y: Any = None) -> GaussianMixtureImputer:
        """Fit the mixture to X, whose NaN entries are treated as missing.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, ensure_all_finite="allow-nan")
        self.gmm_ = GMM(self.n_components, verbose=self.verbose, random_state=self.random_state)
        self.gmm_.from_samples(
            X.astype(np.float64),
            n_iter=self.n_iter,
            init_params=self.init_params,
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            tol=self.tol,
            allow_missing=True,
        )
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Replace NaN entries by their conditional means.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        X_filled : ndarray, shape (n_samples, n_features)
        """
        check_is_fitted(self, "gmm_")
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES, ensure_all_finite="allow-nan")
        # Computed in float64; returned in the input's precision, as
        # scikit-learn's imputers do.
        return self.gmm_.impute(X).astype(X.dtype, copy=False)


# ==========================================================================
# scikit-learn's mixture estimators on the gaussmix EM engine
# ==========================================================================
_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)


def _check_shape(value: np.ndarray, shape: tuple, name: str) -> None:
    if value.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {value.shape}"
        )


def _checked_weights(weights: ArrayLike, k: int) -> np.ndarray:
    weights = check_array(weights, dtype=_FLOAT_DTYPES, ensure_2d=False)
    _check_shape(weights, (k,), "weights")
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


def _checked_means(means: ArrayLike, k: int, d: int) -> np.ndarray:
    means = check_array(means, dtype=_FLOAT_DTYPES, ensure_2d=False)
    _check_shape(means, (k, d), "means")
    return means


def _check_spd(matrices: np.ndarray, name: str) -> None:
    symmetric = np.allclose(matrices, np.swapaxes(matrices, -1, -2))
    if not symmetric or (np.linalg.eigvalsh(matrices) <= 0.0).any():
        raise ValueError(f"'{name}' should be symmetric, positive-definite")


def _checked_precisions(precisions: ArrayLike, covariance_type: str, k: int, d: int) -> np.ndarray:
    precisions = check_array(
        precisions,
        dtype=_FLOAT_DTYPES,
        ensure_2d=False,
        allow_nd=covariance_type == "full",
    )
    shape = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
    name = f"{covariance_type} precision"
    _check_shape(precisions, shape, name)
    if covariance_type in ("full", "tied"):
        _check_spd(precisions, name)
    elif (precisions <= 0.0).any():
        raise ValueError(f"'{name}' should be positive")
    return precisions


def _full_covariances(covariances: np.ndarray, covariance_type: str, k: int, d: int) -> np.ndarray:
    """scikit-learn's per-type covariances (or variances) as full (k, d, d) matrices."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (k, d, d)).copy()
    if covariance_type == "spherical":
        return covariances[:, None, None] * np.eye(d)
    return covariances[:, :, None] * np.eye(d)


def _typed_covariances(full: np.ndarray, covariance_type: str) -> np.ndarray:
    """Full (k, d, d) covariances in scikit-learn's shape for ``covariance_type``."""
    if covariance_type == "full":
        return full
    if covariance_type == "tied":
        return full[0]
    diagonal = np.diagonal(full, axis1=1, axis2=2).copy()
    return diagonal if covariance_type == "diag" else diagonal[:, 0]


def _precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular U with U U^T = Sigma^-1 (full, tied), or 1/sqrt(var) (diag, spherical).

    Raises scikit-learn's "ill-defined empirical covariance" error when a
    covariance is not positive definite.
    """
    if covariance_type in ("full", "tied"):
        try:
            chol = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ValueError(_ILL_DEFINED) from None
        return np.swapaxes(inverse_cholesky(chol), -1, -2)
    if (covariances <= 0.0).any():
        raise ValueError(_ILL_DEFINED)
    return 1.0 / np.sqrt(covariances)


def _precisions(precisions_cholesky: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    return precisions_cholesky**2


def _covariances_from_precisions(
    precisions: np.ndarray, covariance_type: str, k: int, d: int
) -> np.ndarray:
    """Full (k, d, d) covariances from scikit-learn's per-type precisions."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        inverse = np.linalg.inv(precisions)
        inverse = 0.5 * (inverse + np.swapaxes(inverse, -1, -2))
        return _full_covariances(inverse, covariance_type, k, d)
    return _full_covariances(1.0 / precisions, covariance_type, k, d)


def _cholesky_from_precisions(
    precisions_cholesky: np.ndarray, covariance_type: str, k: int, d: int
):
    """Lower Cholesky factors (k, d, d) of the covariances from ``precisions_cholesky_``.

    For U with U U^T = Sigma^-1, Sigma = U^-T U^-1, so L = U^-T.
    """
    prec_chol = np.asarray(precisions_cholesky, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        chol = np.swapaxes(inverse_cholesky(prec_chol), -1, -2)
        return np.broadcast_to(chol, (k, d, d)) if covariance_type == "tied" else chol
    std = 1.0 / prec_chol
    std = np.broadcast_to(std[:, None], (k, d)) if covariance_type == "spherical" else std
    return std[:, :, None] * np.eye(d)


def _all_rows_tied_scatter(stats: Statistics, X: np.ndarray, means: np.ndarray) -> None:
    """Give one-row initial responsibilities scikit-learn's tied covariance, in place.

    scikit-learn computes a tied covariance from responsibilities as
    (X^T X - sum_j N_j mu_j mu_j^T) / sum_j N_j: the scatter of *all* rows,
    which is the tied scatter whenever every row's responsibilities sum to
    one (every EM iteration), but not for the "k-means++" and
    "random_from_data" starts, whose responsibilities cover k rows only.
    ``stats`` are those rows' moments about themselves (``means``), all zero
    but the counts; only the sum over components of the second moments
    enters a tied M-step, so putting scikit-learn's scatter into the first
    component's makes :func:`gaussmix.em.families.m_step` reproduce its start.
    """
    d = X.shape[1]
    iu, ju = np.triu_indices(d)
    xtx = np.zeros((d, d))
    for start in range(0, X.shape[0], 1 << 16):
        block = X[start : start + (1 << 16)].astype(np.float64, copy=False)
        xtx += block.T @ block
    scatter = xtx - np.einsum("k,ki,kj->ij", stats.resp_sum, means, means)
    stats.moments[0, : d * (d + 1) // 2] += scatter[iu, ju]


def _label_statistics(
    X: np.ndarray, labels: np.ndarray, centres: np.ndarray, covariance_type: str
) -> Statistics:
    """Statistics of hard labels, each row's moments taken about its own centre.

    Moments about the data's mean would lose the precision of a tight
    cluster far from it (relative error eps |x - mean|^2 / variance); about
    a point near each cluster (its k-means centre, or for a one-row start
    the row itself, which gives scikit-learn's reg_covar start exactly) they
    do not. The M-step then reads them with ``shift=centres`` (k, d).
    """
    k, d = centres.shape
    total = Statistics.zeros(k, Statistics.n_columns(d, covariance_type))
    origin = np.zeros(d)
    for start in range(0, X.shape[0], 1 << 16):
        rows = slice(start, start + (1 << 16))
        block = X[rows].astype(np.float64, copy=False) - centres[labels[rows]]
        total += responsibility_statistics(
            block, labels[rows], origin, covariance_type, n_components=k
        )
    return total


class _CheckedMaximumLikelihood(MaximumLikelihood):
    """Maximum likelihood that refuses covariances that are not positive definite.

    scikit-learn stops a fit whose M-step produces a singular covariance
    (e.g. ``reg_covar=0`` with collapsed samples); gaussmix's own EM would
    regularize it. This keeps scikit-learn's behaviour. The check runs on
    the M-step's final result (:meth:`objective` receives it after the
    source has redone an imprecise M-step about each component's mean), so
    that a covariance is refused only when it is singular, not when moments
    about the shared shift merely lost its precision.

    One case carries on, as in scikit-learn: a diag or spherical component
    that holds a row's worth of weight but whose variance is exactly zero
    (after a step with ``reg_covar=0`` its responsibilities of every other
    row underflowed, so it sits on one point). scikit-learn's raw moments
    E[x^2] - 2 E[x] mu + mu^2 leave a rounding residue of order eps * mu^2
    there, which passes its ``variance > 0`` check; gaussmix's centred
    moments give exactly 0, which is set to that residue, eps * mu^2 (at
    least the smallest normal float). Components without data and collapsed
    full or tied covariances are still refused.
    """

    def objective(self, stats: Statistics, state: Gaussians) -> float:
        if self.covariance_type in ("diag", "spherical"):
            _lone_point_variances_to_rounding(state, stats.resp_sum)
        _check_positive_definite(state.covariances)
        return super().objective(stats, state)


def _lone_point_variances_to_rounding(state: Gaussians, resp_sum: np.ndarray) -> None:
    """Zero variances of components holding data set to eps * mean^2, in place."""
    variances = np.diagonal(state.covariances, axis1=1, axis2=2)
    lone = (variances <= 0.0) & (resp_sum >= 0.5)[:, None]
    if not lone.any():
        return
    residue = np.finfo(np.float64).eps * np.square(state.means)
    if np.allclose(variances, variances[:, :1]):  # spherical: one variance per component
        residue = np.broadcast_to(residue.mean(axis=1, keepdims=True), residue.shape)
    floor = np.maximum(residue, np.finfo(np.float64).tiny)
    k, d = np.nonzero(lone)
    state.covariances[k, d, d] = floor[k, d]


def _check_positive_definite(covariances: np.ndarray) -> None:
    try:
        np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise ValueError(_ILL_DEFINED) from None


def _log_gaussians(X: np.ndarray, log_priors: np.ndarray, means: np.ndarray, chol: np.ndarray):
    """(log p(x), log responsibilities) under components with (unnormalized) log priors."""
    top = float(np.max(log_priors))
    log_norm, log_resp = _gaussian.mixture_log_density(X, np.exp(log_priors - top), means, chol)
    return log_norm + top, log_resp


def _jsonable(value: Any) -> Any:
    """Arrays and numpy scalars as plain Python values for JSON."""
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a parameter of type {type(value).__name__} in a model file")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a model file")


def _check_plain(value: Any, what: str) -> None:
    """JSON scalars or (nested) lists of numbers only."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, (int, float)):
        if not np.isfinite(value):
            raise ValueError(f"{what} must be finite")
        return
    if isinstance(value, list):
        _record_array({"v": value}, "v", None, what)
        return
    raise ValueError(f"{what} has an unsupported type {type(value).__name__}")


def _record_number(value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{source}: expected a finite number, got {value!r}")
    return float(value)


def _record_int(fitted: dict, name: str, source: str, minimum: int) -> int:
    value = fitted.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{source}: fitted {name} must be an integer >= {minimum}")
    return value


def _record_array(fitted: dict, name: str, shape: tuple | None, source: str) -> np.ndarray:
    """A finite float64 array of the given shape from nested lists of numbers."""
    value = fitted.get(name)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            raise ValueError(f"{source}: {name} must contain only numbers; found {item!r}")
    try:
        array = np.array(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: {name} must be a regular array of numbers") from exc
    if shape is not None and array.shape != shape:
        raise ValueError(f"{source}: {name} must have shape {shape}; got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{source}: {name} contains NaN or infinite values")
    return array


def _n_rows(X: Any) -> int:
    """Rows of X; for a Dask array with unknown chunk sizes, counted in one pass."""
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if is_dask_collection(X) and not np.isfinite(n):
        counts = X.map_blocks(
            _block_rows, drop_axis=1, chunks=((1,) * X.numblocks[0],), dtype=np.int64
        )
        n = counts.sum().compute()
    return int(n)


def _block_rows(block: np.ndarray) -> np.ndarray:
    return np.array([block.shape[0]], dtype=np.int64)


def _check_symmetric(covariances: np.ndarray, covariance_type: str, source: str) -> None:
    if covariance_type in ("full", "tied") and not np.allclose(
        covariances, np.swapaxes(covariances, -1, -2), rtol=1e-10, atol=0.0
    ):
        raise ValueError(f"{source}: covariances_ must be symmetric")


def _type_shape(covariance_type: str, k: int, d: int) -> tuple:
    return {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


class _BaseMixture(DensityMixin, BaseEstimator):
    """What GaussianMixture and BayesianGaussianMixture share: fitting and the methods."""

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(_COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    # -- to be provided by the estimators ---------------------------------
    def _prepare(self, X: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _family(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _initial_state(self, X, source, random_state, family):  # pragma: no cover
        raise NotImplementedError

    def _current_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, state, dtype) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: Any = None) -> _BaseMixture:
        """Estimate the model's parameters with EM (``n_init`` runs, the best kept).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X: ArrayLike, y: Any = None) -> np.ndarray:
        """Fit, then return the most probable component of each row (after a final E-step).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray, shape (n_samples,)
        """
        return self.predict(self._fit(X))

    def _fit(self, X: ArrayLike) -> Any:
        random_state = check_random_state(self.random_state)
        if is_dask_collection(X):
            source, X = self._dask_source(X, random_state)
        else:
            X = validate_data(self, X, dtype=_FLOAT_DTYPES, ensure_min_samples=2)
            source = None
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        check_spread(X)
        self._prepare(X)
        if source is not None and getattr(self, "mean_prior", 0) is None:
            # A Dask array: the default mean prior is the mean of all rows (the
            # source's shift), not of the initialization sample.
            self.mean_prior_ = source.shift.astype(X.dtype)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            self._check_warm_start(X.shape[1])
        n_init = self.n_init if do_init else 1
        if source is None:
            source = ArraySource(X, None, self.covariance_type, n_jobs=resolve_n_jobs(None))
        family = self._family()
        rule = ConvergenceRule(float(self.tol), None)
        best_state, best_bound, best_bounds, best_iter = None, -np.inf, [], 0
        converged_best = False
        for init in range(n_init):
            self._verbose_init_start(init)
            state = (
                self._initial_state(X, source, random_state, family)
                if do_init
                else self._current_state()
            )
            if self.max_iter == 0:
                best_state, best_iter = state, 0
                continue
            bounds: list[float] = []
            result = run_em(
                source,
                family,
                state,
                n_iter=self.max_iter,
                rule=rule,
                callback=self._recorder(bounds),
                lower_bound=-np.inf if do_init else self.lower_bound_,
            )
            self._verbose_init_end(result.lower_bound, result.converged)
            if result.lower_bound > best_bound or best_bound == -np.inf:
                best_state, best_bound, best_bounds = result.state, result.lower_bound, bounds
                best_iter, converged_best = result.n_iter, result.converged
        self.converged_ = converged_best
        if not converged_best and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                SklearnConvergenceWarning,
                stacklevel=3,
            )
        self._set_state(best_state, X.dtype)
        self.n_iter_ = best_iter
        self.lower_bound_ = best_bound
        self.lower_bounds_ = best_bounds
        return getattr(source, "X", X)

    def _check_warm_start(self, n_features: int) -> None:
        """A warm start continues the previous fit, which must have the same structure."""
        k, d = self.means_.shape
        fitted = getattr(self, "_fitted_covariance_type", self.covariance_type)
        now = (self.n_components, self.covariance_type, n_features)
        if (k, fitted, d) != now:
            raise ValueError(
                f"warm_start=True continues the previous fit (n_components={k}, "
                f"covariance_type={fitted!r}, {d} features), which does not match the "
                f"current parameters and data (n_components={now[0]}, "
                f"covariance_type={now[1]!r}, {now[2]} features); fit with "
                "warm_start=False to start again"
            )

    def _dask_source(self, X: Any, random_state: Any) -> tuple[Any, np.ndarray]:
        """A Dask array's statistics source and its bounded initialization sample.

        scikit-learn's ``validate_data`` would compute X into memory: the
        checks run on the workers instead (in the source's first pass), and
        the initialization (``KMeans`` and the others) runs on the source's
        random sample of at most 100,000 rows (all rows when X has fewer).
        """
        from .dask import DaskSource, check_rows

        X = check_rows(X)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"Found array with {n} sample(s); a minimum of 2 is required.")
        if n < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {n}"
            )
        try:
            source = DaskSource(
                X,
                None,
                self.covariance_type,
                n_components=self.n_components,
                random_state=random_state,
            )
        except ValueError as exc:
            if "allow_missing" in str(exc):  # the estimators have no such option
                raise ValueError("Input X contains NaN.") from None
            raise
        sample = source.initialization_data()
        self.n_features_in_ = sample.shape[1]
        return source, sample

    def _recorder(self, bounds: list):
        verbose, interval = self.verbose, self.verbose_interval
        last = [time.perf_counter()]

        def record(iteration: int, lower_bound: float, change: float, _elapsed: float) -> bool:
            bounds.append(lower_bound)
            if verbose and iteration % interval == 0:
                if verbose == 1:
                    print(f"  Iteration {iteration}")
                else:
                    now = time.perf_counter()
                    print(
                        f"  Iteration {iteration}\t time lapse {now - last[0]:.5f}s\t "
                        f"ll change {change:.5f}"
                    )
                    last[0] = now
            return False

        return record

    def _verbose_init_start(self, init: int) -> None:
        if self.verbose:
            print(f"Initialization {init}")
            self._init_time = time.perf_counter()

    def _verbose_init_end(self, lower_bound: float, converged: bool) -> None:
        if not self.verbose:
            return
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        else:
            elapsed = time.perf_counter() - self._init_time
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )

    def _initial_responsibility_statistics(
        self, X, source, random_state
    ) -> tuple[Statistics, np.ndarray]:
        """Statistics of scikit-learn's initial responsibilities (same random draws).

        Returns the statistics and the point(s) they are taken about: the
        data's mean for soft random responsibilities, each component's own
        centre (k, d) for hard labels, so that no start loses precision.
        """
        n, k = X.shape[0], self.n_components
        ctype = self.covariance_type
        if self.init_params == "kmeans":
            kmeans = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(X)
            centres = np.asarray(kmeans.cluster_centers_, dtype=np.float64)
            return _label_statistics(X, kmeans.labels_, centres, ctype), centres
        if self.init_params == "random":
            total = None
            step = max(1, (1 << 20) // max(1, k))
            for start in range(0, n, step):
                resp = random_state.uniform(size=(min(step, n - start), k))
                resp /= resp.sum(axis=1, keepdims=True)
                part = responsibility_statistics(
                    X[start : start + step], resp, source.shift, ctype
                )
                total = part if total is None else total + part
            return total, source.shift
        if self.init_params == "random_from_data":
            indices = random_state.choice(n, size=k, replace=False)
        else:
            _, indices = kmeans_plusplus(X, k, random_state=random_state)
        rows = np.asarray(X[indices], dtype=np.float64)
        stats = _label_statistics(rows, np.arange(k), rows, ctype)
        if ctype == "tied":
            _all_rows_tied_scatter(stats, X, rows)
        return stats, rows

    # -- the fitted model --------------------------------------------------
    def _log_resp(self, X: np.ndarray) -> np.ndarray:
        return _log_gaussians(X, *self._components())[1]

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log-likelihood of each sample under the fitted model.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray, shape (n_samples,)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return self._lazy(X, "score_samples", None, np.result_type(X.dtype, self.means_.dtype))
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return _log_gaussians(X, *self._components())[0].astype(dtype, copy=False)

    def _lazy(self, X: Any, method: str, columns: int | None, dtype: Any) -> Any:
        """``method`` over a Dask array's row chunks, lazily (the estimator is copied)."""
        from .dask import map_rows

        return map_rows(getattr(self, method), X, self.n_features_in_, columns, dtype)

    def score(self, X: ArrayLike, y: Any = None) -> float:
        """Mean log-likelihood of the samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        log_likelihood : float
        """
        if is_dask_collection(X):
            return float(self.score_samples(X).mean().compute())
        return float(np.mean(self.score_samples(X)))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, shape (n_samples,)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return self._lazy(X, "predict", None, np.int64)
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        return self._log_resp(X).argmax(axis=1)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component for each sample (rows sum to one).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray, shape (n_samples, n_components)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            dtype = np.result_type(X.dtype, self.means_.dtype)
            return self._lazy(X, "predict_proba", self.n_components, dtype)
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return np.exp(self._log_resp(X)).astype(dtype, copy=False)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture, grouped by component.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray, shape (n_samples,)
            The component of each sample.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        rng = check_random_state(self.random_state)
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        labels = np.repeat(np.arange(weights.shape[0]), counts)
        d = self.means_.shape[1]
        covariances = _full_covariances(
            self.covariances_, self.covariance_type, weights.shape[0], d
        )
        chol = safe_cholesky(covariances)
        standard = rng.standard_normal((n_samples, self.means_.shape[1]))
        X = _gaussian.sample_components(
            rng, np.asarray(self.means_, dtype=np.float64), chol, labels, standard
        )
        return X, labels

    def to_gmm(self) -> GMM:
        """The fitted mixture as a :class:`gaussmix.GMM` (conditioning, GMR, plots, files).

        Returns
        -------
        gmm : GMM
            Weights, means and full covariances of the fit (for the Bayesian
            mixture: the posterior-mean mixture), with ``covariance_type_``
            set so that :meth:`GMM.bic` counts the right parameters.
        """
        check_is_fitted(self)
        weights = np.asarray(self.weights_, dtype=np.float64)
        gmm = GMM(
            weights.shape[0],
            priors=weights / weights.sum(),
            means=np.asarray(self.means_, dtype=np.float64),
            covariances=_full_covariances(
                self.covariances_, self.covariance_type, weights.shape[0], self.means_.shape[1]
            ),
            random_state=self.random_state,
        )
        gmm.covariance_type_ = self.covariance_type
        gmm.converged_ = bool(self.converged_)
        gmm.n_iter_ = int(self.n_iter_)
        return gmm

    # -- safe files -----------------------------------------------------------
    _FITTED: ClassVar[tuple[str, ...]] = ("weights_", "means_", "covariances_")

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted estimator to a gaussmix model file (.json or .npz); never pickles.

        The file is a gaussmix ``GMM`` file of :meth:`to_gmm` (so
        :meth:`gaussmix.GMM.load` reads the mixture) with one more field,
        ``estimator``: the estimator's class, parameters and fitted
        attributes as JSON text. A ``random_state`` that is not an int or
        None (a RandomState object) is saved as None.

        Parameters
        ----------
        path : str or os.PathLike
            Destination ending in ``.json`` or ``.npz``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If the extension is not .json/.npz.
        """
        check_is_fitted(self)
        data = _io.model_to_dict(self.to_gmm())
        data["estimator"] = json.dumps(self._record(), allow_nan=False)
        _io.write_model_dict(data, path)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load an estimator saved by :meth:`save`, validating every field (nothing is executed).

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        estimator : instance of this class, fitted

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a gaussmix model file, holds no estimator of
            this class, or any parameter or fitted attribute is malformed.
        """
        fields = _io.read_model_fields(path)
        source = os.fspath(path)
        if fields["model"] != "GMM" or "estimator" not in fields:
            raise ValueError(
                f"{source} holds no scikit-learn estimator (a plain gaussmix model file); "
                "load it with gaussmix.io.load_model"
            )
        try:
            record = json.loads(fields["estimator"], parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ValueError(
                f"{source}: the estimator field is not a JSON object ({exc})"
            ) from exc
        try:
            return cls._from_record(record, source)
        except (TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            raise ValueError(f"{source}: malformed estimator field ({exc})") from exc

    def _record(self) -> dict:
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name == "random_state" and not isinstance(value, (int, np.integer, type(None))):
                value = None
            params[name] = _jsonable(value)
        fitted = {name: _jsonable(getattr(self, name)) for name in self._FITTED}
        if self.covariance_type == "spherical" and "covariance_prior_" in fitted:
            # scikit-learn accepts [2.5] as well as 2.5 for a spherical prior
            fitted["covariance_prior_"] = float(np.ravel(self.covariance_prior_)[0])
        fitted.update(
            converged_=bool(self.converged_),
            n_iter_=int(self.n_iter_),
            lower_bound_=float(self.lower_bound_) if np.isfinite(self.lower_bound_) else None,
            lower_bounds_=[float(v) for v in self.lower_bounds_],
            n_features_in_=int(self.n_features_in_),
            dtype=str(np.dtype(self.means_.dtype)),
        )
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(v) for v in self.feature_names_in_]
        return {"class": type(self).__name__, "params": params, "fitted": fitted}

    @classmethod
    def _from_record(cls, record: Any, source: str):
        if not isinstance(record, dict) or set(record) != {"class", "params", "fitted"}:
            raise ValueError(f"{source}: the estimator field must hold class, params and fitted")
        if record["class"] != cls.__name__:
            raise ValueError(
                f"{source} holds a {record['class']!r} estimator; use "
                f"gaussmix.sklearn.{record['class']}.load"
                if record["class"] in ("GaussianMixture", "BayesianGaussianMixture")
                else f"{source} holds an unknown estimator class {record['class']!r}"
            )
        params, fitted = record["params"], record["fitted"]
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise ValueError(f"{source}: estimator params and fitted must be JSON objects")
        allowed = set(cls().get_params(deep=False))
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown estimator parameter(s) {unknown}")
        for name, value in params.items():
            _check_plain(value, f"{source}: parameter {name!r}")
        estimator = cls(**params)
        estimator._validate_params()
        d = _record_int(fitted, "n_features_in_", source, minimum=1)
        k = estimator.n_components
        dtype = fitted.get("dtype")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{source}: fitted dtype must be 'float32' or 'float64'")
        shapes = estimator._fitted_shapes(k, d)
        values = {
            name: _record_array(fitted, name, shape, source) for name, shape in shapes.items()
        }
        estimator._loaded_n_iter = _record_int(fitted, "n_iter_", source, minimum=0)
        estimator._restore(values, k, d, np.dtype(dtype), source)
        del estimator._loaded_n_iter
        estimator.converged_ = fitted.get("converged_")
        if not isinstance(estimator.converged_, bool):
            raise ValueError(f"{source}: fitted converged_ must be true or false")
        estimator.n_iter_ = _record_int(fitted, "n_iter_", source, minimum=0)
        bound = fitted.get("lower_bound_")
        estimator.lower_bound_ = -np.inf if bound is None else _record_number(bound, source)
        bounds = fitted.get("lower_bounds_", [])
        if not isinstance(bounds, list):
            raise ValueError(f"{source}: fitted lower_bounds_ must be a list of numbers")
        estimator.lower_bounds_ = [_record_number(v, source) for v in bounds]
        estimator.n_features_in_ = d
        names = fitted.get("feature_names_in_")
        if names is not None:
            if not (
                isinstance(names, list)
                and len(names) == d
                and all(isinstance(n, str) for n in names)
            ):
                raise ValueError(f"{source}: feature_names_in_ must be {d} strings")
            estimator.feature_names_in_ = np.array(names, dtype=object)
        return estimator


class GaussianMixture(_BaseMixture):
    """Gaussian mixture fitted by EM: scikit-learn's ``GaussianMixture``, on gaussmix's engine.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, defaults, fitted attributes (in scikit-learn's shapes
    per covariance type), methods, errors and warnings, and from the same
    start the same parameters after the same iterations. The E-steps run
    through gaussmix's quadratic-feature E-step (compiled kernel, threads
    over row blocks), many times faster than scikit-learn's.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations per run; 0 returns the initialization.
    n_init : int, default=1
        Runs from different initializations; the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initial responsibilities: scikit-learn's ``KMeans`` labels,
        ``kmeans_plusplus`` centers, uniform random ones, or random rows
        (the same random draws as scikit-learn).
    weights_init, means_init, precisions_init : array-like, optional
        Initial weights (k,), means (k, d) and precisions (shape per
        covariance type: full (k, d, d), tied (d, d), diag (k, d),
        spherical (k,)).
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit`` (one run).
    verbose : int, default=0
    verbose_interval : int, default=10

    Attributes
    ----------
    weights_ : ndarray, shape (k,)
    means_ : ndarray, shape (k, d)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes per covariance type as above; ``precisions_cholesky_`` is
        upper triangular U with precision U U^T (full, tied), or the square
        root of the precisions (diag, spherical).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training data at the last E-step of the best run.
    lower_bounds_ : list of float
        The lower bound of every iteration of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray
        Only when X has feature names.

    See Also
    --------
    BayesianGaussianMixture : variational inference of the same model.
    gaussmix.GMM : the same model with gmr's API, conditioning and regression.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]), 6)
    array([ 1., 10.])
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _prepare(self, X: np.ndarray) -> None:
        k, d = self.n_components, X.shape[1]
        self._inits = (
            None if self.weights_init is None else _checked_weights(self.weights_init, k),
            None if self.means_init is None else _checked_means(self.means_init, k, d),
            None
            if self.precisions_init is None
            else _checked_precisions(self.precisions_init, self.covariance_type, k, d),
        )

    def _family(self) -> MaximumLikelihood:
        return _CheckedMaximumLikelihood(self.covariance_type, self.reg_covar)

    def _initial_state(self, X, source, random_state, family) -> Gaussians:
        k, (n, d) = self.n_components, X.shape
        weights_init, means_init, precisions_init = self._inits
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            stats, shift = self._initial_responsibility_statistics(X, source, random_state)
            _, means, covariances = m_step(stats, shift, self.covariance_type, self.reg_covar)
            # scikit-learn divides by n, not by the responsibilities' sum.
            weights = (stats.resp_sum + 10.0 * np.finfo(np.float64).eps) / n
        if weights_init is not None:
            weights = np.asarray(weights_init, dtype=np.float64)
        if means_init is not None:
            means = np.asarray(means_init, dtype=np.float64)
        if precisions_init is not None:
            covariances = _covariances_from_precisions(precisions_init, self.covariance_type, k, d)
        _check_positive_definite(covariances)
        return Gaussians(weights, means, covariances)

    def _current_state(self) -> Gaussians:
        k, d = self.means_.shape
        return Gaussians(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            _full_covariances(self.covariances_, self.covariance_type, k, d),
        )

    def _set_state(self, state: Gaussians, dtype) -> None:
        self._fitted_covariance_type = self.covariance_type
        covariances = _typed_covariances(state.covariances, self.covariance_type)
        prec_chol = _precision_cholesky(covariances, self.covariance_type)
        self.weights_ = state.priors.astype(dtype)
        self.means_ = state.means.astype(dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        self.precisions_ = _precisions(prec_chol, self.covariance_type).astype(dtype)

    def _fitted_shapes(self, k: int, d: int) -> dict:
        return {
            "weights_": (k,),
            "means_": (k, d),
            "covariances_": _type_shape(self.covariance_type, k, d),
        }

    def _restore(self, values: dict, k: int, d: int, dtype, source: str) -> None:
        weights = values["weights_"]
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"{source}: weights_ must be non-negative with a positive sum")
        # Fitted weights sum to one; only an initialization (max_iter=0) keeps
        # scikit-learn's unnormalized start (counts / n).
        if abs(weights.sum() - 1.0) > 1e-6 * k and self._loaded_n_iter != 0:
            raise ValueError(f"{source}: weights_ must sum to 1; got {weights.sum():.6g}")
        _check_symmetric(values["covariances_"], self.covariance_type, source)
        covariances = _full_covariances(values["covariances_"], self.covariance_type, k, d)
        try:
            self._set_state(Gaussians(weights, values["means_"], covariances), dtype)
        except ValueError as exc:
            raise ValueError(f"{source}: covariances_ are not positive definite") from exc

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, d = self.means_.shape
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(self.weights_, dtype=np.float64))
        chol = _cholesky_from_precisions(self.precisions_cholesky_, self.covariance_type, k, d)
        return log_weights, np.asarray(self.means_, dtype=np.float64), chol

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        cov_params = {
            "full": k * d * (d + 1) / 2.0,
            "tied": d * (d + 1) / 2.0,
            "diag": k * d,
            "spherical": k,
        }[self.covariance_type]
        return int(cov_params + k * d + k - 1)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion, -2 n score + p ln n (lower is better).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        n = _n_rows(X)
        return -2.0 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion, -2 n score + 2 p (lower is better).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        n = _n_rows(X)
        return -2.0 * self.score(X) * n + 2 * self._n_parameters()


class BayesianGaussianMixture(_BaseMixture):
    """Variational Bayesian Gaussian mixture: scikit-learn's ``BayesianGaussianMixture``.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`
    (Bishop 2006, ch. 10.2; Blei & Jordan 2006): a Dirichlet process
    (stick-breaking) or Dirichlet distribution prior on the weights and a
    Gaussian-Wishart prior on each component, fitted by variational
    inference. Surplus components get weights near zero, so ``n_components``
    is an upper bound. The E-step is quadratic in x like maximum likelihood's
    and runs through the same engine (:mod:`gaussmix.em.variational`); from
    the same start it reaches scikit-learn's parameters.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Stop when the lower bound (a sum over samples) changes by less than ``tol``.
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float, optional
        gamma_0 > 0 (default 1 / n_components); small values favour few components.
    mean_precision_prior : float, optional
        beta_0 > 0 (default 1).
    mean_prior : array-like, shape (n_features,), optional
        Default: the mean of X.
    degrees_of_freedom_prior : float, optional
        nu_0 > n_features - 1 (default n_features).
    covariance_prior : float or array-like, optional
        Default: the covariance of X (full, tied), its variances (diag) or
        their mean (spherical).
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As for :class:`GaussianMixture`; ``covariances_`` is the inverse of
        the posterior mean precision, ``weights_`` the posterior mean weights.
    weight_concentration_ : ndarray or tuple of two ndarrays
        Dirichlet parameters (k,), or the stick-breaking Beta parameters (a, b).
    mean_precision_ : ndarray, shape (k,)
    degrees_of_freedom_ : ndarray, shape (k,) (a float for tied covariances)
    weight_concentration_prior_, mean_precision_prior_, mean_prior_,
    degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_.shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseMixture._parameter_constraints,
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: ArrayLike | None = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: float | ArrayLike | None = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    def _prepare(self, X: np.ndarray) -> None:
        d = X.shape[1]
        ctype = self.covariance_type
        self.weight_concentration_prior_ = (
            1.0 / self.n_components
            if self.weight_concentration_prior is None
            else self.weight_concentration_prior
        )
        self.mean_precision_prior_ = (
            1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        )
        if self.mean_prior is None:
            self.mean_prior_ = X.mean(axis=0)
        else:
            self.mean_prior_ = check_array(self.mean_prior, dtype=_FLOAT_DTYPES, ensure_2d=False)
            _check_shape(self.mean_prior_, (d,), "means")
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = d
        elif self.degrees_of_freedom_prior > d - 1.0:
            self.degrees_of_freedom_prior_ = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than "
                f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}."
            )
        if self.covariance_prior is None:
            if ctype in ("full", "tied"):
                self.covariance_prior_ = np.atleast_2d(np.cov(X.T))
            elif ctype == "diag":
                self.covariance_prior_ = np.var(X, axis=0, ddof=1)
            else:
                self.covariance_prior_ = np.var(X, axis=0, ddof=1).mean()
        elif ctype in ("full", "tied"):
            prior = check_array(self.covariance_prior, dtype=_FLOAT_DTYPES, ensure_2d=False)
            _check_shape(prior, (d, d), f"{ctype} covariance_prior")
            _check_spd(prior, f"{ctype} precision")
            self.covariance_prior_ = prior
        elif ctype == "diag":
            prior = check_array(self.covariance_prior, dtype=_FLOAT_DTYPES, ensure_2d=False)
            _check_shape(prior, (d,), f"{ctype} covariance_prior")
            if (prior <= 0).any():
                raise ValueError(f"'{ctype} precision' should be positive")
            self.covariance_prior_ = prior
        else:
            self.covariance_prior_ = self.covariance_prior

    def _priors(self) -> VariationalPriors:
        return VariationalPriors(
            self.weight_concentration_prior_type,
            float(self.weight_concentration_prior_),
            float(self.mean_precision_prior_),
            np.asarray(self.mean_prior_, dtype=np.float64),
            float(self.degrees_of_freedom_prior_),
            np.asarray(self.covariance_prior_, dtype=np.float64),
        )

    def _family(self) -> VariationalBayes:
        return VariationalBayes(self.covariance_type, self.reg_covar, self._priors())

    def _initial_state(self, X, source, random_state, family) -> VariationalState:
        stats, shift = self._initial_responsibility_statistics(X, source, random_state)
        return family.m_step(stats, shift)

    def _current_state(self) -> VariationalState:
        k, d = self.means_.shape
        wc = self.weight_concentration_
        wc = np.stack(wc) if isinstance(wc, tuple) else np.asarray(wc)
        return VariationalState(
            wc.astype(np.float64),
            np.asarray(self.mean_precision_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.broadcast_to(np.asarray(self.degrees_of_freedom_, dtype=np.float64), (k,)).copy(),
            _full_covariances(self.covariances_, self.covariance_type, k, d),
        )

    def _set_state(self, state: VariationalState, dtype) -> None:
        # scikit-learn's BayesianGaussianMixture computes and returns float64
        # whatever the input's precision (its GaussianMixture keeps float32).
        dtype = np.float64
        self._fitted_covariance_type = self.covariance_type
        ctype = self.covariance_type
        covariances = _typed_covariances(state.covariances, ctype)
        prec_chol = _precision_cholesky(covariances, ctype)
        wc = state.weight_concentration
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (wc[0].copy(), wc[1].copy())
        else:
            self.weight_concentration_ = wc.copy()
        self.mean_precision_ = state.mean_precision.copy()
        self.degrees_of_freedom_ = (
            float(state.degrees_of_freedom[0])
            if ctype == "tied"
            else state.degrees_of_freedom.copy()
        )
        self.weights_ = expected_weights(state, self.weight_concentration_prior_type)
        self.means_ = state.means.astype(dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        self.precisions_ = _precisions(prec_chol, ctype).astype(dtype)

    _FITTED: ClassVar[tuple[str, ...]] = (
        "weights_",
        "means_",
        "covariances_",
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "mean_prior_",
        "degrees_of_freedom_prior_",
        "covariance_prior_",
    )

    def _fitted_shapes(self, k: int, d: int) -> dict:
        ctype = self.covariance_type
        prior_shape = {"full": (d, d), "tied": (d, d), "diag": (d,), "spherical": ()}[ctype]
        return {
            "means_": (k, d),
            "covariances_": _type_shape(ctype, k, d),
            "weight_concentration_": (2, k)
            if self.weight_concentration_prior_type == "dirichlet_process"
            else (k,),
            "mean_precision_": (k,),
            "degrees_of_freedom_": () if ctype == "tied" else (k,),
            "weight_concentration_prior_": (),
            "mean_precision_prior_": (),
            "mean_prior_": (d,),
            "degrees_of_freedom_prior_": (),
            "covariance_prior_": prior_shape,
        }

    def _restore(self, values: dict, k: int, d: int, dtype, source: str) -> None:
        positive = (
            "weight_concentration_",
            "mean_precision_",
            "weight_concentration_prior_",
            "mean_precision_prior_",
        )
        for name in positive:
            if (values[name] <= 0).any():
                raise ValueError(f"{source}: {name} must be positive")
        if (values["degrees_of_freedom_"] <= d - 1).any() or values[
            "degrees_of_freedom_prior_"
        ] <= d - 1:
            raise ValueError(f"{source}: degrees of freedom must be greater than {d - 1}")
        for name in ("weight_concentration_prior_", "mean_precision_prior_"):
            setattr(self, name, float(values[name]))
        self.degrees_of_freedom_prior_ = float(values["degrees_of_freedom_prior_"])
        self.mean_prior_ = values["mean_prior_"]
        prior = values["covariance_prior_"]
        self.covariance_prior_ = float(prior) if prior.ndim == 0 else prior
        _check_symmetric(values["covariances_"], self.covariance_type, source)
        state = VariationalState(
            values["weight_concentration_"],
            values["mean_precision_"],
            values["means_"],
            np.broadcast_to(values["degrees_of_freedom_"], (k,)).copy(),
            _full_covariances(values["covariances_"], self.covariance_type, k, d),
        )
        with np.errstate(all="ignore"):
            log_priors = self._family().log_priors(state)
            weights = expected_weights(state, self.weight_concentration_prior_type)
        if not (np.isfinite(log_priors).all() and np.isfinite(weights).all()):
            raise ValueError(
                f"{source}: weight_concentration_, mean_precision_ and degrees_of_freedom_ "
                "give non-finite expected log weights"
            )
        try:
            self._set_state(state, dtype)
        except ValueError as exc:
            raise ValueError(f"{source}: covariances_ are not positive definite") from exc

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, d = self.means_.shape
        family = VariationalBayes(self.covariance_type, self.reg_covar, self._priors())
        log_priors = family.log_priors(self._current_state())
        chol = _cholesky_from_precisions(self.precisions_cholesky_, self.covariance_type, k, d)
        return log_priors, np.asarray(self.means_, dtype=np.float64), chol


class BayesianGaussianMixtureRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Gaussian mixture regression on a variational Bayesian mixture: k chosen by the data.

    Fits :class:`BayesianGaussianMixture` to the joint data [X, y], keeps the
    components that explain at least ``min_samples`` training samples
    (N_j >= ``min_samples``; surplus components explain almost none)
    and predicts with the conditional mixture p(y | x) of the posterior-mean
    mixture, as :class:`GaussianMixtureRegressor` does. ``n_components`` is
    an upper bound. A component's count N_j is its posterior responsibility
    mass (the Dirichlet posterior's parameter minus the prior's).

    Parameters
    ----------
    n_components : int, default=10
        Upper bound on the number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Only "full" and "tied" model the correlation between inputs and
        outputs within a component.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float, optional
        Small values favour fewer components (default 1 / n_components).
    tol, reg_covar, max_iter, n_init, init_params, random_state
        As in :class:`BayesianGaussianMixture`.
    min_samples : float, default=1.0
        Components with fewer expected training samples are pruned.

    Attributes
    ----------
    mixture_ : BayesianGaussianMixture
        The fitted variational mixture over [X, y].
    gmm_ : GMM
        The pruned posterior-mean mixture used for prediction.
    n_components_ : int
        Components kept.
    n_iter_ : int
        Iterations of the variational fit.
    indices_ : ndarray, shape (n_features_in_,)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import BayesianGaussianMixtureRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, (600, 1))
    >>> y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(600)
    >>> reg = BayesianGaussianMixtureRegressor(n_components=12, random_state=0).fit(X, y)
    >>> reg.n_components_ <= 12
    True
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        covariance_type: str = "full",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 500,
        n_init: int = 1,
        init_params: str = "kmeans",
        random_state: Any = None,
        min_samples: float = 1.0,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.min_samples = min_samples

    def fit(self, X: ArrayLike, y: ArrayLike) -> BayesianGaussianMixtureRegressor:
        """Fit the variational mixture of [X, y] and keep the components in use.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self
        """
        joint, n_inputs = _joint_data(self, X, y)
        self.mixture_ = BayesianGaussianMixture(
            n_components=min(self.n_components, joint.shape[0]),
            covariance_type=self.covariance_type,
            weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=self.weight_concentration_prior,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            n_init=self.n_init,
            init_params=self.init_params,
            random_state=self.random_state,
        ).fit(joint)
        full = self.mixture_.to_gmm()
        keep = self._expected_counts() >= self.min_samples
        if not keep.any():
            keep = self.mixture_.weights_ == self.mixture_.weights_.max()
        priors = full.priors[keep]
        self.gmm_ = GMM(
            int(keep.sum()),
            priors=priors / priors.sum(),
            means=full.means[keep],
            covariances=full.covariances[keep],
            random_state=self.random_state,
        )
        self.gmm_.covariance_type_ = self.covariance_type
        self.n_components_ = int(keep.sum())
        self.n_iter_ = self.mixture_.n_iter_
        self.indices_ = np.arange(n_inputs)
        return self

    def _expected_counts(self) -> np.ndarray:
        """N_j, the training samples each component explains (from the Dirichlet posterior)."""
        mixture = self.mixture_
        if mixture.weight_concentration_prior_type == "dirichlet_process":
            return mixture.weight_concentration_[0] - 1.0
        return mixture.weight_concentration_ - mixture.weight_concentration_prior_

    def predict(
        self, X: ArrayLike, return_std: bool = False, return_cov: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Conditional mean E[y | x] of each row, optionally with its spread.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        return_std : bool, default=False
        return_cov : bool, default=False

        Returns
        -------
        y_mean : ndarray, shape (n_samples,) or (n_samples, n_targets)
        y_std or y_cov : ndarray
            As in :meth:`GaussianMixtureRegressor.predict`.
        """
        return _predict_conditional(self, X, return_std, return_cov)
