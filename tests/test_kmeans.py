"""gaussmix's k-means against scikit-learn's KMeans (issue 27).

:func:`gaussmix.em.kmeans.sklearn_kmeans` promises scikit-learn's labels,
centres and iteration count for ``KMeans(n_clusters=k, n_init=1)`` from the
same ``RandomState``, and to leave the generator where scikit-learn leaves
it. The reference is scikit-learn itself, on data where no row is within
rounding of two centres (continuous draws); tied data (duplicates on a grid,
where only rounding decides) are checked statistically.
"""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture as SkGaussianMixture  # noqa: E402

import gaussmix.em.kmeans as kmeans_module  # noqa: E402
from gaussmix.em.kmeans import sklearn_kmeans  # noqa: E402
from gaussmix.kernels import clustering  # noqa: E402
from gaussmix.sklearn import GaussianMixture  # noqa: E402


def blobs(rng, n, d, k, spread=4.0, offset=10.0):
    centres = rng.normal(scale=spread, size=(k, d)) + offset
    return centres[rng.integers(k, size=n)] + rng.normal(size=(n, d))


def assert_same_as_sklearn(X, k, seed, sample_weight=None):
    theirs_rng, ours_rng = np.random.RandomState(seed), np.random.RandomState(seed)
    theirs = KMeans(n_clusters=k, n_init=1, random_state=theirs_rng).fit(
        X, sample_weight=sample_weight
    )
    ours = sklearn_kmeans(X, k, ours_rng, sample_weight=sample_weight)
    np.testing.assert_array_equal(ours.labels, theirs.labels_)
    np.testing.assert_allclose(ours.centres, theirs.cluster_centers_, rtol=1e-9, atol=1e-9)
    assert ours.n_iter == theirs.n_iter_
    # the generator is left exactly where scikit-learn leaves it
    assert ours_rng.uniform() == theirs_rng.uniform()


@pytest.mark.parametrize(
    "n, d, k",
    [
        (50, 1, 1),
        (200, 1, 3),
        (500, 2, 5),
        (3000, 3, 8),
        (10_000, 8, 5),
        (4000, 16, 16),
        (800, 40, 7),
        (60, 3, 30),
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_centres_and_draws_equal_scikit_learn(n, d, k, seed):
    rng = np.random.default_rng(1000 * seed + n + d + k)
    assert_same_as_sklearn(blobs(rng, n, d, k), k, seed)


def test_random_shapes_equal_scikit_learn():
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(20, 3000))
        d = int(rng.integers(1, 12))
        k = int(rng.integers(1, min(25, n)))
        X = blobs(rng, n, d, k, spread=rng.uniform(0.3, 6.0), offset=rng.normal() * 100)
        assert_same_as_sklearn(X, k, int(rng.integers(1 << 30)))


def test_sample_weight_equals_scikit_learn():
    rng = np.random.default_rng(3)
    X = blobs(rng, 2000, 4, 6)
    weights = rng.uniform(0.1, 3.0, size=2000)
    assert_same_as_sklearn(X, 6, 5, sample_weight=weights)


def test_numpy_path_equals_scikit_learn(monkeypatch):
    monkeypatch.setattr(clustering, "has_kmeans", lambda: False)
    rng = np.random.default_rng(4)
    for n, d, k in [(3000, 5, 7), (500, 1, 3)]:
        assert_same_as_sklearn(blobs(rng, n, d, k), k, 9)
    assert_same_as_sklearn(blobs(rng, 1000, 3, 4), 4, 2, sample_weight=rng.uniform(1, 2, 1000))


def test_layouts_and_dtypes_do_not_matter():
    rng = np.random.default_rng(5)
    X = blobs(rng, 1500, 6, 4)
    reference = sklearn_kmeans(X, 4, np.random.RandomState(0))
    for variant in (
        np.asfortranarray(X),
        X.astype(np.float32).astype(np.float64) * 0 + X,
        np.repeat(X, 2, axis=1)[:, ::2],
    ):
        other = sklearn_kmeans(variant, 4, np.random.RandomState(0))
        np.testing.assert_array_equal(other.labels, reference.labels)


def test_empty_clusters_are_relocated_as_scikit_learn_relocates_them(monkeypatch):
    """Duplicated grid points empty clusters during Lloyd's iterations.

    On such data exact ties between centres are common and only rounding
    decides them (scikit-learn's BLAS sums in another order), so the check is
    statistical: most runs that relocate must agree exactly.
    """
    calls = []
    original = kmeans_module._relocate_empty
    monkeypatch.setattr(
        kmeans_module, "_relocate_empty", lambda *a: (calls.append(1), original(*a))
    )
    rng = np.random.default_rng(5)
    relocated = agreed = 0
    for _ in range(600):
        n, d = int(rng.integers(6, 40)), int(rng.integers(1, 3))
        k = int(rng.integers(3, min(n, 12)))
        X = rng.integers(0, 4, size=(n, d)).astype(float)
        seed = int(rng.integers(1 << 30))
        before = len(calls)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theirs = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X)
        ours = sklearn_kmeans(X, k, np.random.RandomState(seed))
        if len(calls) > before:
            relocated += 1
            agreed += np.array_equal(ours.labels, theirs.labels_) and np.allclose(
                ours.centres, theirs.cluster_centers_
            )
    assert relocated >= 50
    assert agreed >= 0.9 * relocated


def test_refuses_more_clusters_than_rows():
    with pytest.raises(ValueError, match="n_clusters"):
        sklearn_kmeans(np.zeros((3, 2)), 4, np.random.RandomState(0))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_default_gaussian_mixture_start_equals_scikit_learn(covariance_type):
    rng = np.random.default_rng(8)
    X = blobs(rng, 30_000, 5, 4)
    ours = GaussianMixture(4, covariance_type=covariance_type, random_state=0, max_iter=3)
    theirs = SkGaussianMixture(4, covariance_type=covariance_type, random_state=0, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        theirs.fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-6, atol=1e-9)
    assert ours.n_iter_ == theirs.n_iter_


def test_too_few_distinct_points_warn_as_scikit_learn_does():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 50, axis=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        GaussianMixture(3, random_state=0, reg_covar=1e-3).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "VEV", "EII"])
def test_label_statistics_kernel_equals_numpy(covariance_type, monkeypatch):
    """The compiled moments of hard labels against the numpy features' product."""
    from gaussmix.sklearn._start import label_statistics

    rng = np.random.default_rng(12)
    X = blobs(rng, 30_000, 6, 5)
    result = sklearn_kmeans(X, 5, np.random.RandomState(0))
    fast = label_statistics(X, result.labels, result.centres, covariance_type)
    monkeypatch.setattr(clustering, "has_label_moments", lambda: False)
    slow = label_statistics(X, result.labels, result.centres, covariance_type)
    np.testing.assert_allclose(fast.moments, slow.moments, rtol=1e-11, atol=1e-9)
    assert fast.weight_sum == slow.weight_sum
    # the counts are the labels' histogram
    np.testing.assert_array_equal(fast.resp_sum, np.bincount(result.labels, minlength=5))
