"""Missing data: EM for incomplete data (``allow_missing=True``) and ``GMM.impute``.

References we did not write (issue 4):

* known generating parameters, recovered from data with 25% of entries missing
  completely at random (tolerances stated per test);
* one EM iteration of Ghahramani & Jordan (1994) written here from scratch with
  per-row conditional expectations (Schur complements) and ``scipy.stats`` marginal
  likelihoods, with scikit-learn's M-step definitions for each covariance type;
* the observed-data log-likelihood computed here with ``scipy.stats.multivariate_normal``
  on each row's observed entries;
* the closed-form conditional mean E[x_missing | x_observed] of a Gaussian mixture, and
  mean imputation (``sklearn.impute.SimpleImputer``) as the baseline to beat.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM
from helpers import random_spd

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
MISSING_RATE = 0.25

PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
TRUE_PRIORS = np.array([0.35, 0.65])
TRUE_MEANS = np.array([[-3.0, 0.0, 2.0], [3.0, 1.0, -2.0]])
_FULL_A = np.array([[1.0, 0.6, 0.3], [0.6, 1.5, -0.4], [0.3, -0.4, 0.8]])
_FULL_B = np.array([[0.7, -0.3, 0.2], [-0.3, 1.2, 0.5], [0.2, 0.5, 1.0]])
TRUE_COVARIANCES = {
    "full": np.array([_FULL_A, _FULL_B]),
    "tied": np.array([_FULL_A, _FULL_A]),
    "diag": np.array([np.diag([1.0, 0.5, 2.0]), np.diag([0.6, 1.5, 0.9])]),
    "spherical": np.array([np.eye(3) * 0.8, np.eye(3) * 1.6]),
}


def sample_mixture(priors, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(priors), size=n, p=priors)
    X = np.empty((n, means.shape[1]))
    for j in range(len(priors)):
        rows = z == j
        X[rows] = rng.multivariate_normal(means[j], covariances[j], size=rows.sum())
    return X


def mask_at_random(X, rate, seed):
    """A copy of X with each entry NaN with probability ``rate`` (MCAR)."""
    Xm = X.copy()
    Xm[np.random.default_rng(seed).random(X.shape) < rate] = np.nan
    return Xm


def spd(rng, d, lo=0.3, hi=2.5):
    return random_spd(rng, d, lo, hi)


def row_loglik_and_posterior(x, priors, means, covariances):
    """log p(x_obs) and the component posteriors, from scipy marginals of observed dims."""
    obs = ~np.isnan(x)
    log_terms = np.array(
        [
            np.log(priors[j])
            + multivariate_normal(means[j, obs], covariances[j][np.ix_(obs, obs)]).logpdf(x[obs])
            for j in range(len(priors))
        ]
    )
    total = logsumexp(log_terms)
    return total, np.exp(log_terms - total)


def conditional_fill(x, mean, cov):
    """E[x] and the covariance of the missing block given the observed entries (one Gaussian)."""
    obs = ~np.isnan(x)
    mis = ~obs
    filled = x.copy()
    cond_cov = np.zeros((x.size, x.size))
    if mis.any():
        s_oo = cov[np.ix_(obs, obs)]
        s_mo = cov[np.ix_(mis, obs)]
        gain = np.linalg.solve(s_oo, s_mo.T).T if obs.any() else np.zeros((mis.sum(), 0))
        filled[mis] = mean[mis] + gain @ (x[obs] - mean[obs])
        cond_cov[np.ix_(mis, mis)] = cov[np.ix_(mis, mis)] - gain @ s_mo.T
    return filled, cond_cov


def observed_mean_loglik(X, priors, means, covariances):
    """Mean over rows with something observed of log p(x_obs), rows grouped by pattern."""
    observed = ~np.isnan(X)
    keep = observed.any(axis=1)
    X, observed = X[keep], observed[keep]
    total = 0.0
    for pattern in np.unique(observed, axis=0):
        rows = X[(observed == pattern).all(axis=1)][:, pattern]
        log_terms = np.column_stack(
            [
                np.log(priors[j])
                + np.atleast_1d(
                    multivariate_normal(
                        means[j, pattern], covariances[j][np.ix_(pattern, pattern)]
                    ).logpdf(rows)
                )
                for j in range(len(priors))
            ]
        )
        total += logsumexp(log_terms, axis=1).sum()
    return total / len(X)


def reference_em_step(X, priors, means, covariances, covariance_type, reg_covar):
    """One EM iteration for incomplete data (Ghahramani & Jordan 1994), written from scratch."""
    k, d = means.shape
    rows = [x for x in X if not np.isnan(x).all()]
    n = len(rows)
    resp = np.zeros((n, k))
    ex = np.zeros((n, k, d))  # E[x | x_obs, j]
    exx = np.zeros((n, k, d, d))  # E[x x^T | x_obs, j]
    for i, x in enumerate(rows):
        _, resp[i] = row_loglik_and_posterior(x, priors, means, covariances)
        for j in range(k):
            filled, cond_cov = conditional_fill(x, means[j], covariances[j])
            ex[i, j] = filled
            exx[i, j] = np.outer(filled, filled) + cond_cov
    nk = resp.sum(axis=0)
    new_means = np.einsum("ij,ijd->jd", resp, ex) / nk[:, None]
    scatter = np.einsum("ij,ijab->jab", resp, exx) / nk[:, None, None] - np.einsum(
        "ja,jb->jab", new_means, new_means
    )
    eye = np.eye(d)
    if covariance_type == "full":
        new_covs = scatter + reg_covar * eye
    elif covariance_type == "diag":
        new_covs = np.array([np.diag(np.diag(s)) for s in scatter]) + reg_covar * eye
    elif covariance_type == "spherical":
        new_covs = np.array([np.trace(s) / d * eye for s in scatter]) + reg_covar * eye
    else:  # tied
        tied = np.einsum("j,jab->ab", nk, scatter) / n + reg_covar * eye
        new_covs = np.array([tied] * k)
    return nk / n, new_means, new_covs


def true_conditional_mean_impute(X, priors, means, covariances):
    """Closed-form E[x_mis | x_obs] under a mixture, rows grouped by missing pattern."""
    out = X.copy()
    missing = np.isnan(X)
    for pattern in np.unique(missing, axis=0):
        if not pattern.any():
            continue
        rows = (missing == pattern).all(axis=1)
        if pattern.all():
            out[rows] = priors @ means
            continue
        obs, mis = ~pattern, pattern
        x_obs = X[rows][:, obs]
        log_w, fills = [], []
        for j in range(len(priors)):
            s_oo = covariances[j][np.ix_(obs, obs)]
            s_mo = covariances[j][np.ix_(mis, obs)]
            gain = np.linalg.solve(s_oo, s_mo.T).T
            fills.append(means[j, mis] + (x_obs - means[j, obs]) @ gain.T)
            log_w.append(
                np.log(priors[j])
                + np.atleast_1d(multivariate_normal(means[j, obs], s_oo).logpdf(x_obs))
            )
        log_w = np.column_stack(log_w)
        post = np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True))
        block = np.einsum("nj,jnm->nm", post, np.array(fills))
        filled = out[rows]
        filled[:, mis] = block
        out[rows] = filled
    return out


def match_components(fitted_means, true_means):
    """Order of the fitted components that best matches the true ones (k = 2 or 3)."""
    from itertools import permutations

    k = len(true_means)
    return np.array(
        min(
            permutations(range(k)),
            key=lambda p: np.sum((fitted_means[list(p)] - true_means) ** 2),
        )
    )


def start_params(X, k, seed, covariance_type="full"):
    """A starting point for EM whose covariances already have the requested structure."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    priors = rng.dirichlet(np.full(k, 5.0))
    means = np.nanmean(X, axis=0) + rng.normal(0, 1.5, (k, d))
    covariances = np.array([spd(rng, d, 0.8, 3.0) for _ in range(k)])
    if covariance_type == "diag":
        covariances = np.array([np.diag(np.diag(cov)) for cov in covariances])
    elif covariance_type == "spherical":
        covariances = np.array([np.trace(cov) / d * np.eye(d) for cov in covariances])
    elif covariance_type == "tied":
        covariances = np.array([covariances[0]] * k)
    return priors, means, covariances


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------
def test_nan_without_allow_missing_names_the_option():
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match=re.escape("allow_missing=True")):
        GMM(2, random_state=0).from_samples(X)


