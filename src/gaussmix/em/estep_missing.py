"""The E-step of rows with missing entries (Ghahramani & Jordan 1994).

Rows are grouped once by how many entries they miss
(:class:`~gaussmix.em.estep.MissingBlock`); frequent patterns take the
complete-data E-step on their observed columns (compiled kernel included),
expanded to the full layout; rare ones are handled all rows of a missing count
at once through the precision form (:func:`gaussmix._missing.incomplete_posterior`).
Expected statistics come out in the layout of :func:`gaussmix.em.estep.e_step`,
so the M-step does not know that entries were missing. Module-level functions
of (block, weights, parameters), as the complete-data E-step: they run in
threads, processes or on remote workers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _gaussian, _missing
from .._gaussian import (
    n_phi_features,
    uses_full_features,
)
from ..kernels import compiled as _compiled
from ..kernels import patterns as _patterns
from .estep import (
    EStepParameters,
    MissingBlock,
    e_step,
    e_step_rows,
    entropies_from_moments,
    kernel_applies,
    responsibility_entropy,
)
from .stats import Statistics

__all__ = [
    "MissingPrepared",
    "missing_e_step",
    "missing_unit_statistics",
    "missing_work",
    "prepare_missing",
    "unit_cost",
]


# --------------------------------------------------------------------------
# Rows with missing entries
# --------------------------------------------------------------------------
def missing_e_step(
    block: MissingBlock, weights: np.ndarray | None, params: EStepParameters
) -> Statistics:
    """Expected statistics of rows with missing entries under ``params``.

    For a row with observed dimensions o and missing dimensions m, component
    j contributes the marginal likelihood of x_o, the completed row
    x_hat = [x_o, E[x_m | x_o, j]] and the conditional covariance of x_m in
    the (m, m) block of the second moments (Ghahramani & Jordan 1994).
    Complete rows go through :func:`e_step` (kernel or numpy, shared shift
    or precise path, as ``params`` says); the others, all rows missing the
    same number c of entries at once, through the precision form of
    :class:`gaussmix._missing.PrecisionForm` (only c x c blocks factorized,
    once per pattern and component). Moments about ``params.shift``, in the
    layout of :func:`e_step`.

    Parameters
    ----------
    block : MissingBlock
    weights : ndarray, shape (m,), optional
        Weights of ``block.X``'s rows.
    params : EStepParameters
    """
    if block.complete is None:
        block = MissingBlock.from_rows(block.X)
    prepared = prepare_missing(block, params)
    total = Statistics.zeros(
        params.means.shape[0], n_phi_features(block.X.shape[1], params.covariance_type)
    )
    for unit in missing_work(prepared):
        total += missing_unit_statistics(block, weights, params, prepared, unit)
    return total


# Rows per work unit of a pattern set: (rows, k, max(d, c^2)) temporaries of
# 2^18 numbers (2 MiB); 8 and 32 MiB measured no faster (200k x 16, k = 16).
_SET_ELEMENTS = 1 << 18


# Gathered rows per work unit of complete rows or of one frequent pattern
# (4 MiB at d = 16).
_UNIT_ROWS = 1 << 15
# Rows per work unit of frequent patterns expanded together (see missing_work);
# 2^15 measured faster than 2^12 and 2^13 at 10 % missing (200k x 16, k = 16,
# 2 threads), the same at 1 %.
_PATTERN_BATCH_ROWS = 1 << 15
# Incomplete rows per work unit of the diagonal structures (a (rows, 2d) copy).
_INDICATOR_ROWS = 1 << 13


class MissingPrepared(NamedTuple):
    """What every work unit of one missing-data E-step shares (see :func:`prepare_missing`)."""

    sets: tuple
    form: _missing.PrecisionForm
    form_previous: _missing.PrecisionForm | None
    offset: np.ndarray | None
    complete_rows: np.ndarray
    set_rows: list
    patterns: tuple
    diagonal: EStepParameters | None = None
    incomplete: np.ndarray | None = None


def prepare_missing(block: MissingBlock, params: EStepParameters) -> MissingPrepared:
    """Per-iteration quantities of :func:`missing_e_step`: the components' precision form.

    Everything per pattern (P_mm^-1, the observed marginals) is computed by
    the work units that need it, in their threads.
    """
    k, d = params.means.shape
    shift = np.asarray(params.shift)
    if _indicator_form_applies(params):
        incomplete = block.incomplete
        if incomplete is None:
            counts = np.isnan(block.X).sum(axis=1)
            incomplete = np.flatnonzero((counts > 0) & (counts < d))
        return MissingPrepared(
            (),
            None,
            None,
            None,
            block.complete,
            [],
            (),
            diagonal=_indicator_parameters(params),
            incomplete=incomplete,
        )
    sets = tuple(block.sets)
    complete = block.complete
    if params.theta is None and shift.ndim == 1:
        # Parameters without natural parameters about a shared shift (built
        # by hand): the complete rows take the precision form too.
        no_missing = np.zeros((1, 0), np.intp)
        sets = (
            *sets,
            _missing.PatternSet(0, complete, np.zeros(complete.size, np.intp), no_missing),
        )
        complete = complete[:0]
    if shift.ndim == 1:
        base, offset = shift, None
    else:
        # Precise path: moments about each component's mean.
        base = shift.mean(axis=0)
        offset = base - shift
    form = _missing.precision_form(params.priors, params.means, params.covariances, base)
    form_prev = None
    if params.previous is not None:
        form_prev = _missing.precision_form(*params.previous, base)
    set_rows = [max(64, _SET_ELEMENTS // (k * max(d, s.count * s.count))) for s in sets]
    # The frequent patterns' marginals are computed by their work units, in
    # the threads (here they were a serial step of every iteration: 7 ms of
    # ~80 at 10 % missing, 200k x 16, k = 16).
    return MissingPrepared(
        sets, form, form_prev, offset, complete, set_rows, tuple(block.patterns)
    )


def _indicator_form_applies(params: EStepParameters) -> bool:
    """Whether the incomplete rows take :func:`_indicator_statistics` (diagonal
    features about a shared shift)."""
    return (
        not uses_full_features(params.covariance_type)
        and params.theta is not None
        and np.ndim(params.shift) == 1
        and params.whitening is None
    )


def _indicator_theta(theta: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Natural parameters on the features of z = [y0, o] (see :func:`_indicator_parameters`)."""
    d = (theta.shape[1] - 1) // 2
    quad, lin = theta[:, :d], theta[:, d : 2 * d]
    var = -0.5 / quad
    per_column = -0.5 * (lin * (lin * var) + np.log(var) + _gaussian.LOG_2PI)
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    zeros = np.zeros_like(lin)
    return np.concatenate([quad, per_column, lin, zeros, log_priors[:, None]], axis=1)


