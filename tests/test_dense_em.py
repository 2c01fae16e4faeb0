"""em/dense.py: EM over small in-memory rows against the general engine's driver.

Both run maximum-likelihood EM from the same start with the same rule; the dense loop
computes its statistics in another way (all k whitened rows in one product, moments
from the rows' products made once), so the two must agree to rounding: the same
iterations, objective and parameters, for every covariance structure, with and without
weights, and where the components lie too far from the rows' mean for moments about it
(the engine's precise path, there as here).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import gaussmix
from gaussmix import covariance
from gaussmix.em import dense, driver
from gaussmix.em.families import MaximumLikelihood
from gaussmix.em.front import SourceRequest, open_source


def _data(rng: np.random.Generator, far: bool = False) -> np.ndarray:
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 5.0, 2.0]])
    X = centres[rng.integers(0, 3, 240)] + rng.normal(size=(240, 3)) @ np.diag([1.0, 0.6, 1.4])
    if far:
        # A tight cluster 1e6 away: moments about the rows' mean lose precision there.
        X[:40] = 1e6 + 1e-3 * rng.normal(size=(40, 3))
    return X


def _run(X, weights, code, runner, k=3, tol=1e-8, n_iter=60):
    rng = np.random.default_rng(4)
    source = open_source(SourceRequest(X, weights, code, n_components=k))
    family = MaximumLikelihood(code, 1e-6)
    rows = rng.choice(len(X), k, replace=False)
    start = family.start(np.full(k, 1.0 / k), X[rows], np.broadcast_to(np.cov(X.T), (k, 3, 3)))
    rule = driver.convergence_rule(tol, None)
    if runner == "dense":
        return dense.run_em(dense.DenseRows(X, weights), source, family, start, n_iter=n_iter,
                            rule=rule)  # fmt: skip
    return driver.run_em(source, family, start, n_iter=n_iter, rule=rule)


@pytest.mark.parametrize(
    "code", [structure.mclust_name for structure in map(covariance.get, covariance.names())]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_dense_em_is_the_engines_em(code, weighted):
    rng = np.random.default_rng(0)
    X = _data(rng)
    weights = rng.uniform(0.2, 3.0, len(X)) if weighted else None
    ours, engine = _run(X, weights, code, "dense"), _run(X, weights, code, "general")
    assert ours.n_iter == engine.n_iter
    assert ours.converged == engine.converged
    assert ours.lower_bound == pytest.approx(engine.lower_bound, rel=1e-10)
    for got, expected in zip(ours.state, engine.state, strict=True):
        assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


# The far tight cluster makes the fit ill-conditioned (a mean between the clusters
# moves by 1 for a relative 1e-12 in the responsibilities), so the paths agree in the
# objective, not bit for bit in the parameters. Not EVE or VVE here: their shared
# orientation is ill-determined on these data, and rounding-level differences send the
# capped majorization steps (a generalized EM) down different, equally valid paths.
@pytest.mark.parametrize("code", ["VVV", "EEE", "VVI", "EEV", "VEV"])
def test_dense_em_far_components_take_the_precise_path(code):
    X = _data(np.random.default_rng(1), far=True)
    ours, engine = _run(X, None, code, "dense"), _run(X, None, code, "general")
    assert np.isfinite(ours.lower_bound)
    assert ours.lower_bound == pytest.approx(engine.lower_bound, rel=1e-6)
    assert np.linalg.eigvalsh(ours.state.covariances).min() > 0


def test_dense_em_hands_singular_covariances_to_the_engine():
    X = _data(np.random.default_rng(2))
    source = open_source(SourceRequest(X, None, "VVV", n_components=2))
    family = MaximumLikelihood("VVV", 1e-6)
    singular = np.zeros((2, 3, 3))
    start = family.start(np.array([0.5, 0.5]), X[:2], singular + np.eye(3))
    start = start._replace(covariances=singular)
    rule = driver.convergence_rule(1e-6, None)
    ours = dense.run_em(dense.DenseRows(X, None), source, family, start, n_iter=30, rule=rule)
    engine = driver.run_em(source, family, start, n_iter=30, rule=rule)
    assert ours.lower_bound == engine.lower_bound
    assert ours.n_iter == engine.n_iter


@pytest.mark.parametrize(
    "code", [structure.mclust_name for structure in map(covariance.get, covariance.names())]
)
def test_a_batch_of_runs_is_each_run_on_its_own(code):
    # run_batch (a candidate's n_init starts side by side) against each run alone:
    # the same iterations, objective and parameters, though the runs stop at
    # different iterations, one needs the precise path (its start sits on the far
    # cluster) and one cannot be factorized (handed to the general engine).
    rng = np.random.default_rng(5)
    X = _data(rng, far=code in ("VVV", "VEV", "EEI"))
    weights = rng.uniform(0.2, 3.0, len(X))
    k = 3
    source = open_source(SourceRequest(X, weights, code, n_components=k))
    family = MaximumLikelihood(code, 1e-6 if code != "VVV" else 0.0)
    rows = dense.DenseRows(X, weights)
    starts = []
    for seed in range(4):
        picked = np.random.default_rng(seed).choice(len(X), k, replace=False)
        picked[0] = seed  # on the far cluster when there is one
        covariances = np.broadcast_to(np.cov(X.T) / (1 + seed), (k, 3, 3))
        starts.append(family.start(np.full(k, 1.0 / k), X[picked], covariances))
    starts.append(starts[0]._replace(covariances=np.zeros((k, 3, 3))))
    bounds = [-np.inf, -50.0, -np.inf, -1e3, -np.inf]
    rule = driver.convergence_rule(1e-7, None)
    batch = dense.run_batch(rows, source, family, starts, n_iter=80, rule=rule,
                            lower_bounds=bounds)  # fmt: skip
    assert len({run.n_iter for run in batch}) > 1
    for start, bound, ours in zip(starts, bounds, batch, strict=True):
        alone = dense.run_em(rows, source, family, start, n_iter=80, rule=rule, lower_bound=bound)
        assert (ours.n_iter, ours.converged) == (alone.n_iter, alone.converged)
        assert ours.lower_bound == pytest.approx(alone.lower_bound, rel=1e-12)
        for got, expected in zip(ours.state, alone.state, strict=True):
            assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_runs_off_the_precise_path_take_no_m_step_about_the_shift():
    # Five rows 1e8 away: some runs' moments about the rows' mean are noise. Their
    # M-step from those moments (discarded) overflowed and warned in VEE's shape
    # update; only the runs on the precise path may take it.
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(40, 2)), 1e8 + 1e-3 * rng.normal(size=(5, 2))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = gaussmix.select_model(
            X, n_components=[1, 2, 3], covariance_type="VEE", random_state=0
        )
    assert all(row["error"] is None and np.isfinite(row["bic"]) for row in result.table)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(4, 40),
    d=st.integers(1, 4),
    k=st.integers(1, 4),
    runs=st.integers(1, 4),
    code=st.sampled_from(
        [structure.mclust_name for structure in map(covariance.get, covariance.names())]
    ),
    weighted=st.booleans(),
)
def test_any_batch_is_its_runs_alone(seed, n, d, k, runs, code, weighted):
    # Property: whatever the shapes, weights (zeros included) and starts, a run's result
    # in a batch is its result alone: iterations, convergence, objective, finite numbers.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 5.0, d) + 3.0 * rng.normal(size=d)
    weights = None
    if weighted:
        weights = rng.uniform(0.1, 3.0, n) * (rng.random(n) > 0.3)
        weights[0] = 1.0
    source = open_source(SourceRequest(X, weights, code, n_components=k))
    family = MaximumLikelihood(code, 1e-4)
    rows = dense.DenseRows(X, weights)
    structure = covariance.get(code)
    starts = []
    for _ in range(runs):
        A = rng.normal(size=(k, d, d))
        priors = rng.dirichlet(np.ones(k))
        covariances = structure.project(A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(d), priors)
        starts.append(family.start(priors, X[rng.integers(0, n, k)], covariances))
    rule = driver.convergence_rule(1e-6, None)
    batch = dense.run_batch(rows, source, family, starts, n_iter=25, rule=rule)
    for start, ours in zip(starts, batch, strict=True):
        alone = dense.run_batch(rows, source, family, [start], n_iter=25, rule=rule)[0]
        assert (ours.n_iter, ours.converged) == (alone.n_iter, alone.converged)
        assert ours.lower_bound == pytest.approx(alone.lower_bound, rel=1e-9)
        assert np.isfinite(ours.lower_bound)
        assert np.isfinite(ours.state.covariances).all()


@pytest.mark.parametrize("n, k, d", [(3_000, 3, 4), (200, 3, 4), (2_500, 2, 8)])
def test_log_joint_of_a_batch_equals_scipy(n, k, d):
    """Every run's log pi_j + log N(x | mu_j, Sigma_j) against scipy's densities: runs of
    n k d >= 20,000 take their distances from the rows' products (the precise ones), the
    others (smaller, or a component far from the rows' mean) whiten the rows."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(n + k + d)
    X = rng.normal(0, 2, (n, d)) + 1.0
    rows = dense.DenseRows(X, None)
    B = 4
    priors = rng.dirichlet(np.ones(k), size=B)
    means = rng.normal(1, 2, (B, k, d))
    means[3, 0] += 1e6  # far from the rows' mean: not precise about it
    A = rng.normal(size=(B, k, d, d))
    covariances = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(d)
    chol = np.linalg.cholesky(covariances)
    log_joint, precise = dense._log_joint(rows, priors, means, chol)
    assert log_joint.shape == (n, B, k)
    assert precise.tolist() == [True, True, True, False]
    for b in range(B):
        for j in range(k):
            expected = np.log(priors[b, j]) + multivariate_normal(
                means[b, j], covariances[b, j]
            ).logpdf(X)
            assert_allclose(log_joint[:, b, j], expected, rtol=1e-10, atol=1e-9)
    # a run's values do not depend on the batch it is in
    alone, _ = dense._log_joint(rows, priors[1:2], means[1:2], chol[1:2])
    assert_allclose(alone[:, 0], log_joint[:, 1], rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("code", ["VVV", "VVI", "VEV"])
def test_an_m_step_that_lands_far_from_the_shift_is_redone_about_the_means(monkeypatch, code):
    # A broad start is precise about the rows' mean, but its first M-step puts a tight
    # component 1e6 away (variance 1e-6): moments about the shift cannot resolve it
    # (1e12 squares, 1e-4 of rounding), so that M-step is redone about the E-step's
    # means, whether the run stops there (checked at once) or goes on (checked at the
    # next iteration). The reference: the engine's driver, which takes its own precise
    # path, and for VVV plain EM with the moments about each new mean (two passes).
    # The dense loop must do it itself, not hand the run to the engine (as it does a
    # run whose covariances cannot be factorized, which such an M-step can leave).
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(200, 3)), 1e6 + 1e-3 * rng.normal(size=(40, 3))])
    source = open_source(SourceRequest(X, None, code, n_components=2))
    family = MaximumLikelihood(code, 0.0)
    centres = np.array([X[:200].mean(0), X[200:].mean(0)])
    start = family.start(np.array([0.5, 0.5]), centres, np.stack([1e10 * np.eye(3)] * 2))
    rule = driver.convergence_rule(None, None)
    rows = dense.DenseRows(X, None)
    priors, means, covariances = start

    def handed_over(*args, **kwargs):
        raise AssertionError("the dense loop handed the run to the engine")

    for n_iter in range(1, 5):
        with monkeypatch.context() as patch:
            patch.setattr(dense, "run_em_general", handed_over)
            ours = dense.run_em(rows, source, family, start, n_iter=n_iter, rule=rule)
        engine = driver.run_em(source, family, start, n_iter=n_iter, rule=rule)
        for got, expected in zip(ours.state, engine.state, strict=True):
            assert_allclose(got, expected, rtol=1e-8, atol=1e-12)
        # the last E-step's log-likelihood, at the previous M-step's parameters (the
        # dense E-step whitens y - c about the shift: 1e-9 of the engine's here)
        assert ours.lower_bound == pytest.approx(engine.lower_bound, rel=1e-7)
        joint = np.stack(
            [np.log(priors[j]) + multivariate_normal(means[j], covariances[j]).logpdf(X)
             for j in range(2)], axis=1,
        )  # fmt: skip
        resp = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
        nk = resp.sum(axis=0)
        priors, means = nk / len(X), resp.T @ X / nk[:, None]
        covariances = np.stack(
            [(X - means[j]).T @ ((X - means[j]) * resp[:, j : j + 1]) / nk[j] for j in range(2)]
        )
        if code == "VVV":
            assert_allclose(ours.state.covariances, covariances, rtol=1e-8)
        if code != "VEV":  # (VEV's shape is shared with the other component)
            far = np.diagonal(ours.state.covariances[1])
            assert_allclose(far, np.var(X[200:], axis=0), rtol=1e-6)  # 1e-6, resolved