def test_all_nan_column_is_rejected():
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[:, 2] = np.nan
    with pytest.raises(ValueError):
        GMM(2, random_state=0).from_samples(X, allow_missing=True)


def test_infinite_values_are_rejected_even_with_allow_missing():
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[3, 0] = np.inf
    with pytest.raises(ValueError):
        GMM(2, random_state=0).from_samples(X, allow_missing=True)


def test_rows_entirely_nan_are_ignored():
    """A fit with all-NaN rows equals the fit without them (same explicit start)."""
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 300, seed=1), MISSING_RATE, seed=2)
    X_extra = np.insert(X, [0, 50, 120, 300], np.nan, axis=0)
    start = start_params(X, 2, seed=3)
    kw = dict(allow_missing=True, n_iter=10, tol=None)
    a = GMM(2, *start, random_state=0).from_samples(X, **kw)
    b = GMM(2, *start, random_state=0).from_samples(X_extra, **kw)
    assert np.all(np.isfinite(b.means)) and np.all(np.isfinite(b.covariances))
    assert_allclose(b.priors, a.priors, rtol=1e-9)
    assert_allclose(b.means, a.means, rtol=1e-9, atol=1e-12)
    assert_allclose(b.covariances, a.covariances, rtol=1e-9, atol=1e-12)


def test_n_components_checked_against_rows_with_observed_entries():
    X = np.random.default_rng(0).normal(size=(5, 3))
    X[:3] = np.nan  # 2 usable rows
    with pytest.raises(ValueError, match="n_components"):
        GMM(3, random_state=0).from_samples(X, allow_missing=True)


