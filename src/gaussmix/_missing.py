"""EM and imputation for data with missing entries (NaN).

Ghahramani & Jordan, "Supervised learning from incomplete data via an EM
approach", NIPS 1994. For a row with observed dimensions o and missing
dimensions m, component j's E-step uses the marginal likelihood of x_o and
the conditional moments of the missing part,

    E[x_m | x_o, j]        = mu_m + S_mo S_oo^-1 (x_o - mu_o)
    Cov[x_m | x_o, j]      = S_mm - S_mo S_oo^-1 S_om,

so that the expected sufficient statistics are sum r x_hat and
sum r (x_hat x_hat^T + C), with C the conditional covariance in the (m, m)
block. Rows are grouped by missing pattern; each group is handled for all
its rows and all components at once. The statistics are packed in the same
layout as the complete-data EM (:mod:`gaussmix._em`), whose M-step is
reused unchanged.
"""

from __future__ import annotations

import numpy as np

from . import _core, _em
from ._linalg import safe_cholesky


def missing_patterns(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique missing patterns of a boolean (n, d) mask.

    Returns
    -------
    patterns : ndarray of bool, shape (p, d)
    inverse : ndarray of int, shape (n,)
        Pattern index of every row.
    """
    patterns, inverse = np.unique(mask, axis=0, return_inverse=True)
    return patterns, inverse.reshape(-1)


def _pattern_groups(mask: np.ndarray):
    patterns, inverse = missing_patterns(mask)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(patterns.shape[0] + 1))
    for p in range(patterns.shape[0]):
        yield patterns[p], order[bounds[p] : bounds[p + 1]]


def _group_posterior(X_obs, priors, means, covs, obs, mis):
    """Responsibilities, log-likelihoods and conditional moments of one pattern group."""
    k, d = means.shape
    n = X_obs.shape[0]
    if mis.size == 0:
        chol = safe_cholesky(covs)
        log_norm, log_resp = _core.mixture_log_density(X_obs, priors, means, chol)
        x_hat = np.broadcast_to(X_obs[:, None, :], (n, k, d))
        return log_norm, log_resp, x_hat, None
    cond = _core.make_conditioner(means, covs, obs, mis)
    log_resp, log_norm = _core.conditional_log_weights(X_obs, priors, cond)
    x_hat = np.empty((n, k, d))
    x_hat[:, :, obs] = X_obs[:, None, :]
    x_hat[:, :, mis] = _core.conditional_means(X_obs, cond)
    return log_norm, log_resp, x_hat, cond.cond_cov


def incomplete_statistics(
    X: np.ndarray,
    weights: np.ndarray | None,
    priors: np.ndarray,
    means: np.ndarray,
    covs: np.ndarray,
    shift: np.ndarray,
    covariance_type: str,
    groups: list,
    prev_params: tuple | None = None,
) -> _em.SufficientStats:
    """Expected sufficient statistics of incomplete data, grouped by pattern."""
    k, d = means.shape
    full = covariance_type in ("full", "tied")
    iu, ju = np.triu_indices(d)
    total = _em.SufficientStats.zeros(k, _em.n_phi_features(d, covariance_type))
    for pattern, rows_all in groups:
        obs = np.flatnonzero(~pattern)
        mis = np.flatnonzero(pattern)
        if obs.size == 0:
            continue  # a row with nothing observed carries no information
        for rows in _core.row_chunks(rows_all.size, k * d * d):
            idx = rows_all[rows]
            X_obs = X[np.ix_(idx, obs)].astype(np.float64)
            log_norm, log_resp, x_hat, cond_cov = _group_posterior(
                X_obs, priors, means, covs, obs, mis
            )
            resp = np.exp(log_resp)
            change = 0.0
            if prev_params is not None:
                _, prev_log_resp, _, _ = _group_posterior(X_obs, *prev_params, obs, mis)
                change = float(np.square(resp - np.exp(prev_log_resp)).sum())
            w = np.ones(idx.size) if weights is None else weights[idx]
            wresp = resp * w[:, None]
            y = x_hat - shift  # (n, k, d)
            resp_sum = wresp.sum(axis=0)
            first = np.einsum("nk,nkd->kd", wresp, y)
            if full:
                second = np.einsum("nk,nki,nkj->kij", wresp, y, y)
                if cond_cov is not None:
                    second[:, mis[:, None], mis[None, :]] += resp_sum[:, None, None] * cond_cov
                quad = second[:, iu, ju]
            else:
                quad = np.einsum("nk,nkd->kd", wresp, y * y)
                if cond_cov is not None:
                    quad[:, mis] += resp_sum[:, None] * np.diagonal(cond_cov, axis1=1, axis2=2)
            moments = np.concatenate([quad, first, resp_sum[:, None]], axis=1)
            total += _em.SufficientStats(
                resp_sum,
                np.einsum("n,nk->k", w, resp * resp),
                moments,
                float(w @ log_norm),
                float(w.sum()),
                change,
            )
    return total


class IncompleteData:
    """Statistics source of :func:`gaussmix._em.run_em` for data with NaN entries.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Data; NaN marks a missing entry.
    weights : ndarray, shape (n,), optional
    covariance_type : str
    shift : ndarray, shape (d,)
        Point the moments are taken about (the observed column means).
    """

    def __init__(self, X, weights, covariance_type, shift):
        self.X, self.weights, self.covariance_type, self.shift = X, weights, covariance_type, shift
        self.groups = list(_pattern_groups(np.isnan(X)))

    def statistics(
        self, params: tuple, prev_params: tuple | None, need_resp_sq: bool
    ) -> tuple[_em.SufficientStats, np.ndarray]:
        """Expected statistics under ``params`` and the point they are taken about."""
        stats = incomplete_statistics(
            self.X,
            self.weights,
            *params,
            self.shift,
            self.covariance_type,
            self.groups,
            prev_params,
        )
        return stats, self.shift


def impute(X: np.ndarray, priors: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Replace NaN entries by E[x_m | x_o] under the mixture; observed entries untouched.

    Rows with nothing observed get the mixture's mean.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    mask = np.isnan(out)
    incomplete = np.flatnonzero(mask.any(axis=1))
    if incomplete.size == 0:
        return out
    mixture_mean = priors @ means
    for pattern, rows_local in _pattern_groups(mask[incomplete]):
        rows_all = incomplete[rows_local]
        obs = np.flatnonzero(~pattern)
        mis = np.flatnonzero(pattern)
        if obs.size == 0:
            out[rows_all] = mixture_mean
            continue
        cond = _core.make_conditioner(means, covs, obs, mis)
        X_obs = out[np.ix_(rows_all, obs)]
        mean, _ = _core.predict_conditional(X_obs, priors, cond)
        out[np.ix_(rows_all, mis)] = mean
    return out
