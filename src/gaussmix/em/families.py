"""Model families: what the E-step's components are and how the M-step updates them.

A family turns its state into the Gaussians of the E-step
(:meth:`gaussians`), turns summed :class:`Statistics` into a new state
(:meth:`m_step`) and scores an iteration (:meth:`objective`). The driver
treats the state as opaque. Maximum likelihood is the family here; a
variational-Bayes family fits the same interface, since its E-step is also
quadratic in x: means m_j, covariances (nu_j W_j)^-1, and priors whose log
is E[ln pi_j] + E[ln|Lambda_j|]/2 - ln|nu_j W_j|/2 - d/(2 beta_j) (Bishop
2006, eq. 10.46 and 10.64-10.67), so it reuses every source, E-step and kernel
unchanged; see CONTRIBUTING.md, "Adding a model family".
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from .. import covariance as structures
from .stats import Statistics

__all__ = [
    "Gaussians",
    "MaximumLikelihood",
    "ModelFamily",
    "m_step_batch",
    "m_step_from_moments",
    "oas_shrinkage",
    "project_covariances",
]


class Gaussians(NamedTuple):
    """Weights (k,), means (k, d) and full covariances (k, d, d) of a mixture."""

    priors: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


class ModelFamily(Protocol):
    """The interface the driver needs from a model family."""

    #: Whether :meth:`m_step` needs ``Statistics.resp_sq_sum``.
    need_resp_sq: bool

    def start(self, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray):
        """The state EM starts from, given initial mixture parameters."""

    def gaussians(self, state) -> Gaussians:
        """The components the E-step evaluates under ``state``."""

    def m_step(self, stats: Statistics, shift: np.ndarray):
        """A new state from statistics taken about ``shift`` ((d,) or (k, d))."""

    def objective(self, stats: Statistics, state) -> float:
        """The quantity EM increases (convergence and n_init).

        ``stats`` are an E-step's statistics and ``state`` the state the
        M-step made of them (the E-step's own state when gmr's rule stopped
        before the M-step). Maximum likelihood needs only ``stats``; a
        variational lower bound needs the updated state.
        """

    def mixture(self, state) -> Gaussians:
        """The fitted mixture of a final state."""


class MaximumLikelihood:
    """Maximum-likelihood EM (Dempster, Laird & Rubin 1977) with scikit-learn's M-step.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance after each M-step.
    oas : bool, default=False
        Shrink every covariance with OAS after each M-step (gmr's option).
    """

    def __init__(self, covariance_type: str, reg_covar: float, oas: bool = False) -> None:
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.oas = oas
        self.need_resp_sq = oas
        # The covariances of the last E-step (see :meth:`gaussians`): the warm
        # start of iterative M-steps (mclust's VEI, VEE, EVE, VVE, VEV).
        self.e_step_covariances: np.ndarray | None = None

    def start(self, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> Gaussians:
        """The starting state: the given parameters, covariances projected on the structure."""
        return Gaussians(
            priors, means, project_covariances(covariances, priors, self.covariance_type)
        )

    def starts(self, starts: list[tuple]) -> list[Gaussians]:
        """:meth:`start` of several starts, the projections in one batch (the same
        results as one at a time).

        Parameters
        ----------
        starts : list of (priors, means, covariances)
            Each with k components: (k,), (k, d), (k, d, d).

        Returns
        -------
        list of Gaussians
            In the order of ``starts``.
        """
        if not starts:
            return []
        priors = np.stack([np.asarray(start[0], dtype=np.float64) for start in starts])
        covariances = np.stack([np.asarray(start[2], dtype=np.float64) for start in starts])
        projected = structures.get(self.covariance_type).project_batch(covariances, priors)
        return [
            Gaussians(start[0], start[1], covariance)
            for start, covariance in zip(starts, projected, strict=True)
        ]

    def gaussians(self, state: Gaussians) -> Gaussians:
        """The E-step's components: the state itself.

        Its covariances are remembered as the starting point of the next
        M-step's iterations (structures with ``warm_start``): the M-step then
        starts where the E-step's parameters were, so it never lowers the
        expected complete-data log-likelihood (a generalized EM step).
        """
        self.e_step_covariances = state.covariances
        return state

    def mixture(self, state: Gaussians) -> Gaussians:
        """The fitted mixture: the state itself."""
        return state

    def objective(self, stats: Statistics, state: Gaussians) -> float:
        """The mean log-likelihood (weighted) of the E-step that produced ``stats``."""
        return stats.log_lik_sum / stats.weight_sum

    def m_step(self, stats: Statistics, shift: np.ndarray) -> Gaussians:
        """New parameters from ``stats`` taken about ``shift`` (see :func:`m_step`), OAS if set."""
        new = Gaussians(
            *m_step(
                stats,
                shift,
                self.covariance_type,
                self.reg_covar,
                previous=self.e_step_covariances,
            )
        )
        if self.oas:
            n_eff = stats.resp_sum**2 / np.maximum(stats.resp_sq_sum, np.finfo(float).tiny)
            new = Gaussians(new.priors, new.means, oas_shrinkage(new.covariances, n_eff))
        return new


def m_step(
    stats: Statistics,
    shift: np.ndarray,
    covariance_type: str,
    reg_covar: float,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New (priors, means, covariances) from summed statistics.

    Follows scikit-learn's estimators exactly: N_j = sum r + 10 eps,
    mu_j = sum r x / N_j, Sigma_j = sum r (x - mu_j)(x - mu_j)^T / N_j
    + reg_covar I (tied: the sum over components divided by sum N_j; diag:
    only the diagonal; spherical: the mean of the diagonal), priors N_j / sum N.
    Covariances are always returned as full (k, d, d) matrices. ``shift`` is
    the point the moments were taken about: (d,) for all components, or
    (k, d), one per component (the precise path). ``previous`` (k, d, d)
    covariances, optional, start the iterations of structures whose M-step
    iterates (``structure.warm_start``); the others ignore it.
    """
    structure = structures.get(covariance_type)
    d = shift.shape[-1]
    first, second = stats.first_moments(d), stats.second_moments(d, structure.quadratic)
    return m_step_from_moments(
        stats.resp_sum, first, second, shift, covariance_type, reg_covar, previous
    )


def m_step_from_moments(
    resp_sum: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
    reg_covar: float,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This module's ``m_step``, from the moments themselves.

    Parameters
    ----------
    resp_sum : ndarray, shape (k,)
        sum_i w_i r_ij.
    first : ndarray, shape (k, d)
        sum_i w_i r_ij (x_i - shift).
    second : ndarray, shape (k, d, d), or (k, d) for diagonal features
        sum_i w_i r_ij (x_i - shift)(x_i - shift)^T (or its diagonal);
        overwritten.
    shift : ndarray, shape (d,) or (k, d)
    covariance_type : str
    reg_covar : float
    previous : ndarray, shape (k, d, d), optional

    Returns
    -------
    priors, means, covariances : ndarrays, shapes (k,), (k, d), (k, d, d)
    """
    if previous is not None and previous.shape[0] != len(resp_sum):
        previous = None
    priors, means, covariances = m_step_batch(
        resp_sum[None],
        first[None],
        second[None],
        shift if shift.ndim == 1 else shift[None],
        covariance_type,
        reg_covar,
        None if previous is None else previous[None],
    )
    return priors[0], means[0], covariances[0]


def m_step_batch(
    resp_sum: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
    reg_covar: float,
    previous: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`m_step_from_moments` of B independent mixtures (a batch of EM runs).

    Parameters
    ----------
    resp_sum : ndarray, shape (B, k)
    first : ndarray, shape (B, k, d)
    second : ndarray, shape (B, k, d, d), or (B, k, d) for diagonal features
        Overwritten.
    shift : ndarray, shape (d,) or (B, k, d)
    covariance_type : str
    reg_covar : float
    previous : ndarray, shape (B, k, d, d), optional
        Starting covariances of iterative M-steps (``structure.warm_start``).

    Returns
    -------
    priors, means, covariances : ndarrays, shapes (B, k), (B, k, d), (B, k, d, d)
    """
    structure = structures.get(covariance_type)
    nk = resp_sum + 10.0 * np.finfo(np.float64).eps
    centred_means = first / nk[..., None]
    means = centred_means + shift
    priors = nk / nk.sum(axis=-1, keepdims=True)
    if structure.quadratic:
        # sum r (y - c)(y - c)^T = S2 - c s1^T - s1 c^T + (sum r) c c^T
        outer_cs = centred_means[..., :, None] * first[..., None, :]
        scatter = second
        scatter += (
            -outer_cs
            - np.swapaxes(outer_cs, -1, -2)
            + resp_sum[..., None, None] * centred_means[..., :, None] * centred_means[..., None, :]
        )
    else:
        scatter = second - 2.0 * centred_means * first + resp_sum[..., None] * centred_means**2
    if structure.warm_start and previous is not None:
        return priors, means, structure.estimate_batch(scatter, nk, reg_covar, previous=previous)
    return priors, means, structure.estimate_batch(scatter, nk, reg_covar)


def project_covariances(
    covariances: np.ndarray, priors: np.ndarray, covariance_type: str
) -> np.ndarray:
    """Impose a covariance structure on full (k, d, d) starting covariances."""
    return structures.get(covariance_type).project(covariances, priors)


def oas_shrinkage(covariances: np.ndarray, n_samples_eff: np.ndarray) -> np.ndarray:
    """Oracle approximating shrinkage of every covariance at once.

    Chen, Wiesel, Eldar & Hero, "Shrinkage Algorithms for MMSE Covariance
    Estimation", IEEE Trans. Signal Process. 58(10), 2010, eq. 23, in the
    form used by gmr and scikit-learn's ``oas``.
    """
    _k, d, _ = covariances.shape
    mu = np.trace(covariances, axis1=1, axis2=2) / d
    alpha = np.mean(covariances**2, axis=(1, 2))
    num = alpha + mu**2
    den = (n_samples_eff + 1.0) * (alpha - mu**2 / d)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where(den == 0, 1.0, np.minimum(num / np.where(den == 0, 1, den), 1.0))
    return (1.0 - shrinkage)[:, None, None] * covariances + (shrinkage * mu)[
        :, None, None
    ] * np.eye(d)
