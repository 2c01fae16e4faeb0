"""scikit-learn estimators built on :class:`gaussmix.GMM`.

Importing this module requires scikit-learn (``pip install gaussmix[sklearn]``);
nothing else in gaussmix depends on it.

- :class:`GaussianMixtureRegressor`: Gaussian mixture regression, with the
  predictive standard deviation or covariance of every prediction.
- :class:`GaussianMixtureImputer`: fills missing values with their
  conditional expectation under a mixture fitted to incomplete data.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without sklearn
    raise ImportError(
        "gaussmix.sklearn needs scikit-learn >= 1.6; install it with "
        "`pip install gaussmix[sklearn]`"
    ) from exc

from .bayesian import BayesianGaussianMixture
from .imputer import GaussianMixtureImputer
from .mixture import GaussianMixture
from .regressors import BayesianGaussianMixtureRegressor, GaussianMixtureRegressor

__all__ = [
    "BayesianGaussianMixture",
    "BayesianGaussianMixtureRegressor",
    "GaussianMixture",
    "GaussianMixtureImputer",
    "GaussianMixtureRegressor",
]