# ---------------------------------------------------------------------------
# EM for incomplete data
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_em_iteration_equals_ghahramani_jordan_by_hand(covariance_type):
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 120, seed=4), MISSING_RATE, seed=5)
    X[7] = np.nan  # one row with nothing observed, ignored by both
    start = start_params(X, 2, seed=6, covariance_type=covariance_type)
    reg = 1e-3
    gmm = GMM(2, *[a.copy() for a in start], random_state=0).from_samples(
        X, allow_missing=True, n_iter=1, tol=None, covariance_type=covariance_type, reg_covar=reg
    )
    ref_priors, ref_means, ref_covs = reference_em_step(X, *start, covariance_type, reg)
    assert_allclose(gmm.priors, ref_priors, rtol=1e-8)
    assert_allclose(gmm.means, ref_means, rtol=1e-8, atol=1e-10)
    assert_allclose(gmm.covariances, ref_covs, rtol=1e-8, atol=1e-10)
    # lower_bound_ is the observed-data mean log-likelihood at the E-step (start params).
    assert_allclose(gmm.lower_bound_, observed_mean_loglik(X, *start), rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_recovers_known_parameters_with_25_percent_missing(covariance_type):
    """n = 4000, 25% MCAR. Tolerances (about 3-4 standard errors at this n):
    means 0.2 absolute, covariances 0.2 relative to sqrt(s_ii s_jj), priors 0.03."""
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES[covariance_type]
    X = mask_at_random(sample_mixture(p, m, c, 4000, seed=0), MISSING_RATE, seed=10)
    assert 0.23 < np.isnan(X).mean() < 0.27
    gmm = GMM(2, random_state=0).from_samples(
        X,
        allow_missing=True,
        covariance_type=covariance_type,
        init_params="kmeans++",
        tol=1e-6,
        n_iter=300,
    )
    order = match_components(gmm.means, m)
    means, covs, priors = gmm.means[order], gmm.covariances[order], gmm.priors[order]
    scale = np.sqrt(np.einsum("jaa,jbb->jab", c, c))
    assert np.abs(means - m).max() < 0.2, means
    assert (np.abs(covs - c) / scale).max() < 0.2, covs
    assert np.abs(priors - p).max() < 0.03, priors
    # The fitted covariances carry the requested structure.
    off_diagonal = ~np.eye(3, dtype=bool)
    if covariance_type in ("diag", "spherical"):
        assert np.all(covs[:, off_diagonal] == 0.0)
    if covariance_type == "spherical":
        for cov in covs:
            assert_allclose(np.diag(cov), cov[0, 0], rtol=1e-12)
    if covariance_type == "tied":
        assert_allclose(covs[0], covs[1], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_observed_data_loglik_never_decreases(covariance_type):
    """Successive warm-started single iterations: the observed-data log-likelihood
    (scipy, by hand) and ``lower_bound_`` are non-decreasing."""
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 200, seed=7), MISSING_RATE, seed=8)
    gmm = GMM(2, *start_params(X, 2, seed=9, covariance_type=covariance_type), random_state=0)
    bounds, logliks = [], [observed_mean_loglik(X, gmm.priors, gmm.means, gmm.covariances)]
    for _ in range(12):
        gmm.from_samples(
            X, allow_missing=True, n_iter=1, tol=None, covariance_type=covariance_type
        )
        bounds.append(gmm.lower_bound_)
        logliks.append(observed_mean_loglik(X, gmm.priors, gmm.means, gmm.covariances))
    assert_allclose(bounds, logliks[:-1], rtol=1e-9)
    assert np.all(np.diff(logliks) >= -1e-10), logliks


def test_verbose_loglik_never_decreases(capsys):
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 300, seed=11), MISSING_RATE, seed=12)
    GMM(2, random_state=1, verbose=1).from_samples(X, allow_missing=True, n_iter=25, tol=None)
    out = capsys.readouterr().out
    values = [float(v) for v in re.findall(r"log-likelihood\s+(-?[0-9.]+(?:e[-+]?\d+)?)", out)]
    assert len(values) == 25, out
    assert np.all(np.diff(values) >= -1e-10), values


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_allow_missing_without_nan_gives_the_same_fit(covariance_type):
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = sample_mixture(p, m, c, 300, seed=13)
    start = start_params(X, 2, seed=14, covariance_type=covariance_type)
    kw = dict(n_iter=15, tol=None, covariance_type=covariance_type)
    a = GMM(2, *[s.copy() for s in start], random_state=0).from_samples(X, **kw)
    b = GMM(2, *[s.copy() for s in start], random_state=0).from_samples(
        X, allow_missing=True, **kw
    )
    assert_allclose(b.priors, a.priors, rtol=1e-7)
    assert_allclose(b.means, a.means, rtol=1e-7, atol=1e-9)
    assert_allclose(b.covariances, a.covariances, rtol=1e-7, atol=1e-9)
    assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-9)