def _indicator_parameters(params: EStepParameters) -> EStepParameters:
    """E-step parameters of the incomplete rows as complete rows of twice the width.

    With diagonal covariances every column's term of log N(x_o | mu_j,
    Sigma_j) stands alone: row i's logit under component j is
    log pi_j + sum_c o_ic t_jc(y_ic) with o_ic = 1 where column c is observed,
    y = x - shift and t_jc the column's term of the complete-data logit.
    On z = [y0, o] (y0 = y with zeros where missing) the diagonal features
    [z * z, z, 1] are [y0^2, o, y0, o, 1] (o^2 = o), and the logit is linear
    in them: -p/2 on y0^2, p c on y0 (c = mu - shift) and the columns'
    constants -(p c^2 + log(2 pi / p)) / 2 on o. So the complete-data E-step
    (compiled kernel included) gives the marginal likelihoods, the
    responsibilities and, in its moments, sum r y0^2, sum r o and sum r y0,
    from which :func:`_indicator_statistics` completes the expected moments.
    """
    theta = _indicator_theta(params.theta, params.priors)
    theta_prev = None
    if params.theta_previous is not None:
        theta_prev = _indicator_theta(params.theta_previous, params.previous[0])
    kernel = kernel_prev = None
    if params.kernel_theta is not None and kernel_applies(params.covariance_type, params.dtype):
        kernel = _compiled.padded_parameters(theta)
        if theta_prev is not None:
            kernel_prev = _compiled.padded_parameters(theta_prev)
    d = params.means.shape[1]
    return params._replace(
        shift=np.concatenate([np.asarray(params.shift, dtype=np.float64), np.zeros(d)]),
        theta=theta,
        theta_previous=theta_prev,
        kernel_theta=kernel,
        kernel_theta_previous=kernel_prev,
    )


