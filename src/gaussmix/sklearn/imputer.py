"""An imputer: missing values replaced by their conditional mean under a mixture
fitted to the incomplete data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from ..gmm import GMM
from ._checks import FLOAT_DTYPES, validate_data


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
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
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
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan")
        # Computed in float64; returned in the input's precision, as
        # scikit-learn's imputers do.
        return self.gmm_.impute(X).astype(X.dtype, copy=False)