def test_allow_missing_without_nan_same_fit_from_default_initialization():
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = sample_mixture(p, m, c, 300, seed=15)
    a = GMM(2, random_state=3).from_samples(X, init_params="kmeans++", tol=1e-8)
    b = GMM(2, random_state=3).from_samples(
        X, init_params="kmeans++", tol=1e-8, allow_missing=True
    )
    assert_allclose(b.means, a.means, rtol=1e-6, atol=1e-8)
    assert_allclose(b.covariances, a.covariances, rtol=1e-6, atol=1e-8)


def test_integer_sample_weights_equal_repeated_rows_with_missing_data():
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 200, seed=16), MISSING_RATE, seed=17)
    start = start_params(X, 2, seed=18)
    weights = np.random.default_rng(19).integers(0, 4, len(X))
    kw = dict(allow_missing=True, n_iter=5, tol=None)
    a = GMM(2, *[s.copy() for s in start]).from_samples(X, sample_weight=weights, **kw)
    b = GMM(2, *[s.copy() for s in start]).from_samples(np.repeat(X, weights, axis=0), **kw)
    assert_allclose(a.priors, b.priors, rtol=1e-9)
    assert_allclose(a.means, b.means, rtol=1e-9, atol=1e-12)
    assert_allclose(a.covariances, b.covariances, rtol=1e-9, atol=1e-12)


def test_missing_data_fit_with_restarts_and_few_observed_entries_is_finite():
    p, m, c = TRUE_PRIORS, TRUE_MEANS, TRUE_COVARIANCES["full"]
    X = mask_at_random(sample_mixture(p, m, c, 300, seed=20), MISSING_RATE, seed=21)
    X[:150, 1:] = np.nan  # half the rows observe only the first feature
    for init_params in ("random", "kmeans++"):
        gmm = GMM(2, random_state=0).from_samples(
            X, allow_missing=True, n_init=2, init_params=init_params, tol=1e-4
        )
        assert np.isfinite(gmm.lower_bound_)
        assert np.all(np.isfinite(gmm.means))
        assert np.linalg.eigvalsh(gmm.covariances).min() > 0.0
        assert_allclose(gmm.priors.sum(), 1.0, rtol=1e-12)


# ---------------------------------------------------------------------------
# GMM.impute
# ---------------------------------------------------------------------------
@pytest.fixture
def true_model3():
    rng = np.random.default_rng(21)
    priors = np.array([0.3, 0.45, 0.25])
    means = rng.normal(0, 2.0, (3, 4))
    covariances = np.array([spd(rng, 4) for _ in range(3)])
    return priors, means, covariances


def test_impute_keeps_observed_entries_and_does_not_modify_input(true_model3):
    priors, means, covariances = true_model3
    X = mask_at_random(sample_mixture(*true_model3, 200, seed=22), 0.3, seed=23)
    X[5] = np.nan
    before = X.copy()
    gmm = GMM(3, priors, means, covariances)
    filled = gmm.impute(X)
    assert filled is not X
    assert_array_equal(X, before)  # NaN-aware equality: input untouched
    observed = ~np.isnan(X)
    assert_array_equal(filled[observed], X[observed])
    assert not np.isnan(filled).any()
    assert filled.shape == X.shape


def test_impute_equals_closed_form_conditional_mean_under_true_model(true_model3):
    X = mask_at_random(sample_mixture(*true_model3, 150, seed=24), 0.3, seed=25)
    X[3] = np.nan
    X[4, :3] = np.nan
    gmm = GMM(3, *true_model3)
    expected = true_conditional_mean_impute(X, *true_model3)
    assert_allclose(gmm.impute(X), expected, rtol=1e-9, atol=1e-10)


def test_impute_row_with_nothing_observed_gets_mixture_mean(true_model3):
    priors, means, _ = true_model3
    X = np.full((2, 4), np.nan)
    assert_allclose(GMM(3, *true_model3).impute(X), np.tile(priors @ means, (2, 1)), rtol=1e-12)


def test_impute_validates_input(true_model3):
    gmm = GMM(3, *true_model3)
    with pytest.raises(ValueError):
        gmm.impute(np.ones((2, 5)))  # wrong number of columns
    with pytest.raises(ValueError):
        gmm.impute(np.array([[np.inf, np.nan, 0.0, 1.0]]))


def test_impute_without_nan_returns_equal_copy(true_model3):
    X = sample_mixture(*true_model3, 20, seed=26)
    filled = GMM(3, *true_model3).impute(X)
    assert_array_equal(filled, X)
    filled[0, 0] += 1.0
    assert filled[0, 0] != X[0, 0]