def _indicator_statistics(
    X: np.ndarray,
    rows: np.ndarray,
    weights: np.ndarray | None,
    params: EStepParameters,
    indicator: EStepParameters,
) -> Statistics:
    """Expected statistics of incomplete rows under diagonal covariances.

    The E-step of z = [x with missing entries at the shift, observed
    indicator] under ``indicator`` (:func:`_indicator_parameters`); a missing
    entry's expectation given component j is mu_jc and its second moment
    about the shift (mu_jc - s_c)^2 + sigma_jc^2, so with S0 = sum r,
    S_o = sum r o, S1 = sum r y0 and S2 = sum r y0^2 (column-wise):
    sum r E[y] = S1 + c (S0 - S_o), sum r E[y^2] = S2 + (c^2 + sigma^2) (S0 - S_o).
    """
    part = X[rows]
    missing = np.isnan(part)
    d = part.shape[1]
    shift = np.asarray(params.shift, dtype=np.float64)
    z = np.empty((part.shape[0], 2 * d))
    np.copyto(z[:, :d], np.where(missing, shift, part))
    np.logical_not(missing, out=z[:, d:], casting="unsafe")
    stats = e_step(z, weights, indicator)
    moments = stats.moments
    second, observed, first = moments[:, :d], moments[:, d : 2 * d], moments[:, 2 * d : 3 * d]
    total = moments[:, -1:]
    n_missing = total - observed
    centred = params.means - shift
    var = np.diagonal(params.covariances, axis1=1, axis2=2)
    return stats.with_moments(
        np.concatenate(
            [second + (centred * centred + var) * n_missing, first + centred * n_missing, total],
            axis=1,
        )
    )


