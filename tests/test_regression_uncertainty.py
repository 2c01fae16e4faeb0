"""Regression with uncertainty: predictive covariance, batched conditioning, modes.

References we did not write (issue 4):

* the closed-form Gaussian conditional computed here by hand (Schur complement per
  component, component weights from ``scipy.stats.multivariate_normal`` marginal
  likelihoods, law of total covariance for the mixture);
* Monte Carlo moments of samples drawn from the conditional mixture, compared within
  ``N_SE`` standard errors;
* gmr 2.0.3's ``GMM.predict`` for the conditional mean;
* ``scipy.stats`` densities of the conditional mixture, and a dense-grid argmax (refined
  with ``scipy.optimize``) for the modes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from gaussmix import GMM
from gaussmix.conditional import ConditionalGMM
from helpers import random_spd

# Monte Carlo comparisons: a statistic passes when within N_SE standard errors.
N_SE = 5.0
N_MC = 20_000

PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


# ---------------------------------------------------------------------------
# Helpers: random models and the closed-form conditional, written from scratch
# ---------------------------------------------------------------------------
spd = random_spd


def random_model(seed: int, k: int, d: int, spread: float = 2.0):
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.full(k, 3.0))
    means = rng.normal(0.0, spread, (k, d))
    covariances = np.array([spd(rng, d) for _ in range(k)])
    return priors, means, covariances


def make_gmm(priors, means, covariances, random_state=0) -> GMM:
    return GMM(
        len(priors),
        priors=priors,
        means=means,
        covariances=covariances,
        random_state=random_state,
    )


def reference_conditional(priors, means, covariances, idx_in, x):
    """Closed-form p(y | x) of a Gaussian mixture: (weights, means (k, d_out), covs)."""
    d = means.shape[1]
    idx_in = np.asarray(idx_in)
    idx_out = np.setdiff1d(np.arange(d), idx_in)
    log_w = np.empty(len(priors))
    cmeans = np.empty((len(priors), len(idx_out)))
    ccovs = np.empty((len(priors), len(idx_out), len(idx_out)))
    for j in range(len(priors)):
        s_xx = covariances[j][np.ix_(idx_in, idx_in)]
        s_yx = covariances[j][np.ix_(idx_out, idx_in)]
        s_yy = covariances[j][np.ix_(idx_out, idx_out)]
        gain = np.linalg.solve(s_xx, s_yx.T).T
        cmeans[j] = means[j, idx_out] + gain @ (x - means[j, idx_in])
        ccovs[j] = s_yy - gain @ s_yx.T
        log_w[j] = np.log(priors[j]) + multivariate_normal(means[j, idx_in], s_xx).logpdf(x)
    weights = np.exp(log_w - logsumexp(log_w))
    return weights, cmeans, ccovs


def mixture_moments(weights, cmeans, ccovs):
    """Mean and covariance of a Gaussian mixture (law of total covariance)."""
    mean = weights @ cmeans
    dev = cmeans - mean
    cov = np.einsum("j,jab->ab", weights, ccovs) + np.einsum("j,ja,jb->ab", weights, dev, dev)
    return mean, cov


def reference_predict(priors, means, covariances, idx_in, X):
    out = [
        mixture_moments(*reference_conditional(priors, means, covariances, idx_in, x)) for x in X
    ]
    return np.array([m for m, _ in out]), np.array([c for _, c in out])


def mixture_pdf(weights, cmeans, ccovs, Y):
    """Density of a Gaussian mixture at the rows of Y (scipy.stats)."""
    Y = np.atleast_2d(Y)
    return sum(
        w * multivariate_normal(m, c).pdf(Y).reshape(len(Y))
        for w, m, c in zip(weights, cmeans, ccovs, strict=True)
    )


def assert_mc_moments(samples, mean, cov, n_se=N_SE):
    """Sample mean and covariance of ``samples`` agree with (mean, cov) within n_se SE."""
    n = samples.shape[0]
    sample_mean = samples.mean(axis=0)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(sample_mean - mean) <= n_se * se_mean), (sample_mean, mean, se_mean)
    centered = samples - samples.mean(axis=0)
    products = centered[:, :, None] * centered[:, None, :]
    sample_cov = products.mean(axis=0)
    se_cov = products.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(sample_cov - cov) <= n_se * se_cov + 1e-12), (sample_cov, cov, se_cov)


@pytest.fixture
def model4():
    """A 3-component mixture in 4-D, conditioned on the non-contiguous dims [0, 2]."""
    return random_model(seed=11, k=3, d=4, spread=1.5)


IDX_IN = np.array([0, 2])


# ---------------------------------------------------------------------------
# GMM.predict(..., return_covariance=True)
# ---------------------------------------------------------------------------
def test_predict_covariance_shape_symmetric_psd(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(0).normal(0, 2, (50, 2))
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    assert mean.shape == (50, 2)
    assert cov.shape == (50, 2, 2)
    assert_allclose(cov, np.swapaxes(cov, 1, 2), atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0.0


def test_predict_without_covariance_returns_the_mean_only(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(1).normal(size=(7, 2))
    mean_only = gmm.predict(IDX_IN, X)
    assert isinstance(mean_only, np.ndarray)
    mean, _ = gmm.predict(IDX_IN, X, return_covariance=True)
    assert_allclose(mean_only, mean, rtol=1e-12, atol=1e-12)


def test_predict_mean_and_covariance_equal_closed_form(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(2).normal(0, 2, (25, 2))
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    ref_mean, ref_cov = reference_predict(*model4, IDX_IN, X)
    assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-10)
    assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-10)


def test_predict_covariance_single_component_is_schur_complement():
    priors, means, covariances = random_model(seed=3, k=1, d=5)
    gmm = make_gmm(priors, means, covariances)
    idx_in, idx_out = np.array([1, 3, 4]), np.array([0, 2])
    S = covariances[0]
    schur = S[np.ix_(idx_out, idx_out)] - S[np.ix_(idx_out, idx_in)] @ np.linalg.solve(
        S[np.ix_(idx_in, idx_in)], S[np.ix_(idx_in, idx_out)]
    )
    X = np.random.default_rng(4).normal(0, 3, (10, 3))
    mean, cov = gmm.predict(idx_in, X, return_covariance=True)
    assert_allclose(cov, np.broadcast_to(schur, (10, 2, 2)), rtol=1e-10, atol=1e-12)
    gain = S[np.ix_(idx_out, idx_in)] @ np.linalg.inv(S[np.ix_(idx_in, idx_in)])
    ref_mean = means[0, idx_out] + (X - means[0, idx_in]) @ gain.T
    assert_allclose(mean, ref_mean, rtol=1e-10, atol=1e-10)


def test_predict_covariance_matches_monte_carlo_of_conditional_samples(model4):
    gmm = make_gmm(*model4, random_state=123)
    X = np.array([[0.0, 0.0], [1.5, -1.0], [-2.0, 2.5]])
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    for i, x in enumerate(X):
        samples = gmm.condition(IDX_IN, x).sample(N_MC)
        assert samples.shape == (N_MC, 2)
        assert_mc_moments(samples, mean[i], cov[i])


def test_predict_covariance_of_bimodal_conditional_includes_spread_of_means():
    # Two branches y = +-(2 + 0.8 x): Cov[y | x] is dominated by the between-component term.
    gmm = make_gmm(*bimodal_params())
    _, cov = gmm.predict([0], [[0.5]], return_covariance=True)
    w = np.array([0.4, 0.6])
    m = np.array([2.4, -2.4])
    expected = 0.36 + w @ (m - w @ m) ** 2
    assert_allclose(cov[0, 0, 0], expected, rtol=1e-10)


def test_predict_mean_equals_gmr(model4):
    gmr = pytest.importorskip("gmr")
    priors, means, covariances = model4
    X = np.random.default_rng(5).normal(0, 2, (40, 2))
    expected = gmr.GMM(
        n_components=3, priors=priors, means=means, covariances=covariances
    ).predict(IDX_IN, X)
    assert_allclose(make_gmm(*model4).predict(IDX_IN, X), expected, rtol=1e-9, atol=1e-10)


def test_predict_batched_equals_loop_over_condition(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(6).normal(0, 2, (12, 2))
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    for i, x in enumerate(X):
        cond = gmm.condition(IDX_IN, x)
        m, c = mixture_moments(
            np.asarray(cond.priors), np.asarray(cond.means), np.asarray(cond.covariances)
        )
        assert_allclose(mean[i], m, rtol=1e-9, atol=1e-10)
        assert_allclose(cov[i], c, rtol=1e-9, atol=1e-10)


def test_predict_far_from_every_component_stays_finite(model4):
    """Marginal likelihoods underflow far away; the weights must be computed in log space."""
    gmm = make_gmm(*model4)
    X = np.array([[80.0, -60.0], [-200.0, 150.0]])
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    ref_mean, ref_cov = reference_predict(*model4, IDX_IN, X)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))
    assert_allclose(mean, ref_mean, rtol=1e-7, atol=1e-8)
    assert_allclose(cov, ref_cov, rtol=1e-7, atol=1e-8)


def test_predict_with_unsorted_indices_follows_their_order(model4):
    gmr = pytest.importorskip("gmr")
    gmm = make_gmm(*model4)
    X = np.random.default_rng(13).normal(size=(6, 2))
    idx = np.array([2, 0])  # X[:, 0] is dimension 2
    mean, cov = gmm.predict(idx, X, return_covariance=True)
    ref_mean, ref_cov = reference_predict(*model4, idx, X)
    assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-10)
    assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-10)
    assert_allclose(mean, gmr.GMM(3, *model4).predict(idx, X), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(
    "indices, X",
    [
        ([0, 0], np.zeros((2, 2))),  # duplicate index
        ([0, 1, 2, 3], np.zeros((2, 4))),  # no output left
        ([5], np.zeros((2, 1))),  # out of range
        ([0, 2], np.zeros((2, 3))),  # width does not match indices
    ],
)
def test_predict_rejects_bad_indices_and_widths(model4, indices, X):
    gmm = make_gmm(*model4)
    with pytest.raises(ValueError):
        gmm.predict(indices, X, return_covariance=True)
    with pytest.raises(ValueError):
        gmm.condition_batch(indices, X)


def test_predict_on_zero_rows_returns_empty_arrays(model4):
    gmm = make_gmm(*model4)
    mean, cov = gmm.predict(IDX_IN, np.zeros((0, 2)), return_covariance=True)
    assert mean.shape == (0, 2) and cov.shape == (0, 2, 2)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 4),
    d=st.integers(2, 5),
    n_in=st.integers(1, 4),
    scale=st.sampled_from([0.5, 3.0, 30.0]),
)
def test_property_predictive_covariance_psd_and_priors_sum_to_one(seed, k, d, n_in, scale):
    n_in = min(n_in, d - 1)
    priors, means, covariances = random_model(seed, k, d)
    rng = np.random.default_rng(seed + 1)
    idx_in = np.sort(rng.choice(d, n_in, replace=False))
    X = rng.normal(0, scale, (6, n_in))
    gmm = make_gmm(priors, means, covariances)

    mean, cov = gmm.predict(idx_in, X, return_covariance=True)
    assert mean.shape == (6, d - n_in) and cov.shape == (6, d - n_in, d - n_in)
    assert_allclose(cov, np.swapaxes(cov, 1, 2), atol=1e-10)
    assert np.linalg.eigvalsh(cov).min() > -1e-10

    cond = gmm.condition_batch(idx_in, X)
    assert np.all(cond.priors >= 0.0)
    assert_allclose(cond.priors.sum(axis=1), 1.0, rtol=1e-12)

    ref_mean, ref_cov = reference_predict(priors, means, covariances, idx_in, X)
    assert_allclose(mean, ref_mean, rtol=1e-6, atol=1e-7)
    assert_allclose(cov, ref_cov, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# GMM.condition_batch -> ConditionalGMM
# ---------------------------------------------------------------------------
def test_condition_batch_shapes_and_types(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(7).normal(size=(9, 2))
    cond = gmm.condition_batch(IDX_IN, X)
    assert isinstance(cond, ConditionalGMM)
    assert len(cond) == 9
    assert cond.priors.shape == (9, 3)
    assert cond.means.shape == (9, 3, 2)
    assert cond.covariances.shape == (3, 2, 2)
    assert_allclose(cond.priors.sum(axis=1), 1.0, rtol=1e-12)
    assert list(cond.output_indices) == [1, 3]


def test_condition_batch_matches_condition_and_closed_form(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(8).normal(0, 2, (6, 2))
    cond = gmm.condition_batch(IDX_IN, X)
    for i, x in enumerate(X):
        single = gmm.condition(IDX_IN, x)
        assert_allclose(cond.priors[i], single.priors, rtol=1e-9, atol=1e-12)
        assert_allclose(cond.means[i], single.means, rtol=1e-9, atol=1e-10)
        assert_allclose(cond.covariances, single.covariances, rtol=1e-9, atol=1e-10)
        w, m, c = reference_conditional(*model4, IDX_IN, x)
        assert_allclose(cond.priors[i], w, rtol=1e-9, atol=1e-12)
        assert_allclose(cond.means[i], m, rtol=1e-9, atol=1e-10)
        assert_allclose(cond.covariances, c, rtol=1e-9, atol=1e-10)


def test_condition_batch_accepts_a_single_1d_point(model4):
    gmm = make_gmm(*model4)
    x = np.array([0.3, -0.2])
    cond = gmm.condition_batch(IDX_IN, x)
    assert len(cond) == 1
    assert_allclose(cond.priors[0], gmm.condition(IDX_IN, x).priors, rtol=1e-9)


def test_condition_batch_mean_and_covariance_agree_with_predict(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(9).normal(0, 2, (15, 2))
    cond = gmm.condition_batch(IDX_IN, X)
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    assert cond.mean().shape == (15, 2)
    assert cond.covariance().shape == (15, 2, 2)
    assert_allclose(cond.mean(), mean, rtol=1e-10, atol=1e-12)
    assert_allclose(cond.covariance(), cov, rtol=1e-10, atol=1e-12)


def test_condition_batch_indexing_gives_each_query_as_gmm(model4):
    gmm = make_gmm(*model4)
    X = np.random.default_rng(10).normal(size=(4, 2))
    cond = gmm.condition_batch(IDX_IN, X)
    for i in range(4):
        g = cond[i]
        assert isinstance(g, GMM)
        single = gmm.condition(IDX_IN, X[i])
        assert_allclose(g.priors, single.priors, rtol=1e-9, atol=1e-12)
        assert_allclose(g.means, single.means, rtol=1e-9, atol=1e-10)
        assert_allclose(g.covariances, single.covariances, rtol=1e-9, atol=1e-10)
    with pytest.raises(IndexError):
        cond[4]


def test_condition_batch_sample_shape_and_monte_carlo_moments(model4):
    gmm = make_gmm(*model4, random_state=321)
    X = np.array([[0.0, 0.0], [1.5, -1.0], [-2.0, 2.5]])
    cond = gmm.condition_batch(IDX_IN, X)
    samples = cond.sample(N_MC)
    assert samples.shape == (3, N_MC, 2)
    mean, cov = gmm.predict(IDX_IN, X, return_covariance=True)
    for i in range(3):
        assert_mc_moments(samples[i], mean[i], cov[i])


def test_condition_batch_sample_component_frequencies_match_priors():
    """Samples of a well separated bimodal p(y|x) fall on each branch at the prior rate."""
    gmm = make_gmm(*bimodal_params(), random_state=5)
    # Branch means +-(2 + 0.8 x) are at least 4 sd (0.6) from 0 for these x.
    cond = gmm.condition_batch([0], [[0.5], [1.5]])
    samples = cond.sample(N_MC)[:, :, 0]
    frac_upper = (samples > 0.0).mean(axis=1)
    p = cond.priors[:, 0]
    se = np.sqrt(p * (1 - p) / N_MC)
    assert np.all(np.abs(frac_upper - p) <= N_SE * se + 1e-3), (frac_upper, p)


def test_condition_batch_sampling_is_reproducible_with_random_state(model4):
    X = np.random.default_rng(14).normal(size=(3, 2))
    a = make_gmm(*model4, random_state=7).condition_batch(IDX_IN, X).sample(5)
    b = make_gmm(*model4, random_state=7).condition_batch(IDX_IN, X).sample(5)
    assert_array_equal(a, b)


def test_condition_batch_densities_equal_scipy_mixture(model4):
    gmm = make_gmm(*model4)
    rng = np.random.default_rng(12)
    X = rng.normal(0, 2, (8, 2))
    Y = rng.normal(0, 2, (8, 2))
    cond = gmm.condition_batch(IDX_IN, X)
    pdf = cond.to_probability_density(Y)
    log_pdf = cond.score_samples(Y)
    assert pdf.shape == (8,) and log_pdf.shape == (8,)
    expected = np.array(
        [
            mixture_pdf(*reference_conditional(*model4, IDX_IN, x), y)[0]
            for x, y in zip(X, Y, strict=True)
        ]
    )
    assert_allclose(pdf, expected, rtol=1e-9)
    assert_allclose(log_pdf, np.log(expected), rtol=1e-9, atol=1e-10)


def test_condition_batch_density_integrates_to_one_in_1d():
    gmm = make_gmm(*bimodal_params())
    grid = np.linspace(-10, 10, 20001)
    x = np.full((grid.size, 1), 0.7)
    pdf = gmm.condition_batch([0], x).to_probability_density(grid[:, None])
    assert_allclose(np.trapezoid(pdf, grid), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------
# Modes of p(y | x)
# ---------------------------------------------------------------------------
def bimodal_params():
    """Joint (x, y) mixture with two branches y = 2 + 0.8 x and y = -2 - 0.8 x (sd 0.6)."""
    priors = np.array([0.4, 0.6])
    means = np.array([[0.0, 2.0], [0.0, -2.0]])
    covariances = np.array([[[1.0, 0.8], [0.8, 1.0]], [[1.0, -0.8], [-0.8, 1.0]]])
    return priors, means, covariances


def grid_modes_1d(weights, cmeans, ccovs, lo=-8.0, hi=8.0, n=160_001):
    """Local maxima of a 1-D mixture density on a dense grid (step 1e-4)."""
    grid = np.linspace(lo, hi, n)
    pdf = sum(
        w * norm(m[0], np.sqrt(c[0, 0])).pdf(grid)
        for w, m, c in zip(weights, cmeans, ccovs, strict=True)
    )
    peaks = np.flatnonzero((pdf[1:-1] > pdf[:-2]) & (pdf[1:-1] >= pdf[2:])) + 1
    order = np.argsort(-pdf[peaks])
    return grid[peaks][order], pdf[peaks][order]


@pytest.mark.parametrize("x", [0.5, -1.0, 1.3])
def test_modes_bimodal_conditional_match_grid_argmax(x):
    params = bimodal_params()
    gmm = make_gmm(*params)
    modes, densities = gmm.condition_batch([0], [[x]]).modes(return_density=True)
    assert len(modes) == 1 and len(densities) == 1
    ref_modes, ref_dens = grid_modes_1d(*reference_conditional(*params, [0], np.array([x])))
    assert len(ref_modes) == 2
    assert modes[0].shape == (2, 1)
    assert densities[0].shape == (2,)
    assert_allclose(modes[0][:, 0], ref_modes, atol=2e-4)
    assert_allclose(densities[0], ref_dens, rtol=1e-6)
    # Sorted by decreasing density, densities are those of the conditional mixture.
    assert densities[0][0] >= densities[0][1]
    exact = mixture_pdf(*reference_conditional(*params, [0], np.array([x])), modes[0])
    assert_allclose(densities[0], exact, rtol=1e-9)


@pytest.mark.parametrize("x", [-2.5, -2.125])
def test_modes_unimodal_conditional_single_mode(x):
    # At x=-2.5 both branches meet; at x=-2.125 they are one sd (0.6) apart: unimodal.
    params = bimodal_params()
    gmm = make_gmm(*params)
    modes, densities = gmm.condition_batch([0], [[x]]).modes(return_density=True)
    ref_modes, ref_dens = grid_modes_1d(*reference_conditional(*params, [0], np.array([x])))
    assert len(ref_modes) == 1
    assert modes[0].shape == (1, 1)
    assert_allclose(modes[0][0, 0], ref_modes[0], atol=2e-4)
    assert_allclose(densities[0][0], ref_dens[0], rtol=1e-6)


def test_modes_batch_mixes_bimodal_and_unimodal_queries():
    gmm = make_gmm(*bimodal_params())
    X = np.array([[0.5], [-2.5], [1.3], [-2.125]])
    modes = gmm.condition_batch([0], X).modes()
    assert [m.shape[0] for m in modes] == [2, 1, 2, 1]


def test_modes_two_dimensional_outputs_match_optimised_grid_argmax():
    """p(y1, y2 | x) with two separated branches in 2-D; modes against grid + Nelder-Mead."""
    priors = np.array([0.55, 0.45])
    means = np.array([[0.0, 2.0, 1.0], [0.0, -2.0, -1.5]])
    covariances = np.array(
        [
            [[1.0, 0.5, 0.2], [0.5, 0.8, 0.1], [0.2, 0.1, 0.6]],
            [[1.0, -0.4, 0.3], [-0.4, 0.7, -0.2], [0.3, -0.2, 0.9]],
        ]
    )
    gmm = make_gmm(priors, means, covariances)
    x = np.array([0.4])
    modes, dens = gmm.condition_batch([0], x[None]).modes(return_density=True)
    w, m, c = reference_conditional(priors, means, covariances, [0], x)

    g1, g2 = np.meshgrid(np.linspace(-6, 6, 301), np.linspace(-6, 6, 301), indexing="ij")
    pts = np.column_stack([g1.ravel(), g2.ravel()])
    pdf = mixture_pdf(w, m, c, pts)
    ref = []
    for half in (pts[:, 0] > 0, pts[:, 0] <= 0):  # one branch in each half-plane
        start = pts[half][np.argmax(pdf[half])]
        res = minimize(
            lambda y: -mixture_pdf(w, m, c, y)[0],
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 2000},
        )
        ref.append((res.x, -res.fun))
    ref.sort(key=lambda t: -t[1])
    assert modes[0].shape == (2, 2)
    assert_allclose(modes[0], np.array([r[0] for r in ref]), atol=1e-5)
    assert_allclose(dens[0], [r[1] for r in ref], rtol=1e-8)


def test_modes_drop_negligible_components_by_relative_density():
    # Second branch has weight ~1e-4 at the query: its bump is below the 1e-3 threshold.
    priors = np.array([0.9999, 0.0001])
    means = np.array([[0.0, 3.0], [0.0, -3.0]])
    covariances = np.array([np.eye(2) * 0.5, np.eye(2) * 0.5])
    cond = make_gmm(priors, means, covariances).condition_batch([0], [[0.0]])
    assert cond.modes()[0].shape == (1, 1)
    assert_allclose(cond.modes()[0][0, 0], 3.0, atol=1e-6)
    kept = cond.modes(min_relative_density=0.0)[0]
    assert kept.shape == (2, 1)
    assert_allclose(np.sort(kept[:, 0]), [-3.0, 3.0], atol=1e-6)


def test_modes_of_zero_queries_is_an_empty_list(model4):
    cond = make_gmm(*model4).condition_batch(IDX_IN, np.zeros((0, 2)))
    assert len(cond) == 0
    assert len(cond.modes()) == 0


def test_modes_of_nearly_flat_unimodal_density_is_single():
    a = 0.99  # y-means +-a with unit variances: separation 1.98 < 2 sd, one mode at 0
    params = (np.array([0.5, 0.5]), np.array([[0.0, a], [0.0, -a]]), np.array([np.eye(2)] * 2))
    modes = make_gmm(*params).condition_batch([0], [[0.0]]).modes()
    ref_modes, _ = grid_modes_1d(*reference_conditional(*params, [0], np.array([0.0])))
    assert len(ref_modes) == 1
    assert modes[0].shape == (1, 1)
    assert_allclose(modes[0][0, 0], 0.0, atol=1e-3)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), x=st.floats(-3.0, 3.0))
def test_property_modes_are_local_maxima_including_the_global_one(seed, k, x):
    """1-D p(y|x) of a random 2-D mixture: each mode is a local maximum of the scipy
    density, densities are sorted, and the highest one is the grid's global maximum."""
    priors, means, covariances = random_model(seed, k, 2)
    gmm = make_gmm(priors, means, covariances)
    modes, dens = gmm.condition_batch([0], [[x]]).modes(return_density=True)
    w, m, c = reference_conditional(priors, means, covariances, [0], np.array([x]))
    y = modes[0][:, 0]
    assert 1 <= y.size <= k
    assert np.all(np.diff(dens[0]) <= 1e-12)
    assert_allclose(dens[0], mixture_pdf(w, m, c, y[:, None]), rtol=1e-8)
    h = 1e-3
    for yi, di in zip(y, dens[0], strict=True):
        around = mixture_pdf(w, m, c, np.array([[yi - h], [yi + h]]))
        assert np.all(around <= di * (1 + 1e-9))
    _, ref_dens = grid_modes_1d(w, m, c, lo=-25.0, hi=25.0, n=50_001)
    assert_allclose(dens[0][0], ref_dens[0], rtol=1e-4)
