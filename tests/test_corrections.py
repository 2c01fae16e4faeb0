"""SPEC section 2: the known gmr 2.0.3 bugs, each pinned by a test that fails on gmr.

Every check is written as a small function of the implementation under test; the
``test_gmr_*`` tests run the same check on gmr and assert that it fails there, which
shows the check can fail (they are skipped when gmr is not installed).
"""

import itertools
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import gaussmix

# --------------------------------------------------------------------------- k-means++

# Five 1-D points; with k = 3 the closest-center rule (Arthur & Vassilvitskii 2007)
# and gmr's farthest-center rule give very different distributions of chosen sets.
_KPP_X = np.array([[0.0], [1.0], [4.0], [6.0], [12.0]])


def _kmeanspp_set_probabilities(X, k):
    """Exact probability of each unordered set of k chosen rows under the closest rule."""
    n = len(X)
    probs = {}
    for order in itertools.permutations(range(n), k):
        p = 1.0 / n
        chosen = [order[0]]
        for nxt in order[1:]:
            d2 = ((X[:, None, :] - X[chosen][None, :, :]) ** 2).sum(-1).min(axis=1)
            p *= d2[nxt] / d2.sum()
            chosen.append(nxt)
        key = tuple(sorted(order))
        probs[key] = probs.get(key, 0.0) + p
    return probs


def _kmeanspp_goodness_of_fit_pvalue(kmeanspp, n_draws=1200):
    probs = _kmeanspp_set_probabilities(_KPP_X, 3)
    rng = np.random.RandomState(0)
    counts = dict.fromkeys(probs, 0)
    for _ in range(n_draws):
        centers = kmeanspp(_KPP_X, 3, random_state=rng)
        rows = tuple(sorted(int(np.flatnonzero(_KPP_X[:, 0] == c[0])[0]) for c in centers))
        counts[rows] += 1
    keys = sorted(probs, key=probs.get)
    expected = np.array([probs[key] for key in keys]) * n_draws
    observed = np.array([counts[key] for key in keys], dtype=float)
    # Pool the rarest sets so that every bin expects at least 5 draws.
    while expected[0] < 5:
        expected = np.concatenate([[expected[0] + expected[1]], expected[2:]])
        observed = np.concatenate([[observed[0] + observed[1]], observed[2:]])
    return stats.chisquare(observed, expected).pvalue


def test_kmeansplusplus_draws_by_squared_distance_to_closest_center():
    assert _kmeanspp_goodness_of_fit_pvalue(gaussmix.kmeansplusplus_initialization) > 1e-3


def _three_clusters():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(c, 0.01, size=(30, 2)) for c in ([0, 0], [100, 0], [200, 0])])


def _fraction_covering_all_clusters(kmeanspp, n_seeds=100):
    X = _three_clusters()
    rng = np.random.RandomState(1)
    hits = 0
    for _ in range(n_seeds):
        centers = kmeanspp(X, 3, random_state=rng)
        hits += len(set(np.round(centers[:, 0] / 100).astype(int))) == 3
    return hits / n_seeds


def test_kmeansplusplus_picks_one_center_per_separated_cluster():
    """Closest rule: a point of an already covered cluster has probability ~1e-8."""
    assert _fraction_covering_all_clusters(gaussmix.kmeansplusplus_initialization) == 1.0


def test_kmeansplusplus_returns_data_rows():
    X = _three_clusters()
    centers = gaussmix.kmeansplusplus_initialization(X, 5, random_state=0)
    assert centers.shape == (5, 2)
    for c in centers:
        assert np.any(np.all(X == c, axis=1))
    # Distinct rows (a chosen row has distance 0 and cannot be drawn again).
    assert len(np.unique(centers, axis=0)) == 5


def test_gmr_kmeansplusplus_fails_these_checks():
    gmr = pytest.importorskip("gmr")
    assert _kmeanspp_goodness_of_fit_pvalue(gmr.kmeansplusplus_initialization) < 1e-6
    assert _fraction_covering_all_clusters(gmr.kmeansplusplus_initialization) < 0.95