@pytest.mark.slow
def test_impute_error_beats_mean_imputation_and_nears_true_model():
    """Correlated 4-D data, 25% MCAR, n = 3000. RMSE over the missing entries:
    fitted model <= 0.7 x mean imputation, and within 5% of the true model's
    closed-form conditional means."""
    rng = np.random.default_rng(31)
    priors = np.array([0.5, 0.5])
    means = np.array([[-1.5, -1.0, 0.5, 0.0], [1.5, 1.0, -0.5, 0.5]])
    base = np.array(
        [[1.0, 0.8, 0.6, 0.5], [0.8, 1.0, 0.7, 0.4], [0.6, 0.7, 1.0, 0.6], [0.5, 0.4, 0.6, 1.0]]
    )
    covariances = np.array([base, base * 0.7 + 0.3 * np.diag(rng.uniform(0.5, 1.5, 4))])
    X_true = sample_mixture(priors, means, covariances, 3000, seed=32)
    X = mask_at_random(X_true, MISSING_RATE, seed=33)
    missing = np.isnan(X)

    def rmse(filled):
        return np.sqrt(np.mean((filled[missing] - X_true[missing]) ** 2))

    gmm = GMM(2, random_state=0).from_samples(
        X, allow_missing=True, init_params="kmeans++", tol=1e-6, n_iter=300
    )
    fitted = rmse(gmm.impute(X))
    mean_imputed = rmse(np.where(missing, np.nanmean(X, axis=0), X))
    oracle = rmse(true_conditional_mean_impute(X, priors, means, covariances))
    assert fitted < 0.7 * mean_imputed, (fitted, mean_imputed)
    assert fitted < 1.05 * oracle, (fitted, oracle)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 3),
    d=st.integers(2, 5),
    rate=st.sampled_from([0.1, 0.4, 0.8]),
)
def test_property_impute_is_closed_form_and_keeps_observed(seed, k, d, rate):
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.full(k, 2.0))
    means = rng.normal(0, 3.0, (k, d))
    covariances = np.array([spd(rng, d) for _ in range(k)])
    X = mask_at_random(rng.normal(0, 3.0, (12, d)), rate, seed=seed + 1)
    filled = GMM(k, priors, means, covariances).impute(X)
    observed = ~np.isnan(X)
    assert_array_equal(filled[observed], X[observed])
    assert np.all(np.isfinite(filled))
    assert_allclose(
        filled, true_conditional_mean_impute(X, priors, means, covariances), rtol=1e-7, atol=1e-8
    )


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_rare_patterns_batched_with_masked_covariances_equal_per_pattern(
    covariance_type, monkeypatch
):
    """Rows of rare missing patterns are handled together with masked covariances;
    that path must give the same EM as conditioning pattern by pattern."""
    from gaussmix import _missing

    rng = np.random.default_rng(21)
    A = rng.normal(size=(5, 5))
    X = rng.normal(size=(300, 5)) @ A + np.where(rng.random((300, 1)) < 0.5, 4.0, -4.0)
    X[rng.random(X.shape) < 0.3] = np.nan
    w = rng.integers(1, 4, size=300).astype(float)
    fits = []
    for min_rows in (1, 10**9):  # every pattern grouped / every row scattered
        monkeypatch.setattr(_missing, "PATTERN_MIN_ROWS", min_rows)
        gmm = GMM(2, random_state=0).from_samples(
            X,
            allow_missing=True,
            covariance_type=covariance_type,
            n_iter=5,
            tol=None,
            sample_weight=w,
        )
        fits.append(gmm)
        filled = gmm.impute(X)
        assert not np.isnan(filled).any()
    assert_allclose(fits[0].means, fits[1].means, rtol=1e-9)
    assert_allclose(fits[0].covariances, fits[1].covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(fits[0].lower_bound_, fits[1].lower_bound_, rtol=1e-12)


def test_impute_of_rare_patterns_handles_singular_and_far_rows():
    """Regression: the masked path solved unregularized covariances (LinAlgError) and
    gave 50/50 weights when every squared distance overflowed."""
    singular = GMM(
        2, priors=[0.5, 0.5], means=[[0, 0], [5, 5]], covariances=[np.zeros((2, 2)), np.eye(2)]
    )
    filled = singular.impute([[0.0, np.nan], [5.0, np.nan]])
    assert np.isfinite(filled).all()
    assert_allclose(filled[1, 1], 5.0, rtol=1e-9)
    model = GMM(
        2, priors=[0.5, 0.5], means=[[0, 0], [5, 5]], covariances=[[[2, 1], [1, 2]], np.eye(2)]
    )
    far = model.impute([[1e160, np.nan]])
    assert_allclose(far[0, 1], model.predict([0], [[1e160]])[0, 0], rtol=1e-9)


# ---------------------------------------------------------------------------
# The E-step by missing count against today's E-step by pattern (issue 14)
# ---------------------------------------------------------------------------
def _legacy_missing_e_step(block, weights, params):
    """The missing-data E-step of commit a21c004, kept as the reference: rows grouped by
    pattern (Schur complements of Sigma_oo), rare patterns with masked covariances."""
    from gaussmix._gaussian import n_phi_features, uses_full_features
    from gaussmix.em.estep import responsibility_entropy as _entropy
    from gaussmix.em.stats import Statistics
    from legacy_missing import posteriors, split_patterns

    X = block.X
    k, d = params.means.shape
    full = uses_full_features(params.covariance_type)
    iu, ju = np.triu_indices(d)
    total = Statistics.zeros(k, n_phi_features(d, params.covariance_type))
    gaussians = (params.priors, params.means, params.covariances)
    groups, scattered = split_patterns(X)
    units = posteriors(X, gaussians, groups, scattered)
    prev_units = None
    if params.previous is not None:
        prev_units = posteriors(X, params.previous, groups, scattered)
    for idx, log_norm, log_resp, x_hat, cov_sum in units:
        resp = np.exp(log_resp)
        change = 0.0
        if prev_units is not None:
            change = float(np.square(resp - np.exp(next(prev_units)[2])).sum())
        w = np.ones(idx.size) if weights is None else weights[idx]
        wresp = resp * w[:, None]
        y = x_hat - params.shift
        first = np.einsum("nk,nkd->kd", wresp, y)
        conditional = cov_sum(wresp)
        if full:
            quad = (np.einsum("nk,nki,nkj->kij", wresp, y, y) + conditional)[:, iu, ju]
        else:
            quad = np.einsum("nk,nkd->kd", wresp, y * y)
            quad += np.diagonal(conditional, axis1=1, axis2=2)
        moments = np.concatenate([quad, first, wresp.sum(axis=0)[:, None]], axis=1)
        total += Statistics(
            moments,
            np.einsum("n,nk->k", w, resp * resp),
            float(w @ log_norm),
            float(w.sum()),
            change,
            _entropy(resp, log_resp, w),
        )
    return total


def _mixed_pattern_data(seed, n=900, d=6, rate=0.2):
    """Frequent and rare patterns, complete rows, a row with nothing observed."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    X = rng.normal(size=(n, d)) @ A + np.where(rng.random((n, 1)) < 0.5, 3.0, -3.0)
    X[rng.random(X.shape) < rate] = np.nan
    X[: n // 4, 1] = np.nan  # one frequent pattern
    X[5] = np.nan
    X[6, :-1] = np.nan  # one observed entry
    return X


def _stats_close(new, old, rtol=1e-10):
    scale = float(np.abs(old.moments).max())
    assert_allclose(new.moments, old.moments, rtol=rtol, atol=rtol * scale)
    assert_allclose(new.resp_sq_sum, old.resp_sq_sum, rtol=rtol)
    assert_allclose(new.log_lik_sum, old.log_lik_sum, rtol=rtol)
    assert_allclose(new.weight_sum, old.weight_sum, rtol=rtol)
    assert_allclose(new.resp_entropy, old.resp_entropy, rtol=1e-8)
    assert_allclose(new.resp_change_sq, old.resp_change_sq, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("pattern_min_rows", [1, 64, 10**9])
@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("with_previous", [True, False])
def test_missing_statistics_by_count_equal_legacy_by_pattern(
    covariance_type, weighted, n_jobs, pattern_min_rows, kernel, with_previous, monkeypatch
):
    """Every pattern by the observed-columns E-step / the default split / every row by
    missing count, with and without the compiled kernel: the same statistics as the old
    E-step by pattern."""
    from gaussmix import _missing
    from gaussmix.em.estep import EStepParameters
    from gaussmix.em.estep_missing import missing_e_step
    from gaussmix.kernels import compiled

    monkeypatch.setattr(_missing, "PATTERN_MIN_ROWS", pattern_min_rows)
    monkeypatch.setattr(compiled, "enabled", kernel and compiled.enabled)
    if kernel and compiled.enabled:
        assert compiled.has_missing()  # rare patterns by gm_missing_statistics (no previous)
        monkeypatch.setattr(compiled, "missing_kernel_pays", compiled.has_missing)
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource

    X = _mixed_pattern_data(1)
    rng = np.random.default_rng(2)
    w = rng.uniform(0.2, 3.0, X.shape[0]) if weighted else None
    family = MaximumLikelihood(covariance_type, 1e-6)
    d = X.shape[1]
    covs = np.array([spd(rng, d) for _ in range(3)])
    g = family.start(np.array([0.2, 0.3, 0.5]), rng.normal(0, 3, (3, d)), covs)
    prev = family.start(np.array([0.4, 0.3, 0.3]), rng.normal(0, 3, (3, d)), covs[::-1])
    if not with_previous:  # (the missing-rows kernel runs without R_diff's previous)
        prev = None
    source = MissingValuesSource(X, w, covariance_type, chunk_rows=128, n_jobs=n_jobs)
    if pattern_min_rows == 64:
        assert source.block.patterns and source.block.sets
    new, shift = source.statistics(g, prev, True)
    params = EStepParameters(
        covariance_type=covariance_type,
        shift=source.shift,
        priors=g.priors,
        means=g.means,
        covariances=g.covariances,
        previous=prev,
        need_resp_sq=True,
    )
    assert_allclose(shift, source.shift)
    old = _legacy_missing_e_step(source.block, w, params)
    _stats_close(new, old)
    # parameters built by hand (no natural parameters): every row by the precision form
    _stats_close(missing_e_step(source.block, w, params), old)


@pytest.mark.parametrize("unit_rows", [50, 1 << 15])
@pytest.mark.parametrize("batch_rows", [1, 300, 1 << 15])
def test_missing_statistics_of_any_work_units_equal_legacy(unit_rows, batch_rows, monkeypatch):
    """Complete rows and frequent patterns split into units of any size, patterns expanded
    one by one or together: the same statistics."""
    from gaussmix.em import estep, estep_missing
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource

    monkeypatch.setattr(estep_missing, "_UNIT_ROWS", unit_rows)
    monkeypatch.setattr(estep_missing, "_PATTERN_BATCH_ROWS", batch_rows)
    X = _mixed_pattern_data(5)
    rng = np.random.default_rng(6)
    family = MaximumLikelihood("full", 1e-6)
    covs = np.array([spd(rng, X.shape[1]) for _ in range(3)])
    g = family.start(np.array([0.2, 0.3, 0.5]), rng.normal(0, 3, (3, X.shape[1])), covs)
    source = MissingValuesSource(X, None, "full", n_jobs=2)
    params = estep.make_e_step_parameters("full", g, None, source.shift)
    assert params.theta is not None
    units = estep_missing.missing_work(estep_missing.prepare_missing(source.block, params))
    if unit_rows == 50:
        assert "pattern" in {unit[0] for unit in units}
    new, _ = source.statistics(g, None, True)
    reference = estep.EStepParameters(
        "full", source.shift, g.priors, g.means, g.covariances, need_resp_sq=True
    )
    _stats_close(new, _legacy_missing_e_step(source.block, None, reference))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_missing_statistics_without_nan_equal_complete_data_e_step(covariance_type):
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import ArraySource, MissingValuesSource

    rng = np.random.default_rng(3)
    X = rng.normal(size=(700, 5)) * [1, 2, 3, 1, 1] + 1.0
    family = MaximumLikelihood(covariance_type, 1e-6)
    g = family.start(np.array([0.5, 0.5]), rng.normal(size=(2, 5)), np.array([spd(rng, 5)] * 2))
    a, a_shift = ArraySource(X, None, covariance_type).statistics(g, None, False)
    m, m_shift = MissingValuesSource(X, None, covariance_type).statistics(g, None, False)
    assert_allclose(m_shift, a_shift, rtol=1e-12)
    if covariance_type == "tied":
        # One shared covariance: the complete-data source pools the second moments
        # (their sum over components is all the M-step reads); compare that sum.
        quadratic = True
        pooled_a = a.second_moments(5, quadratic).sum(axis=0)
        pooled_m = m.second_moments(5, quadratic).sum(axis=0)
        assert_allclose(pooled_a, pooled_m, rtol=1e-10)
        assert_allclose(a.first_moments(5), m.first_moments(5), rtol=1e-10, atol=1e-9)
        assert_allclose(a.resp_sum, m.resp_sum, rtol=1e-10)
        assert_allclose(a.log_lik_sum, m.log_lik_sum, rtol=1e-10)
        assert_allclose(a.resp_entropy, m.resp_entropy, rtol=1e-8)
        return
    _stats_close(m, a)


@pytest.mark.parametrize("pattern_min_rows", [1, 10**9])
def test_missing_statistics_on_the_precise_path_are_about_the_means(pattern_min_rows, monkeypatch):
    """Components far from the shared shift: complete rows take the precise path and the
    incomplete rows' moments are taken about the same per-component means."""
    from gaussmix import _missing
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource

    monkeypatch.setattr(_missing, "PATTERN_MIN_ROWS", pattern_min_rows)
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) * 1e-3 + 1e4])
    X[rng.random(X.shape) < 0.2] = np.nan
    family = MaximumLikelihood("full", 1e-12)
    means = np.array([np.zeros(3), np.full(3, 1e4)])
    g = family.start(np.array([0.5, 0.5]), means, np.array([np.eye(3), 1e-6 * np.eye(3)]))
    source = MissingValuesSource(X, None, "full")
    stats, shift = source.statistics(g, None, False)
    assert shift.shape == (2, 3)
    new = family.m_step(stats, shift)
    # reference: the legacy E-step, then the M-step of moments about the shared shift
    from gaussmix.em.estep import EStepParameters

    params = EStepParameters("full", source.shift, g.priors, g.means, g.covariances)
    ref = family.m_step(_legacy_missing_e_step(source.block, None, params), source.shift)
    assert_allclose(new.means, ref.means, rtol=1e-9)
    assert_allclose(new.covariances[0], ref.covariances[0], rtol=1e-6, atol=1e-9)
    # the far component's covariance: about its mean, no cancellation
    assert np.all(np.linalg.eigvalsh(new.covariances[1]) > 0)


