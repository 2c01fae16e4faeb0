"""scikit-learn estimators built on :class:`gaussmix.GMM`.

Importing this module requires scikit-learn (``pip install gaussmix[sklearn]``);
nothing else in gaussmix depends on it.

- :class:`GaussianMixtureRegressor`: Gaussian mixture regression, with the
  predictive standard deviation or covariance of every prediction.
- :class:`GaussianMixtureImputer`: fills missing values with their
  conditional expectation under a mixture fitted to incomplete data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import (
        BaseEstimator,
        MultiOutputMixin,
        OneToOneFeatureMixin,
        RegressorMixin,
        TransformerMixin,
    )
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    raise ImportError(
        "gaussmix.sklearn needs scikit-learn >= 1.6; install it with "
        "`pip install gaussmix[sklearn]`"
    ) from exc

from .gmm import GMM

__all__ = ["GaussianMixtureImputer", "GaussianMixtureRegressor"]

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
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=_FLOAT_DTYPES)
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        self.gmm_ = GMM(
            self.n_components,
            priors=self.priors,
            means=self.means,
            covariances=self.covariances,
            verbose=self.verbose,
            random_state=self.random_state,
        )
        self.indices_ = np.arange(X.shape[1])
        self.gmm_.from_samples(
            np.hstack([X.astype(np.float64), targets]),
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
        if return_std and return_cov:
            raise ValueError("At most one of return_std or return_cov can be requested")
        check_is_fitted(self, ["gmm_", "indices_"])
        X = validate_data(self, X, reset=False, dtype=_FLOAT_DTYPES)
        if not (return_std or return_cov):
            mean = self.gmm_.predict(self.indices_, X)
            return mean[:, 0] if self._y_1d else mean
        mean, cov = self.gmm_.predict(self.indices_, X, return_covariance=True)
        if return_cov:
            return (mean[:, 0] if self._y_1d else mean), cov
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        if self._y_1d:
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
