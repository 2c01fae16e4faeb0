"""Robust numerics (SPEC 1, "Numerics"): large scales, far outliers, duplicated rows,
constant columns and singular covariances give finite results, never NaN or a crash.

Every RuntimeWarning (overflow, invalid value, division by zero) is an error here.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from scipy.linalg import pinvh
from scipy.special import logsumexp

from gaussmix import GMM, MVN

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _ref_log_resp(X, priors, means, covs):
    log_joint = np.column_stack(
        [
            np.log(p) + stats.multivariate_normal(m, c).logpdf(X)
            for p, m, c in zip(priors, means, covs, strict=True)
        ]
    )
    return log_joint - logsumexp(log_joint, axis=1, keepdims=True)


def _assert_valid_responsibilities(R, n, k):
    assert R.shape == (n, k)
    assert np.all(np.isfinite(R))
    assert np.all(R >= 0)
    assert_allclose(R.sum(axis=1), 1.0, rtol=1e-12)


_MODEL = (
    np.array([0.3, 0.7]),
    np.array([[0.0, 0.0], [3.0, 1.0]]),
    np.array([[[1.0, 0.3], [0.3, 0.5]], [[2.0, -0.4], [-0.4, 1.5]]]),
)


@pytest.fixture
def model():
    return _MODEL


# --------------------------------------------------------------------------- scale 1e4


@pytest.mark.parametrize("scale", [[1e4, 1e4], [1e4, 1.0], [1.0, 1e-4]])
def test_responsibilities_invariant_under_feature_scaling(model, rng, scale):
    priors, means, covs = model
    D = np.diag(scale)
    X = rng.normal(1.0, 2.0, size=(50, 2))
    R = GMM(2, priors=priors, means=means, covariances=covs).to_responsibilities(X)
    scaled = GMM(2, priors=priors, means=means @ D, covariances=D @ covs @ D)
    R_scaled = scaled.to_responsibilities(X @ D)
    _assert_valid_responsibilities(R_scaled, 50, 2)
    assert_allclose(R_scaled, R, rtol=1e-8, atol=1e-12)
    # log p(D x) = log p(x) - log |det D|
    logp = GMM(2, priors=priors, means=means, covariances=covs).score_samples(X)
    assert_allclose(scaled.score_samples(X @ D), logp - np.log(np.prod(scale)), rtol=1e-9)


def test_em_is_equivariant_under_scaling_by_1e4(two_blobs):
    X, true_means = two_blobs
    start_means = true_means + np.array([[0.5, -0.5], [-0.5, 0.5]])
    start_covs = np.stack([np.eye(2)] * 2)
    s = 1e4
    a = GMM(2, means=start_means, covariances=start_covs.copy()).from_samples(X)
    b = GMM(2, means=start_means * s, covariances=start_covs * s**2).from_samples(X * s)
    assert np.all(np.isfinite(b.covariances))
    assert_allclose(b.means / s, a.means, rtol=1e-4, atol=1e-4)
    assert_allclose(b.covariances / s**2, a.covariances, rtol=1e-3, atol=1e-5)
    assert_allclose(b.priors, a.priors, rtol=1e-4)


def test_fit_from_scratch_on_data_scaled_by_1e4(two_blobs):
    X, true_means = two_blobs
    gmm = GMM(2, random_state=0).from_samples(X * 1e4, init_params="kmeans++")
    assert np.all(np.isfinite(gmm.means))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    order = np.argsort(gmm.means[:, 0])
    assert_allclose(gmm.means[order] / 1e4, true_means, atol=0.2)
    _assert_valid_responsibilities(gmm.to_responsibilities(X * 1e4), len(X), 2)
    pred = gmm.predict([0], X[:5, :1] * 1e4)
    assert np.all(np.isfinite(pred))


# --------------------------------------------------------------------------- far outliers


@given(exponent=st.floats(0.0, 100.0), sign=st.sampled_from([-1.0, 1.0]), axis=st.integers(0, 1))
def test_far_points_have_exact_finite_responsibilities(exponent, sign, axis):
    priors, means, covs = _MODEL
    x = np.zeros((1, 2))
    x[0, axis] = sign * 10.0**exponent
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    R = gmm.to_responsibilities(x)
    _assert_valid_responsibilities(R, 1, 2)
    assert_allclose(R, np.exp(_ref_log_resp(x, priors, means, covs)), rtol=1e-6, atol=1e-12)
    log_p = gmm.score_samples(x)
    assert np.isfinite(log_p[0])
    p = gmm.to_probability_density(x)
    assert np.isfinite(p[0]) and p[0] >= 0


def test_far_point_prediction_is_convex_combination(model):
    priors, means, covs = model
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    X = np.array([[1e3], [-1e6], [1e100]])
    Y, C = gmm.predict([0], X, return_covariance=True)
    assert np.all(np.isfinite(C))
    for x, y in zip(X, Y, strict=True):
        # Each component's conditional mean is linear in x; the prediction mixes them.
        comp = [m[1] + c[1, 0] / c[0, 0] * (x[0] - m[0]) for m, c in zip(means, covs, strict=True)]
        assert min(comp) - 1e-9 * abs(x[0]) <= y[0] <= max(comp) + 1e-9 * abs(x[0])


def test_overflowing_distance_gives_finite_responsibilities(model):
    """|x| ~ 1e200: every squared Mahalanobis distance overflows to inf."""
    priors, means, covs = model
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    X = np.array([[1e200, 0.0], [0.0, -1e300]])
    _assert_valid_responsibilities(gmm.to_responsibilities(X), 2, 2)
    assert np.all(gmm.to_probability_density(X) == 0.0)
    cond = gmm.condition([0], [1e200])
    assert np.all(np.isfinite(cond.priors))
    assert_allclose(cond.priors.sum(), 1.0)


@pytest.mark.parametrize("x", [1e155, 1e200])
def test_predict_beyond_float_square_range_is_finite(model, x):
    """Regression: predict returned NaN once x**2 overflowed (|x| > ~1.3e154)."""
    priors, means, covs = model
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    Y, C = gmm.predict([0], [[x]], return_covariance=True)
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(C))
    # The component with the wider input marginal (variance 2 > 1) takes all the
    # weight far away: E[y | x] = 1 + (-0.4 / 2)(x - 3).
    assert Y[0, 0] == pytest.approx(1 + (-0.2) * (x - 3), rel=1e-9)


@pytest.mark.parametrize("far", [1e8, 1e9])
def test_fit_with_far_outliers_in_the_data(far):
    """Regression: E[xx^T] - mu mu^T cancellation gave a lone outlier at 1e9 variances of
    -128 instead of reg_covar, after which the fitted model raised ValueError."""
    X = np.vstack([np.random.default_rng(1).normal(size=(100, 2)), [[far, far]]])
    gmm = GMM(2, random_state=0).from_samples(X, init_params="kmeans++")
    for arr in (gmm.priors, gmm.means, gmm.covariances):
        assert np.all(np.isfinite(arr))
    # The outlier has a component of its own: one point, so its covariance is
    # reg_covar * I (1e-6) up to rounding, certainly positive definite.
    j = int(np.argmax(gmm.means[:, 0]))
    assert_allclose(gmm.means[j], [far, far], rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    assert_allclose(gmm.covariances[j], 1e-6 * np.eye(2), atol=1e-3)
    _assert_valid_responsibilities(gmm.to_responsibilities(X), len(X), 2)


def test_fit_with_moderate_outliers_in_the_data(two_blobs):
    X, _ = two_blobs
    X = np.vstack([X, [[1e4, -1e4], [-3e4, 2e4]]])
    gmm = GMM(3, random_state=0).from_samples(X, init_params="kmeans++")
    for arr in (gmm.priors, gmm.means, gmm.covariances):
        assert np.all(np.isfinite(arr))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    _assert_valid_responsibilities(gmm.to_responsibilities(X), len(X), 3)
    assert np.all(np.isfinite(gmm.score_samples(X)))


def test_em_is_translation_equivariant(two_blobs):
    """Data far from the origin (e.g. UTM coordinates) fit like centred data."""
    X, true_means = two_blobs
    start = true_means + 0.5
    covs = np.stack([np.eye(2)] * 2)
    a = GMM(2, means=start, covariances=covs.copy()).from_samples(X)
    for shift in (1e6, 1e8):
        b = GMM(2, means=start + shift, covariances=covs.copy()).from_samples(X + shift)
        assert_allclose(b.means - shift, a.means, atol=1e-6)
        assert_allclose(b.covariances, a.covariances, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- degenerate data


@pytest.mark.parametrize("init", ["random", "kmeans++"])
def test_duplicated_rows(init):
    base = np.array([[0.0, 0.0], [1.0, 2.0], [5.0, -1.0]])
    X = np.repeat(base, 40, axis=0)
    gmm = GMM(3, random_state=1).from_samples(X, init_params=init)
    for arr in (gmm.priors, gmm.means, gmm.covariances):
        assert np.all(np.isfinite(arr))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    _assert_valid_responsibilities(gmm.to_responsibilities(X), 120, 3)
    assert np.all(np.isfinite(gmm.score_samples(X)))


def test_all_rows_identical():
    X = np.ones((20, 3))
    gmm = GMM(2, random_state=0).from_samples(X)
    assert np.all(np.isfinite(gmm.covariances))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    _assert_valid_responsibilities(gmm.to_responsibilities(X), 20, 2)
    assert_allclose(gmm.priors @ gmm.means, np.ones(3), atol=1e-9)


def test_n_components_equal_to_n_samples():
    X = np.array([[0.0, 1.0], [2.0, 3.0], [5.0, 4.0]])
    gmm = GMM(3, random_state=0).from_samples(X)
    assert np.all(np.isfinite(gmm.covariances))
    _assert_valid_responsibilities(gmm.to_responsibilities(X), 3, 3)


@pytest.mark.parametrize("init", ["random", "kmeans++"])
def test_constant_column(two_blobs, init):
    X, _ = two_blobs
    X = np.column_stack([X, np.full(len(X), 7.0)])
    gmm = GMM(2, random_state=0).from_samples(X, init_params=init)
    for arr in (gmm.priors, gmm.means, gmm.covariances):
        assert np.all(np.isfinite(arr))
    assert np.all(np.linalg.eigvalsh(gmm.covariances) > 0)
    assert_allclose(gmm.means[:, 2], 7.0, atol=1e-9)
    _assert_valid_responsibilities(gmm.to_responsibilities(X), len(X), 2)
    Y = gmm.predict([0, 1], X[:10, :2])
    assert_allclose(Y, 7.0, atol=1e-6)
    assert np.all(np.isfinite(gmm.score_samples(X)))


def test_mvn_from_constant_data_is_usable():
    X = np.column_stack([np.linspace(0, 1, 10), np.full(10, 3.0)])
    mvn = MVN().from_samples(X)
    p = mvn.to_probability_density(X)
    assert np.all(np.isfinite(p)) and np.all(p > 0)
    assert np.all(np.isfinite(mvn.sample(5)))


# --------------------------------------------------------------------------- singular covariances


def test_singular_mvn_is_regularized_not_a_crash():
    cov = np.array([[1.0, 1.0], [1.0, 1.0]])
    mvn = MVN(mean=[0.0, 0.0], covariance=cov, random_state=0)
    p = mvn.to_probability_density([[0.0, 0.0], [1.0, 1.0], [1.0, -1.0]])
    assert np.all(np.isfinite(p))
    assert p[0] > p[1] > p[2] >= 0
    S = mvn.sample(200)
    assert np.all(np.isfinite(S))
    # Samples stay (numerically) on the line x0 = x1.
    assert np.max(np.abs(S[:, 0] - S[:, 1])) < 1e-3
    assert np.isfinite(mvn.squared_mahalanobis_distance([1.0, 1.0]))


def test_singular_input_block_conditions_like_pseudo_inverse():
    """x0 and x1 are copies of one variable; conditioning on both uses the subspace."""
    cov = np.array([[2.0, 2.0, 1.0], [2.0, 2.0, 1.0], [1.0, 1.0, 1.5]])
    mean = np.array([0.0, 0.0, 1.0])
    x = np.array([[0.5, 0.5], [-1.0, -1.0]])
    Y, C = MVN(mean=mean, covariance=cov).predict([0, 1], x)
    coef = cov[2:, :2] @ pinvh(cov[:2, :2])
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(C))
    assert_allclose(Y, mean[2] + (x - mean[:2]) @ coef.T, atol=1e-4)
    assert_allclose(C, cov[2:, 2:] - coef @ cov[:2, 2:], atol=1e-4)


def test_gmm_with_singular_component():
    covs = np.array([[[1.0, 1.0], [1.0, 1.0]], np.eye(2)])
    gmm = GMM(2, priors=[0.5, 0.5], means=[[0.0, 0.0], [3.0, 3.0]], covariances=covs)
    X = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0], [1.0, -1.0]])
    _assert_valid_responsibilities(gmm.to_responsibilities(X), 4, 2)
    assert np.all(np.isfinite(gmm.score_samples(X)))
    cond = gmm.condition([0], [0.5])
    assert np.all(np.isfinite(cond.priors)) and np.all(np.isfinite(cond.means))
    assert_allclose(cond.priors.sum(), 1.0)
    assert np.all(np.isfinite(gmm.predict([0], [[0.5], [2.0]])))


def test_zero_covariance_component():
    gmm = GMM(2, priors=[0.5, 0.5], means=[[0.0], [1.0]], covariances=[[[0.0]], [[1.0]]])
    R = gmm.to_responsibilities([[0.0], [0.5], [2.0]])
    _assert_valid_responsibilities(R, 3, 2)


def test_predict_with_a_component_far_from_the_others_matches_gmr():
    """Regression: predict about one shared point lost the near components' weights
    when another component sat ~1e150 away (condition_batch and gmr were right)."""
    import gmr

    priors = np.array([0.9975, 0.0025])
    means = np.array([[2.0, 2.0, 2.0], [1e150, 0.0, 0.0]])
    covs = np.stack([np.eye(3) + 0.5, np.eye(3)])
    gmm = GMM(2, priors=priors, means=means, covariances=covs)
    X = np.array([[1.0], [2.5], [-3.0]])
    expected = gmr.GMM(2, priors=priors, means=means, covariances=covs).predict([0], X)
    assert_allclose(gmm.predict([0], X), expected, rtol=1e-12)
    mean, cov = gmm.predict([0], X, return_covariance=True)
    assert_allclose(mean, gmm.condition_batch([0], X).mean(), rtol=1e-12)
    assert_allclose(cov, gmm.condition_batch([0], X).covariance(), rtol=1e-12)


@pytest.mark.parametrize("far", [1e12, 1e150])
def test_fit_without_reg_covar_and_a_far_outlier_does_not_crash(far):
    """Regression: with reg_covar=0 the outlier's component collapses to a covariance
    of denormal numbers, whose jitter underflowed to zero ('could not be regularized')."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(200, 3), rng.randn(200, 3) + 4, [[far, 0.0, 0.0]]])
    gmm = GMM(2, random_state=0).from_samples(X, reg_covar=0, tol=1e-8, n_iter=300)
    R = gmm.to_responsibilities(X)
    assert np.isfinite(R).all()
    assert_allclose(R.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(gmm.covariances) >= 0)
