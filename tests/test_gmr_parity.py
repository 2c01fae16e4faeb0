"""The same seed gives gmr 2.0.3's numbers (issue 11).

Every test runs gaussmix and the installed gmr (a test dependency) side by side on the
same seeds and compares what they return, and where the random stream stands afterwards,
with tolerances of rounding. Where gaussmix corrects gmr (k-means++, confidence-region
sampling) the streams differ by design and nothing here compares them.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose, assert_array_equal

import gaussmix

gmr = pytest.importorskip("gmr")

# Results of the same draws mapped by two correct summation orders (numpy's dot inside
# multivariate_normal, gaussmix's batched einsum) differ by a few ulps.
ROUNDING = {"rtol": 1e-12, "atol": 1e-12}


def _mixture(seed, k=3, d=3):
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.ones(k))
    means = rng.normal(0.0, 3.0, size=(k, d))
    A = rng.normal(size=(k, d, d))
    covs = A @ np.swapaxes(A, 1, 2) + 0.2 * np.eye(d)
    return priors, means, covs


def _three_blobs(seed, n=300):
    rs = np.random.RandomState(seed)
    X = np.vstack(
        [
            rs.multivariate_normal([0.0, 1.0], [[0.5, -1.0], [-1.0, 5.0]], size=n // 3),
            rs.multivariate_normal([-2.0, -2.0], [[3.0, 1.0], [1.0, 1.0]], size=n // 3),
            rs.multivariate_normal([3.0, 1.0], [[3.0, -1.0], [-1.0, 1.0]], size=n // 3),
        ]
    )
    return X


def _same_stream_position(rs_a, rs_b):
    """Both generators are at the same place of the stream (the next draws agree)."""
    assert_array_equal(rs_a.standard_normal(5), rs_b.standard_normal(5))
    assert_array_equal(rs_a.random_sample(5), rs_b.random_sample(5))


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_mvn_sample_is_gmrs_for_an_int_seed(seed, d):
    rng = np.random.default_rng(d)
    A = rng.normal(size=(d, d))
    mean, cov = rng.normal(size=d), A @ A.T + 0.1 * np.eye(d)
    ours = gaussmix.MVN(mean=mean, covariance=cov, random_state=seed).sample(500)
    theirs = gmr.MVN(mean=mean, covariance=cov, random_state=seed).sample(500)
    assert_allclose(ours, theirs, **ROUNDING)


def test_mvn_sample_shares_a_random_state_like_gmr():
    mean, cov = np.array([0.0, 1.0]), np.array([[0.5, -1.0], [-1.0, 5.0]])
    rs_ours, rs_theirs = np.random.RandomState(3), np.random.RandomState(3)
    ours = gaussmix.MVN(mean=mean, covariance=cov, random_state=rs_ours)
    theirs = gmr.MVN(mean=mean, covariance=cov, random_state=rs_theirs)
    for n in (1, 0, 7, 100):
        assert_allclose(ours.sample(n), theirs.sample(n), **ROUNDING)
    _same_stream_position(rs_ours, rs_theirs)


def test_mvn_sample_with_the_global_random_state_like_gmr():
    mean, cov = np.array([1.0, -1.0]), np.array([[2.0, 0.3], [0.3, 0.5]])
    saved = np.random.get_state()  # noqa: NPY002 (random_state=None is numpy's global state)
    try:
        np.random.seed(11)  # noqa: NPY002
        theirs = gmr.MVN(mean=mean, covariance=cov).sample(50)
        np.random.seed(11)  # noqa: NPY002
        ours = gaussmix.MVN(mean=mean, covariance=cov).sample(50)
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    assert_allclose(ours, theirs, **ROUNDING)


def test_mvn_sample_of_a_singular_covariance_is_gmrs():
    # numpy's SVD factor needs no regularization: the samples stay on the line (up to
    # the square root of the rounding in the zero singular value).
    mean, cov = np.zeros(2), np.array([[1.0, 2.0], [2.0, 4.0]])
    ours = gaussmix.MVN(mean=mean, covariance=cov, random_state=5).sample(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = gmr.MVN(mean=mean, covariance=cov, random_state=5).sample(200)
    assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    assert_allclose(ours[:, 1], 2.0 * ours[:, 0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("k", "d"), [(1, 2), (3, 3), (5, 1)])
def test_gmm_sample_is_gmrs(seed, k, d):
    priors, means, covs = _mixture(seed, k, d)
    rs_ours, rs_theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    ours = gaussmix.GMM(k, priors, means, covs, random_state=rs_ours)
    theirs = gmr.GMM(k, priors, means, covs, random_state=rs_theirs)
    for n in (1000, 1, 0, 37):
        assert_allclose(ours.sample(n), theirs.sample(n), **ROUNDING)
    _same_stream_position(rs_ours, rs_theirs)


def test_gmm_sample_with_an_empty_component_is_gmrs():
    # A component that draws no sample consumes nothing in gmr's loop.
    priors = np.array([0.5, 0.0, 0.5])
    _, means, covs = _mixture(4, 3, 2)
    ours = gaussmix.GMM(3, priors, means, covs, random_state=9).sample(300)
    theirs = gmr.GMM(3, priors, means, covs, random_state=9).sample(300)
    assert_allclose(ours, theirs, **ROUNDING)


def test_gmm_samples_are_grouped_by_component_like_gmrs():
    means = np.array([[-100.0, 0.0], [0.0, 0.0], [100.0, 0.0]])
    covs = np.stack([np.eye(2)] * 3)
    X = gaussmix.GMM(3, np.full(3, 1 / 3), means, covs, random_state=0).sample(600)
    labels = np.argmin(np.abs(X[:, :1] - means[:, 0]), axis=1)
    assert (np.diff(labels) >= 0).all()


def test_condition_and_to_mvn_share_the_stream_like_gmr():
    priors, means, covs = _mixture(5, 2, 3)
    rs_ours, rs_theirs = np.random.RandomState(21), np.random.RandomState(21)
    ours = gaussmix.GMM(2, priors, means, covs, random_state=rs_ours)
    theirs = gmr.GMM(2, priors, means, covs, random_state=rs_theirs)
    x = np.array([0.3])
    assert_allclose(
        ours.condition([0], x).sample(50), theirs.condition([0], x).sample(50), **ROUNDING
    )
    assert_allclose(ours.to_mvn().sample(20), theirs.to_mvn().sample(20), **ROUNDING)
    assert_allclose(ours.extract_mvn(1).sample(20), theirs.extract_mvn(1).sample(20), **ROUNDING)
    mvn_ours = gaussmix.MVN(means[0], covs[0], random_state=rs_ours).condition([1], [0.2])
    mvn_theirs = gmr.MVN(means[0], covs[0], random_state=rs_theirs).condition([1], [0.2])
    assert_allclose(mvn_ours.sample(30), mvn_theirs.sample(30), **ROUNDING)
    _same_stream_position(rs_ours, rs_theirs)


def test_unscented_transform_of_seeded_samples_is_gmrs():
    """gmr's plot_unscented_transform.py: samples, sigma points, estimate, its samples."""

    def to_polar(X):
        return np.column_stack([np.hypot(X[:, 0], X[:, 1]), np.arctan2(X[:, 1], X[:, 0])])

    results = []
    for lib in (gaussmix, gmr):
        mvn = lib.MVN(mean=[2.5, 1.3], covariance=[[1.0, -1.5], [-1.5, 4.0]], random_state=0)
        samples = mvn.sample(1000)
        polar = mvn.estimate_from_sigma_points(to_polar(mvn.sigma_points()))
        results.append(
            (samples, mvn.sigma_points(alpha=0.5), polar.mean, polar.covariance, polar.sample(10))
        )
    for ours, theirs in zip(*results, strict=True):
        assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- initialization


