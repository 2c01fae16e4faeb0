"""Many conditional mixtures p(y | x_i) at once: what ``GMM.condition_batch`` returns."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _gaussian
from . import covariance as structures
from ._linalg import safe_cholesky
from ._validation import (
    check_float,
    check_int,
    check_n_samples,
    check_samples,
)
from .utils import check_random_state

__all__ = ["ConditionalGMM"]


class ConditionalGMM:
    """Many conditional mixtures p(y | x_i), one per query row, as arrays.

    Returned by :meth:`GMM.condition_batch`. Row i is the mixture
    sum_j priors[i, j] N(y | means[i, j], covariances[j]); the component
    covariances of a Gaussian conditional do not depend on x. Conditioning
    on inputs measured with per-row noise, and the posteriors of true values
    (:meth:`GMM.true_value_posterior`), give each query its own component
    covariances, ``covariances[i, j]``.

    Parameters
    ----------
    priors : ndarray, shape (n_queries, k)
        Posterior component weights given each query; rows sum to one.
    means : ndarray, shape (n_queries, k, d_out)
        Conditional means of every component for every query.
    covariances : ndarray, shape (k, d_out, d_out) or (n_queries, k, d_out, d_out)
        Conditional covariances of the components (shared by the queries,
        or one set per query).
    output_indices : ndarray of int, shape (d_out,)
        Dimensions of the joint model that y holds.
    random_state : None, int, RandomState or Generator, optional
    mixture_type : type, optional
        The class of ``cond[i]``: :class:`gaussmix.GMM` (what
        :meth:`GMM.condition_batch` passes), or a subclass of it.
    """

    def __init__(
        self,
        priors: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        output_indices: np.ndarray | None = None,
        random_state: Any = None,
        *,
        mixture_type: type | None = None,
    ) -> None:
        self.priors = priors
        self.means = means
        self.covariances = covariances
        self.output_indices = output_indices
        self.random_state = check_random_state(random_state)
        self.mixture_type = mixture_type

    def __len__(self) -> int:
        return self.priors.shape[0]

    def __repr__(self) -> str:
        n, k, d = self.means.shape
        return f"ConditionalGMM(n_queries={n}, n_components={k}, n_outputs={d})"

    def __getitem__(self, i: int) -> Any:
        """The conditional mixture of query ``i`` as a :class:`GMM`.

        Parameters
        ----------
        i : int
            Query index; negative values count from the end.

        Returns
        -------
        gmm : GMM
            p(y | x_i) with priors (k,), means (k, d_out) and covariances
            (k, d_out, d_out); it shares this object's ``random_state``.

        Raises
        ------
        IndexError
            If i is not in [-n_queries, n_queries).
        TypeError
            If i is not an integer.
        """
        idx = check_int(i, "i")
        if self.mixture_type is None:
            raise ValueError(
                "this ConditionalGMM was built without mixture_type, so its rows cannot be "
                "returned as mixtures; pass mixture_type=gaussmix.GMM"
            )
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"query index {i} out of range for {n} queries")
        return self.mixture_type(
            self.priors.shape[1],
            priors=self.priors[idx],
            means=self.means[idx],
            covariances=self.covariances if self.covariances.ndim == 3 else self.covariances[idx],
            random_state=self.random_state,
        )

    def mean(self) -> np.ndarray:
        """E[y | x_i] for every query.

        Returns
        -------
        mean : ndarray, shape (n_queries, d_out)
            The prior-weighted average of the component means.
        """
        return _gaussian.mixture_moments(self.priors, self.means, None)[0]

    def covariance(self) -> np.ndarray:
        """Cov[y | x_i] for every query (law of total covariance).

        Returns
        -------
        covariance : ndarray, shape (n_queries, d_out, d_out)
            The weighted component covariances plus the spread of the
            component means.
        """
        return _gaussian.mixture_moments(self.priors, self.means, self.covariances)[1]

    def sample(self, n_samples: int = 1) -> np.ndarray:
        """Draw ``n_samples`` from each conditional mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Samples per query (>= 0).

        Returns
        -------
        Y : ndarray, shape (n_queries, n_samples, d_out)

        Raises
        ------
        ValueError
            If n_samples is negative.
        TypeError
            If n_samples is not an integer.
        """
        n, k, d = self.means.shape
        s = check_n_samples(n_samples, n * d)
        # Inverse-CDF choice of a component per draw, vectorized over queries.
        cdf = np.cumsum(self.priors, axis=1)
        u = self.random_state.uniform(0.0, 1.0, size=(n, s)) * cdf[:, -1:]
        labels = np.minimum((u[:, :, None] > cdf[:, None, :]).sum(axis=2), k - 1)
        chol = safe_cholesky(self.covariances)
        z = self.random_state.standard_normal((n, s, d))
        out = np.take_along_axis(self.means, labels[:, :, None], axis=1)
        if chol.ndim == 4:
            # One set of factors per query: index (query, component) pairs.
            chol = chol.reshape(n * k, d, d)
            labels = labels + k * np.arange(n)[:, None]
        # Gathering one Cholesky factor per draw costs d^2 per draw: go through
        # the draws in chunks so that the gather stays small.
        flat_out, flat_labels, flat_z = out.reshape(-1, d), labels.reshape(-1), z.reshape(-1, d)
        for draws in _gaussian.row_chunks(flat_labels.size, d * d):
            flat_out[draws] += np.einsum("nij,nj->ni", chol[flat_labels[draws]], flat_z[draws])
        return out

    def score_samples(self, Y: ArrayLike) -> np.ndarray:
        """log p(y_i | x_i) of one output row per query.

        Parameters
        ----------
        Y : array-like, shape (n_queries, d_out)
            Row i is evaluated under the conditional mixture of query i.

        Returns
        -------
        log_p : ndarray, shape (n_queries,)

        Raises
        ------
        ValueError
            If Y is not a finite 2-D array with d_out columns and one row per
            query.
        """
        n, _k, d = self.means.shape
        Y = check_samples(Y, "Y", n_features=d, dtype=np.float64, min_samples=0)
        if Y.shape[0] != n:
            raise ValueError(f"Y must have one row per query ({n}); got {Y.shape[0]}")
        with np.errstate(divide="ignore"):
            log_w = np.log(self.priors)
        return _gaussian.conditional_mixture_log_density(
            Y, log_w, self.means, safe_cholesky(self.covariances)
        )

    def to_probability_density(self, Y: ArrayLike) -> np.ndarray:
        """p(y_i | x_i) of one output row per query.

        Parameters
        ----------
        Y : array-like, shape (n_queries, d_out)
            Row i is evaluated under the conditional mixture of query i.

        Returns
        -------
        p : ndarray, shape (n_queries,)
            exp(:meth:`score_samples`).

        Raises
        ------
        ValueError
            If Y is not a finite 2-D array with d_out columns and one row per
            query.
        """
        return np.exp(self.score_samples(Y))

    def modes(
        self,
        *,
        min_relative_density: float = 1e-3,
        return_density: bool = False,
        max_iter: int = 1000,
    ) -> list:
        """Local maxima of each p(y | x_i): the answers of a multimodal regression.

        Every query's mixture is climbed from each component mean with the
        fixed-point (mean-shift) iteration for Gaussian mixtures; starts
        that reach the same point are merged.

        Parameters
        ----------
        min_relative_density : float, default=1e-3
            Drop modes whose density is below this fraction of the query's
            highest mode (spurious bumps of negligible components).
        return_density : bool, default=False
            Also return the density at each mode.
        max_iter : int, default=1000
            Iterations of the fixed-point search (it converges linearly, slowly
            on flat peaks).

        Returns
        -------
        modes : list of ndarray, one (m_i, d_out) array per query
            Sorted by decreasing density.
        densities : list of ndarray, one (m_i,) array per query
            Only with ``return_density=True``.
        """
        rel = check_float(min_relative_density, "min_relative_density", minimum=0.0, maximum=1.0)
        max_iter = check_int(max_iter, "max_iter", minimum=1)
        n, k, d = self.means.shape
        if n == 0:
            return ([], []) if return_density else []
        all_modes = np.full((n, k, d), np.nan)
        all_logd = np.full((n, k), -np.inf)
        spread = np.sqrt(np.diagonal(self.covariances, axis1=-2, axis2=-1).min())
        per_query = self.covariances.ndim == 4
        for rows in _gaussian.row_chunks(n, k * k * d * 4):
            points, log_d, _ = _gaussian.mixture_modes(
                self.priors[rows],
                self.means[rows],
                self.covariances[rows] if per_query else self.covariances,
                max_iter=max_iter,
            )
            radius = np.full(points.shape[0], 1e-2 * max(spread, 1e-12))
            all_modes[rows], all_logd[rows] = _gaussian.merge_modes(points, log_d, radius)
        keep = all_logd >= all_logd[:, :1] + np.log(max(rel, 1e-300))
        counts = keep.sum(axis=1)
        modes = np.split(all_modes[keep], np.cumsum(counts)[:-1])
        if not return_density:
            return modes
        return modes, np.split(np.exp(all_logd[keep]), np.cumsum(counts)[:-1])


def warn_if_uncorrelated(covariance_type: str) -> None:
    """Warn that a diagonal-feature structure makes regression blend constants."""
    if not structures.get(covariance_type).quadratic:
        warnings.warn(
            f"this mixture was fitted with covariance_type={covariance_type!r}, which carries "
            "no correlation between inputs and outputs within a component: each component "
            "predicts a constant, and the regression only blends component means. Fit with "
            "covariance_type='full' (or 'tied') for regression.",
            UserWarning,
            stacklevel=3,
        )
