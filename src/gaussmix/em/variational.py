"""Variational Bayes for Gaussian mixtures: a second model family of the EM engine.

The model (Bishop 2006, ch. 10.2; Blei & Jordan 2006 for the Dirichlet
process) puts a Dirichlet or stick-breaking prior on the weights and a
Gaussian-Wishart prior on each component's mean and precision. Variational
inference alternates, like EM, between responsibilities and the posterior
parameters, and its E-step is still quadratic in x: component j enters as
the Gaussian N(x | m_j, (nu_j W_j)^-1) with the log prior

    ``E[ln pi_j] + E[ln |Lambda_j|] / 2 - d ln(nu_j) / 2 - d / (2 beta_j)``,

so every statistics source, E-step path and compiled kernel of maximum
likelihood serves it unchanged. The lower bound needs the responsibilities'
entropy, which every E-step returns (``Statistics.resp_entropy``).

Parameterisation and updates follow scikit-learn's ``BayesianGaussianMixture``
exactly (including its diagonal and spherical variants and its lower bound
without the constant terms), so that both reach the same parameters from the
same start.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import covariance as structures
from .._linalg import safe_cholesky
from .families import Gaussians, m_step
from .stats import Statistics

__all__ = ["VariationalBayes", "VariationalPriors", "VariationalState", "expected_weights"]

WEIGHT_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


class VariationalPriors(NamedTuple):
    """The prior of a variational Gaussian mixture.

    Attributes
    ----------
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration : float
        gamma_0: the stick-breaking Beta(1, gamma_0) or symmetric Dirichlet parameter.
    mean_precision : float
        beta_0, the precision scale of the means' Gaussian prior.
    mean : ndarray, shape (d,)
        m_0, the means' prior mean.
    degrees_of_freedom : float
        nu_0 > d - 1, of the Wishart prior on the precisions.
    covariance : ndarray
        The Wishart prior's inverse scale W_0^-1: (d, d) for full and tied
        covariances, (d,) for diag, a 0-d array for spherical.
    """

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray


class VariationalState(NamedTuple):
    """Posterior parameters of a variational Gaussian mixture.

    Attributes
    ----------
    weight_concentration : ndarray, shape (k,) or (2, k)
        Dirichlet parameters, or the stick-breaking Beta parameters (a, b).
    mean_precision : ndarray, shape (k,)
        beta_j.
    means : ndarray, shape (k, d)
        m_j.
    degrees_of_freedom : ndarray, shape (k,)
        nu_j (for tied covariances all equal, as scikit-learn's scalar).
    covariances : ndarray, shape (k, d, d)
        (nu_j W_j)^-1, the inverse of the posterior mean precision, as full
        matrices (diagonal for diag and spherical, repeated for tied).
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray


def expected_weights(state: VariationalState, weight_prior_type: str) -> np.ndarray:
    """Posterior mean of the weights (normalized), as scikit-learn's ``weights_``.

    Parameters
    ----------
    state : VariationalState
    weight_prior_type : {"dirichlet_process", "dirichlet_distribution"}

    Returns
    -------
    weights : ndarray, shape (k,)
        E[pi_j] under the stick-breaking or Dirichlet posterior, summing to one.
    """
    wc = state.weight_concentration
    if weight_prior_type == "dirichlet_process":
        a, b = wc
        total = a + b
        weights = a / total * np.concatenate([[1.0], np.cumprod(b / total)[:-1]])
    else:
        weights = wc.copy()
    return weights / weights.sum()


class VariationalBayes:
    """Variational inference for a Gaussian mixture (scikit-learn's BayesianGaussianMixture).

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of the responsibilities' empirical covariances
        before they enter the Wishart update (as scikit-learn does).
    priors : VariationalPriors
    """

    need_resp_sq = False

    def __init__(self, covariance_type: str, reg_covar: float, priors: VariationalPriors) -> None:
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.priors = priors

    # -- the engine's interface ---------------------------------------------
    def start(self, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray):
        """Not defined: a variational fit starts from responsibilities (:meth:`m_step`)."""
        raise NotImplementedError(
            "a variational fit starts from the statistics of initial responsibilities: "
            "use m_step(responsibility_statistics(...), shift)"
        )

    def gaussians(self, state: VariationalState) -> Gaussians:
        """The E-step's components: N(m_j, (nu_j W_j)^-1) with the variational log priors."""
        log_priors = self.log_priors(state)
        priors = np.exp(log_priors - log_priors.max())
        return Gaussians(priors, state.means, state.covariances)

    def mixture(self, state: VariationalState) -> Gaussians:
        """The posterior-mean mixture: expected weights, m_j and (nu_j W_j)^-1."""
        weights = expected_weights(state, self.priors.weight_concentration_prior_type)
        return Gaussians(weights, state.means, state.covariances)

    def m_step(self, stats: Statistics, shift: np.ndarray) -> VariationalState:
        """Posterior parameters from statistics taken about ``shift``."""
        prior = self.priors
        nk = stats.resp_sum + 10.0 * np.finfo(np.float64).eps
        k = nk.shape[0]
        _, xk, sk = m_step(stats, shift, self.covariance_type, self.reg_covar)
        d = xk.shape[1]
        if prior.weight_concentration_prior_type == "dirichlet_process":
            tail = np.concatenate([np.cumsum(nk[::-1])[-2::-1], [0.0]])
            wc = np.stack([1.0 + nk, prior.weight_concentration + tail])
        else:
            wc = prior.weight_concentration + nk
        beta = prior.mean_precision + nk
        means = (prior.mean_precision * prior.mean + nk[:, None] * xk) / beta[:, None]
        diff = xk - prior.mean
        scale = nk * prior.mean_precision / beta
        structure = structures.get(self.covariance_type)
        if structure.quadratic and not structure.shared:
            dof = prior.degrees_of_freedom + nk
            cov = (
                prior.covariance
                + nk[:, None, None] * sk
                + scale[:, None, None] * diff[:, :, None] * diff[:, None, :]
            ) / dof[:, None, None]
        elif structure.quadratic:
            dof = np.full(k, prior.degrees_of_freedom + nk.sum() / k)
            spread = np.einsum("k,ki,kj->ij", scale, diff, diff)
            tied = (prior.covariance + sk[0] * nk.sum() / k + spread / k) / dof[0]
            cov = np.broadcast_to(tied, (k, d, d)).copy()
        else:
            dof = prior.degrees_of_freedom + nk
            var_k = np.diagonal(sk, axis1=1, axis2=2)
            spread = (prior.mean_precision / beta)[:, None] * diff**2
            if not structure.isotropic:
                var = (prior.covariance + nk[:, None] * (var_k + spread)) / dof[:, None]
            else:
                sph = (prior.covariance + nk * (var_k[:, 0] + spread.mean(axis=1))) / dof
                var = np.repeat(sph[:, None], d, axis=1)
            cov = var[:, :, None] * np.eye(d)
        return VariationalState(wc, beta, means, dof, cov)

    def objective(self, stats: Statistics, state: VariationalState) -> float:
        """scikit-learn's variational lower bound (without its constant terms).

        ``stats`` are the E-step's, ``state`` the M-step's result of them: the
        responsibilities' entropy minus the log normalizers of the Wishart,
        Dirichlet (or Beta) and Gaussian posteriors.
        """
        prior = self.priors
        d = state.means.shape[1]
        k = state.means.shape[0]
        dof = state.degrees_of_freedom
        # ln|W_j|^(1/2) = -ln|(nu_j W_j)^-1|^(1/2) - d ln(nu_j) / 2
        half_log_det_w = -0.5 * self._log_det_covariances(state) - 0.5 * d * np.log(dof)
        log_wishart = _log_wishart_norm(dof, half_log_det_w, d)
        log_wishart = (
            k * log_wishart[0]
            if structures.get(self.covariance_type).shared
            else log_wishart.sum()
        )
        # scipy.special is imported where used: it costs tens of ms at import time.
        from scipy.special import betaln, gammaln

        wc = state.weight_concentration
        if prior.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -np.sum(betaln(wc[0], wc[1]))
        else:
            log_norm_weight = gammaln(wc.sum()) - gammaln(wc).sum()
        return float(
            stats.resp_entropy
            - log_wishart
            - log_norm_weight
            - 0.5 * d * np.log(state.mean_precision).sum()
        )

    # -- pieces ----------------------------------------------------------------
    def expected_log_weights(self, state: VariationalState) -> np.ndarray:
        """E[ln pi_j] under the Dirichlet or stick-breaking posterior."""
        from scipy.special import digamma

        wc = state.weight_concentration
        if self.priors.weight_concentration_prior_type == "dirichlet_process":
            a, b = wc
            digamma_sum = digamma(a + b)
            stick = np.concatenate([[0.0], np.cumsum(digamma(b) - digamma_sum)[:-1]])
            return digamma(a) - digamma_sum + stick
        return digamma(wc) - digamma(wc.sum())

    def log_priors(self, state: VariationalState) -> np.ndarray:
        """The E-step's log prior of each component (Bishop 2006, eq. 10.46)."""
        from scipy.special import digamma

        d = state.means.shape[1]
        dof = state.degrees_of_freedom
        log_lambda = d * math.log(2.0) + digamma(0.5 * (dof[None, :] - np.arange(d)[:, None])).sum(
            axis=0
        )
        return (
            self.expected_log_weights(state)
            - 0.5 * d * np.log(dof)
            + 0.5 * (log_lambda - d / state.mean_precision)
        )

    def _log_det_covariances(self, state: VariationalState) -> np.ndarray:
        if structures.get(self.covariance_type).quadratic:
            chol = safe_cholesky(state.covariances)
            return 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        return np.log(np.diagonal(state.covariances, axis1=1, axis2=2)).sum(axis=1)


def _log_wishart_norm(dof: np.ndarray, half_log_det_w: np.ndarray, d: int) -> np.ndarray:
    """ln B(W, nu) of each Wishart posterior, without the ln(pi) term (as scikit-learn)."""
    from scipy.special import gammaln

    return -(
        dof * half_log_det_w
        + dof * d * 0.5 * math.log(2.0)
        + gammaln(0.5 * (dof[None, :] - np.arange(d)[:, None])).sum(axis=0)
    )