@pytest.mark.parametrize("seed", range(6))
def test_random_initialization_is_gmrs_draw(seed):
    X = _three_blobs(100 + seed)
    ours = gaussmix.GMM(3, random_state=seed).from_samples(X, n_iter=0)
    theirs = gmr.GMM(3, random_state=seed).from_samples(X, n_iter=0)
    assert_array_equal(ours.means, theirs.means)
    assert_array_equal(ours.covariances, theirs.covariances)
    assert_array_equal(ours.priors, theirs.priors)
    assert ours.n_iter_ == 0 and not ours.converged_ and ours.lower_bound_ == -np.inf


def test_random_initialization_redraws_a_repeated_row():
    X = np.arange(12.0).reshape(6, 2)
    # Seeds for which gmr's draw, choice(6, 4), picks some row twice.
    seeds = [s for s in range(200) if len(set(np.random.RandomState(s).choice(6, 4))) < 4]
    assert len(seeds) > 50
    for seed in seeds[:20]:
        theirs = gmr.GMM(4, random_state=seed).from_samples(X, n_iter=0).means
        ours = gaussmix.GMM(4, random_state=seed).from_samples(X, n_iter=0).means
        assert len({tuple(row) for row in ours}) == 4
        rows = np.random.RandomState(seed).choice(6, 4)
        first = np.zeros(4, dtype=bool)
        first[np.unique(rows, return_index=True)[1]] = True
        # The first pick of every row is gmr's; only the repeats are redrawn.
        assert_array_equal(ours[first], theirs[first])


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_kmeanspp_uses_the_stream_as_gmr(seed):
    # The centers after the first differ by design (closest, not farthest, center),
    # but the first is gmr's and the stream is where gmr leaves it.
    X = _three_blobs(seed)
    rs_ours, rs_theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    ours = gaussmix.kmeansplusplus_initialization(X, 4, rs_ours)
    theirs = gmr.kmeansplusplus_initialization(X, 4, rs_theirs)
    assert_array_equal(ours[0], theirs[0])
    _same_stream_position(rs_ours, rs_theirs)