# --------------------------------------------------------------------------- chi2 with d dof


def _region_answers(mvn_class, d, alpha):
    """(inside?, outside?) answers for points just within / beyond the true alpha region."""
    rng = np.random.default_rng(d)
    mean = rng.normal(size=d)
    A = rng.normal(size=(d, d))
    cov = A @ A.T + 0.5 * np.eye(d)
    mvn = mvn_class(mean=mean, covariance=cov)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    radius = np.sqrt(stats.chi2(d).ppf(alpha))
    chol = np.linalg.cholesky(cov)
    inside = mean + chol @ u * radius * 0.98
    outside = mean + chol @ u * radius * 1.02
    return bool(mvn.is_in_confidence_region(inside, alpha)), bool(
        mvn.is_in_confidence_region(outside, alpha)
    )


@pytest.mark.parametrize("d", [1, 2, 3, 6])
@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_confidence_region_uses_d_degrees_of_freedom(d, alpha):
    assert _region_answers(gaussmix.MVN, d, alpha) == (True, False)


def test_confidence_region_1d_uses_standard_deviation():
    """N(2, 0.25): the 68.27 % interval is 2 +- 0.5, not 2 +- 0.25 (the variance)."""
    mvn = gaussmix.MVN(mean=[2.0], covariance=[[0.25]])
    alpha = stats.norm.cdf(1) - stats.norm.cdf(-1)
    assert bool(mvn.is_in_confidence_region([2.45], alpha))
    assert bool(mvn.is_in_confidence_region([1.55], alpha))
    assert not bool(mvn.is_in_confidence_region([2.55], alpha))
    # With a variance above one the error went the other way.
    wide = gaussmix.MVN(mean=[0.0], covariance=[[4.0]])
    assert not bool(wide.is_in_confidence_region([3.0], alpha))


def test_gmm_confidence_region_uses_d_degrees_of_freedom():
    gmm = gaussmix.GMM(
        2,
        priors=[0.5, 0.5],
        means=[[0.0, 0.0], [50.0, 0.0]],
        covariances=np.stack([np.eye(2)] * 2),
    )
    alpha = 0.9
    # chi2(1).ppf(0.9) = 2.71 < 3.5 < chi2(2).ppf(0.9) = 4.61: inside for d = 2 dof.
    assert bool(gmm.is_in_confidence_region([np.sqrt(3.5), 0.0], alpha))
    assert bool(gmm.is_in_confidence_region([50.0, np.sqrt(3.5)], alpha))
    assert not bool(gmm.is_in_confidence_region([0.0, np.sqrt(4.7)], alpha))


def test_gmm_confidence_region_1d_uses_standard_deviation():
    gmm = gaussmix.GMM(
        2, priors=[0.5, 0.5], means=[[0.0], [100.0]], covariances=[[[0.25]], [[4.0]]]
    )
    alpha = 0.6827
    assert bool(gmm.is_in_confidence_region([0.45], alpha))
    assert not bool(gmm.is_in_confidence_region([103.0], alpha))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_confidence_region_coverage_is_alpha(d):
    """P(x in alpha region) = alpha for x ~ N; 5 binomial standard errors."""
    rng = np.random.default_rng(40 + d)
    cov = np.diag(rng.uniform(0.1, 3.0, size=d))
    mvn = gaussmix.MVN(mean=np.zeros(d), covariance=cov, random_state=0)
    n, alpha = 20_000, 0.9
    frac = np.asarray(mvn.is_in_confidence_region(mvn.sample(n), alpha)).mean()
    assert abs(frac - alpha) < 5 * np.sqrt(alpha * (1 - alpha) / n)


def test_gmr_confidence_region_fails_these_checks():
    gmr = pytest.importorskip("gmr")
    assert _region_answers(gmr.MVN, 2, 0.9) != (True, False)
    assert (
        bool(gmr.MVN(mean=[2.0], covariance=[[0.25]]).is_in_confidence_region([2.45], 0.6827))
        is False
    )


