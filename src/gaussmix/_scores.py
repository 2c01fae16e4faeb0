"""Scores of a fitted mixture: mean log-likelihood, BIC and AIC, with or without noise.

:class:`MixtureScores` is a base of :class:`gaussmix.GMM`: its methods need
only the object's ``score_samples``, ``checked_parameters``,
``n_components`` and ``covariance_type_``. With ``noise_covariances`` the
rows are noisy measurements (known covariances S_i) of values drawn from the
mixture, and every score is that of the convolved mixture, sum_j pi_j
N(x_i | mu_j, Sigma_j + S_i) (Bovy, Hogg & Roweis 2011): the likelihood
that a fit with ``from_samples(X, noise_covariances=S)`` maximizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import covariance as structures
from ._deconvolution import NoiseCovariances, convolved_log_density
from ._noisy_queries import measured_rows
from ._projection import projected_log_density
from ._validation import (
    check_noise_covariances,
    check_points,
    check_sample_weight,
    is_dask_collection,
)

__all__ = ["MixtureScores"]


class MixtureScores:
    """Scores of a mixture's fit to data (a base of :class:`gaussmix.GMM`)."""

    def convolved_log_density(
        self,
        X: ArrayLike,
        noise_covariances: ArrayLike | None,
        *,
        projection: ArrayLike | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log density and log responsibilities of the mixture convolved with each row's noise.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
            Noisy measurements (with ``projection``: (n_samples, m)).
        noise_covariances : array-like or None
            Their noise covariances: (n, d, d), (n, d) variances, or (d, d) /
            (1, d, d) shared by all rows (None: no noise, with a projection).
        projection : array-like, optional
            Bovy, Hogg & Roweis's R_i, (n, m, d) or (m, d): the rows are
            y_i = R_i v_i + e_i and the density is sum_j pi_j N(y_i | R_i
            mu_j, R_i Sigma_j R_i^T + S_i).

        Returns
        -------
        log_density : ndarray, shape (n_samples,)
            log sum_j pi_j N(x_i | mu_j, Sigma_j + S_i).
        log_resp : ndarray, shape (n_samples, n_components)

        Raises
        ------
        ValueError
            If the model is not initialized, X is invalid, or
            ``noise_covariances`` has the wrong shape, non-finite entries or
            is not symmetric positive semi-definite, ``projection`` has the
            wrong shape; for a Dask array X or noise (not supported yet).
        """
        if is_dask_collection(X) or is_dask_collection(noise_covariances):
            raise ValueError(
                "noise_covariances with a Dask array is not supported yet; score in memory "
                "(X and noise_covariances as numpy arrays)"
            )
        priors, means, covariances = self.checked_parameters()
        if projection is not None:
            rows = measured_rows(X, noise_covariances, projection, means.shape[1])
            return projected_log_density(rows, priors, means, covariances)
        X, _ = check_points(X, means.shape[1], "X")
        values, kind = check_noise_covariances(noise_covariances, *X.shape)
        return convolved_log_density(
            X.astype(np.float64, copy=False),
            NoiseCovariances(values, kind),
            priors,
            means,
            covariances,
        )

    def score(
        self,
        X: ArrayLike,
        sample_weight: ArrayLike | None = None,
        *,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> float:
        """Mean (optionally weighted) log-likelihood of the samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights with a positive sum; None weighs all
            samples equally.
        noise_covariances : array-like, optional
            Known noise of the rows (see :meth:`score_samples`): the score of
            the convolved mixture.
        projection : array-like, optional
            The rows' maps R_i (see :meth:`convolved_log_density`).

        Returns
        -------
        score : float
            The (weighted) average of :meth:`score_samples`.

        Raises
        ------
        ValueError
            If the model is not initialized, X is invalid, or the weights
            have the wrong length, negative entries or a zero sum.
        """
        log_p = self._scores_of_samples(X, "score", noise_covariances, projection)
        weights = check_sample_weight(sample_weight, log_p.shape[0])
        return float(np.average(log_p, weights=weights))

    def _n_parameters(self) -> int:
        k, d = self.n_components, self.checked_parameters()[1].shape[1]
        return structures.get(self.covariance_type_).n_mixture_parameters(k, d)

    def bic(
        self,
        X: ArrayLike,
        *,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> float:
        """Bayesian information criterion, -2 log L + p log n (lower is better).

        p counts the free parameters of ``covariance_type_``: the
        covariance parameters, k * d means and k - 1 priors.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Data whose total log-likelihood L is used; n is its row count.
        noise_covariances : array-like, optional
            Known noise of the rows (see :meth:`score_samples`): L is the
            likelihood of the convolved mixture.
        projection : array-like, optional
            The rows' maps R_i (see :meth:`convolved_log_density`).

        Returns
        -------
        bic : float

        Raises
        ------
        ValueError
            If the model is not initialized or X is invalid.
        """
        log_p = self._scores_of_samples(X, "bic", noise_covariances, projection)
        return float(-2.0 * log_p.sum() + self._n_parameters() * np.log(log_p.shape[0]))

    def aic(
        self,
        X: ArrayLike,
        *,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> float:
        """Akaike information criterion, -2 log L + 2 p (lower is better).

        p counts the free parameters of ``covariance_type_`` (see :meth:`bic`).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Data whose total log-likelihood L is used.
        noise_covariances, projection : array-like, optional
            As for :meth:`bic`.

        Returns
        -------
        aic : float

        Raises
        ------
        ValueError
            If the model is not initialized or X is invalid.
        """
        log_p = self._scores_of_samples(X, "aic", noise_covariances, projection)
        return float(-2.0 * log_p.sum() + 2.0 * self._n_parameters())

    def _scores_of_samples(
        self, X: ArrayLike, method: str, noise_covariances: Any, projection: Any = None
    ) -> np.ndarray:
        # A summary of no samples is undefined (NaN mean, -inf BIC): refuse it.
        if projection is not None:
            log_p = self.convolved_log_density(X, noise_covariances, projection=projection)[0]
        else:
            log_p = self.score_samples(X, noise_covariances=noise_covariances)
        if log_p.shape[0] == 0:
            raise ValueError(f"X has no samples; {method}() needs at least one row")
        return log_p