def test_kmeanspp_initial_covariances_are_gmrs():
    # The k-means++ means differ by design (closest, not farthest, center).
    X = _three_blobs(1)
    ours = gaussmix.GMM(3, random_state=1).from_samples(X, init_params="kmeans++", n_iter=0)
    theirs = gmr.GMM(3, random_state=1).from_samples(X, init_params="kmeans++", n_iter=0)
    assert_allclose(ours.covariances, theirs.covariances, rtol=1e-12)
    assert_allclose(ours.priors, theirs.priors)


def test_initialize_only_keeps_given_parameters():
    priors, means, covs = _mixture(0, 2, 2)
    gmm = gaussmix.GMM(2, priors=priors, means=means, covariances=covs)
    gmm.from_samples(_three_blobs(0), n_iter=0)
    assert_array_equal(gmm.means, means)
    assert_array_equal(gmm.covariances, covs)
    assert_array_equal(gmm.priors, priors)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_fit_finds_gmrs_components_in_gmrs_order(seed):
    X = _three_blobs(seed)
    X[:, 1] *= 1e4  # gmr's scaled-data robustness test
    # gmr adds no reg_covar; with it set to 0 the whole fit is gmr's to rounding (seen:
    # 1e-15 relative to the largest entry after 50-70 iterations).
    ours = gaussmix.GMM(3, random_state=seed).from_samples(X, reg_covar=0.0)
    theirs = gmr.GMM(3, random_state=seed).from_samples(X)
    assert_allclose(ours.priors, theirs.priors, rtol=0, atol=1e-12)
    assert_allclose(ours.means, theirs.means, rtol=0, atol=1e-12 * np.abs(theirs.means).max())
    scale = np.abs(theirs.covariances).max()
    assert_allclose(ours.covariances, theirs.covariances, rtol=0, atol=1e-12 * scale)
    # With the default reg_covar=1e-6 it starts at the same place and ends close.
    default = gaussmix.GMM(3, random_state=seed).from_samples(X)
    assert_allclose(default.means, theirs.means, rtol=1e-6, atol=1e-6 * np.abs(X).max())


def test_seeded_regressor_is_gmrs():
    from gmr.sklearn import GaussianMixtureRegressor as TheirRegressor

    from gaussmix.sklearn import GaussianMixtureRegressor as OurRegressor

    x = np.linspace(0, 2, 200)[:, None]
    y = np.where(x < 1, 3 * x + 1, -3 * x + 7)
    ours = OurRegressor(n_components=2, random_state=0).fit(x, y)
    theirs = TheirRegressor(n_components=2, random_state=0).fit(x, y)
    assert_allclose(ours.gmm_.means, theirs.gmm_.means, rtol=1e-4, atol=1e-4)
    assert_allclose(ours.predict(x).reshape(-1, 1), theirs.predict(x), rtol=1e-4, atol=1e-4)


def test_seeded_gmr_script_prints_the_same_numbers(capsys):
    """A gmr user's seeded script, run once per library: the printed numbers agree."""
    script = """
random_state = lib.utils.check_random_state(0)
X = random_state.multivariate_normal([0.0, 1.0], [[0.5, -1.0], [-1.0, 5.0]], size=(400,))
X = np.vstack([X, random_state.randn(400, 2) * 0.5 + 4.0])
gmm = lib.GMM(n_components=2, random_state=random_state).from_samples(X, n_iter=0)
print(np.round(gmm.means, 10))
samples = lib.GMM(2, gmm.priors, gmm.means, gmm.covariances, random_state=3).sample(5)
print(np.round(samples, 10))
mvn = lib.MVN(random_state=random_state).from_samples(X)
print(np.round(mvn.sample(3), 10))
print(np.round(gmm.to_ellipses(2.0)[0][1], 10))
print(random_state.randint(1000))
"""
    printed = []
    for lib in (gmr, gaussmix):
        exec(script, {"lib": lib, "np": np})
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]


# --------------------------------------------------------------------------- ellipses


def _scipy_angle(cov):
    """gmr's to_ellipse, from scipy.linalg.eigh (the reference)."""
    vals, vecs = scipy.linalg.eigh(cov)
    major = vecs[:, np.argsort(vals)[::-1]][:, 0]
    return np.arctan2(major[1], major[0])


