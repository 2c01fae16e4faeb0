"""Gaussian mixture regression as scikit-learn regressors: the predictive mean of
p(y | x), and its standard deviation or covariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import (
    BaseEstimator,
    MultiOutputMixin,
    RegressorMixin,
)
from sklearn.utils.validation import check_is_fitted

from .. import covariance as structures
from .._validation import is_dask_collection
from ..gmm import GMM
from ._checks import FLOAT_DTYPES, validate_data
from .bayesian import BayesianGaussianMixture


class _ConditionalPredictor:
    """What both GMR regressors share: the joint data [X, y] and prediction from ``gmm_``."""

    def _joint_data(self, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, int]:
        """Validated [X, y] as one float64 array, and the number of inputs; sets ``_y_1d``."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=FLOAT_DTYPES)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.hstack([X.astype(np.float64), targets]), X.shape[1]

    def _predict_conditional(
        self, X: ArrayLike, return_std: bool, return_cov: bool
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """GMR prediction of the fitted ``gmm_`` given ``indices_`` (inputs) and ``_y_1d``."""
        if return_std and return_cov:
            raise ValueError("At most one of return_std or return_cov can be requested")
        check_is_fitted(self, ["gmm_", "indices_"])
        if not is_dask_collection(X):  # a Dask array stays lazy (gmm_.predict checks it)
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        one_d = self._y_1d
        if not (return_std or return_cov):
            mean = self.gmm_.predict(self.indices_, X)
            return mean[:, 0] if one_d else mean
        mean, cov = self.gmm_.predict(self.indices_, X, return_covariance=True)
        if return_cov:
            return (mean[:, 0] if one_d else mean), cov
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        if one_d:
            return mean[:, 0], std[:, 0]
        return mean, std


class GaussianMixtureRegressor(
    _ConditionalPredictor, MultiOutputMixin, RegressorMixin, BaseEstimator
):
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
    indices_ : ndarray, shape (``n_features_in_``,)
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
        return self._fit_joint(*self._joint_data(X, y))

    def _fit_dask(self, X: Any, y: Any) -> GaussianMixtureRegressor:
        # Dask arrays (issue 16): [X, y] joined lazily and fitted on their chunks
        # (gaussmix.dask checks them); scikit-learn's validate_data would compute
        # them into memory. predict keeps Dask input lazy the same way.
        from ..dask import join_columns

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
            covariance_type=self.covariance_type,
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            tol=self.tol,
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
        return self._predict_conditional(X, return_std, return_cov)


class BayesianGaussianMixtureRegressor(
    _ConditionalPredictor, MultiOutputMixin, RegressorMixin, BaseEstimator
):
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
    indices_ : ndarray, shape (``n_features_in_``,)
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
        joint, n_inputs = self._joint_data(X, y)
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
        self.gmm_.covariance_type_ = structures.canonical(self.covariance_type)
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
        return self._predict_conditional(X, return_std, return_cov)
