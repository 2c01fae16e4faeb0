"""The covariance-structure seam (gaussmix.covariance) against scikit-learn's own functions,
and a new structure plugged in through it without touching any other module."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from gaussmix import GMM, covariance, select_model
from gaussmix.covariance import CovarianceStructure
from gaussmix.em.families import MaximumLikelihood

sk_gm = pytest.importorskip("sklearn.mixture._gaussian_mixture")

TYPES = ("full", "tied", "diag", "spherical")


def _data(seed: int = 0, n: int = 300, d: int = 3, k: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.integers(0, 3, (n, 1)) * 4.0
    resp = rng.dirichlet(np.ones(k), size=n)
    return X, resp


def _scatter(X, resp, quadratic):
    """sum_i r_ij (x_i - mu_j)(x_i - mu_j)^T (or its diagonal), written out directly."""
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
    means = resp.T @ X / nk[:, None]
    dev = X[None] - means[:, None]  # (k, n, d)
    full = np.einsum("nk,kni,knj->kij", resp, dev, dev)
    return (full if quadratic else np.einsum("kii->ki", full)), nk


@pytest.mark.parametrize("name", TYPES)
def test_m_step_equals_scikit_learns(name):
    X, resp = _data()
    structure = covariance.get(name)
    scatter, nk = _scatter(X, resp, structure.quadratic)
    ours = structure.estimate(scatter, nk, reg_covar=1e-3)
    _, _, theirs = sk_gm._estimate_gaussian_parameters(X, resp, 1e-3, name)
    assert_allclose(structure.to_compact(ours), theirs, rtol=1e-10, atol=1e-12)
    assert_allclose(structure.from_compact(theirs, 3, 3), ours, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", TYPES)
def test_precisions_equal_scikit_learns(name):
    X, resp = _data(1)
    structure = covariance.get(name)
    _, _, compact = sk_gm._estimate_gaussian_parameters(X, resp, 1e-6, name)
    ours = structure.precision_cholesky(compact)
    assert_allclose(ours, sk_gm._compute_precision_cholesky(compact, name), rtol=1e-10)
    precisions = structure.precisions(ours)
    full = structure.from_compact(compact, 3, 3)
    assert_allclose(structure.from_precisions(precisions, 3, 3), full, rtol=1e-9, atol=1e-12)
    chol = structure.cholesky_from_precision_cholesky(ours, 3, 3)
    assert_allclose(chol @ np.swapaxes(chol, 1, 2), full, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", TYPES)
def test_parameter_counts_equal_scikit_learns(name):
    from sklearn.mixture import GaussianMixture

    X, _ = _data(2, d=4)
    for k in (1, 3):
        fitted = GaussianMixture(k, covariance_type=name, random_state=0, tol=1e-1).fit(X)
        assert covariance.get(name).n_mixture_parameters(k, 4) == fitted._n_parameters()
        assert covariance.get(name).compact_shape(k, 4) == fitted.covariances_.shape


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), d=st.integers(1, 5))
def test_projection_keeps_the_structure_and_is_idempotent(seed, k, d):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, d, d))
    covs = A @ np.swapaxes(A, 1, 2) + np.eye(d)
    priors = rng.dirichlet(np.ones(k))
    for name in TYPES:
        structure = covariance.get(name)
        projected = structure.project(covs, priors)
        assert projected.shape == (k, d, d)
        assert_allclose(projected, np.swapaxes(projected, 1, 2))
        assert (np.linalg.eigvalsh(projected) > 0).all()
        assert_allclose(structure.project(projected, priors), projected, rtol=1e-12)
        compact = structure.to_compact(projected)
        assert compact.shape == structure.compact_shape(k, d)
        assert_allclose(structure.from_compact(compact, k, d), projected, rtol=1e-12)


def test_names_aliases_and_errors():
    assert covariance.default_names() == TYPES
    assert len(covariance.names()) == 14
    assert [covariance.get(code).name for code in ("VVV", "EEE", "VVI", "VII")] == list(TYPES)
    assert covariance.canonical("VVI") == "diag"
    with pytest.raises(ValueError, match=r"covariance_type must be one of 'EII'.*got 'XYZ'"):
        covariance.get("XYZ")
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        covariance.get(3)
    with pytest.raises(ValueError, match="already used"):
        covariance.register(type("Other", (covariance.Full,), {"name": "diag"})())


def test_fitting_accepts_aliases_and_stores_the_name():
    X, _ = _data(3)
    gmm = GMM(2, random_state=0).from_samples(X, covariance_type="VVI", n_iter=5, tol=None)
    assert gmm.covariance_type_ == "diag"


# ---------------------------------------------------------------------------
# A new structure through the seam: mclust's EII (one variance for all components)
# ---------------------------------------------------------------------------
class EqualSpherical(CovarianceStructure):
    """lambda I with one lambda for every component (Celeux & Govaert 1995, model [lambda I])."""

    name = "test-EII"
    mclust_name = "EII"
    features = "diagonal"
    shared = True
    isotropic = True
    seed_key = 1000

    def estimate(self, scatter, nk, reg_covar):
        k, d = scatter.shape
        variance = max(scatter.sum() / (d * nk.sum()), 0.0) + reg_covar
        return np.broadcast_to(variance * np.eye(d), (k, d, d)).copy()

    def project(self, covariances, priors):
        k, d, _ = covariances.shape
        variance = priors @ np.trace(covariances, axis1=1, axis2=2) / (d * priors.sum())
        return np.broadcast_to(variance * np.eye(d), (k, d, d)).copy()

    def n_parameters(self, k, d):
        return 1

    def to_compact(self, covariances):
        return np.float64(covariances[0, 0, 0])

    def from_compact(self, compact, k, d):
        return np.broadcast_to(float(compact) * np.eye(d), (k, d, d)).copy()

    def compact_shape(self, k, d):
        return ()


@pytest.fixture
def eii():
    structure = covariance.register(EqualSpherical())
    yield structure
    covariance.unregister(structure.name)


def test_a_registered_structure_fits_everywhere(eii):
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(0, 1.5, (200, 2)), rng.normal(6, 1.5, (200, 2))])
    gmm = GMM(2, random_state=0).from_samples(X, covariance_type="test-EII", tol=1e-8)
    covs = gmm.covariances
    assert_allclose(covs[0], covs[1])
    assert_allclose(covs[0], covs[0, 0, 0] * np.eye(2))
    # The M-step's closed form: the pooled within-component variance per dimension.
    resp = gmm.to_responsibilities(X)
    dev = X[:, None, :] - gmm.means[None]
    pooled = np.einsum("nk,nkd->", resp, dev**2) / (2 * X.shape[0])
    assert covs[0, 0, 0] == pytest.approx(pooled + 1e-6, rel=1e-6)
    assert covs[0, 0, 0] == pytest.approx(1.5**2, rel=0.15)
    # Free parameters: 1 variance + k d means + k - 1 weights.
    n = X.shape[0]
    assert gmm.bic(X) == pytest.approx(-2 * gmm.score(X) * n + (1 + 4 + 1) * np.log(n))
    result = select_model(X, n_components=[1, 2], covariance_type=("test-EII", "full"))
    assert {row["covariance_type"] for row in result.table} == {"test-EII", "full"}


def test_unregister_refuses_the_built_in_structures():
    with pytest.raises(ValueError, match="built in"):
        covariance.unregister("full")


def _problems(structure, n_problems: int = 4, k: int = 3, d: int = 3):
    """Scatter (B, k, ...), counts (B, k) and starting covariances (B, k, d, d) of
    independent M-step problems (different data, responsibilities and scales)."""
    scatters, counts, starts = [], [], []
    for seed in range(n_problems):
        X, resp = _data(seed + 10, d=d, k=k)
        scatter, nk = _scatter(X * (1.0 + seed), resp, structure.quadratic)
        rng = np.random.default_rng(seed)
        A = rng.normal(size=(k, d, d))
        starts.append(structure.project(A @ np.swapaxes(A, 1, 2) + np.eye(d), nk / nk.sum()))
        scatters.append(scatter)
        counts.append(nk)
    return np.stack(scatters), np.stack(counts), np.stack(starts)


@pytest.mark.parametrize("name", covariance.names())
@pytest.mark.parametrize("warm", [False, True])
def test_a_batch_of_m_steps_is_each_problem_on_its_own(name, warm):
    # The M-steps of a batch of EM runs (em.dense.run_batch): every structure's
    # estimate_batch gives each problem exactly its own estimate (the iterative
    # ones stop each problem at its own convergence).
    structure = covariance.get(name)
    scatter, nk, starts = _problems(structure)
    previous = starts if warm and structure.warm_start else None
    batch = structure.estimate_batch(scatter.copy(), nk, 1e-4, previous=previous)
    for b in range(len(nk)):
        given = {} if previous is None else {"previous": previous[b]}
        alone = structure.estimate(scatter[b].copy(), nk[b], 1e-4, **given)
        assert_allclose(batch[b], alone, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", covariance.names())
def test_a_batch_of_projected_starts_is_each_start_on_its_own(name):
    # Starts of several EM runs are projected on the structure in one batch
    # (MaximumLikelihood.starts): each as project gives it alone, and of the
    # structure's form (an iterative projection stops each start at its own
    # convergence).
    structure = covariance.get(name)
    rng = np.random.default_rng(3)
    k, d = 4, 3
    A = rng.normal(size=(5, k, d, d)) * rng.uniform(0.3, 3.0, (5, 1, 1, 1))
    full = A @ np.swapaxes(A, -1, -2) + 0.1 * np.eye(d)
    priors = rng.dirichlet(np.ones(k), size=5)
    batch = structure.project_batch(full, priors)
    family = MaximumLikelihood(name, 1e-6)
    means = rng.normal(size=(5, k, d))
    starts = family.starts(list(zip(priors, means, full, strict=True)))
    for b in range(5):
        alone = structure.project(full[b], priors[b])
        assert_allclose(batch[b], alone, rtol=1e-12, atol=1e-14)
        assert_allclose(starts[b].covariances, alone, rtol=1e-12, atol=1e-14)
        assert_allclose(structure.project(batch[b], priors[b]), batch[b], rtol=1e-6, atol=1e-9)
    assert family.starts([]) == []


def test_a_registered_structure_without_estimate_batch_gets_the_default(eii):
    scatter, nk, _ = _problems(eii)
    batch = eii.estimate_batch(scatter, nk, 1e-3)
    for b in range(len(nk)):
        assert_allclose(batch[b], eii.estimate(scatter[b], nk[b], 1e-3))


# Subclasses of the built-in structures that override only the per-problem M-step
# (``estimate``, or ``maximize`` for Decomposed, the contract CONTRIBUTING.md gives):
# the inherited batched M-step does not know the override, so the batch must fall
# back to one problem at a time.
class _PooledTrace(covariance.Full):
    """Full covariances rescaled to their mean trace: couples the components."""

    name, aliases, mclust_name, seed_key = "test-pooled-trace", (), "XPT", 1001

    def estimate(self, scatter, nk, reg_covar):
        covariances = super().estimate(scatter, nk, reg_covar)
        traces = np.trace(covariances, axis1=1, axis2=2)
        return covariances * (traces.mean() / traces)[:, None, None]


class _HalfTied(covariance.Tied):
    name, aliases, mclust_name, seed_key = "test-half-tied", (), "XHT", 1002

    def estimate(self, scatter, nk, reg_covar):
        return 0.5 * super().estimate(scatter, nk, reg_covar)


class _PooledDiagonal(covariance.Diagonal):
    """One diagonal for all components (mclust's EEI) through ``variances``."""

    name, aliases, mclust_name, seed_key = "test-pooled-diag", (), "XPD", 1003

    def variances(self, scatter, nk, reg_covar):
        pooled = np.maximum(scatter.sum(axis=0), 0.0) / nk.sum() + reg_covar
        return np.broadcast_to(pooled, scatter.shape).copy()


class _TiedByMaximize(covariance.Decomposed):
    """mclust's EEE written as CONTRIBUTING.md says: ``maximize`` and the count only."""

    name, aliases, mclust_name, seed_key = "test-eee-maximize", (), "XEE", 1004

    def maximize(self, scatter, nk, previous=None):  # the signature the guide gives
        k, d, _ = scatter.shape
        return np.broadcast_to(scatter.sum(axis=0) / nk.sum(), (k, d, d)).copy()

    def n_parameters(self, k, d):
        return d * (d + 1) // 2


@pytest.mark.parametrize("cls", [_PooledTrace, _HalfTied, _PooledDiagonal, _TiedByMaximize])
def test_a_subclass_overriding_the_per_problem_m_step_is_batched_through_it(cls):
    structure = covariance.register(cls())
    try:
        scatter, nk, _ = _problems(structure)
        batch = structure.estimate_batch(scatter.copy(), nk, 1e-3)
        for b in range(len(nk)):
            assert_allclose(batch[b], structure.estimate(scatter[b].copy(), nk[b], 1e-3))
        # select_model's small-data path runs a candidate's n_init starts as one batch.
        rng = np.random.default_rng(3)
        X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(5, 2, (60, 2))])
        result = select_model(X, n_components=[2], covariance_type=structure.name, n_init=3)
        (row,) = result.table
        assert row["error"] is None and np.isfinite(row["bic"])
    finally:
        covariance.unregister(structure.name)
