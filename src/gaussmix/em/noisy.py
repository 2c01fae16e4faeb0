"""Rows measured with known noise: the E-step of extreme deconvolution as a statistics source.

Each row x_i measures a true value drawn from the mixture, with known
Gaussian noise of covariance S_i. EM on the true values (Bovy, Hogg &
Roweis 2011, "Extreme deconvolution", Ann. Appl. Stat. 5(2B), eq. 16-18)
takes, per row and component, the posterior mean b_ij and covariance B_ij
of the true value (:func:`gaussmix._deconvolution.deconvolve_chunk`), and its
M-step is the usual one on the expected moments: the statistics of
:class:`NoisySource` are sum_i w_i r_ij (B_ij + y_ij y_ij^T), sum_i w_i r_ij
y_ij and sum_i w_i r_ij with y_ij = b_ij - mu_j (about each component's
mean of the E-step, the M-step's per-component shift), in the layout of the
covariance structure's features (only the diagonals for diagonal
structures). The family's M-step on them is then exactly the XD M-step,
for every covariance structure, with ``reg_covar`` added to the
deconvolved covariances V_j. The log-likelihood is that of the convolved
mixture, sum_i w_i log sum_j pi_j N(x_i | mu_j, V_j + S_i), which EM never
decreases.
"""

from __future__ import annotations

import copy

import numpy as np

from .. import covariance as structures
from .._deconvolution import (
    NoiseCovariances,
    deconvolve_chunk,
    deconvolve_diagonal_chunk,
    noise_chunk_rows,
)
from .._gaussian import n_phi_features, normalize_log_weights
from ..kernels.threads import map_blocks
from .families import Gaussians
from .noisy_kernel import compiled_noisy_statistics
from .sources import StatisticsSource, weighted_mean
from .stats import Statistics

__all__ = ["NoisySource"]


