"""gaussmix: Gaussian mixture models and Gaussian mixture regression.

A drop-in replacement for gmr 2.0.3 (``from gaussmix import GMM, MVN``) with
scikit-learn-grade EM, batched conditioning and log-space numerics.
"""

from . import em, gmm, mvn, utils
from ._version import __version__
from .em import ConvergenceWarning
from .gmm import (
    GMM,
    ConditionalGMM,
    covariance_initialization,
    kmeansplusplus_initialization,
    plot_error_ellipses,
)
from .mvn import MVN, plot_error_ellipse
from .selection import ModelSelection, select_model
from .streams import fit_stream

__all__ = [
    "GMM",
    "MVN",
    "ConditionalGMM",
    "ConvergenceWarning",
    "ModelSelection",
    "__version__",
    "covariance_initialization",
    "em",
    "fit_stream",
    "gmm",
    "kmeansplusplus_initialization",
    "mvn",
    "plot_error_ellipse",
    "plot_error_ellipses",
    "select_model",
    "utils",
]
