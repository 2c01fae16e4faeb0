"""The EM engine: sources of statistics, the E-step, model families and one driver.

Data flows one way::

    data ──> open_source ──> source ──(blocks)──> e_step ──> Statistics ──(+)──> family.m_step
             (front.py)    (sources.py)          (estep.py)   (stats.py)         (families.py,
                                ^                                                 covariance/)
                                └────────── driver.fit: iterations, rules, ──────────┘
                                            n_init, callback (driver.py)

- :mod:`~gaussmix.em.front`: the front door: checks the data, picks the source.
- :mod:`~gaussmix.em.sources`: where rows come from (arrays, arrays with NaN);
  :mod:`~gaussmix.em.dask_source`: Dask arrays (imports dask).
- :mod:`~gaussmix.em.estep`: ``e_step(block, weights, params)``, module-level
  and picklable; kernel or numpy. :mod:`~gaussmix.em.estep_missing`:
  ``missing_e_step`` for rows with NaN.
- :mod:`~gaussmix.em.noisy`: :class:`NoisySource`, rows with known noise
  covariances (extreme deconvolution's E-step); :mod:`~gaussmix.em.projected`:
  :class:`ProjectedSource`, with projections R_i or missing entries.
- :mod:`~gaussmix.em.stats`: additive :class:`Statistics`, ``pack``/``unpack``.
- :mod:`~gaussmix.em.families`: maximum likelihood (M-step, E-step constants).
- :mod:`~gaussmix.em.driver`: :func:`fit`, convergence rules, callback, warnings.
- :mod:`~gaussmix.em.online`: :class:`StepwiseEM`, the running statistics of
  stepwise (online) EM, one batch at a time (``partial_fit``).
- :mod:`~gaussmix.em.init`: random rows, k-means++ (bounded memory), spreads,
  gmr's starting parameters, the k-means start.
"""

from .driver import (
    ConvergenceRule,
    ConvergenceWarning,
    EMResult,
    convergence_rule,
    fit,
    run_em,
)
from .estep import EStepParameters, MissingBlock, e_step, make_e_step_parameters
from .estep_missing import missing_e_step
from .families import Gaussians, MaximumLikelihood, ModelFamily
from .noisy import NoisySource
from .online import StepwiseEM
from .projected import ProjectedSource
from .sources import ArraySource, MissingValuesSource, StatisticsSource
from .stats import Statistics

__all__ = [
    "ArraySource",
    "ConvergenceRule",
    "ConvergenceWarning",
    "EMResult",
    "EStepParameters",
    "Gaussians",
    "MaximumLikelihood",
    "MissingBlock",
    "MissingValuesSource",
    "ModelFamily",
    "NoisySource",
    "ProjectedSource",
    "Statistics",
    "StatisticsSource",
    "StepwiseEM",
    "convergence_rule",
    "e_step",
    "fit",
    "make_e_step_parameters",
    "missing_e_step",
    "run_em",
]