def test_frequent_patterns_take_the_compiled_kernel(monkeypatch):
    """Regression (issue 14): the observed columns of a frequent pattern were gathered
    as a Fortran-ordered array, which the kernel refuses (numpy path, 1.6x slower). The
    frequent patterns now take the kernel all at once (issue 27)."""
    from gaussmix import _missing
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource
    from gaussmix.kernels import compiled, patterns

    if not compiled.available():
        pytest.skip("compiled kernel not built")
    rng = np.random.default_rng(8)
    X = rng.normal(size=(400, 5))
    X[:200, 2] = np.nan
    calls = []
    original = compiled.em_statistics

    def recording(block, *args, rows=None, columns=None):
        result = original(block, *args, rows=rows, columns=columns)
        width = block.shape[1] if columns is None else len(columns)
        calls.append((width, result is not None))
        return result

    together = patterns.em_statistics_patterns

    def recording_together(X, weights, theta, shifts, *args):
        result = together(X, weights, theta, shifts, *args)
        calls.append((shifts.shape[1], result is not None))
        return result

    monkeypatch.setattr(compiled, "em_statistics", recording)
    monkeypatch.setattr(patterns, "em_statistics_patterns", recording_together)
    monkeypatch.setattr(_missing, "PATTERN_MIN_ROWS", 64)
    family = MaximumLikelihood("full", 1e-6)
    g = family.start(np.array([0.5, 0.5]), rng.normal(size=(2, 5)), np.array([np.eye(5)] * 2))
    MissingValuesSource(X, None, "full").statistics(g, None, False)
    assert (4, True) in calls and (5, True) in calls


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("kernel", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_diagonal_structures_incomplete_rows_equal_scipy_row_by_row(
    covariance_type, kernel, weighted, monkeypatch
):
    """Diagonal structures take every incomplete row at once through the observed-entry
    indicator form: its sums equal a row-by-row reference built from scipy's marginal
    densities and the closed-form conditional moments (mu_m, Sigma_mm for diagonal
    covariances), whatever the row's pattern."""
    from gaussmix.em import estep_missing
    from gaussmix.em.estep import make_e_step_parameters
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource
    from gaussmix.kernels import compiled

    monkeypatch.setattr(compiled, "enabled", kernel and compiled.enabled)
    monkeypatch.setattr(estep_missing, "_INDICATOR_ROWS", 97)  # several units, a short last one
    X = _mixed_pattern_data(11)
    rng = np.random.default_rng(12)
    n, d = X.shape
    w = rng.uniform(0.2, 3.0, n) if weighted else np.ones(n)
    k = 3
    variances = rng.uniform(0.3, 4.0, (k, d if covariance_type == "diag" else 1))
    covs = np.array([np.diag(np.broadcast_to(v, (d,))) for v in variances])
    g = MaximumLikelihood(covariance_type, 1e-6).start(
        np.array([0.2, 0.3, 0.5]), rng.normal(0, 3, (k, d)), covs
    )
    source = MissingValuesSource(X, w if weighted else None, covariance_type, n_jobs=2)
    params = make_e_step_parameters(covariance_type, g, None, source.shift)
    kinds = {
        unit[0]
        for unit in estep_missing.missing_work(estep_missing.prepare_missing(source.block, params))
    }
    assert kinds == {"complete", "indicator"}
    stats, shift = source.statistics(g, None, True)

    log_lik = weight_sum = 0.0
    resp_sq = np.zeros(k)
    first = np.zeros((k, d))
    second = np.zeros((k, d))
    resp_sum = np.zeros(k)
    for i in np.flatnonzero(~np.isnan(X).all(axis=1)):
        ll, resp = row_loglik_and_posterior(X[i], g.priors, g.means, g.covariances)
        log_lik += w[i] * ll
        weight_sum += w[i]
        resp_sq += w[i] * resp**2
        for j in range(k):
            filled, cond_cov = conditional_fill(X[i], g.means[j], g.covariances[j])
            y = filled - shift
            first[j] += w[i] * resp[j] * y
            second[j] += w[i] * resp[j] * (y * y + np.diag(cond_cov))
            resp_sum[j] += w[i] * resp[j]
    expected = np.concatenate([second, first, resp_sum[:, None]], axis=1)
    assert_allclose(stats.moments, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert_allclose(stats.log_lik_sum, log_lik, rtol=1e-10)
    assert_allclose(stats.weight_sum, weight_sum, rtol=1e-12)
    assert_allclose(stats.resp_sq_sum, resp_sq, rtol=1e-9)


def test_missing_statistics_do_not_depend_on_which_thread_takes_a_unit():
    """Threads take the work units largest first, in whatever order they free up; the
    sums are formed in the units' own order, so repeated E-steps agree to the last bit
    and equal a single thread's."""
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import MissingValuesSource

    X = _mixed_pattern_data(13, n=3000)
    rng = np.random.default_rng(14)
    d = X.shape[1]
    g = MaximumLikelihood("full", 1e-6).start(
        np.array([0.5, 0.5]), rng.normal(0, 3, (2, d)), np.array([spd(rng, d)] * 2)
    )
    runs = [
        MissingValuesSource(X, None, "full", n_jobs=jobs).statistics(g, None, False)[0]
        for jobs in (2, 2, 2, 1)
    ]
    for other in runs[1:]:
        assert_array_equal(other.moments, runs[0].moments)
        assert other.log_lik_sum == runs[0].log_lik_sum
