"""init_params="hc": mclust's model-based hierarchical agglomeration (gaussmix.em.agglomerative).

References: the SVD of the standardized data (numpy's, not the module's eigen path); the VVV
criterion at alpha = beta = 0 against scipy's Gaussian log-density at the cluster's MLE; the
merge sequence against a brute-force agglomeration that recomputes the whole criterion of
every candidate partition from the raw rows; the picks R's mclust 6.0.0 prints for
``Mclust(X)`` on four classic data sets (iris VEV,2; Old Faithful EEE,3; diabetes VVV,3;
Swiss banknotes VVE,3)."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import select_model
from gaussmix.em import agglomerative
from gaussmix.em.agglomerative import Hierarchy, scaled_svd, vvv_criterion
from gaussmix.kernels import clustering

DATA = Path(__file__).resolve().parent / "data"


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_scaled_svd_is_u_times_root_d_of_the_standardized_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4)) * [1.0, 30.0, 0.01, 5.0] + 7.0
    standard = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    u, s, _ = np.linalg.svd(standard, full_matrices=False)
    reference = u * np.sqrt(s)  # mclust's "SVD": U D^1/2 (Scrucca & Raftery 2015)
    Z = scaled_svd(X)
    # Equal up to the order and signs of the columns and one factor: compare Gram matrices.
    gram, reference_gram = Z @ Z.T, reference @ reference.T
    factor = np.trace(gram) / np.trace(reference_gram)
    assert_allclose(gram, factor * reference_gram, atol=1e-10 * np.abs(gram).max())


def test_scaled_svd_weights_are_repeated_rows_and_constant_columns_are_dropped():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=(30, 3)), np.full(30, 4.0)])
    w = rng.integers(1, 4, 30)
    weighted = scaled_svd(X, w.astype(float))
    repeated = scaled_svd(np.repeat(X, w, axis=0))
    assert weighted.shape == (30, 3)
    assert_allclose(np.repeat(weighted, w, axis=0), repeated, atol=1e-12)


def test_vvv_criterion_without_ridge_is_minus_twice_the_classification_log_likelihood():
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(25, 3)) @ rng.normal(size=(3, 3))
    mean = rows.mean(axis=0)
    scatter = (rows - mean).T @ (rows - mean)
    value = vvv_criterion(scatter, np.float64(25.0), omega=1.0, alpha=0.0, beta=0.0)
    log_lik = multivariate_normal(mean, scatter / 25).logpdf(rows).sum()
    assert_allclose(value, -2 * log_lik - 25 * 3 * (np.log(2 * np.pi) + 1), rtol=1e-12)


def _criterion(rows: np.ndarray, w: np.ndarray, omega: float) -> float:
    """n log det((W + (tr(W)/n + omega) I) / n) of one cluster, from its rows."""
    n = w.sum()
    mean = w @ rows / n
    W = (rows - mean).T @ ((rows - mean) * w[:, None])
    S = W + (np.trace(W) / n + omega) * np.eye(rows.shape[1])
    return n * np.linalg.slogdet(S / n)[1]


def _brute_force(Z: np.ndarray, w: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
    """Every partition of the greedy agglomeration, each merge chosen from scratch."""
    omega = float(w @ ((Z - w @ Z / w.sum()) ** 2).sum(axis=1)) / (w.sum() * Z.shape[1])
    labels = start.copy()
    partitions = [labels.copy()]
    while len(set(labels.tolist())) > 1:
        groups = sorted(set(labels.tolist()))
        best = None
        for a, b in itertools.combinations(groups, 2):
            merged = np.where(labels == b, a, labels)
            total = sum(
                _criterion(Z[merged == g], w[merged == g], omega) for g in set(merged.tolist())
            )
            if best is None or total < best[0] - 1e-9:
                best = (total, merged)
        labels = best[1]
        partitions.append(labels.copy())
    return partitions


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("ward_first", [False, True])
def test_vvv_merges_equal_a_brute_force_agglomeration(ward_first, compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(clustering, "vvv_merges", lambda *args: None)
    elif (
        clustering.vvv_merges(
            np.ones(1), np.zeros((1, 1)), np.zeros((1, 1, 1)), np.zeros(1), 1.0, 1.0, 1.0, 0
        )
        is None
    ):
        pytest.skip("the compiled kernel is not built")
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(14, 3)) * [1, 3, 0.5], rng.normal(4, 1, size=(14, 3))])
    w = rng.uniform(0.5, 2.0, len(X))
    if ward_first:  # larger data: Ward's merges down to VVV_ROWS clusters first
        monkeypatch.setattr(agglomerative, "VVV_ROWS", 12)
    tree = Hierarchy(X, w)
    Z = scaled_svd(X, w)
    start = tree.labels(12) if ward_first else np.arange(len(X))
    if ward_first:
        from scipy.cluster.hierarchy import fcluster, linkage

        ward = fcluster(linkage(Z, method="ward"), 12, criterion="maxclust")
        assert _same_partition(start, ward)
    for partition in _brute_force(Z, w, start):
        k = len(set(partition.tolist()))
        assert _same_partition(tree.labels(k), partition), k


def test_ward_method_is_scipys_ward_on_the_scaled_data():
    from scipy.cluster.hierarchy import fcluster, linkage

    X = np.random.default_rng(4).normal(size=(80, 3))
    tree = Hierarchy(X, method="ward")
    reference = linkage(scaled_svd(X), method="ward")
    for k in (2, 5, 9):
        assert _same_partition(tree.labels(k), fcluster(reference, k, criterion="maxclust"))


def test_hierarchy_refuses_an_unknown_method_and_handles_tiny_data():
    with pytest.raises(ValueError, match="method"):
        Hierarchy(np.zeros((3, 2)), method="average")
    assert Hierarchy(np.ones((5, 2))).labels(3).tolist() == [0] * 5  # no spread at all
    assert Hierarchy(np.array([[1.0, 2.0]])).labels(2).tolist() == [0]


def _load(name: str) -> np.ndarray:
    if name == "iris":
        from sklearn.datasets import load_iris

        return load_iris().data
    if name == "faithful":
        return np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2)
    if name == "diabetes":
        return np.loadtxt(DATA / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3))
    return np.loadtxt(DATA / "banknote.csv", delimiter=",", skiprows=2, usecols=range(1, 7))


# R 6.0.0: Mclust(X) picks (model, k) and prints these BICs (mclust's sign: larger is better).
MCLUST_PICKS = {
    "iris": ("VEV", 2, -561.7285),
    "faithful": ("EEE", 3, -2314.316),
    "diabetes": ("VVV", 3, -4751.316),
    "banknote": ("VVE", 3, -1607.574),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MCLUST_PICKS))
def test_one_run_from_the_vvv_hierarchy_picks_what_mclust_picks(name):
    # One EM run per cell, from the hierarchy only, as Mclust does: Ward's hierarchy
    # (the previous start) picked EEE,4 on the banknotes.
    pytest.importorskip("sklearn")
    model, k, bic = MCLUST_PICKS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            _load(name), n_components=range(1, 6), covariance_type="all", n_init=1,
            init_params="hc", tol=1e-6, n_iter=1000, random_state=0,
        )  # fmt: skip
    best = result.table[result.best_index]
    assert (best["covariance_type"], best["n_components"]) == (
        {"VVV": "full", "EEE": "tied"}.get(model, model),
        k,
    )
    assert best["bic"] <= -bic + 0.01


def test_rows_of_zero_weight_are_not_agglomerated():
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))])
    w = np.ones(100)
    w[::3] = 0.0
    tree = Hierarchy(X, w)
    assert tree.rows.tolist() == np.flatnonzero(w).tolist()
    labels = tree.labels(2)
    assert _same_partition(labels, (X[tree.rows, 0] > 3).astype(int))
    # Weights of 0 and 1: the hierarchy of the rows of weight 1.
    repeated = Hierarchy(X[w > 0])
    assert _same_partition(repeated.labels(2), labels)


def test_vvv_stage_shrinks_with_the_features():
    from gaussmix.em.agglomerative import VVV_ROWS, vvv_clusters

    assert [vvv_clusters(d) for d in (1, 8)] == [VVV_ROWS] * 2
    # m^2 d^3 kept at its 8-feature value, at least 20 clusters.
    for d in (16, 32):
        assert vvv_clusters(d) ** 2 * d**3 <= VVV_ROWS**2 * 8**3
        assert (vvv_clusters(d) + 1) ** 2 * d**3 > VVV_ROWS**2 * 8**3
    assert vvv_clusters(1000) == 20


# R 6.0.0, Mclust(banknote[, -1], G = 1:9)$BIC at k = 3 (sign flipped: lower is better).
MCLUST_BANKNOTE_3 = {"VVE": 1607.5736, "EVE": 1610.3069, "EEE": 1613.4734, "VVV": 1693.8343}


@pytest.mark.slow
def test_one_run_from_the_vvv_hierarchy_reaches_mclusts_banknote_optima():
    from gaussmix import GMM
    from gaussmix.em.init import hierarchical_start

    X = _load("banknote")
    for method, reached in (("vvv", True), ("ward", False)):
        start = hierarchical_start(X, None, 3, None, Hierarchy(X, method=method))
        for name, bic in MCLUST_BANKNOTE_3.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = GMM(3, *start).from_samples(
                    X, covariance_type=name, tol=1e-9, n_iter=3000
                )
            # Ward's partition (the previous start) ends 130-150 units worse.
            assert (fitted.bic(X) <= bic + 0.01) == reached, (method, name, fitted.bic(X))
            if not reached:
                assert fitted.bic(X) > bic + 100


# ---------------------------------------------------------------------------
# merge_components: the top of a hierarchy above a fitted mixture (select_model's screening)
# ---------------------------------------------------------------------------
def _moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = rows.mean(axis=0)
    return mean, (rows - mean).T @ (rows - mean) / len(rows)


def test_merged_component_has_the_moments_of_the_two_clusters_rows():
    rng = np.random.default_rng(7)
    sizes = [40, 90, 70]
    clusters = [
        rng.normal(size=(m, 3)) @ rng.normal(size=(3, 3)) + 5 * j for j, m in enumerate(sizes)
    ]
    X = np.vstack(clusters)
    priors = np.array(sizes) / sum(sizes)
    moments = [_moments(rows) for rows in clusters]
    means = np.array([m for m, _ in moments])
    covariances = np.array([c for _, c in moments])
    merged = agglomerative.merge_components(X, priors, means, covariances)
    assert merged is not None
    new_priors, new_means, new_covariances = merged
    # Whichever pair was merged, its component (last) is the union's moments, recomputed.
    kept = [j for j in range(3) if any(np.allclose(means[j], m) for m in new_means[:-1])]
    pair = [j for j in range(3) if j not in kept]
    assert len(pair) == 2
    union_mean, union_cov = _moments(np.vstack([clusters[j] for j in pair]))
    assert_allclose(new_priors[-1], priors[pair].sum(), rtol=1e-12)
    assert_allclose(new_means[-1], union_mean, rtol=1e-10, atol=1e-12)
    assert_allclose(new_covariances[-1], union_cov, rtol=1e-10, atol=1e-12)
    assert_allclose(new_priors.sum(), 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_components_chooses_the_likeliest_pair_by_scipy(seed):
    rng = np.random.default_rng(seed)
    k, d = 5, 2
    priors = rng.dirichlet(np.ones(k) * 3)
    means = rng.normal(size=(k, d)) * 3
    factors = rng.normal(size=(k, d, d))
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(d)
    X = rng.normal(size=(400, d)) * 3
    w = rng.uniform(0.5, 2.0, len(X))

    def log_lik(p, m, c) -> float:
        dens = sum(
            pj * multivariate_normal(mj, cj).pdf(X) for pj, mj, cj in zip(p, m, c, strict=True)
        )
        return float(w @ np.log(dens))

    best = None
    for i, j in itertools.combinations(range(k), 2):
        pi = priors[i] + priors[j]
        mu = (priors[i] * means[i] + priors[j] * means[j]) / pi
        cov = (
            sum(
                priors[g] * (covariances[g] + np.outer(means[g] - mu, means[g] - mu))
                for g in (i, j)
            )
            / pi
        )
        rest = [g for g in range(k) if g not in (i, j)]
        value = log_lik(
            np.append(priors[rest], pi), np.vstack([means[rest], mu]), [*covariances[rest], cov]
        )
        if best is None or value > best[0]:
            best = (value, rest, pi, mu, cov)
    merged = agglomerative.merge_components(X, priors, means, covariances, weights=w)
    assert merged is not None
    _, rest, pi, mu, cov = best
    assert_allclose(merged[0], np.append(priors[rest], pi), rtol=1e-12)
    assert_allclose(merged[1], np.vstack([means[rest], mu]), rtol=1e-12)
    assert_allclose(merged[2][-1], cov, rtol=1e-10)
    assert_allclose(log_lik(*merged), best[0], rtol=1e-12)
    singular = covariances.copy()
    singular[0] = 0.0
    assert agglomerative.merge_components(X, priors, means, singular) is None


def test_component_log_joint_is_scipys_log_density_plus_log_prior():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(50, 3))
    priors = np.array([0.3, 0.7])
    means = rng.normal(size=(2, 3))
    covariances = np.array([np.eye(3) * 2, [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 0.5]]])
    reference = [
        np.log(p) + multivariate_normal(m, c).logpdf(X)
        for p, m, c in zip(priors, means, covariances, strict=True)
    ]
    assert_allclose(
        agglomerative.component_log_joint(X, priors, means, covariances), reference, rtol=1e-12
    )


@pytest.mark.parametrize("seed", range(4))
def test_compiled_merges_are_numpys(seed, monkeypatch):
    # The kernel (a Cholesky log-determinant) against numpy's loop (LAPACK's slogdet): the same
    # merges and the same merged clusters, on clusters of several shapes and weights.
    rng = np.random.default_rng(seed)
    d = 1 + seed
    X = np.vstack([rng.normal(size=(150, d)) * rng.uniform(0.2, 3, d) + 3 * c for c in range(3)])
    w = rng.uniform(0.5, 2.0, len(X)) if seed % 2 else np.ones(len(X))
    Z = scaled_svd(X, w)
    labels = rng.permutation(np.arange(len(X)) % 60)

    def merged(kernel: bool):
        if not kernel:
            monkeypatch.setattr(clustering, "vvv_merges", lambda *args: None)
        merges = agglomerative._VVVMerges(Z, w, labels, 1.0, 1.0)
        order = merges.run(59)
        monkeypatch.undo()
        return order, merges

    ours, kernel = merged(True)
    reference, numpy_loop = merged(False)
    assert ours == reference
    alive = sorted(set(range(60)) - {j for _, j in reference})
    assert_allclose(kernel.count[alive], numpy_loop.count[alive], rtol=1e-12)
    assert_allclose(kernel.means[alive], numpy_loop.means[alive], rtol=1e-10, atol=1e-12)
    assert_allclose(kernel.scatter[alive], numpy_loop.scatter[alive], rtol=1e-10, atol=1e-10)
    assert_allclose(kernel.cost[alive], numpy_loop.cost[alive], rtol=1e-10)


@pytest.mark.parametrize("d", [1, 2])
def test_identical_rows_give_a_hierarchy_through_both_paths(d, monkeypatch):
    # Identical rows: scaled_svd keeps a direction of rounding noise, every row equal in it, so
    # omega = 0 and every merge cost is NaN (-inf minus -inf). numpy's argmin takes the first NaN;
    # the kernel must too, not merge a cluster with itself (its cuts then had every row apart).
    X = np.full((30, d), 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kernel = Hierarchy(X)
        monkeypatch.setattr(clustering, "vvv_merges", lambda *args: None)
        reference = Hierarchy(X)
    assert kernel._merges == reference._merges
    absorbed = [j for _, j in kernel._merges]
    assert all(i != j for i, j in kernel._merges) and len(set(absorbed)) == len(absorbed)
    for k in (1, 2, 3, 7):
        assert np.unique(kernel.labels(k)).size == k
