"""GMM against references: scipy.stats densities, closed-form conditionals, Monte Carlo."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate, stats
from scipy.spatial.distance import pdist
from scipy.special import logsumexp

from gaussmix import GMM, MVN, covariance_initialization
from helpers import random_spd

_spd = random_spd


def _random_gmm_params(seed, k, d):
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.ones(k) * 2.0)
    means = rng.normal(0.0, 3.0, size=(k, d))
    covariances = np.array([_spd(rng, d) for _ in range(k)])
    return priors, means, covariances, rng


def _scipy_component_logpdf(X, means, covariances):
    return np.column_stack(
        [
            stats.multivariate_normal(m, c).logpdf(X)
            for m, c in zip(means, covariances, strict=True)
        ]
    ).reshape(len(X), len(means))


seeds = st.integers(0, 2**32 - 1)
ks = st.integers(1, 4)
dims = st.integers(1, 4)


# --------------------------------------------------------------------------- densities


@given(seed=seeds, k=ks, d=dims)
def test_density_and_responsibilities_equal_scipy(seed, k, d):
    priors, means, covs, rng = _random_gmm_params(seed, k, d)
    gmm = GMM(k, priors=priors, means=means, covariances=covs)
    X = rng.normal(0.0, 4.0, size=(9, d))
    log_joint = np.log(priors) + _scipy_component_logpdf(X, means, covs)
    log_p = logsumexp(log_joint, axis=1)
    p = gmm.to_probability_density(X)
    assert p.shape == (9,)
    assert np.all(p > 0)
    assert_allclose(p, np.exp(log_p), rtol=1e-8)
    R = gmm.to_responsibilities(X)
    assert R.shape == (9, k)
    assert np.all(R >= 0)
    assert_allclose(R.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(R, np.exp(log_joint - log_p[:, None]), rtol=1e-7, atol=1e-12)
    assert_allclose(gmm.score_samples(X), log_p, rtol=1e-9, atol=1e-9)
    assert gmm.score(X) == pytest.approx(log_p.mean(), rel=1e-9)


def test_density_integrates_to_one_1d():
    gmm = GMM(2, priors=[0.3, 0.7], means=[[-2.0], [1.0]], covariances=[[[0.5]], [[2.0]]])
    total, _ = integrate.quad(lambda t: gmm.to_probability_density([[t]])[0], -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)


@given(seed=seeds, k=ks)
def test_density_integrates_to_one_1d_property(seed, k):
    priors, means, covs, _ = _random_gmm_params(seed, k, 1)
    gmm = GMM(k, priors=priors, means=means, covariances=covs)
    sd = np.sqrt(covs[:, 0, 0])
    lo, hi = (means[:, 0] - 15 * sd).min(), (means[:, 0] + 15 * sd).max()
    grid = np.linspace(lo, hi, 20_001)
    total = integrate.simpson(gmm.to_probability_density(grid[:, None]), x=grid)
    assert total == pytest.approx(1.0, abs=1e-7)


def test_density_integrates_to_one_2d(mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means[:, :2], covariances=covs[:, :2, :2])
    g = np.linspace(-14, 14, 561)
    xx, yy = np.meshgrid(g, g)
    p = gmm.to_probability_density(np.column_stack([xx.ravel(), yy.ravel()]))
    assert p.sum() * (g[1] - g[0]) ** 2 == pytest.approx(1.0, abs=1e-6)


def test_information_criteria(mixture_params, rng):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs)
    X = rng.normal(size=(40, 3))
    k, d, n = 3, 3, 40
    n_params = (k - 1) + k * d + k * d * (d + 1) // 2
    log_l = logsumexp(np.log(priors) + _scipy_component_logpdf(X, means, covs), axis=1).sum()
    assert gmm.bic(X) == pytest.approx(-2 * log_l + n_params * np.log(n), rel=1e-9)
    assert gmm.aic(X) == pytest.approx(-2 * log_l + 2 * n_params, rel=1e-9)


# --------------------------------------------------------------------------- sampling


def test_sample_shape_and_reproducibility(mixture_params):
    priors, means, covs = mixture_params
    a = GMM(3, priors=priors, means=means, covariances=covs, random_state=4).sample(13)
    b = GMM(3, priors=priors, means=means, covariances=covs, random_state=4).sample(13)
    assert a.shape == (13, 3)
    assert_allclose(a, b)


def test_sample_monte_carlo_moments(mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs, random_state=5)
    n = 40_000
    X = gmm.sample(n)
    mix_mean = priors @ means
    mix_cov = np.einsum("k,kij->ij", priors, covs + np.einsum("ki,kj->kij", means, means))
    mix_cov -= np.outer(mix_mean, mix_mean)
    assert np.all(np.abs(X.mean(axis=0) - mix_mean) < 5 * np.sqrt(np.diag(mix_cov) / n))
    # Covariance entries are means of products (x_i - m_i)(x_j - m_j): their
    # standard error is estimated from the same products.
    centered = X - mix_mean
    products = np.einsum("ni,nj->nij", centered, centered)
    se = products.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(products.mean(axis=0) - mix_cov) < 5 * se)


def test_sample_component_frequencies():
    """Samples from far-apart components: counts are Binomial(n, prior)."""
    priors = np.array([0.1, 0.6, 0.3])
    means = np.array([[-100.0], [0.0], [100.0]])
    gmm = GMM(3, priors=priors, means=means, covariances=np.ones((3, 1, 1)), random_state=6)
    n = 20_000
    X = gmm.sample(n)[:, 0]
    freq = np.array([(X < -50).mean(), (np.abs(X) < 50).mean(), (X > 50).mean()])
    assert np.all(np.abs(freq - priors) < 5 * np.sqrt(priors * (1 - priors) / n))


# --------------------------------------------------------------------------- conditioning


def _closed_form_condition(priors, means, covs, given_idx, x):
    d = means.shape[1]
    other = np.setdiff1d(np.arange(d), given_idx)
    cmeans, ccovs, log_w = [], [], []
    for p, m, c in zip(priors, means, covs, strict=True):
        s_gg = c[np.ix_(given_idx, given_idx)]
        s_og = c[np.ix_(other, given_idx)]
        coef = s_og @ np.linalg.inv(s_gg)
        cmeans.append(m[other] + coef @ (x - m[given_idx]))
        ccovs.append(c[np.ix_(other, other)] - coef @ s_og.T)
        log_w.append(np.log(p) + stats.multivariate_normal(m[given_idx], s_gg).logpdf(x))
    log_w = np.array(log_w)
    return np.exp(log_w - logsumexp(log_w)), np.array(cmeans), np.array(ccovs)


@given(seed=seeds, k=ks, d=st.integers(2, 4), data=st.data())
def test_condition_equals_closed_form(seed, k, d, data):
    priors, means, covs, rng = _random_gmm_params(seed, k, d)
    n_given = data.draw(st.integers(1, d - 1))
    given_idx = np.sort(rng.choice(d, size=n_given, replace=False))
    x = rng.normal(0.0, 3.0, size=n_given)
    cond = GMM(k, priors=priors, means=means, covariances=covs).condition(given_idx, x)
    exp_priors, exp_means, exp_covs = _closed_form_condition(priors, means, covs, given_idx, x)
    assert isinstance(cond, GMM)
    assert cond.n_components == k
    assert_allclose(cond.priors, exp_priors, rtol=1e-7, atol=1e-12)
    assert_allclose(cond.means, exp_means, rtol=1e-8, atol=1e-9)
    assert_allclose(cond.covariances, exp_covs, rtol=1e-8, atol=1e-10)
    assert_allclose(cond.covariances, np.swapaxes(cond.covariances, 1, 2), atol=1e-12)
    assert np.all(np.linalg.eigvalsh(cond.covariances) > 0)


@given(seed=seeds, k=ks, d=st.integers(2, 3))
def test_conditional_density_is_joint_over_marginal(seed, k, d):
    """Conditioning on all but one dimension: p(y | x) = p(x, y) / p(x), all via scipy."""
    priors, means, covs, rng = _random_gmm_params(seed, k, d)
    gmm = GMM(k, priors=priors, means=means, covariances=covs)
    out = int(rng.integers(d))
    given_idx = np.array([i for i in range(d) if i != out])
    x = rng.normal(0.0, 2.0, size=d - 1)
    ys = np.linspace(-6, 6, 7)
    joint = np.empty((7, d))
    joint[:, given_idx] = x
    joint[:, out] = ys
    log_joint = logsumexp(np.log(priors) + _scipy_component_logpdf(joint, means, covs), axis=1)
    marg_covs = covs[:, given_idx][:, :, given_idx]
    log_marg = logsumexp(
        np.log(priors) + _scipy_component_logpdf(x[None], means[:, given_idx], marg_covs),
        axis=1,
    )
    cond = gmm.condition(given_idx, x)
    assert cond.means.shape == (k, 1)
    assert_allclose(
        cond.to_probability_density(ys[:, None]), np.exp(log_joint - log_marg), rtol=1e-6
    )


@pytest.mark.parametrize(
    "x", [0.5, [0.5], np.array([0.5]), np.array([[0.5]])], ids=["scalar", "list", "1d", "row"]
)
def test_condition_accepts_x_forms(x, mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs)
    cond = gmm.condition([1], x)
    exp_priors, exp_means, exp_covs = _closed_form_condition(
        priors, means, covs, np.array([1]), np.array([0.5])
    )
    assert_allclose(cond.priors, exp_priors, rtol=1e-8)
    assert_allclose(cond.means, exp_means, rtol=1e-8)
    assert_allclose(cond.covariances, exp_covs, rtol=1e-8)


def test_predict_equals_mean_of_conditional_mixture(mixture_params, rng):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs)
    X = rng.normal(0.0, 3.0, size=(8, 1))
    Y = gmm.predict([1], X)
    assert Y.shape == (8, 2)
    Y2, C = gmm.predict(np.array([1]), X, return_covariance=True)
    assert_allclose(Y2, Y)
    assert C.shape == (8, 2, 2)
    for x, y, c in zip(X, Y, C, strict=True):
        w, m, s = _closed_form_condition(priors, means, covs, np.array([1]), x)
        mean = w @ m
        cov = np.einsum("k,kij->ij", w, s + np.einsum("ki,kj->kij", m - mean, m - mean))
        assert_allclose(y, mean, rtol=1e-8, atol=1e-10)
        assert_allclose(c, cov, rtol=1e-7, atol=1e-10)


def test_predict_one_output_has_column_shape(mixture_params, rng):
    priors, means, covs = mixture_params
    Y = GMM(3, priors=priors, means=means, covariances=covs).predict(
        [0, 2], rng.normal(size=(5, 2))
    )
    assert Y.shape == (5, 1)


def test_predict_covariance_matches_monte_carlo(mixture_params):
    """The law-of-total-covariance answer matches the spread of samples of p(y | x)."""
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs, random_state=8)
    x = np.array([[0.3]])
    Y, C = gmm.predict([0], x, return_covariance=True)
    samples = gmm.condition([0], x[0]).sample(40_000)
    n = len(samples)
    sd = np.sqrt(np.diag(C[0]))
    assert np.all(np.abs(samples.mean(axis=0) - Y[0]) < 5 * sd / np.sqrt(n))
    assert_allclose(np.cov(samples, rowvar=False), C[0], rtol=0.05, atol=0.05 * sd.max() ** 2)


# --------------------------------------------------------------------------- marginals, moments


def test_marginalize_keeps_priors_and_blocks(mixture_params):
    priors, means, covs = mixture_params
    marg = GMM(3, priors=priors, means=means, covariances=covs).marginalize([2, 0])
    assert isinstance(marg, GMM)
    assert_allclose(marg.priors, priors)
    assert_allclose(marg.means, means[:, [2, 0]])
    assert_allclose(marg.covariances, covs[:, [2, 0]][:, :, [2, 0]])


def test_marginal_density_integrates_joint():
    priors, means, covs, _ = _random_gmm_params(9, 2, 2)
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    marg = gmm.marginalize([0])
    for x0 in (-1.0, 0.5, 2.0):
        numeric, _ = integrate.quad(
            lambda t, x0=x0: gmm.to_probability_density([[x0, t]])[0], -np.inf, np.inf
        )
        assert marg.to_probability_density([[x0]])[0] == pytest.approx(numeric, rel=1e-7)


@given(seed=seeds, k=ks, d=dims)
def test_to_mvn_moment_matching(seed, k, d):
    priors, means, covs, _ = _random_gmm_params(seed, k, d)
    mvn = GMM(k, priors=priors, means=means, covariances=covs).to_mvn()
    assert isinstance(mvn, MVN)
    mean = priors @ means
    centered = means - mean
    cov = np.einsum("k,kij->ij", priors, covs + np.einsum("ki,kj->kij", centered, centered))
    assert_allclose(mvn.mean, mean, rtol=1e-9, atol=1e-12)
    assert_allclose(mvn.covariance, cov, rtol=1e-9, atol=1e-12)
    assert_allclose(mvn.covariance, mvn.covariance.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(mvn.covariance) > 0)


def test_extract_mvn(mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs)
    for j in range(3):
        mvn = gmm.extract_mvn(j)
        assert isinstance(mvn, MVN)
        assert_allclose(mvn.mean, means[j])
        assert_allclose(mvn.covariance, covs[j])


def test_to_ellipses_equal_component_ellipses(mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means[:, :2], covariances=covs[:, :2, :2])
    ellipses = gmm.to_ellipses(1.5)
    assert len(ellipses) == 3
    for j, (mean, (angle, width, height)) in enumerate(ellipses):
        vals, vecs = np.linalg.eigh(covs[j, :2, :2])
        assert_allclose(mean, means[j, :2])
        assert width == pytest.approx(1.5 * np.sqrt(vals[1]), rel=1e-9)
        assert height == pytest.approx(1.5 * np.sqrt(vals[0]), rel=1e-9)
        # Same axis as the major eigenvector, up to sign.
        assert abs(np.cos(angle) * vecs[0, 1] + np.sin(angle) * vecs[1, 1]) == pytest.approx(1.0)


def test_parameters_assigned_after_construction_are_used(mixture_params):
    """No stale cache: assigning new means changes the density."""
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs)
    x = np.zeros((1, 3))
    gmm.to_probability_density(x)
    gmm.means = means + 1.0
    expected = priors @ np.exp(_scipy_component_logpdf(x, means + 1.0, covs)[0])
    assert gmm.to_probability_density(x)[0] == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------- confidence regions


def test_is_in_confidence_region_uses_closest_component():
    gmm = GMM(
        2,
        priors=[0.5, 0.5],
        means=[[0.0, 0.0], [10.0, 0.0]],
        covariances=[np.eye(2), 4 * np.eye(2)],
    )
    alpha = 0.9
    r = np.sqrt(stats.chi2(2).ppf(alpha))
    points = np.array([[0.99 * r, 0.0], [1.01 * r, 0.0], [10 + 1.98 * r, 0], [10 + 2.02 * r, 0]])
    assert np.asarray(gmm.is_in_confidence_region(points, alpha)).tolist() == [
        True,
        False,
        True,
        False,
    ]
    assert bool(gmm.is_in_confidence_region(points[0], alpha))


def test_sample_confidence_region_lies_in_regions(mixture_params):
    priors, means, covs = mixture_params
    gmm = GMM(3, priors=priors, means=means, covariances=covs, random_state=9)
    X = gmm.sample_confidence_region(2000, 0.5)
    assert X.shape == (2000, 3)
    r2 = np.stack(
        [
            np.einsum("ni,ij,nj->n", X - m, np.linalg.inv(c), X - m)
            for m, c in zip(means, covs, strict=True)
        ]
    )
    assert np.all(r2.min(axis=0) <= stats.chi2(3).ppf(0.5) * (1 + 1e-9))


# --------------------------------------------------------------------------- fitting


def test_from_samples_recovers_separated_blobs(two_blobs):
    X, true_means = two_blobs
    for init in ("random", "kmeans++"):
        gmm = GMM(2, random_state=0)
        assert gmm.from_samples(X, init_params=init) is gmm
        order = np.argsort(gmm.means[:, 0])
        assert_allclose(gmm.means[order], true_means, atol=0.2)
        assert_allclose(gmm.priors, [0.5, 0.5], atol=0.02)
        for c in gmm.covariances:
            assert_allclose(c, 0.49 * np.eye(2), atol=0.15)
        assert_allclose(gmm.priors.sum(), 1.0)


def test_from_samples_starts_from_given_parameters(two_blobs):
    """Means given to the constructor are the start: component order is kept."""
    X, true_means = two_blobs
    for start in (true_means, true_means[::-1]):
        gmm = GMM(2, means=start + 0.5, random_state=0).from_samples(X)
        assert_allclose(gmm.means, start, atol=0.2)


def test_from_samples_oas_keeps_covariances_positive_definite(two_blobs):
    X, _ = two_blobs
    gmm = GMM(2, random_state=1).from_samples(X, oracle_approximating_shrinkage=True)
    assert np.all(np.isfinite(gmm.covariances))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)


def test_oracle_approximating_shrinkage_equals_sklearn(rng):
    """OAS of Chen et al. (2010) as scikit-learn's ``oas`` computes it."""
    from sklearn.covariance import oas

    X = rng.normal(size=(30, 4)) @ rng.normal(size=(4, 4))
    emp = X.T @ X / len(X)
    d, n = 4, 30
    mu = np.trace(emp) / d
    alpha = np.mean(emp**2)
    shrinkage = min((alpha + mu**2) / ((n + 1.0) * (alpha - mu**2 / d)), 1.0)
    expected = (1 - shrinkage) * emp + shrinkage * mu * np.eye(d)
    assert_allclose(oas(X, assume_centered=True)[0], expected, rtol=1e-10)
    gmm = GMM(1, priors=[1.0], means=np.zeros((1, 4)), covariances=emp[None].copy())
    gmm.apply_oracle_approximating_shrinkage(n)
    assert_allclose(gmm.covariances[0], expected, rtol=1e-10)


# --------------------------------------------------------------------------- initializers


@pytest.mark.parametrize("k", [1, 3])
def test_covariance_initialization_equals_pairwise_mean(k, rng):
    X = rng.normal(size=(37, 3)) * [1.0, 5.0, 0.1]
    X[5] = X[6]  # ties must not matter
    covs = covariance_initialization(X, k)
    assert covs.shape == (k, 3, 3)
    avg = np.array([pdist(X[:, [i]]).mean() for i in range(3)])
    for c in covs:
        assert_allclose(c, np.diag((avg / k) ** 2), rtol=1e-10)