# --------------------------------------------------------------------------- exact sampling


def _radius_ks_pvalue(samples, mean, cov, alpha):
    d = len(mean)
    diff = samples - mean
    r2 = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    bound = stats.chi2(d).ppf(alpha)
    return stats.kstest(r2, lambda t: stats.chi2(d).cdf(np.minimum(t, bound)) / alpha).pvalue


@pytest.mark.parametrize("d", [1, 2, 3])
def test_sample_confidence_region_has_truncated_chi2_radius(d):
    mean = np.arange(d, dtype=float)
    cov = np.diag(np.linspace(0.5, 2.0, d))
    X = gaussmix.MVN(mean=mean, covariance=cov, random_state=5).sample_confidence_region(3000, 0.8)
    assert X.shape == (3000, d)
    assert _radius_ks_pvalue(X, mean, cov, 0.8) > 1e-3


def test_sample_confidence_region_1d_is_truncated_normal():
    mvn = gaussmix.MVN(mean=[1.0], covariance=[[0.25]], random_state=6)
    alpha = 0.6827
    X = mvn.sample_confidence_region(3000, alpha)[:, 0]
    z = stats.norm.ppf(0.5 + alpha / 2)
    assert np.all(np.abs(X - 1.0) <= z * 0.5 * (1 + 1e-12))
    assert stats.kstest(X, stats.truncnorm(-z, z, loc=1.0, scale=0.5).cdf).pvalue > 1e-3


def test_gmm_sample_confidence_region_exact_per_component():
    means = np.array([[0.0, 0.0], [100.0, 0.0]])
    covs = np.array([np.eye(2), [[2.0, 0.5], [0.5, 1.0]]])
    gmm = gaussmix.GMM(2, priors=[0.3, 0.7], means=means, covariances=covs, random_state=7)
    X = gmm.sample_confidence_region(4000, 0.6)
    labels = (X[:, 0] > 50).astype(int)
    n = len(X)
    assert abs(labels.mean() - 0.7) < 5 * np.sqrt(0.21 / n)
    for j in range(2):
        assert _radius_ks_pvalue(X[labels == j], means[j], covs[j], 0.6) > 1e-3


def test_sample_confidence_region_is_vectorized_for_tiny_alpha():
    """alpha = 1e-4: rejection would need ~1e8 draws; exact sampling is instant."""
    mvn = gaussmix.MVN(mean=np.zeros(3), covariance=np.eye(3), random_state=8)
    start = time.perf_counter()
    X = mvn.sample_confidence_region(20_000, 1e-4)
    elapsed = time.perf_counter() - start
    assert X.shape == (20_000, 3)
    assert np.all((X**2).sum(axis=1) <= stats.chi2(3).ppf(1e-4) * (1 + 1e-9))
    assert elapsed < 2.0
    gmm = gaussmix.GMM(
        2,
        priors=[0.5, 0.5],
        means=np.zeros((2, 3)),
        covariances=np.stack([np.eye(3)] * 2),
        random_state=9,
    )
    start = time.perf_counter()
    assert gmm.sample_confidence_region(20_000, 1e-4).shape == (20_000, 3)
    assert time.perf_counter() - start < 2.0


def test_sample_confidence_region_reproducible():
    a = gaussmix.MVN(mean=[0.0, 1.0], covariance=np.eye(2), random_state=3)
    b = gaussmix.MVN(mean=[0.0, 1.0], covariance=np.eye(2), random_state=3)
    assert_allclose(a.sample_confidence_region(10, 0.5), b.sample_confidence_region(10, 0.5))


def test_gmr_sampling_fails_these_checks():
    gmr = pytest.importorskip("gmr")
    mean, cov = np.zeros(2), np.eye(2)
    X = gmr.MVN(mean=mean, covariance=cov, random_state=5).sample_confidence_region(150, 0.8)
    assert _radius_ks_pvalue(X, mean, cov, 0.8) < 1e-6
