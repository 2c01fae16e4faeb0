"""Projected noisy measurements (y_i = R_i v_i + e_i) and noisy rows with missing entries.

The E-step of extreme deconvolution with Bovy, Hogg & Roweis's (2011)
projections R_i, as a statistics source (the math in
:mod:`gaussmix._projection`). Missing entries of noisy rows are the
projection onto the observed coordinates (with zero noise this is the
missing-data EM of :class:`gaussmix.em.sources.MissingValuesSource`). Row
chunks add up A_j = sum_i w_i r_ij (g g^T - H) and G_j = sum_i w_i r_ij g;
the expected moments about each component's mean, N_j V_j + V_j A_j V_j and
V_j G_j, are formed once per iteration in the structure's layout, so the
family's M-step is the exact XD M-step for every covariance structure.
"""

from __future__ import annotations

import numpy as np

from .. import covariance as structures
from .._gaussian import normalize_log_weights
from .._projection import (
    ProjectedRows,
    projected_chunk_rows,
    projected_deconvolve_chunk,
    second_moments_from_terms,
)
from ..kernels.threads import map_blocks
from .families import Gaussians
from .sources import StatisticsSource, weighted_mean
from .stats import Statistics

__all__ = ["ProjectedSource"]


class ProjectedSource(StatisticsSource):
    """Measured rows with projections R_i and noise S_i (XD's general E-step).

    Parameters
    ----------
    rows : ProjectedRows
        Their values, maps and noise (rows with nothing measured removed).
    weights : ndarray, shape (n,), optional
    covariance_type : str
    chunk_rows : int, optional
        Rows per chunk (default: about 8 MiB of intermediates).
    n_jobs : int, default=1
    """

    def __init__(
        self,
        rows: ProjectedRows,
        weights: np.ndarray | None,
        covariance_type: str,
        chunk_rows: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.rows = rows
        self.weights, self.covariance_type = weights, covariance_type
        self.initialization_weights = weights
        self.n_samples, self.n_features = rows.n_samples, rows.n_features
        self._starts = rows.starts()
        self.shift = weighted_mean(self._starts, weights)
        self.chunk_rows = chunk_rows
        self.n_jobs = n_jobs

    def initialization_data(self) -> np.ndarray:
        """Rows in the space of the true values: observed column means filled in, or R_i^+ y_i."""
        return self._starts

    def _step(self, k: int) -> int:
        rows = self.chunk_rows or projected_chunk_rows(k, self.rows.n_measured, self.n_features)
        return max(1, min(rows, self.n_samples))

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Expected statistics of the true values under ``gaussians``, about each mean."""
        k, d = gaussians.means.shape
        step = self._step(k)

        def block(part: slice, _index: int) -> Statistics:
            total = Statistics.zeros(k, d * d + d + 1)
            for start in range(part.start, part.stop, step):
                rows = slice(start, min(start + step, part.stop))
                total += self._chunk_terms(rows, gaussians, previous, need_resp_sq)
            return total

        terms = Statistics.total(map_blocks(block, self.n_samples, step, self.n_jobs))
        A = terms.moments[:, : d * d].reshape(k, d, d)
        G, resp_sums = terms.moments[:, d * d : d * d + d], terms.moments[:, -1]
        second, first = second_moments_from_terms(gaussians.covariances, resp_sums, A, G)
        if structures.get(self.covariance_type).quadratic:
            iu, ju = np.triu_indices(d)
            quadratic_part = second[:, iu, ju]
        else:
            quadratic_part = np.diagonal(second, axis1=1, axis2=2)
        terms.moments = np.concatenate([quadratic_part, first, resp_sums[:, None]], axis=1)
        return terms, np.array(gaussians.means, dtype=np.float64)

    def _chunk_terms(
        self,
        rows: slice,
        gaussians: Gaussians,
        previous: Gaussians | None,
        need_resp_sq: bool,
    ) -> Statistics:
        """A_j, G_j and N_j of ``rows`` (packed as d*d + d + 1 columns) and the scalars."""
        k, d = gaussians.means.shape
        chunk = self.rows.chunk(rows)
        weights = np.ones(rows.stop - rows.start) if self.weights is None else self.weights[rows]
        with np.errstate(divide="ignore"):
            log_priors = np.log(gaussians.priors)
        log_dens, g, W = projected_deconvolve_chunk(*chunk, gaussians.means, gaussians.covariances)
        log_density, log_resp = normalize_log_weights(log_dens + log_priors)
        resp = np.exp(log_resp)
        weighted = weights[:, None] * resp
        outer = np.einsum("ck,ckd,cke->kde", weighted, g, g)
        if W.shape[0] == 1:
            # Shared R_i and S_i: H_j is one matrix per component.
            H = np.einsum("kmd,kme->kde", W[0], W[0])
            A = outer - weighted.sum(axis=0)[:, None, None] * H
        else:
            A = outer - np.einsum("ck,ckmd,ckme->kde", weighted, W, W)
        G = np.einsum("ck,ckd->kd", weighted, g)
        terms = np.concatenate([A.reshape(k, d * d), G, weighted.sum(axis=0)[:, None]], axis=1)
        with np.errstate(invalid="ignore"):
            entropy = -np.where(resp > 0, weighted * log_resp, 0.0).sum()
        change = 0.0
        if previous is not None:
            old, _, _ = projected_deconvolve_chunk(
                *chunk, previous.means, previous.covariances, posterior=False
            )
            with np.errstate(divide="ignore"):
                old_log_priors = np.log(previous.priors)
            old_resp = np.exp(normalize_log_weights(old + old_log_priors)[1])
            change = float(((resp - old_resp) ** 2).sum())
        return Statistics(
            terms,
            (weights[:, None] * resp**2).sum(axis=0) if need_resp_sq else np.zeros(k),
            float(weights @ log_density),
            float(weights.sum()),
            change,
            float(entropy),
        )
