"""Scores of a fitted mixture: densities, responsibilities, mean log-likelihood, BIC, AIC.

:class:`MixtureScores` is a base of :class:`gaussmix.GMM`: its methods need
only the object's ``checked_parameters``, ``_params_chol``, ``n_features``,
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

from . import _gaussian
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

    def _log_density_and_resp(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        priors, means, chol = self._params_chol()
        X, _ = check_points(X, means.shape[1], "X")
        return _gaussian.mixture_log_density(X, priors, means, chol)

    def _lazy_measured(
        self, method: str, X: Any, noise_covariances: Any, projection: Any, columns: int | None
    ) -> Any:
        """``method`` of measured rows over Dask arrays, lazily (see gaussmix.dask)."""
        from .dask import map_measured_rows

        if not is_dask_collection(X):
            raise ValueError(
                "noise_covariances or projection is a Dask array but X is not; pass X as a "
                "Dask array chunked like them (or all as numpy arrays)"
            )
        return map_measured_rows(self, method, X, noise_covariances, projection, columns)

    def to_responsibilities(
        self,
        X: ArrayLike,
        *,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> np.ndarray:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            With ``projection``: (n_samples, m).
        noise_covariances : array-like, optional
            Known noise of the rows (see :meth:`score_samples`): the
            responsibilities under the convolved mixture.
        projection : array-like, optional
            The rows' maps R_i (see :meth:`score_samples`).

        Returns
        -------
        R : ndarray, shape (n_samples, n_components)
            Rows sum to one; computed in log space, so far outliers get
            finite values. For a Dask array X, a lazy Dask array chunked
            like X's rows (noise and maps may be Dask arrays too, chunked
            like X's rows or rechunked so).

        Raises
        ------
        ValueError
            If the model is not initialized, or X, ``noise_covariances`` or
            ``projection`` are invalid (for Dask arrays: their values when
            computed).
        """
        if noise_covariances is not None or projection is not None:
            if any(is_dask_collection(v) for v in (X, noise_covariances, projection)):
                k = self.n_components
                return self._lazy_measured(
                    "to_responsibilities", X, noise_covariances, projection, k
                )
            return np.exp(
                self.convolved_log_density(X, noise_covariances, projection=projection)[1]
            )
        if is_dask_collection(X):
            from .dask import map_rows

            return map_rows(self.to_responsibilities, X, self.n_features, self.n_components)
        return np.exp(self._log_density_and_resp(X)[1])

    def score_samples(
        self,
        X: ArrayLike,
        *,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> np.ndarray:
        """Log density log p(x) of each sample, computed in log space.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
            A single point is treated as one sample. With ``projection``:
            (n_samples, m).
        noise_covariances : array-like, optional
            Known Gaussian noise of the rows, S_i: (n, d, d), (n, d)
            variances, or (d, d) / (1, d, d) shared. The log density is then
            that of the convolved mixture, log sum_j pi_j N(x_i | mu_j,
            Sigma_j + S_i) (see :meth:`convolved_log_density`).
        projection : array-like, optional
            Bovy, Hogg & Roweis's R_i, (n, m, d) or (m, d) / (1, m, d): the
            rows are measurements y_i = R_i v_i + e_i and the density is
            sum_j pi_j N(y_i | R_i mu_j, R_i Sigma_j R_i^T + S_i), with S_i
            over the m measured entries (zero without ``noise_covariances``).

        Returns
        -------
        log_p : ndarray, shape (n_samples,)
            For a Dask array X (2-D), a lazy Dask array chunked like its rows
            (as are :meth:`to_probability_density`'s); per-row noise and maps
            may then be Dask arrays too.

        Raises
        ------
        ValueError
            If the model is not initialized or X has the wrong number of
            features or non-finite entries (for a Dask array: when computed),
            or ``noise_covariances`` or ``projection`` are invalid.
        """
        if noise_covariances is not None or projection is not None:
            if any(is_dask_collection(v) for v in (X, noise_covariances, projection)):
                return self._lazy_measured("score_samples", X, noise_covariances, projection, None)
            return self.convolved_log_density(X, noise_covariances, projection=projection)[0]
        if is_dask_collection(X):
            from .dask import map_rows

            return map_rows(self.score_samples, X, self.n_features, None)
        priors, means, chol = self._params_chol()
        X, _ = check_points(X, means.shape[1], "X")
        # Row blocks: the densities' (rows, k, d) intermediates stay ~16 MB however
        # long X is (a memory-mapped X is read block by block).
        rows = max(1024, (1 << 21) // (means.shape[0] * means.shape[1]))
        return np.concatenate(
            [
                _gaussian.mixture_log_density(X[start : start + rows], priors, means, chol)[0]
                for start in range(0, max(1, X.shape[0]), rows)
            ]
        )

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
        if any(is_dask_collection(v) for v in (X, noise_covariances, projection)):
            raise ValueError(
                "convolved_log_density takes numpy arrays; for Dask arrays use "
                "score_samples or to_responsibilities (lazy, chunked like X)"
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
        if is_dask_collection(X) and sample_weight is None:
            total, count = self._total_of_samples(X, "score", noise_covariances, projection)
            return total / count
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
        total, count = self._total_of_samples(X, "bic", noise_covariances, projection)
        return float(-2.0 * total + self._n_parameters() * np.log(count))

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
        total, _ = self._total_of_samples(X, "aic", noise_covariances, projection)
        return float(-2.0 * total + 2.0 * self._n_parameters())

    def _scores_of_samples(
        self, X: ArrayLike, method: str, noise_covariances: Any, projection: Any = None
    ) -> np.ndarray:
        # A summary of no samples is undefined (NaN mean, -inf BIC): refuse it.
        log_p = self.score_samples(X, noise_covariances=noise_covariances, projection=projection)
        if log_p.shape[0] == 0:
            raise ValueError(f"X has no samples; {method}() needs at least one row")
        return log_p

    def _total_of_samples(
        self, X: ArrayLike, method: str, noise_covariances: Any, projection: Any
    ) -> tuple[float, int]:
        """Total log-likelihood and number of samples (a Dask X: one pass, any chunks)."""
        log_p = self._scores_of_samples(X, method, noise_covariances, projection)
        if is_dask_collection(log_p):
            from .dask import total_and_count

            total, count = total_and_count(log_p)
            if count == 0:
                raise ValueError(f"X has no samples; {method}() needs at least one row")
            return total, count
        return float(log_p.sum()), log_p.shape[0]
