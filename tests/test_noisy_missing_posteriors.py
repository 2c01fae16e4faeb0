"""Posteriors of true values from noisy rows with missing entries (NaN).

References we did not write: the Gaussian conditional of the true value v on the
observed noisy coordinates x_o = v_o + e_o, from the joint covariance [[V, V[:, o]],
[V[o, :], V_oo + S_oo]] with explicit inverses, row by row, weighted by
scipy.stats.multivariate_normal densities of x_o; Monte Carlo moments of the draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM


def _mixture(seed=0, k=3, d=3):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, d, d))
    covariances = A @ np.swapaxes(A, 1, 2) / d + 0.3 * np.eye(d)
    gmm = GMM(
        k,
        priors=rng.dirichlet(np.ones(k) * 3),
        means=rng.normal(size=(k, d)) * 2,
        covariances=covariances,
        random_state=seed,
    )
    return gmm, rng


def _reference(gmm, X, S):
    """Weights (n, k), means (n, k, d), covariances (n, k, d, d) with explicit inverses."""
    n, d = X.shape
    k = gmm.n_components
    weights, means, covs = np.empty((n, k)), np.empty((n, k, d)), np.empty((n, k, d, d))
    for i in range(n):
        o = np.flatnonzero(~np.isnan(X[i]))
        log_w = np.empty(k)
        for j in range(k):
            mu, V = gmm.means[j], gmm.covariances[j]
            if o.size == 0:
                log_w[j], means[i, j], covs[i, j] = np.log(gmm.priors[j]), mu, V
                continue
            T = V[np.ix_(o, o)] + S[i][np.ix_(o, o)]
            gain = V[:, o] @ np.linalg.inv(T)
            log_w[j] = np.log(gmm.priors[j]) + multivariate_normal(mu[o], T).logpdf(X[i, o])
            means[i, j] = mu + gain @ (X[i, o] - mu[o])
            covs[i, j] = V - gain @ V[o, :]
        weights[i] = np.exp(log_w - logsumexp(log_w))
    return weights, means, covs


def _rows(rng, n=12, d=3):
    X = rng.normal(size=(n, d)) * 2
    X[0, 1] = np.nan
    X[1, [0, 2]] = np.nan
    X[2] = np.nan  # nothing observed: the posterior is the mixture
    X[5:8, 0] = np.nan
    return X


@pytest.mark.parametrize("form", ["variances", "matrices", "shared"])
def test_missing_entries_posteriors_match_the_gaussian_conditional(form):
    gmm, rng = _mixture(seed=1)
    X = _rows(rng)
    n, d = X.shape
    A = rng.normal(size=(n, d, d)) * 0.5
    S = {
        "variances": rng.uniform(0.1, 1.0, (n, d)),
        "matrices": A @ np.swapaxes(A, 1, 2) + 0.05 * np.eye(d),
        "shared": A[0] @ A[0].T + 0.05 * np.eye(d),
    }[form]
    dense = S[:, :, None] * np.eye(d) if form == "variances" else np.broadcast_to(S, (n, d, d))
    weights, means, covs = _reference(gmm, X, dense)
    post = gmm.true_value_posterior(X, S)
    assert_allclose(post.priors, weights, rtol=1e-9, atol=1e-12)
    assert_allclose(post.means, means, rtol=1e-9, atol=1e-10)
    assert_allclose(np.broadcast_to(post.covariances, covs.shape), covs, rtol=1e-8, atol=1e-10)
    assert_allclose(post.priors[2], gmm.priors, rtol=1e-12)


def test_nan_noise_of_missing_coordinates_is_ignored_elsewhere_refused():
    gmm, rng = _mixture(seed=2)
    X = _rows(rng)
    S = rng.uniform(0.1, 1.0, X.shape)
    expected = gmm.true_value_posterior(X, S)
    blanked = np.where(np.isnan(X), np.nan, S)
    got = gmm.true_value_posterior(X, blanked)
    assert_allclose(got.means, expected.means, rtol=1e-12)
    assert_allclose(got.covariances, expected.covariances, rtol=1e-12)
    matrices = S[:, :, None] * np.eye(3)
    missing = np.isnan(X)
    matrices[missing[:, :, None] | missing[:, None, :]] = np.nan
    assert_allclose(gmm.true_value_posterior(X, matrices).means, expected.means, rtol=1e-12)
    S_bad = S.copy()
    S_bad[3, 0] = np.nan  # row 3 observes coordinate 0
    with pytest.raises(ValueError, match="noise_covariances contains NaN"):
        gmm.true_value_posterior(X, S_bad)
    with pytest.raises(ValueError, match="X contains NaN"):
        gmm.true_value_posterior(X[:, :2], S[:, :2], projection=np.eye(2, 3))


def test_missing_entries_without_noise_are_exact_and_the_posterior_is_the_imputation():
    gmm, rng = _mixture(seed=3)
    X = _rows(rng)
    post = gmm.true_value_posterior(X)
    weights, means, covs = _reference(gmm, X, np.zeros((X.shape[0], 3, 3)))
    assert_allclose(post.priors, weights, rtol=1e-9, atol=1e-12)
    assert_allclose(post.means, means, rtol=1e-9, atol=1e-10)
    assert_allclose(post.covariances, covs, rtol=1e-8, atol=1e-10)
    observed = ~np.isnan(X)
    assert_allclose(post.mean()[observed], X[observed], rtol=1e-12)
    with pytest.raises(ValueError, match="noise_covariances is None and projection is None"):
        gmm.true_value_posterior(np.nan_to_num(X))


def test_posterior_draws_with_missing_entries_have_the_posterior_moments():
    gmm, rng = _mixture(seed=4)
    X = _rows(rng, n=4)
    S = rng.uniform(0.1, 1.0, X.shape)
    post = gmm.true_value_posterior(X, S)
    mean, cov = post.mean(), post.covariance()
    draws = gmm.sample_true_values(X, S, n_samples=20000)
    assert draws.shape == (4, 20000, 3)
    # Standard error of each mean: sqrt(var / 20000); 5 of them is a wide margin.
    se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2) / 20000)
    assert np.all(np.abs(draws.mean(axis=1) - mean) < 5 * se)
    sample_cov = np.einsum("nsd,nse->nde", draws - mean[:, None], draws - mean[:, None]) / 20000
    assert_allclose(sample_cov, cov, rtol=0.1, atol=0.05)
    # Observed, noise-free coordinates would be fixed; noisy ones vary.
    assert np.all(draws[:, :, :].std(axis=1) > 0)


def test_fit_with_missing_entries_ignores_their_noise_even_nan():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 4])
    X[rng.random(X.shape) < 0.15] = np.nan
    S = rng.uniform(0.1, 0.4, X.shape)
    kwargs = dict(allow_missing=True, init_params="kmeans++", n_iter=15, tol=None)
    missing = np.isnan(X)
    fits = [
        GMM(2, random_state=0).from_samples(
            X, noise_covariances=np.where(missing, value, S), **kwargs
        )
        for value in (np.nan, 7.0)
    ]
    assert_allclose(fits[0].means, fits[1].means, rtol=1e-12)
    assert_allclose(fits[0].covariances, fits[1].covariances, rtol=1e-12)
    with pytest.raises(ValueError, match="noise_covariances contains NaN"):
        GMM(2).from_samples(X, noise_covariances=np.where(missing, 0.1, np.nan), **kwargs)
