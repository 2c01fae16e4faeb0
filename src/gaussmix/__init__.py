"""gaussmix: Gaussian mixture models and Gaussian mixture regression.

A drop-in replacement for gmr 2.0.3 (``from gaussmix import GMM, MVN``) with
scikit-learn-grade EM, batched conditioning and log-space numerics.
"""

from . import gmm, mvn, utils
from ._em import ConvergenceWarning
from .gmm import (
    GMM,
    ConditionalGMM,
    covariance_initialization,
    kmeansplusplus_initialization,
    plot_error_ellipses,
)
from .mvn import MVN, plot_error_ellipse

__version__ = "0.1.0"

__all__ = [
    "GMM",
    "MVN",
    "ConditionalGMM",
    "ConvergenceWarning",
    "covariance_initialization",
    "gmm",
    "kmeansplusplus_initialization",
    "mvn",
    "plot_error_ellipse",
    "plot_error_ellipses",
    "utils",
]
