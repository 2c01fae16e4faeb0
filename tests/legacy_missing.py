"""The first generation of the missing-data posterior (rows grouped by pattern), kept as a
reference for tests and ``benchmarks/bench_missing.py --legacy``.

The package computes the same quantities by missing count
(:func:`gaussmix._missing.incomplete_posterior`, :mod:`gaussmix.em.estep`);
this is the version of commit a21c004, which the tests compare against.
"""

from __future__ import annotations

import numpy as np

from gaussmix import _gaussian
from gaussmix._linalg import safe_cholesky
from gaussmix._missing import group_posterior, missing_patterns


def pattern_groups(mask: np.ndarray):
    patterns, inverse = missing_patterns(mask)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(patterns.shape[0] + 1))
    for p in range(patterns.shape[0]):
        yield patterns[p], order[bounds[p] : bounds[p + 1]]


# Patterns shared by fewer rows than this are not worth a conditioner of
# their own: their rows are handled together, each with its own masked
# covariance (:func:`masked_posterior`), so the cost stays vectorized even
# when almost every row has a different missing pattern.
_MIN_GROUP_ROWS = 32


def masked_posterior(X_rows, priors, means, covs):
    """Posterior quantities of rows with arbitrary missing patterns, all at once.

    For row r with observed mask o, the masked covariance
    S = Sigma * (o o^T) + diag(1 - o) is Sigma_oo on the observed block and
    the identity elsewhere, so that S^-1 restricted to o is Sigma_oo^-1 and
    log|S| = log|Sigma_oo|. Batched over (rows, components).

    Returns
    -------
    log_norm : (m,), log_resp : (m, k), x_hat : (m, k, d)
        Log-likelihood of the observed entries, responsibilities and the
        completed rows E[x | x_o, j].
    cond_cov : (m, k, d, d)
        Cov[x | x_o, j], nonzero on the missing block only.
    """
    d = X_rows.shape[1]
    observed = ~np.isnan(X_rows)
    o = observed.astype(np.float64)
    missing = 1.0 - o
    filled = np.where(observed, X_rows, 0.0)
    eye = np.eye(d)
    masked = covs[None] * (o[:, None, :, None] * o[:, None, None, :])
    masked += eye * missing[:, None, None, :]  # (m, k, d, d)
    chol = safe_cholesky(masked)  # regularized like every other covariance
    dev = (filled[:, None, :] - means[None]) * o[:, None, :]  # (m, k, d)
    solved = chol_solve(chol, dev[..., None])[..., 0]  # S^-1 dev, zero where missing
    quad = np.einsum("mkd,mkd->mk", dev, solved)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
    n_obs = o.sum(axis=1)[:, None]
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    log_comp = log_priors - 0.5 * (n_obs * _gaussian.LOG_2PI + log_det + quad)
    log_norm, log_resp = _gaussian.normalize_log_weights(log_comp)
    # E[x_m | x_o] = mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o)
    regressed = means[None] + np.einsum("kij,mkj->mki", covs, solved)
    x_hat = np.where(observed[:, None, :], filled[:, None, :], regressed)
    # Cov[x_m | x_o] = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om
    obs_to_mis = covs[None] * (o[:, None, :, None] * missing[:, None, None, :])
    gain = chol_solve(chol, obs_to_mis)
    cond_cov = covs[None] - np.swapaxes(obs_to_mis, -1, -2) @ gain
    cond_cov *= missing[:, None, :, None] * missing[:, None, None, :]
    return log_norm, log_resp, x_hat, cond_cov


def scattered_posterior(X_rows, priors, means, covs):
    """:func:`masked_posterior`, with rows too far out for it redone exactly.

    A row whose squared distances overflow float64 (|x| ~ 1e155) gets -inf
    log-likelihoods from the masked formula; such rows (an exceptional case)
    go one by one through the per-pattern path, which handles the limit.
    """
    log_norm, log_resp, x_hat, cond_cov = masked_posterior(X_rows, priors, means, covs)
    for r in np.flatnonzero(~np.isfinite(log_norm)):
        pattern = np.isnan(X_rows[r])
        obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
        row_norm, row_resp, row_hat, row_cov = group_posterior(
            X_rows[r : r + 1, obs], priors, means, covs, obs, mis
        )
        log_norm[r], log_resp[r], x_hat[r] = row_norm[0], row_resp[0], row_hat[0]
        cond_cov[r] = 0.0
        if row_cov is not None:
            cond_cov[r][:, mis[:, None], mis[None, :]] = row_cov
    return log_norm, log_resp, x_hat, cond_cov


def chol_solve(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve (L L^T) x = rhs for stacks of lower-triangular L; rhs (..., d, r)."""
    return np.linalg.solve(np.swapaxes(chol, -1, -2), np.linalg.solve(chol, rhs))


def posteriors(X, params, groups, scattered):
    """Yield (rows, log_norm, log_resp, x_hat, cov_sum) for every group of rows.

    ``cov_sum(wresp)`` returns sum_r wresp[r, j] Cov[x | x_o, j] as (k, d, d).
    """
    priors, means, covs = params
    k, d = means.shape
    for pattern, rows_all in groups:
        obs = np.flatnonzero(~pattern)
        mis = np.flatnonzero(pattern)
        for rows in _gaussian.row_chunks(rows_all.size, k * d * d):
            idx = rows_all[rows]
            X_obs = X[np.ix_(idx, obs)].astype(np.float64)
            log_norm, log_resp, x_hat, cond_cov = group_posterior(
                X_obs, priors, means, covs, obs, mis
            )

            def cov_sum(wresp, cond_cov=cond_cov, mis=mis):
                out = np.zeros((k, d, d))
                if cond_cov is not None:
                    weight = wresp.sum(axis=0)[:, None, None]
                    out[:, mis[:, None], mis[None, :]] = weight * cond_cov
                return out

            yield idx, log_norm, log_resp, x_hat, cov_sum
    for rows in _gaussian.row_chunks(scattered.size, 4 * k * d * d):
        idx = scattered[rows]
        log_norm, log_resp, x_hat, cond_cov = scattered_posterior(
            X[idx].astype(np.float64), priors, means, covs
        )

        def cov_sum(wresp, cond_cov=cond_cov):
            return np.einsum("mk,mkij->kij", wresp, cond_cov)

        yield idx, log_norm, log_resp, x_hat, cov_sum


def split_patterns(X: np.ndarray) -> tuple[list, np.ndarray]:
    """Pattern groups with enough rows, and the rows of rare patterns.

    Rows with nothing observed carry no information and are dropped.
    """
    groups, scattered = [], []
    for pattern, rows in pattern_groups(np.isnan(X)):
        if pattern.all():
            continue
        if rows.size >= _MIN_GROUP_ROWS or not pattern.any():
            groups.append((pattern, rows))
        else:
            scattered.append(rows)
    rare = np.sort(np.concatenate(scattered)) if scattered else np.zeros(0, dtype=np.intp)
    return groups, rare
