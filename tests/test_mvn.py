"""MVN against references: scipy.stats densities, closed-form conditionals, Monte Carlo."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import integrate, stats
from scipy.spatial.distance import mahalanobis

from gaussmix import MVN
from helpers import random_spd

_spd = random_spd


def _random_mvn(seed, d):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, size=d), _spd(rng, d), rng


seeds = st.integers(0, 2**32 - 1)
dims = st.integers(1, 4)


# --------------------------------------------------------------------------- densities


@given(seed=seeds, d=dims)
def test_density_equals_scipy(seed, d):
    mean, cov, rng = _random_mvn(seed, d)
    X = rng.normal(mean, 2.0, size=(7, d))
    mvn = MVN(mean=mean, covariance=cov)
    ref = stats.multivariate_normal(mean, cov)
    p = mvn.to_probability_density(X)
    assert p.shape == (7,)
    assert np.all(p > 0)
    assert_allclose(p, ref.pdf(X), rtol=1e-9)
    assert_allclose(mvn.to_log_probability_density(X), ref.logpdf(X), rtol=1e-9, atol=1e-9)


@given(seed=seeds, d=dims)
def test_norm_factor_and_exponents_closed_form(seed, d):
    mean, cov, rng = _random_mvn(seed, d)
    X = rng.normal(mean, 1.0, size=(5, d))
    factor, exponents = MVN(mean=mean, covariance=cov).to_norm_factor_and_exponents(X)
    expected_factor = (2 * np.pi) ** (-d / 2) / np.sqrt(np.linalg.det(cov))
    prec = np.linalg.inv(cov)
    expected_exp = np.array([-0.5 * mahalanobis(x, mean, prec) ** 2 for x in X])
    assert_allclose(factor, expected_factor, rtol=1e-9)
    assert exponents.shape == (5,)
    assert_allclose(exponents, expected_exp, rtol=1e-8, atol=1e-12)
    assert_allclose(factor * np.exp(exponents), stats.multivariate_normal(mean, cov).pdf(X))


def test_density_integrates_to_one_1d():
    mvn = MVN(mean=[1.5], covariance=[[0.7]])
    total, _ = integrate.quad(lambda t: mvn.to_probability_density([[t]])[0], -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_density_integrates_to_one_2d():
    mean = np.array([0.5, -1.0])
    cov = np.array([[1.0, 0.6], [0.6, 0.8]])
    mvn = MVN(mean=mean, covariance=cov)
    # Riemann sum on a grid covering > 10 standard deviations in each direction.
    g = np.linspace(-10, 10, 401)
    xx, yy = np.meshgrid(g + mean[0], g + mean[1])
    p = mvn.to_probability_density(np.column_stack([xx.ravel(), yy.ravel()]))
    step = g[1] - g[0]
    assert p.sum() * step**2 == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- estimation


@pytest.mark.parametrize("bessel", [True, False])
def test_from_samples_matches_numpy(bessel, rng):
    X = rng.normal(size=(50, 3)) @ np.array([[1.0, 0.2, 0.0], [0.0, 2.0, 0.5], [0, 0, 0.3]])
    mvn = MVN()
    assert mvn.from_samples(X, bessels_correction=bessel) is mvn
    assert_allclose(mvn.mean, X.mean(axis=0))
    assert_allclose(mvn.covariance, np.cov(X, rowvar=False, bias=not bessel))


def test_from_samples_default_is_bessel_corrected(rng):
    X = rng.normal(size=(10, 2))
    assert_allclose(MVN().from_samples(X).covariance, np.cov(X, rowvar=False, ddof=1))


# --------------------------------------------------------------------------- sampling


def test_sample_shape_and_reproducibility():
    mvn = MVN(mean=[1.0, 2.0, 3.0], covariance=np.eye(3), random_state=0)
    X = mvn.sample(11)
    assert X.shape == (11, 3)
    X2 = MVN(mean=[1.0, 2.0, 3.0], covariance=np.eye(3), random_state=0).sample(11)
    assert_allclose(X, X2)


def test_sample_zero_rows():
    assert MVN(mean=[0.0, 1.0], covariance=np.eye(2), random_state=0).sample(0).shape == (0, 2)


def test_sample_monte_carlo_moments():
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    n = 40_000
    X = MVN(mean=mean, covariance=cov, random_state=1).sample(n)
    # Mean: standard error sqrt(var / n); 5 standard errors.
    assert np.all(np.abs(X.mean(axis=0) - mean) < 5 * np.sqrt(np.diag(cov) / n))
    # Covariance entries: Var(x_i x_j) = S_ii S_jj + S_ij^2 for Gaussians.
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(X, rowvar=False) - cov) < 5 * se)


# ------------------------------------------------------------------- marginal / conditional


def test_marginalize_selects_blocks_in_given_order():
    mean, cov, _ = _random_mvn(0, 4)
    marg = MVN(mean=mean, covariance=cov).marginalize([3, 1])
    assert isinstance(marg, MVN)
    assert_allclose(marg.mean, mean[[3, 1]])
    assert_allclose(marg.covariance, cov[np.ix_([3, 1], [3, 1])])


def _schur(mean, cov, given, x):
    other = np.setdiff1d(np.arange(len(mean)), given)
    s_oo = cov[np.ix_(other, other)]
    s_og = cov[np.ix_(other, given)]
    s_gg = cov[np.ix_(given, given)]
    coef = s_og @ np.linalg.inv(s_gg)
    return mean[other] + coef @ (np.asarray(x) - mean[given]), s_oo - coef @ s_og.T


@given(seed=seeds, d=st.integers(2, 5), data=st.data())
def test_condition_equals_schur_complement(seed, d, data):
    mean, cov, rng = _random_mvn(seed, d)
    n_given = data.draw(st.integers(1, d - 1))
    given_idx = np.sort(rng.choice(d, size=n_given, replace=False))
    x = rng.normal(mean[given_idx], 1.0)
    cond = MVN(mean=mean, covariance=cov).condition(given_idx, x)
    exp_mean, exp_cov = _schur(mean, cov, given_idx, x)
    assert_allclose(cond.mean, exp_mean, rtol=1e-8, atol=1e-10)
    assert_allclose(cond.covariance, exp_cov, rtol=1e-8, atol=1e-10)
    assert_allclose(cond.covariance, cond.covariance.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(cond.covariance) > 0)


@given(seed=seeds, d=st.integers(2, 4))
def test_condition_on_all_but_one_is_ratio_of_densities(seed, d):
    """p(y | x) from condition() equals p(x, y) / p(x) computed with scipy."""
    mean, cov, rng = _random_mvn(seed, d)
    out = int(rng.integers(d))
    given_idx = np.array([i for i in range(d) if i != out])
    x = rng.normal(mean[given_idx], 1.0)
    cond = MVN(mean=mean, covariance=cov).condition(given_idx, x)
    assert cond.mean.shape == (1,)
    assert cond.covariance.shape == (1, 1)
    ys = cond.mean[0] + np.linspace(-2, 2, 5) * np.sqrt(cond.covariance[0, 0])
    joint = np.empty((5, d))
    joint[:, given_idx] = x
    joint[:, out] = ys
    ratio = stats.multivariate_normal(mean, cov).pdf(joint) / stats.multivariate_normal(
        mean[given_idx], cov[np.ix_(given_idx, given_idx)]
    ).pdf(x)
    assert_allclose(cond.to_probability_density(ys[:, None]), ratio, rtol=1e-7)


@pytest.mark.parametrize("x", [0.7, [0.7], np.array([0.7]), np.array([[0.7]])])
def test_condition_accepts_scalar_list_1d_and_row(x):
    mean = np.array([0.0, 1.0])
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    cond = MVN(mean=mean, covariance=cov).condition([0], x)
    assert_allclose(cond.mean, [1.0 + 0.5 * 0.7])
    assert_allclose(cond.covariance, [[2.0 - 0.25]])


def test_predict_rows_equal_condition(rng):
    mean, cov, _ = _random_mvn(5, 4)
    X = rng.normal(size=(6, 2))
    Y, C = MVN(mean=mean, covariance=cov).predict([0, 2], X)
    assert Y.shape == (6, 2)
    assert C.shape == (2, 2)
    for x, y in zip(X, Y, strict=True):
        exp_mean, exp_cov = _schur(mean, cov, np.array([0, 2]), x)
        assert_allclose(y, exp_mean, rtol=1e-9, atol=1e-12)
        assert_allclose(C, exp_cov, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- Mahalanobis, regions


@given(seed=seeds, d=dims)
def test_squared_mahalanobis_equals_scipy(seed, d):
    mean, cov, rng = _random_mvn(seed, d)
    X = rng.normal(size=(4, d))
    mvn = MVN(mean=mean, covariance=cov)
    prec = np.linalg.inv(cov)
    expected = np.array([mahalanobis(x, mean, prec) ** 2 for x in X])
    assert float(mvn.squared_mahalanobis_distance(X[0])) == pytest.approx(expected[0], rel=1e-9)
    assert_allclose(mvn.squared_mahalanobis_distance(X), expected, rtol=1e-9)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("alpha", [0.3, 0.6827, 0.95])
def test_confidence_region_boundary(d, alpha):
    """Inside iff squared Mahalanobis distance <= chi2(d).ppf(alpha)."""
    mean, cov, rng = _random_mvn(d, d)
    mvn = MVN(mean=mean, covariance=cov)
    radius = np.sqrt(stats.chi2(d).ppf(alpha))
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    chol = np.linalg.cholesky(cov)
    inside = mean + chol @ direction * radius * 0.999
    outside = mean + chol @ direction * radius * 1.001
    answer = mvn.is_in_confidence_region(inside, alpha)
    assert isinstance(answer, bool | np.bool_)
    assert answer
    assert not mvn.is_in_confidence_region(outside, alpha)
    flags = mvn.is_in_confidence_region(np.vstack([inside, outside]), alpha)
    assert flags.dtype == bool
    assert flags.tolist() == [True, False]


def test_confidence_region_coverage_monte_carlo():
    """A fraction alpha of Gaussian samples lies in the alpha region (binomial, 5 SE)."""
    mean, cov, _ = _random_mvn(11, 3)
    mvn = MVN(mean=mean, covariance=cov, random_state=2)
    n, alpha = 20_000, 0.8
    inside = np.asarray(mvn.is_in_confidence_region(mvn.sample(n), alpha))
    assert inside.shape == (n,)
    assert abs(inside.mean() - alpha) < 5 * np.sqrt(alpha * (1 - alpha) / n)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_sample_confidence_region_is_truncated_gaussian(d):
    """Squared Mahalanobis radii follow chi2(d) truncated to its alpha quantile."""
    mean, cov, _ = _random_mvn(20 + d, d)
    alpha = 0.7
    X = MVN(mean=mean, covariance=cov, random_state=3).sample_confidence_region(4000, alpha)
    assert X.shape == (4000, d)
    r2 = np.einsum("ni,ij,nj->n", X - mean, np.linalg.inv(cov), X - mean)
    bound = stats.chi2(d).ppf(alpha)
    assert r2.max() <= bound * (1 + 1e-9)
    p = stats.kstest(r2, lambda t: stats.chi2(d).cdf(np.minimum(t, bound)) / alpha).pvalue
    assert p > 1e-3
    # Directions are symmetric: the whitened mean is 0 (5 standard errors).
    z = np.linalg.solve(np.linalg.cholesky(cov), (X - mean).T).T
    assert np.all(np.abs(z.mean(axis=0)) < 5 * z.std(axis=0) / np.sqrt(len(z)))


# --------------------------------------------------------------------------- ellipse


@given(seed=seeds, factor=st.floats(0.1, 3.0))
def test_to_ellipse_matches_eigendecomposition(seed, factor):
    mean, cov, _ = _random_mvn(seed, 2)
    angle, width, height = MVN(mean=mean, covariance=cov).to_ellipse(factor)
    vals = np.linalg.eigvalsh(cov)
    assert width >= height
    assert width == pytest.approx(factor * np.sqrt(vals[1]), rel=1e-9)
    assert height == pytest.approx(factor * np.sqrt(vals[0]), rel=1e-9)
    # The major axis direction is an eigenvector of the largest eigenvalue
    # (unless the ellipse is a circle).
    if vals[1] - vals[0] > 1e-6:
        u = np.array([np.cos(angle), np.sin(angle)])
        assert_allclose(cov @ u, vals[1] * u, atol=1e-7)


def test_to_ellipse_axis_aligned():
    angle, width, height = MVN(mean=[0, 0], covariance=[[1.0, 0.0], [0.0, 9.0]]).to_ellipse(2.0)
    assert (width, height) == pytest.approx((6.0, 2.0))
    assert np.cos(angle) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- unscented transform


@given(seed=seeds, d=dims, alpha=st.sampled_from([1e-3, 0.1, 0.5, 1.0]))
def test_sigma_points_reproduce_mean_and_covariance(seed, d, alpha):
    mean, cov, _ = _random_mvn(seed, d)
    mvn = MVN(mean=mean, covariance=cov)
    points = mvn.sigma_points(alpha=alpha)
    assert points.shape == (2 * d + 1, d)
    assert_allclose(points[0], mean)
    # Points are symmetric around the mean and their offsets span (d + lambda) Sigma.
    lmbda = alpha**2 * d - d
    offsets = points[1 : d + 1] - mean
    assert_allclose(points[d + 1 :] - mean, -offsets, atol=1e-9)
    assert_allclose(offsets.T @ offsets, (d + lmbda) * cov, rtol=1e-7, atol=1e-9)
    est = mvn.estimate_from_sigma_points(points, alpha=alpha)
    assert_allclose(est.mean, mean, atol=1e-7 * (1 + np.abs(mean).max()))
    assert_allclose(est.covariance, cov, rtol=1e-6, atol=1e-6)


def test_unscented_transform_of_linear_map_is_exact(rng):
    mean, cov, _ = _random_mvn(4, 3)
    A = rng.normal(size=(2, 3))
    b = np.array([1.0, -1.0])
    mvn = MVN(mean=mean, covariance=cov)
    points = mvn.sigma_points(alpha=0.5)
    est = mvn.estimate_from_sigma_points(points @ A.T + b, alpha=0.5)
    assert_allclose(est.mean, A @ mean + b, rtol=1e-9, atol=1e-9)
    assert_allclose(est.covariance, A @ cov @ A.T, rtol=1e-8, atol=1e-9)


def test_unscented_transform_of_square_is_exact():
    """x ~ N(m, s^2): E[x^2] = m^2 + s^2 and Var[x^2] = 4 m^2 s^2 + 2 s^4 (UT with beta=2)."""
    m, s2 = 1.5, 0.49
    mvn = MVN(mean=[m], covariance=[[s2]])
    points = mvn.sigma_points(alpha=1.0)
    est = mvn.estimate_from_sigma_points(points**2, alpha=1.0)
    assert est.mean[0] == pytest.approx(m**2 + s2, rel=1e-12)
    assert est.covariance[0, 0] == pytest.approx(4 * m**2 * s2 + 2 * s2**2, rel=1e-12)