def _ellipse_cases():
    rng = np.random.default_rng(0)
    cases = [
        np.diag([5.0, 0.5]),  # gmr: -pi
        np.diag([0.5, 5.0]),  # pi / 2
        np.eye(2),
        np.zeros((2, 2)),
        np.array([[1.0, 2.0], [2.0, 4.0]]),
        np.array([[2.0, 1.0], [1.0, 2.0]]),
        np.array([[2.0, -1.0], [-1.0, 2.0]]),
        np.array([[1.0, 1e-300], [1e-300, 1.0]]),
    ]
    for scale in (1e-6, 1.0, 1e6):
        for _ in range(60):
            A = rng.normal(size=(2, 2)) * scale
            cases.append(A @ A.T)
            cases.append(np.diag(np.diag(A @ A.T)))
    return np.array(cases)


def test_ellipse_angles_are_gmrs_and_scipys_exactly():
    covs = _ellipse_cases()
    means = np.zeros((len(covs), 2))
    priors = np.full(len(covs), 1.0 / len(covs))
    ours = gaussmix.GMM(len(covs), priors, means, covs).to_ellipses(1.5)
    theirs = gmr.GMM(len(covs), priors, means, covs).to_ellipses(1.5)
    for cov, (_, (a1, w1, h1)), (_, (a2, w2, h2)) in zip(covs, ours, theirs, strict=True):
        assert a1 == a2 == _scipy_angle(cov), cov  # signed zeros included: -pi, not pi
        assert_allclose([w1, h1], [w2, h2], rtol=1e-12, atol=1e-300)
        a3, w3, h3 = gaussmix.MVN(np.zeros(2), cov).to_ellipse(1.5)
        assert (a3, w3, h3) == (a1, w1, h1)


def test_ellipse_of_a_diagonal_covariance_follows_gmr():
    gmm = gaussmix.GMM(
        2, [0.5, 0.5], [[0.0, 1.0], [2.0, -1.0]], [np.diag([0.5, 5.0]), np.diag([5.0, 0.5])]
    )
    (_, (a0, w0, h0)), (_, (a1, w1, h1)) = gmm.to_ellipses()
    assert (a0, w0, h0) == (0.5 * np.pi, np.sqrt(5.0), np.sqrt(0.5))
    assert (a1, w1, h1) == (-np.pi, np.sqrt(5.0), np.sqrt(0.5))


# --------------------------------------------------------------------------- accepted inputs


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("d", [1, 2])
def test_confidence_region_at_both_ends_of_alpha(alpha, d):
    mean, cov = np.zeros(d), np.eye(d)
    ours = gaussmix.MVN(mean=mean, covariance=cov)
    gmm = gaussmix.GMM(1, [1.0], [mean], [cov])
    theirs = gmr.MVN(mean=mean, covariance=cov)
    for x in (mean, mean + 0.5, mean + 50.0):
        expected = alpha == 1.0 or not x.any()
        assert ours.is_in_confidence_region(x, alpha) == expected
        assert gmm.is_in_confidence_region(x, alpha) == expected
        if d == 1 or alpha == 1.0:  # gmr's d - 1 degrees of freedom agree here
            assert bool(theirs.is_in_confidence_region(x, alpha)) == expected
    samples = gmm.sample_confidence_region(50, alpha)
    if alpha == 0.0:
        assert_array_equal(samples, np.zeros((50, d)))
    else:
        assert np.isfinite(samples).all() and samples.std() > 0.5


def test_arrays_longer_than_n_components_are_used_like_gmr():
    priors = np.array([0.25, 0.75])
    means = np.array([[1.0, 2.0], [3.0, 4.0]])
    covs = np.stack([np.eye(2), np.eye(2)])
    with pytest.warns(UserWarning, match="describe 2 components"):
        ours = gaussmix.GMM(n_components=1, priors=priors, means=means, covariances=covs)
    theirs = gmr.GMM(n_components=1, priors=priors, means=means, covariances=covs)
    assert ours.n_components == 2
    assert_allclose(ours.to_mvn().mean, theirs.to_mvn().mean)
    assert_allclose(ours.to_mvn().covariance, theirs.to_mvn().covariance)


def test_arrays_that_disagree_with_each_other_are_refused():
    gmm = gaussmix.GMM(2, priors=[0.5, 0.5], means=np.zeros((3, 2)), covariances=[np.eye(2)] * 2)
    with pytest.raises(ValueError, match="means"):
        gmm.sample(2)


def test_generator_keeps_distinct_rows_and_its_own_path():
    X = np.arange(12.0).reshape(6, 2)
    for seed in range(20):
        gmm = gaussmix.GMM(6, random_state=np.random.default_rng(seed))
        means = gmm.from_samples(X, n_iter=0).means
        assert len({tuple(row) for row in means}) == 6