def test_runs_with_nan_covariances_leave_the_batch_without_a_lapack_error():
    # A run whose M-step overflowed to NaN (two clusters 1e8 apart, VEE k = 3) made
    # the batch's eigenvalue check raise numpy's "Eigenvalues did not converge".
    covariances = np.stack([np.eye(3)] * 6).reshape(3, 2, 3, 3)
    covariances[1, 0] = np.nan
    covariances[2, 1] = -np.eye(3)
    chol, ok = dense._factorizable(covariances)
    assert ok.tolist() == [True, False, False]
    assert_allclose(chol[0], np.stack([np.eye(3)] * 2))


@pytest.mark.parametrize("quadratic", [True, False])
@pytest.mark.parametrize("d", [1, 3, 8])
def test_second_moments_are_the_weighted_outer_products(quadratic, d):
    # From the distinct products, mirrored, against einsum over the centred rows.
    rng = np.random.default_rng(d)
    X = rng.normal(size=(300, d)) * rng.uniform(0.1, 10, d) + 5.0
    rows = dense.DenseRows(X, None)
    weighted = rng.random((7, 300))
    y = X - X.mean(axis=0)
    if quadratic:
        expected = np.einsum("mn,ni,nj->mij", weighted, y, y)
    else:
        expected = np.einsum("mn,ni->mi", weighted, y * y)
    got = rows.second_moments(weighted, quadratic)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-10)
    if quadratic:
        np.testing.assert_array_equal(got, np.swapaxes(got, 1, 2))