class NoisySource(StatisticsSource):
    """Rows of an in-memory array with known per-row noise covariances (XD's E-step).

    Row chunks (of about 8 MiB of (rows, k, d, d) intermediates) run in
    threads; each factorizes its (rows, k) matrices V_j + S_i with one
    batched Cholesky and adds its statistics, so B_ij is never stored for
    all rows.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Measured rows (finite).
    noise : NoiseCovariances
        Their checked noise covariances.
    weights : ndarray, shape (n,), optional
    covariance_type : str
    chunk_rows : int, optional
        Rows per chunk (default from k and d, see
        :func:`gaussmix._deconvolution.noise_chunk_rows`).
    n_jobs : int, default=1
        Threads sharing the chunks.
    """

    def __init__(
        self,
        X: np.ndarray,
        noise: NoiseCovariances,
        weights: np.ndarray | None,
        covariance_type: str,
        chunk_rows: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.X = np.asarray(X, dtype=np.float64)
        self.noise = noise
        self.weights, self.covariance_type = weights, covariance_type
        self.initialization_weights = weights
        self.n_samples, self.n_features = X.shape
        self.shift = weighted_mean(self.X, weights)
        # None: chosen from k and d at every iteration (noise_chunk_rows).
        self.chunk_rows = chunk_rows
        self.n_jobs = n_jobs

    def initialization_data(self) -> np.ndarray:
        """The measured rows (the starts see the noisy data)."""
        return self.X

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Expected statistics of the true values under ``gaussians``, about the shift."""
        k, d = gaussians.means.shape
        rows = self.chunk_rows or noise_chunk_rows(k, d)
        rows = max(1, min(rows, self.n_samples))

        def block(part: slice, _index: int) -> Statistics:
            return self._chunk_statistics(part, gaussians, previous, need_resp_sq)

        parts = map_blocks(block, self.n_samples, rows, self.n_jobs)
        return Statistics.total(parts), np.array(gaussians.means, dtype=np.float64)

    def _chunk_statistics(
        self,
        part: slice,
        gaussians: Gaussians,
        previous: Gaussians | None,
        need_resp_sq: bool,
    ) -> Statistics:
        # Chunks of ``rows`` rows within a thread's block keep the
        # intermediates bounded whatever the block's length.
        compiled = compiled_noisy_statistics(
            self.X[part],
            self.noise.take(part),
            None if self.weights is None else self.weights[part],
            gaussians,
            previous,
            self.covariance_type,
            need_resp_sq,
        )
        if compiled is not None:
            return compiled
        k, d = gaussians.means.shape
        quadratic = structures.get(self.covariance_type).quadratic
        total = Statistics.zeros(k, n_phi_features(d, self.covariance_type))
        step = self.chunk_rows or noise_chunk_rows(k, d)
        iu, ju = np.triu_indices(d)
        # Diagonal noise and diagonal components (diagonal features): element-wise.
        elementwise = not quadratic and self.noise.kind == "variances"
        with np.errstate(divide="ignore"):
            log_priors = np.log(gaussians.priors)
            previous_log_priors = None if previous is None else np.log(previous.priors)
        for start in range(part.start, part.stop, step):
            rows = slice(start, min(start + step, part.stop))
            weights = (
                np.ones(rows.stop - rows.start) if self.weights is None else self.weights[rows]
            )
            log_dens, b, B = self._deconvolve(rows, gaussians, elementwise)
            log_density, log_resp = normalize_log_weights(log_dens + log_priors)
            resp = np.exp(log_resp)
            weighted = weights[:, None] * resp
            # Moments about each component's own mean (the M-step's per-component
            # shift): no cancellation however far a component lies from the data.
            y = b - gaussians.means
            resp_sums = weighted.sum(axis=0)
            first = np.einsum("mk,mkd->kd", weighted, y)
            if elementwise:
                quadratic_part = np.einsum("mk,mkd->kd", weighted, B + y * y)
            else:
                if B.shape[0] == 1:
                    posterior_cov = resp_sums[:, None, None] * B[0]
                else:
                    posterior_cov = np.einsum("mk,mkde->kde", weighted, B)
                if quadratic:
                    second = posterior_cov + np.einsum("mkd,mke->kde", weighted[..., None] * y, y)
                    quadratic_part = second[:, iu, ju]
                else:
                    quadratic_part = np.diagonal(posterior_cov, axis1=1, axis2=2) + np.einsum(
                        "mk,mkd->kd", weighted, y * y
                    )
            moments = np.concatenate([quadratic_part, first, resp_sums[:, None]], axis=1)
            with np.errstate(invalid="ignore"):
                entropy = -np.where(resp > 0, weighted * log_resp, 0.0).sum()
            change = 0.0
            if previous is not None:
                old, _, _ = self._deconvolve(rows, previous, elementwise, posterior=False)
                old_resp = np.exp(normalize_log_weights(old + previous_log_priors)[1])
                change = float(((resp - old_resp) ** 2).sum())
            total += Statistics(
                moments,
                (weights[:, None] * resp**2).sum(axis=0) if need_resp_sq else np.zeros(k),
                float(weights @ log_density),
                float(weights.sum()),
                change,
                float(entropy),
            )
        return total

    def _deconvolve(
        self, rows: slice, gaussians: Gaussians, elementwise: bool, posterior: bool = True
    ) -> tuple:
        """log N(x_i | mu_j, V_j + S_i), b_ij and B_ij (diagonals if elementwise) of ``rows``."""
        X = self.X[rows]
        if elementwise:
            diagonals = np.diagonal(gaussians.covariances, axis1=1, axis2=2)
            return deconvolve_diagonal_chunk(
                X, self.noise.values[rows], gaussians.means, diagonals, posterior
            )
        return deconvolve_chunk(
            X, self.noise.rows(rows), gaussians.means, gaussians.covariances, posterior
        )

    def over_rows(
        self, X: np.ndarray, noise: NoiseCovariances, weights: np.ndarray | None
    ) -> NoisySource:
        """The same source (structure, chunking) over other rows, in one thread.

        What :class:`gaussmix.em.dask_source.DaskNoisySource` runs on each
        chunk of a Dask array, on the worker that holds it: a shallow copy,
        like :meth:`with_structure`.
        """
        clone = copy.copy(self)
        clone.X = np.asarray(X, dtype=np.float64)
        clone.noise, clone.weights = noise, weights
        clone.n_samples = clone.X.shape[0]
        clone.n_jobs = 1
        return clone
