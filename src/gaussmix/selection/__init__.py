"""Model selection: the number of components and the covariance structure in one call.

:func:`select_model` (in :mod:`.search`) fits a grid of mixtures and ranks
them; :mod:`.criteria` holds the criteria, parameter counts and the
degenerate-fit rule; :mod:`.result` the :class:`ModelSelection` it returns;
:mod:`.prepare` the data prepared once and one candidate's fit.
"""

from __future__ import annotations

from .criteria import (
    AUTO_KMEANS_ROWS,
    CRITERIA,
    SELECT_INIT_PARAMS,
    DegenerateFitWarning,
    data_resolution,
    is_degenerate,
    n_parameters,
)
from .result import ModelSelection
from .search import select_model

__all__ = [
    "AUTO_KMEANS_ROWS",
    "CRITERIA",
    "SELECT_INIT_PARAMS",
    "DegenerateFitWarning",
    "ModelSelection",
    "data_resolution",
    "is_degenerate",
    "n_parameters",
    "select_model",
]