def _marginal_theta(
    form: _missing.PrecisionForm, obs: np.ndarray, mis: np.ndarray, covariance_type: str
) -> tuple:
    """Natural parameters of the observed columns' marginals, from the full precision.

    Sigma_oo^-1 = P_oo - P_om P_mm^-1 P_mo, log|Sigma_oo| = log|Sigma| + log|P_mm|
    and the regression Sigma_mo Sigma_oo^-1 = -P_mm^-1 P_mo: one c x c
    inverse per pattern and component (c missing columns), no factorization
    of Sigma_oo. All p patterns (with the same c) at once.

    Parameters
    ----------
    obs, mis : ndarray of int, shape (p, o) and (p, c)

    Returns
    -------
    theta : (p, k, n_phi_o), about form.base[obs]
    coef : (p, k, c, o)
    cond_cov : (p, k, c, c)
    """
    prec = form.precisions

    def block(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.moveaxis(prec[:, rows[:, :, None], cols[:, None, :]], 0, 1)  # (p, k, r, c)

    inv_mm, log_det_mm = _missing.spd_inverse(block(mis, mis))
    coef = -inv_mm @ block(mis, obs)
    prec_oo = block(obs, obs) + block(obs, mis) @ coef
    centred = np.moveaxis(form.centred[:, obs], 0, 1)  # (p, k, o)
    n_obs = obs.shape[1]
    if uses_full_features(covariance_type):
        iu, ju = np.triu_indices(n_obs)
        quad = -0.5 * prec_oo[..., iu, ju] * np.where(iu == ju, 1.0, 2.0)
        lin = np.einsum("pkij,pkj->pki", prec_oo, centred)
    else:
        prec_diag = np.diagonal(prec_oo, axis1=-2, axis2=-1)
        quad = -0.5 * prec_diag
        lin = prec_diag * centred
    log_det = form.log_det + log_det_mm
    const = form.log_priors - 0.5 * (
        np.einsum("pki,pki->pk", lin, centred) + log_det + n_obs * _gaussian.LOG_2PI
    )
    return np.concatenate([quad, lin, const[..., None]], axis=-1), coef, inv_mm


def _marginal_parts(prepared_form, form_previous, patterns: tuple, covariance_type: str) -> list:
    """(theta, theta_previous, coef, cond_cov) of every frequent pattern, batched by count."""
    parts: list = [None] * len(patterns)
    by_count: dict = {}
    for index, (_, mis, _) in enumerate(patterns):
        by_count.setdefault(mis.size, []).append(index)
    for indices in by_count.values():
        obs = np.stack([patterns[i][0] for i in indices])
        mis = np.stack([patterns[i][1] for i in indices])
        theta, coef, cond_cov = _marginal_theta(prepared_form, obs, mis, covariance_type)
        theta_prev = None
        if form_previous is not None:
            theta_prev = _marginal_theta(form_previous, obs, mis, covariance_type)[0]
        for j, i in enumerate(indices):
            parts[i] = (
                theta[j],
                None if theta_prev is None else theta_prev[j],
                coef[j],
                cond_cov[j],
            )
    return parts


def _marginal_parameters(
    params: EStepParameters, prepared: MissingPrepared, index: int, parts: tuple
) -> tuple:
    """E-step parameters of the observed columns' marginal, and E[x_m | x_o, j] as an affine map.

    ``parts`` is the pattern's entry of :func:`_marginal_parts`.

    Returns ``(marginal, coef, intercept, cond_cov)``: with y_o = x_o - s_o
    (s the statistics' shift), x_hat_m - s_m = intercept_j + coef_j y_o and
    Cov[x_m | x_o, j] = cond_cov_j.
    """
    obs, mis, _ = prepared.patterns[index]
    shift = np.asarray(params.shift)
    means_o = params.means[:, obs]
    previous = None
    if params.previous is not None:
        p_priors, p_means, p_covs = params.previous
        previous = (p_priors, p_means[:, obs], p_covs[:, obs[:, None], obs[None, :]])
    common = dict(
        covariance_type=params.covariance_type,
        priors=params.priors,
        means=means_o,
        covariances=params.covariances[:, obs[:, None], obs[None, :]],
        previous=previous,
        need_resp_sq=params.need_resp_sq,
        dtype=params.dtype,
        chunk_rows=params.chunk_rows,
    )
    theta, theta_prev, coef, cond_cov = parts
    if shift.ndim == 2:
        # Precise path: moments about each component's mean, as the complete rows'.
        marginal = EStepParameters(shift=means_o, **common)
        s_o, s_m = shift[:, obs], shift[:, mis]
    else:
        kernel = kernel_prev = None
        if kernel_applies(params.covariance_type, params.dtype):
            kernel = _compiled.padded_parameters(theta)
            if theta_prev is not None:
                kernel_prev = _compiled.padded_parameters(theta_prev)
        marginal = EStepParameters(
            shift=shift[obs],
            theta=theta,
            theta_previous=theta_prev,
            kernel_theta=kernel,
            kernel_theta_previous=kernel_prev,
            **common,
        )
        s_o, s_m = shift[obs], shift[mis]
    intercept = params.means[:, mis] - s_m + np.einsum("kmo,ko->km", coef, s_o - means_o)
    return marginal, coef, intercept, cond_cov


def _expanded_statistics(
    stats: Statistics, covariance_type: str, d: int, obs, mis, coef, intercept, cond_cov
) -> Statistics:
    """Statistics of the full rows from those of their observed columns.

    With x_hat_m - s_m = a_j + K_j y_o affine in the observed part, every
    expected moment is a linear function of S0 = sum r, S1 = sum r y_o and
    S2 = sum r y_o y_o^T (Ghahramani & Jordan 1994, eqs. 5-6):
    sum r x_hat_m = S0 a + K S1, sum r y_o x_hat_m^T = S1 a^T + S2 K^T,
    sum r (x_hat_m x_hat_m^T + C) = S0 (a a^T + C) + a (K S1)^T + (K S1) a^T + K S2 K^T.
    """
    k = stats.moments.shape[0]
    n_obs = obs.size
    full = uses_full_features(covariance_type)
    q_o = n_obs * (n_obs + 1) // 2 if full else n_obs
    mom = stats.moments
    s0 = mom[:, -1]
    s1 = mom[:, q_o : q_o + n_obs]
    s2 = np.zeros((k, n_obs, n_obs))
    if full:
        iu, ju = np.triu_indices(n_obs)
        s2[:, iu, ju] = mom[:, :q_o]
        s2[:, ju, iu] = mom[:, :q_o]
    else:
        s2[:, np.arange(n_obs), np.arange(n_obs)] = mom[:, :q_o]
    ks1 = np.einsum("kmo,ko->km", coef, s1)
    first = np.empty((k, d))
    first[:, obs] = s1
    first[:, mis] = s0[:, None] * intercept + ks1
    second = np.empty((k, d, d))
    second[:, obs[:, None], obs[None, :]] = s2
    cross = s1[:, :, None] * intercept[:, None, :] + s2 @ np.swapaxes(coef, 1, 2)  # (k, o, m)
    second[:, obs[:, None], mis[None, :]] = cross
    second[:, mis[:, None], obs[None, :]] = np.swapaxes(cross, 1, 2)
    outer = intercept[:, :, None] * ks1[:, None, :]
    second[:, mis[:, None], mis[None, :]] = (
        s0[:, None, None] * (intercept[:, :, None] * intercept[:, None, :] + cond_cov)
        + outer
        + np.swapaxes(outer, 1, 2)
        + coef @ s2 @ np.swapaxes(coef, 1, 2)
    )
    if full:
        iu, ju = np.triu_indices(d)
        quad = second[:, iu, ju]
    else:
        quad = np.diagonal(second, axis1=1, axis2=2)
    return stats.with_moments(np.concatenate([quad, first, s0[:, None]], axis=1))


def _patterns_together(
    X: np.ndarray,
    weights: np.ndarray | None,
    params: EStepParameters,
    prepared: MissingPrepared,
    indices: tuple,
    obs: np.ndarray,
    mis: np.ndarray,
    parts: list,
    total: Statistics,
) -> tuple | None:
    """The kernel's statistics of all the patterns ``indices`` in one call, or None.

    As the loop of :func:`_patterns_statistics` over :func:`_marginal_parameters`
    and :func:`e_step_rows` (the same sums), for the shared-shift path where
    :func:`gaussmix.kernels.patterns.em_statistics_patterns` applies; adds the
    scalar sums into ``total`` and returns (moments (p, k, n_phi_o), coef,
    cond_cov, intercept) for the expansion. None leaves ``total`` untouched. ``obs``
    and ``mis`` (p, o) and (p, c) are the patterns' observed and missing columns.
    """
    shift = np.asarray(params.shift)
    if (
        shift.ndim != 1
        or not _patterns.has_patterns()
        or not kernel_applies(params.covariance_type, params.dtype)
    ):
        return None
    theta = np.stack([part[0] for part in parts])  # (p, k, n_phi_o)
    theta_prev = None if parts[0][1] is None else np.stack([part[1] for part in parts])
    rows = [prepared.patterns[i][2] for i in indices]
    starts = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    taken = np.concatenate(rows)
    result = _patterns.em_statistics_patterns(
        X,
        None if weights is None else weights[taken],
        theta,
        shift[obs],
        theta_prev,
        params.need_resp_sq,
        taken,
        starts,
        obs,
    )
    if result is None:
        return None
    moments, resp_sq, totals = result
    entropy = entropies_from_moments(totals[:, 0], theta, moments)
    total.resp_sq_sum += resp_sq.sum(axis=0)
    total.log_lik_sum += float(sum(totals[:, 0].tolist()))
    total.weight_sum += float(sum(totals[:, 1].tolist()))
    total.resp_change_sq += float(sum(totals[:, 2].tolist()))
    total.resp_entropy += float(sum(entropy.tolist()))
    coef = np.stack([part[2] for part in parts])  # (p, k, c, o)
    cond_cov = np.stack([part[3] for part in parts])
    means_o = np.moveaxis(params.means[:, obs], 0, 1)  # (p, k, o)
    intercept = (
        np.moveaxis(params.means[:, mis], 0, 1)
        - shift[mis][:, None, :]
        + np.einsum("pkmo,pko->pkm", coef, shift[obs][:, None, :] - means_o)
    )
    return moments, coef, cond_cov, intercept


def _patterns_statistics(
    block: MissingBlock,
    weights: np.ndarray | None,
    params: EStepParameters,
    prepared: MissingPrepared,
    indices: tuple,
) -> Statistics:
    """Statistics of all rows of frequent patterns with the same missing count.

    Each pattern's observed columns go through :func:`e_step` (the kernel);
    the expansion of :func:`_expanded_statistics` is then done for all the
    patterns at once and added into (k, d, d) with one ``bincount``.
    """
    X = block.X
    k, d = params.means.shape
    obs = np.stack([prepared.patterns[i][0] for i in indices])  # (p, o)
    mis = np.stack([prepared.patterns[i][1] for i in indices])  # (p, c)
    p_count, n_obs = obs.shape
    moments_o = []
    total = Statistics.zeros(k, n_phi_features(d, params.covariance_type))
    coefs, cond_covs, intercepts = [], [], []
    parts = _marginal_parts(
        prepared.form,
        prepared.form_previous,
        tuple(prepared.patterns[i] for i in indices),
        params.covariance_type,
    )
    together = _patterns_together(X, weights, params, prepared, indices, obs, mis, parts, total)
    if together is not None:
        mom, coef, cond_cov, intercept = together
    else:
        for i, part in zip(indices, parts, strict=True):
            o, _, rows = prepared.patterns[i]
            marginal, coef, intercept, cond_cov = _marginal_parameters(params, prepared, i, part)
            stats = e_step_rows(X, rows, o, None if weights is None else weights[rows], marginal)
            moments_o.append(stats.moments)
            total.resp_sq_sum += stats.resp_sq_sum
            total.log_lik_sum += stats.log_lik_sum
            total.weight_sum += stats.weight_sum
            total.resp_change_sq += stats.resp_change_sq
            total.resp_entropy += stats.resp_entropy
            coefs.append(coef)
            cond_covs.append(cond_cov)
            intercepts.append(intercept)
        mom = np.stack(moments_o)  # (p, k, n_phi_o)
        coef, cond_cov, intercept = np.stack(coefs), np.stack(cond_covs), np.stack(intercepts)
    full = uses_full_features(params.covariance_type)
    q_o = n_obs * (n_obs + 1) // 2 if full else n_obs
    s0 = mom[..., -1]
    s1 = mom[..., q_o : q_o + n_obs]
    s2 = np.zeros((p_count, k, n_obs, n_obs))
    if full:
        iu, ju = np.triu_indices(n_obs)
        s2[..., iu, ju] = mom[..., :q_o]
        s2[..., ju, iu] = mom[..., :q_o]
    else:
        s2[..., np.arange(n_obs), np.arange(n_obs)] = mom[..., :q_o]
    coef_t = np.swapaxes(coef, -1, -2)
    ks1 = np.einsum("pkmo,pko->pkm", coef, s1)
    first_m = s0[..., None] * intercept + ks1
    cross = s1[..., :, None] * intercept[..., None, :] + s2 @ coef_t  # (p, k, o, c)
    outer = intercept[..., :, None] * ks1[..., None, :]
    block_mm = (
        s0[..., None, None] * (intercept[..., :, None] * intercept[..., None, :] + cond_cov)
        + outer
        + np.swapaxes(outer, -1, -2)
        + coef @ s2 @ coef_t
    )
    comp = np.arange(k)[None, :, None]
    first = np.bincount(
        np.concatenate(
            [(comp * d + obs[:, None, :]).ravel(), (comp * d + mis[:, None, :]).ravel()]
        ),
        np.concatenate([s1.ravel(), first_m.ravel()]),
        minlength=k * d,
    ).reshape(k, d)
    comp4 = np.arange(k)[None, :, None, None] * (d * d)

    def at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (comp4 + rows[:, None, :, None] * d + cols[:, None, None, :]).ravel()

    second = np.bincount(
        np.concatenate([at(obs, obs), at(obs, mis), at(mis, obs), at(mis, mis)]),
        np.concatenate(
            [s2.ravel(), cross.ravel(), np.swapaxes(cross, -1, -2).ravel(), block_mm.ravel()]
        ),
        minlength=k * d * d,
    ).reshape(k, d, d)
    if full:
        iu, ju = np.triu_indices(d)
        quad = second[:, iu, ju]
    else:
        quad = np.diagonal(second, axis1=1, axis2=2)
    total.moments = np.concatenate([quad, first, s0.sum(axis=0)[:, None]], axis=1)
    return total


def missing_work(prepared: MissingPrepared) -> list:
    """The work units of :func:`missing_e_step`: (kind, index, rows).

    kind "complete" (rows of ``prepared.complete_rows``), "pattern" (rows of
    frequent pattern ``index``), "patterns" (all rows of the frequent patterns
    ``index``, a tuple, with the same missing count) or "set" (rows of pattern
    set ``index``).
    """
    step = _UNIT_ROWS
    n_complete = prepared.complete_rows.size
    units = [("complete", 0, slice(a, a + step)) for a in range(0, n_complete, step)]
    if prepared.diagonal is not None:
        n_incomplete = prepared.incomplete.size
        step = _INDICATOR_ROWS
        return units + [("indicator", 0, slice(a, a + step)) for a in range(0, n_incomplete, step)]
    # Frequent patterns with the same missing count share units of up to
    # _PATTERN_BATCH_ROWS rows, expanded together (fewer small numpy calls,
    # which hold the GIL); a pattern with more than ``step`` rows has units of
    # its own.
    batch_rows = _PATTERN_BATCH_ROWS
    batch: dict = {}
    for index, (_, mis, rows) in enumerate(prepared.patterns):
        if rows.size > step:
            units += [("pattern", index, slice(a, a + step)) for a in range(0, rows.size, step)]
            continue
        pending, size = batch.get(mis.size, ([], 0))
        if size + rows.size > batch_rows and pending:
            units.append(("patterns", tuple(pending), None))
            pending, size = [], 0
        batch[mis.size] = ([*pending, index], size + rows.size)
    units += [("patterns", tuple(pending), None) for pending, _ in batch.values() if pending]
    for index, (pattern_set, rows) in enumerate(
        zip(prepared.sets, prepared.set_rows, strict=True)
    ):
        n = pattern_set.rows.size
        units += [("set", index, slice(a, min(a + rows, n))) for a in range(0, n, rows)]
    return units


# Rough cost of a row in each kind of work unit, relative to a complete row
# (200k x 16, k = 16, full covariances, one thread): what the threads'
# largest-first order of the units goes by.
_ROW_COST = {"complete": 1.0, "indicator": 2.0, "pattern": 1.6, "patterns": 1.6, "set": 4.0}


def unit_cost(prepared: MissingPrepared, unit: tuple) -> float:
    """Estimated cost of a work unit of :func:`missing_work` (rows times a per-row factor)."""
    kind, index, part = unit
    if kind == "patterns":
        rows = sum(prepared.patterns[i][2].size for i in index)
    elif kind == "complete":
        rows = len(range(*part.indices(prepared.complete_rows.size)))
    elif kind == "indicator":
        rows = len(range(*part.indices(prepared.incomplete.size)))
    elif kind == "pattern":
        rows = len(range(*part.indices(prepared.patterns[index][2].size)))
    else:
        rows = len(range(*part.indices(prepared.sets[index].rows.size)))
    return rows * _ROW_COST[kind]


def missing_unit_statistics(
    block: MissingBlock,
    weights: np.ndarray | None,
    params: EStepParameters,
    prepared: MissingPrepared,
    unit: tuple,
) -> Statistics:
    """Statistics of one work unit of :func:`missing_work`."""
    kind, index, part = unit
    X = block.X
    if kind == "complete":
        idx = prepared.complete_rows[part]
        return e_step_rows(X, idx, None, None if weights is None else weights[idx], params)
    if kind == "indicator":
        idx = prepared.incomplete[part]
        w = None if weights is None else weights[idx]
        return _indicator_statistics(X, idx, w, params, prepared.diagonal)
    if kind == "patterns":
        return _patterns_statistics(block, weights, params, prepared, index)
    if kind == "pattern":
        obs, mis, rows = prepared.patterns[index]
        idx = rows[part]
        parts = _marginal_parts(
            prepared.form,
            prepared.form_previous,
            (prepared.patterns[index],),
            params.covariance_type,
        )
        marginal, coef, intercept, cond_cov = _marginal_parameters(
            params, prepared, index, parts[0]
        )
        stats = e_step_rows(X, idx, obs, None if weights is None else weights[idx], marginal)
        return _expanded_statistics(
            stats, params.covariance_type, X.shape[1], obs, mis, coef, intercept, cond_cov
        )
    pattern_set = prepared.sets[index]
    idx = pattern_set.rows[part]
    pid = pattern_set.pattern[part]
    k, d = params.means.shape
    X_rows = X[idx].astype(np.float64, copy=False)
    missing_rows = pattern_set.missing[pid]
    gaussians = (params.priors, params.means, params.covariances)
    # Rows are sorted by pattern: each pattern of this unit is one run.
    starts = np.flatnonzero(np.concatenate([[True], pid[1:] != pid[:-1]]))
    pats = pid[starts]
    local = np.cumsum(np.concatenate([[False], pid[1:] != pid[:-1]]))
    inverses, log_dets = _missing.pattern_inverses(prepared.form, pattern_set.missing[pats])
    no_offset = prepared.offset is None and prepared.form_previous is None
    if no_offset and _compiled.missing_kernel_pays():
        # The compiled kernel: the same sums row by row, in registers.
        form = prepared.form
        centred_norm = np.einsum("kd,kd->k", form.centred, form.prec_centred)
        consts = form.log_priors - 0.5 * (
            (d - pattern_set.count) * _gaussian.LOG_2PI + form.log_det + centred_norm
        )
        result = _compiled.missing_statistics(
            X_rows,
            missing_rows,
            local,
            inverses,
            log_dets,
            form.base,
            form.precisions,
            form.prec_centred,
            consts,
            None if weights is None else weights[idx],
            not uses_full_features(params.covariance_type),
            params.need_resp_sq,
        )
        if result is not None:
            moments, resp_sq, log_lik_sum, weight_sum, entropy = result
            return Statistics(moments, resp_sq, log_lik_sum, weight_sum, 0.0, entropy)
    log_norm, log_resp, y_hat = _missing.incomplete_posterior(
        X_rows, missing_rows, inverses[local], log_dets[local], prepared.form, gaussians
    )
    resp = np.exp(log_resp)
    change = 0.0
    if prepared.form_previous is not None:
        prev_inv, prev_log_dets = _missing.pattern_inverses(
            prepared.form_previous, pattern_set.missing[pats]
        )
        prev_log_resp = _missing.incomplete_posterior(
            X_rows,
            missing_rows,
            prev_inv[local],
            prev_log_dets[local],
            prepared.form_previous,
            params.previous,
        )[1]
        change = float(np.square(resp - np.exp(prev_log_resp)).sum())
    w = None if weights is None else weights[idx]
    wresp = resp if w is None else resp * w[:, None]
    if prepared.offset is not None:
        y_hat += prepared.offset[:, None, :]
    resp_sum = wresp.sum(axis=0)
    weighted = y_hat * wresp.T[:, :, None]  # (k, n, d)
    first = weighted.sum(axis=1)
    # sum_i w_i r_ij Cov[x_m | x_o, j]: P_mm^-1 weighted by each pattern's
    # responsibility sums, added into the (m, m) blocks.
    c = pattern_set.count
    conditional = np.zeros(k * d * d)
    if c:
        sums = np.add.reduceat(wresp, starts, axis=0)  # (q, k)
        values = sums[:, :, None, None] * inverses
        mis = pattern_set.missing[pats]
        flat = (
            np.arange(k)[None, :, None, None] * (d * d)
            + mis[:, None, :, None] * d
            + mis[:, None, None, :]
        )
        conditional = np.bincount(flat.ravel(), values.ravel(), minlength=k * d * d)
    conditional = conditional.reshape(k, d, d)
    if uses_full_features(params.covariance_type):
        iu, ju = np.triu_indices(d)
        second = np.matmul(weighted.transpose(0, 2, 1), y_hat)
        quad = (second + conditional)[:, iu, ju]
    else:
        quad = np.einsum("knd,knd->kd", weighted, y_hat)
        quad += np.diagonal(conditional, axis1=1, axis2=2)
    moments = np.concatenate([quad, first, resp_sum[:, None]], axis=1)
    sq = resp * resp
    return Statistics(
        moments,
        sq.sum(axis=0) if w is None else w @ sq,
        float(log_norm.sum() if w is None else w @ log_norm),
        float(idx.size if w is None else w.sum()),
        change,
        responsibility_entropy(resp, log_resp, w),
    )
