"""scikit-learn estimators built on :class:`gaussmix.GMM`.

Importing this module requires scikit-learn (``pip install gaussmix[sklearn]``);
nothing else in gaussmix depends on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

try:
    from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    raise ImportError(
        "gaussmix.sklearn needs scikit-learn; install it with `pip install gaussmix[sklearn]`"
    ) from exc

from .gmm import GMM

__all__ = ["GaussianMixtureRegressor"]


class GaussianMixtureRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Gaussian mixture regression as a scikit-learn regressor.

    Fits a GMM to the joint data [X, y] and predicts E[y | x].

    Parameters
    ----------
    n_components : int
        Number of Gaussians.
    priors, means, covariances : array-like, optional
        Starting point of EM over the joint space (see :class:`GMM`).
    verbose : int, default=0
    random_state : None, int, RandomState or Generator, optional
    R_diff : float, default=1e-4
        gmr's convergence threshold on the change of the responsibilities.
    n_iter : int, default=500
        Maximum number of EM iterations.
    init_params : {"random", "kmeans++"}, default="random"

    Attributes
    ----------
    gmm_ : GMM
        The fitted joint mixture.
    indices_ : ndarray, shape (n_features_in_,)
        Dimensions of the joint model that hold the inputs.
    n_features_in_ : int
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
        X, y = validate_data(self, X, y, multi_output=True, dtype=[np.float64, np.float32])
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
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
            np.hstack([X, y2]),
            R_diff=self.R_diff,
            n_iter=self.n_iter,
            init_params=self.init_params,
        )
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Conditional mean E[y | x] of each row.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_targets)
            1-D when fitted on a 1-D y.
        """
        check_is_fitted(self, ["gmm_", "indices_"])
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        mean = self.gmm_.predict(self.indices_, X)
        return mean[:, 0] if self._y_1d else mean
