"""Regression on noisy inputs and posteriors of true values under a deconvolved mixture.

References we did not write: scipy.stats.multivariate_normal densities of the joint
mixture of (x + e, y) (so log p(y | x_obs) = log p(x_obs, y) - log p(x_obs)), the
closed-form Gaussian conditional with the input covariance inflated by S (explicit
inverses, row by row), gaussmix's noise-free predict/impute for zero noise (other code
paths), and Monte Carlo: importance sampling from the prior for E[v | x].
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM


def _spd(rng, n, d, scale=1.0):
    A = rng.normal(size=(n, d, d)) * scale
    return A @ np.swapaxes(A, 1, 2) / d + 0.2 * scale**2 * np.eye(d)


def _mixture(seed=0, k=3, d=4):
    rng = np.random.default_rng(seed)
    return GMM(
        k,
        priors=rng.dirichlet(np.ones(k) * 3),
        means=rng.normal(size=(k, d)) * 2,
        covariances=_spd(rng, k, d, 1.2),
        random_state=seed,
    ), rng


def _joint_log_density(gmm, points, in_idx, S):
    """log sum_j pi_j N((x, y) | mu_j, Sigma_j + S on the input block), row by row."""
    out = np.empty(len(points))
    for i, p in enumerate(points):
        terms = []
        for j in range(gmm.n_components):
            cov = gmm.covariances[j].copy()
            cov[np.ix_(in_idx, in_idx)] += S[i]
            terms.append(np.log(gmm.priors[j]) + multivariate_normal(gmm.means[j], cov).logpdf(p))
        out[i] = logsumexp(terms)
    return out


@pytest.mark.parametrize("noise", ["matrices", "variances", "shared"])
def test_conditional_densities_are_joint_over_marginal_with_inflated_inputs(noise):
    gmm, rng = _mixture()
    in_idx, out_idx = np.array([0, 2]), np.array([1, 3])
    n = 25
    X = rng.normal(size=(n, 2)) * 2
    Y = rng.normal(size=(n, 2)) * 2
    S = {
        "matrices": _spd(rng, n, 2, 0.8),
        "variances": rng.uniform(0.1, 1.5, (n, 2)),
        "shared": _spd(rng, 1, 2, 0.8)[0],
    }[noise]
    if noise == "variances":
        per_row = np.stack([np.diag(s) for s in S])
    else:
        per_row = np.broadcast_to(S, (n, 2, 2))
    cond = gmm.condition_batch(in_idx, X, noise_covariances=S)
    joint = np.empty((n, 4))
    joint[:, in_idx], joint[:, out_idx] = X, Y
    marginal = GMM(
        3,
        priors=gmm.priors,
        means=gmm.means[:, in_idx],
        covariances=gmm.covariances[:, in_idx][:, :, in_idx],
    )
    log_marginal = np.array(
        [
            logsumexp(
                [
                    np.log(marginal.priors[j])
                    + multivariate_normal(
                        marginal.means[j], marginal.covariances[j] + per_row[i]
                    ).logpdf(X[i])
                    for j in range(3)
                ]
            )
            for i in range(n)
        ]
    )
    expected = _joint_log_density(gmm, joint, in_idx, per_row) - log_marginal
    assert_allclose(cond.score_samples(Y), expected, rtol=1e-9)
    assert cond.covariances.ndim == (3 if noise == "shared" else 4)


def test_one_component_predict_is_the_gaussian_conditional_with_inflated_covariance():
    gmm, rng = _mixture(seed=1, k=1, d=3)
    in_idx, out_idx = [0, 1], [2]
    n = 10
    X = rng.normal(size=(n, 2))
    S = _spd(rng, n, 2, 0.5)
    mean, cov = gmm.predict(in_idx, X, return_covariance=True, noise_covariances=S)
    mu, C = gmm.means[0], gmm.covariances[0]
    for i in range(n):
        Cxx = C[np.ix_(in_idx, in_idx)] + S[i]
        gain = C[np.ix_(out_idx, in_idx)] @ np.linalg.inv(Cxx)
        assert_allclose(mean[i], mu[out_idx] + gain @ (X[i] - mu[in_idx]), rtol=1e-10)
        assert_allclose(
            cov[i], C[np.ix_(out_idx, out_idx)] - gain @ C[np.ix_(in_idx, out_idx)], rtol=1e-10
        )
    assert_allclose(gmm.predict(in_idx, X, noise_covariances=S), mean, rtol=1e-12)


def test_zero_noise_regression_is_the_noise_free_regression():
    gmm, rng = _mixture(seed=2)
    X = rng.normal(size=(30, 1))
    mean, cov = gmm.predict([1], X, return_covariance=True, noise_covariances=np.zeros((30, 1)))
    plain_mean, plain_cov = gmm.predict([1], X, return_covariance=True)
    assert_allclose(mean, plain_mean, rtol=1e-9, atol=1e-12)
    assert_allclose(cov, plain_cov, rtol=1e-9, atol=1e-12)
    shared = gmm.condition_batch([1], X, noise_covariances=np.zeros((1, 1)))
    plain = gmm.condition_batch([1], X)
    assert_allclose(shared.covariances, plain.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(shared.priors, plain.priors, rtol=1e-9, atol=1e-14)


def test_per_query_conditionals_sample_index_and_find_modes():
    gmm, _rng = _mixture(seed=3, k=2, d=2)
    X = np.array([[gmm.means[0, 0]], [gmm.means[1, 0]]])
    S = np.array([[0.01], [4.0]])
    cond = gmm.condition_batch([0], X, noise_covariances=S)
    draws = cond.sample(20000)
    # Monte Carlo: the draws' mean and variance within ~5 standard errors.
    mean, cov = cond.mean(), cond.covariance()
    se = np.sqrt(cov[:, 0, 0] / 20000)
    assert np.all(np.abs(draws.mean(axis=1)[:, 0] - mean[:, 0]) < 5 * se)
    assert_allclose(draws.var(axis=1)[:, 0], cov[:, 0, 0], rtol=0.05)
    one = cond[1]
    assert_allclose(one.covariances, cond.covariances[1])
    assert_allclose(
        one.to_probability_density(np.array([[0.3]]))[0],
        cond.to_probability_density([[0.0], [0.3]])[1],
    )
    modes = cond.modes()
    assert len(modes) == 2 and all(m.shape[1] == 1 for m in modes)


def test_posterior_of_true_values_one_component_closed_form():
    gmm, rng = _mixture(seed=4, k=1, d=3)
    n = 12
    X = rng.normal(size=(n, 3))
    S = _spd(rng, n, 3, 0.6)
    post = gmm.true_value_posterior(X, S)
    V, mu = gmm.covariances[0], gmm.means[0]
    for i in range(n):
        gain = V @ np.linalg.inv(V + S[i])
        assert_allclose(post.mean()[i], mu + gain @ (X[i] - mu), rtol=1e-10)
        assert_allclose(post.covariance()[i], V - gain @ V, rtol=1e-9, atol=1e-12)


def test_posterior_mean_matches_importance_sampling_from_the_prior():
    gmm, _rng = _mixture(seed=5, k=3, d=2)
    x = gmm.means[0] + np.array([0.7, -0.4])
    S = np.array([[0.5, 0.1], [0.1, 0.3]])
    prior = GMM(3, priors=gmm.priors, means=gmm.means, covariances=gmm.covariances, random_state=0)
    v = prior.sample(400000)
    w = multivariate_normal(np.zeros(2), S).pdf(v - x)
    w /= w.sum()
    reference = w @ v
    ess = 1.0 / (w**2).sum()
    post = gmm.true_value_posterior(x[None], S)
    sd = np.sqrt(np.diag(post.covariance()[0]))
    # Importance-sampling error ~ sd / sqrt(ess); 5 of them.
    assert np.all(np.abs(post.mean()[0] - reference) < 5 * sd / np.sqrt(ess))
    draws = gmm.sample_true_values(x[None], S, n_samples=50000)
    assert draws.shape == (1, 50000, 2)
    assert np.all(np.abs(draws[0].mean(axis=0) - reference) < 5 * sd / np.sqrt(min(ess, 50000)))


def test_selection_projection_without_noise_posterior_is_imputation():
    gmm, rng = _mixture(seed=6, k=2, d=3)
    X = rng.normal(size=(8, 3)) * 2
    R = np.eye(3)[[0, 2]]
    post = gmm.true_value_posterior(X[:, [0, 2]], projection=R)
    X_nan = X.copy()
    X_nan[:, 1] = np.nan
    assert_allclose(post.mean(), gmm.impute(X_nan), rtol=1e-9)
    # R = I with noise is the posterior without projection.
    S = rng.uniform(0.1, 1, (8, 3))
    assert_allclose(
        gmm.true_value_posterior(X, S, projection=np.eye(3)).mean(),
        gmm.true_value_posterior(X, S).mean(),
        rtol=1e-10,
    )


def test_noisy_queries_refuse_bad_input_by_name():
    gmm, _rng = _mixture(seed=7, d=2)
    with pytest.raises(ValueError, match=r"noise_covariances has shape \(3, 2\)"):
        gmm.predict([0], np.zeros((4, 1)), noise_covariances=np.ones((3, 2)))
    with pytest.raises(ValueError, match="noise_covariances is None and projection is None"):
        gmm.true_value_posterior(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="projection maps from 3 dimensions"):
        gmm.true_value_posterior(np.zeros((2, 1)), projection=np.ones((1, 3)))
    with pytest.raises(ValueError, match="positive semi-definite"):
        gmm.condition_batch([0], np.zeros((1, 1)), noise_covariances=-np.ones((1, 1, 1)))
