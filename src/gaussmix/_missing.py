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
layout as the complete-data EM (:func:`gaussmix.em.estep_missing.missing_e_step`
adds them up), whose M-step is reused unchanged. Imputation is here too.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _gaussian
from ._linalg import inverse_cholesky, log_det_from_cholesky, safe_cholesky
from .kernels import compiled as _compiled


def missing_patterns(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique missing patterns of a boolean (n, d) mask.

    Returns
    -------
    patterns : ndarray of bool, shape (p, d)
    inverse : ndarray of int, shape (n,)
        Pattern index of every row.
    """
    d = mask.shape[1]
    if d <= 62:
        # One integer key per row: numpy sorts integers far faster than
        # rows (np.unique(axis=0) sorts a structured view).
        keys = mask.astype(np.int64) @ (np.int64(1) << np.arange(d, dtype=np.int64))
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        patterns = ((unique_keys[:, None] >> np.arange(d, dtype=np.int64)) & 1).astype(bool)
        return patterns, inverse.reshape(-1)
    patterns, inverse = np.unique(mask, axis=0, return_inverse=True)
    return patterns, inverse.reshape(-1)


def group_posterior(X_obs, priors, means, covs, obs, mis):
    """Responsibilities, log-likelihoods and conditional moments of one pattern group."""
    k, d = means.shape
    n = X_obs.shape[0]
    if mis.size == 0:
        chol = safe_cholesky(covs)
        log_norm, log_resp = _gaussian.mixture_log_density(X_obs, priors, means, chol)
        x_hat = np.broadcast_to(X_obs[:, None, :], (n, k, d))
        return log_norm, log_resp, x_hat, None
    cond = _gaussian.make_conditioner(means, covs, obs, mis)
    log_resp, log_norm = _gaussian.conditional_log_weights(X_obs, priors, cond)
    x_hat = np.empty((n, k, d))
    x_hat[:, :, obs] = X_obs[:, None, :]
    x_hat[:, :, mis] = _gaussian.conditional_means(X_obs, cond)
    return log_norm, log_resp, x_hat, cond.cond_cov


# --------------------------------------------------------------------------
# Rows grouped by how many entries they miss (the E-step's path)
# --------------------------------------------------------------------------
class PatternSet(NamedTuple):
    """Rows that miss the same number ``count`` of entries, sorted by pattern.

    Attributes
    ----------
    count : int
        Missing entries per row (c).
    rows : ndarray of int, shape (n_c,)
        Row indices, grouped by pattern (patterns in increasing order).
    pattern : ndarray of int, shape (n_c,)
        Index of each row's pattern in ``missing`` (non-decreasing).
    missing : ndarray of int, shape (p_c, c)
        The missing columns of each pattern, increasing.
    """

    count: int
    rows: np.ndarray
    pattern: np.ndarray
    missing: np.ndarray


# Patterns shared by at least this many rows take the complete-data E-step
# on their observed columns (kernel included) plus a closed-form expansion;
# the per-pattern setup (~0.1-0.2 ms) costs what the batched path spends on
# about 50 rows.
PATTERN_MIN_ROWS = 64


def split_by_count(
    mask: np.ndarray, pattern_min_rows: int | None = None
) -> tuple[np.ndarray, list[PatternSet], list[tuple]]:
    """Complete rows, rows by missing count, and the rows of frequent patterns.

    Returns
    -------
    complete : ndarray of int
        Rows without a missing entry.
    sets : list of PatternSet
        Rows of patterns with fewer than ``pattern_min_rows`` rows
        (default :data:`PATTERN_MIN_ROWS`), one set per missing count.
    frequent : list of (observed, missing, rows)
        Column indices and rows of every other pattern.

    Rows with nothing observed carry no information and are dropped.
    """
    min_rows = PATTERN_MIN_ROWS if pattern_min_rows is None else pattern_min_rows
    d = mask.shape[1]
    counts = mask.sum(axis=1)
    complete = np.flatnonzero(counts == 0)
    sets, frequent = [], []
    for count in np.unique(counts):
        count = int(count)
        if count == 0 or count == d:
            continue
        rows = np.flatnonzero(counts == count)
        patterns, inverse = missing_patterns(mask[rows])
        order = np.argsort(inverse, kind="stable")
        rows, inverse = rows[order], inverse[order]
        sizes = np.bincount(inverse, minlength=patterns.shape[0])
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        big = sizes >= min_rows
        for p in np.flatnonzero(big):
            pattern = patterns[p]
            frequent.append(
                (
                    np.flatnonzero(~pattern),
                    np.flatnonzero(pattern),
                    rows[bounds[p] : bounds[p + 1]],
                )
            )
        if big.all():
            continue
        keep = ~big[inverse]
        renumber = np.cumsum(~big) - 1
        missing = np.nonzero(patterns[~big])[1].reshape(-1, count)
        sets.append(PatternSet(count, rows[keep], renumber[inverse[keep]], missing))
    return complete, sets, frequent


class PrecisionForm(NamedTuple):
    """The components in the precision form the missing-data E-step needs.

    With y = x - base, the missing entries of y set to 0 (y0), c_j = mu_j - base
    and P_j = Sigma_j^-1, component j's quadratic form in the missing entries
    is minimized by the conditional mean, and the minimum is the observed
    entries' Mahalanobis distance (Schur complement):

        g = [P_j (y0 - c_j)]_m,   E[y_m | x_o, j] = -P_mm^-1 g,
        (x_o - mu_o)^T Sigma_oo^-1 (x_o - mu_o) = (y0 - c_j)^T P_j (y0 - c_j) - g^T P_mm^-1 g,
        Cov[x_m | x_o, j] = P_mm^-1,   log|Sigma_oo| = log|Sigma| + log|P_mm|.

    So only the missing block P_mm (c x c, c the number of missing entries)
    is factorized per pattern and component, never Sigma_oo.
    """

    base: np.ndarray  # (d,)
    log_priors: np.ndarray  # (k,)
    precisions: np.ndarray  # (k, d, d)
    stacked: np.ndarray  # (d, k * d): y0 @ stacked holds P_j y0 for all j
    centred: np.ndarray  # (k, d) c_j
    prec_centred: np.ndarray  # (k, d) P_j c_j
    log_det: np.ndarray  # (k,) log|Sigma_j|


def precision_form(
    priors: np.ndarray, means: np.ndarray, covariances: np.ndarray, base: np.ndarray
) -> PrecisionForm:
    """:class:`PrecisionForm` of the components about ``base`` (regularized as everywhere)."""
    k, d = means.shape
    chol = safe_cholesky(covariances)
    inv = inverse_cholesky(chol)
    prec = np.swapaxes(inv, -1, -2) @ inv
    prec = 0.5 * prec + 0.5 * np.swapaxes(prec, -1, -2)
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    centred = means - base
    return PrecisionForm(
        base,
        log_priors,
        prec,
        np.ascontiguousarray(prec.transpose(1, 0, 2).reshape(d, k * d)),
        centred,
        np.einsum("kij,kj->ki", prec, centred),
        log_det_from_cholesky(chol),
    )


def spd_inverse(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse and log-determinant of a stack (..., c, c) of small SPD matrices.

    Cholesky, triangular inversion and L^-T L^-1 written as loops over the
    c (few) rows and columns, each step one vectorized operation over the
    whole stack laid out as (c, c, N), so that every entry is a contiguous
    vector: LAPACK's per-matrix call overhead would dominate for thousands
    of 3 x 3 matrices. The compiled kernel (:func:`gaussmix.kernels.compiled.spd_inverse`)
    does the same per matrix in C where it is built.
    """
    shape = A.shape
    c = shape[-1]
    if c == 0:
        return np.zeros(shape), np.zeros(shape[:-2])
    compiled = _compiled.spd_inverse(A)
    if compiled is not None:
        return compiled
    T = np.ascontiguousarray(np.moveaxis(A.reshape(-1, c, c), 0, -1))  # (c, c, N)
    L = np.zeros_like(T)
    tiny = np.finfo(np.float64).tiny

    def dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("kn,kn->n", u, v)

    for j in range(c):
        pivot = T[j, j] - dot(L[j, :j], L[j, :j])
        # A principal block of a positive definite precision is positive
        # definite; the floor only guards rounding of near-singular ones.
        pivot = np.sqrt(np.maximum(pivot, tiny + 1e-15 * np.abs(T[j, j])))
        L[j, j] = pivot
        for i in range(j + 1, c):
            L[i, j] = (T[i, j] - dot(L[i, :j], L[j, :j])) / pivot
    inv_L = np.zeros_like(T)
    for i in range(c):
        inv_diag = 1.0 / L[i, i]
        inv_L[i, i] = inv_diag
        for j in range(i):
            inv_L[i, j] = -dot(L[i, j:i], inv_L[j:i, j]) * inv_diag
    inverse = np.empty_like(T)
    for a in range(c):
        for b in range(a + 1):
            inverse[a, b] = inverse[b, a] = dot(inv_L[a:, a], inv_L[a:, b])
    log_det = 2.0 * np.log(np.diagonal(L).T).sum(axis=0)
    inverse = np.ascontiguousarray(np.moveaxis(inverse, -1, 0)).reshape(shape)
    return inverse, log_det.reshape(shape[:-2])


def pattern_inverses(form: PrecisionForm, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_mm^-1 and log|P_mm| of every pattern and component: (p, k, c, c) and (p, k)."""
    blocks = form.precisions[:, missing[:, :, None], missing[:, None, :]]  # (k, p, c, c)
    return spd_inverse(np.ascontiguousarray(blocks.transpose(1, 0, 2, 3)))


def incomplete_posterior(
    X_rows: np.ndarray,
    missing_rows: np.ndarray,
    inverses: np.ndarray,
    log_dets: np.ndarray,
    form: PrecisionForm,
    gaussians: tuple,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior of rows that each miss ``c`` entries, all rows and components at once.

    Parameters
    ----------
    X_rows : ndarray, shape (n, d)
        The rows (NaN where missing).
    missing_rows : ndarray of int, shape (n, c)
        Each row's missing columns.
    inverses, log_dets : ndarray, shape (n, k, c, c) and (n, k)
        P_mm^-1 and log|P_mm| of each row's pattern (:func:`pattern_inverses`).
    form : PrecisionForm
    gaussians : (priors, means, covariances)
        The same components, for the rows too far out for the precision form.

    Returns
    -------
    log_norm : (n,), log_resp : (n, k)
        log p(x_o) and the responsibilities.
    y_hat : (k, n, d)
        E[x | x_o, j] - base, the completed rows about ``form.base``.
    """
    n, d = X_rows.shape
    k = form.log_priors.shape[0]
    c = missing_rows.shape[1]
    y0 = X_rows - form.base
    if c:
        np.put_along_axis(y0, missing_rows, 0.0, axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        prod = (y0 @ form.stacked).reshape(n, k, d)  # P_j y0
        # (y0 - c_j)^T P_j (y0 - c_j) = y0.P_j y0 - 2 y0.P_j c_j + c_j.P_j c_j
        quad = np.einsum("nkd,nd->nk", prod, y0)
        quad -= 2.0 * (y0 @ form.prec_centred.T)
        quad += np.einsum("kd,kd->k", form.centred, form.prec_centred)
        # (k, n, d): each component's completed rows contiguous, for the
        # second moments' GEMMs
        y_hat = np.empty((k, n, d))
        y_hat[...] = y0
        finite = np.ones(n, dtype=bool)
        if c:
            # flat positions of (component, missing column) in (k, d), of
            # (row, component, missing column) in (n, k, d) and in (k, n, d)
            in_kd = (np.arange(k) * d)[None, :, None] + missing_rows[:, None, :]
            in_nkd = in_kd + (np.arange(n) * (k * d))[:, None, None]
            in_knd = ((np.arange(n) * d)[:, None] + missing_rows)[:, None, :] + (
                np.arange(k) * (n * d)
            )[None, :, None]
            g = prod.reshape(-1)[in_nkd]  # (n, k, c)
            g -= form.prec_centred.reshape(-1)[in_kd]  # [P_j (y0 - c_j)]_m
            step = np.einsum("nkij,nkj->nki", inverses, g)
            quad -= np.einsum("nki,nki->nk", g, step)
            y_hat.reshape(-1)[in_knd] = -step
            quad += log_dets
            finite = np.isfinite(step).all(axis=(1, 2))
        log_comp = form.log_priors - 0.5 * ((d - c) * _gaussian.LOG_2PI + form.log_det + quad)
        log_norm, log_resp = _gaussian.normalize_log_weights(log_comp)
    lost = np.flatnonzero(~np.isfinite(log_norm) | ~finite)
    for r in lost:
        # Rows so far out (|x| ~ 1e155) that the distances overflow: the
        # conditioner of their own pattern handles the limit exactly; an
        # exceptional case, so one row at a time.
        pattern = np.isnan(X_rows[r])
        obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
        row_norm, row_resp, row_hat, _ = group_posterior(
            X_rows[r : r + 1, obs].astype(np.float64), *gaussians, obs, mis
        )
        log_norm[r], log_resp[r] = row_norm[0], row_resp[0]
        y_hat[:, r] = row_hat[0] - form.base
    return log_norm, log_resp, y_hat


def impute(X: np.ndarray, priors: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """Replace NaN entries by E[x_m | x_o] under the mixture; observed entries untouched.

    Frequent missing patterns are conditioned pattern by pattern
    (:func:`gaussmix._gaussian.predict_conditional`); the rows of rare ones,
    all rows missing the same number of entries at once, through the
    precision form (:func:`incomplete_posterior`). Rows with nothing
    observed get the mixture's mean.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    mask = np.isnan(out)
    nothing = mask.all(axis=1)
    if nothing.any():
        out[nothing] = priors @ means
    _, sets, frequent = split_by_count(mask)
    for obs, mis, rows in frequent:
        cond = _gaussian.make_conditioner(means, covs, obs, mis)
        mean, _ = _gaussian.predict_conditional(out[np.ix_(rows, obs)], priors, cond)
        out[np.ix_(rows, mis)] = mean
    if not sets:
        return out
    k, d = means.shape
    form = precision_form(priors, means, covs, priors @ means)
    for pattern_set in sets:
        c = pattern_set.count
        for rows in _gaussian.row_chunks(pattern_set.rows.size, k * max(d, c * c)):
            idx, pid = pattern_set.rows[rows], pattern_set.pattern[rows]
            new_run = np.concatenate([[False], pid[1:] != pid[:-1]])
            pats = pid[np.concatenate([[True], new_run[1:]])]
            inverses, log_dets = pattern_inverses(form, pattern_set.missing[pats])
            local = np.cumsum(new_run)
            _, log_resp, y_hat = incomplete_posterior(
                out[idx],
                pattern_set.missing[pid],
                inverses[local],
                log_dets[local],
                form,
                (priors, means, covs),
            )
            completed = form.base + np.einsum("nk,knd->nd", np.exp(log_resp), y_hat)
            out[idx] = np.where(mask[idx], completed, out[idx])
    return out
