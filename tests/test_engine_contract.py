"""Contract tests of the EM engine package ``gaussmix.em``.

Written from the engine's contract (sources, a module-level picklable E-step
returning additive statistics that pack to one flat array, a model family,
one driver with n_init / convergence rules / callback), against references
that do not come from gaussmix: scipy.stats.multivariate_normal densities,
closed-form weighted M-steps, a small scipy-based reference EM with
scikit-learn's and gmr's stopping rules, and sklearn.mixture.GaussianMixture.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import warnings
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix.em import (
    ArraySource,
    ConvergenceWarning,
    EStepParameters,
    Gaussians,
    MaximumLikelihood,
    MissingValuesSource,
    Statistics,
    StatisticsSource,
    convergence_rule,
    driver,
    e_step,
    missing_e_step,
)

COVARIANCE_TYPES = ["full", "diag", "spherical", "tied"]
K, D, N = 3, 3, 300
REG = 1e-6


# --------------------------------------------------------------------------
# Data and references (none of them from gaussmix)
# --------------------------------------------------------------------------
def make_data(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -1.0], [-3.0, 3.5, 2.0]])
    scales = [
        np.array([[1.0, 0.3, 0.0], [0.0, 0.7, 0.2], [0.0, 0.0, 0.5]]),
        np.array([[0.6, 0.0, 0.0], [0.2, 1.1, 0.0], [0.1, -0.3, 0.8]]),
        np.array([[0.9, -0.4, 0.1], [0.0, 0.5, 0.0], [0.0, 0.2, 1.2]]),
    ]
    labels = rng.choice(3, size=n, p=[0.3, 0.45, 0.25])
    X = np.empty((n, 3))
    for j in range(3):
        rows = labels == j
        X[rows] = centres[j] + rng.standard_normal((rows.sum(), 3)) @ scales[j]
    return X


def make_weights(n: int = N, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 3.0, size=n)


def start_full(seed: int = 2) -> Gaussians:
    """A deliberately imperfect starting point (full covariances)."""
    rng = np.random.default_rng(seed)
    priors = np.array([0.25, 0.4, 0.35])
    means = np.array([[0.5, -0.5, 0.3], [3.0, 1.5, -0.5], [-2.0, 3.0, 1.0]])
    means = means + 0.2 * rng.standard_normal(means.shape)
    covs = np.empty((3, 3, 3))
    for j in range(3):
        a = rng.standard_normal((3, 3))
        covs[j] = 0.3 * a @ a.T + 1.5 * np.eye(3)
    return Gaussians(priors, means, covs)


def structured(g: Gaussians, covariance_type: str) -> Gaussians:
    """Impose a covariance structure on full covariances (scikit-learn's definitions)."""
    priors, means, covs = g
    k, d, _ = covs.shape
    if covariance_type == "full":
        c = covs.copy()
    elif covariance_type == "tied":
        # the prior-weighted average (how gaussmix documents projecting a start)
        tied = np.einsum("k,kij->ij", priors, covs) / priors.sum()
        c = np.repeat(tied[None], k, axis=0)
    elif covariance_type == "diag":
        c = np.array([np.diag(np.diag(s)) for s in covs])
    else:
        c = np.array([np.eye(d) * np.trace(s) / d for s in covs])
    return Gaussians(priors.copy(), means.copy(), c)


def scipy_log_resp(X, priors, means, covs):
    """(log p(x_i), responsibilities) from scipy's multivariate normal densities."""
    logp = np.column_stack(
        [
            np.log(priors[j]) + multivariate_normal(means[j], covs[j]).logpdf(X).reshape(-1)
            for j in range(len(priors))
        ]
    )
    lse = logsumexp(logp, axis=1)
    return lse, np.exp(logp - lse[:, None])


def closed_form_m_step(X, w, R, reg, covariance_type):
    """Weighted maximum-likelihood parameters from responsibilities (plus reg on the diagonal)."""
    d = X.shape[1]
    wr = R * w[:, None]
    nk = wr.sum(axis=0)
    means = (wr.T @ X) / nk[:, None]
    covs = np.empty((len(nk), d, d))
    for j in range(len(nk)):
        diff = X - means[j]
        covs[j] = (wr[:, j, None] * diff).T @ diff / nk[j]
    if covariance_type == "tied":
        tied = np.einsum("k,kij->ij", nk, covs) / nk.sum()
        covs = np.repeat(tied[None], len(nk), axis=0)
    elif covariance_type == "diag":
        covs = np.array([np.diag(np.diag(c)) for c in covs])
    elif covariance_type == "spherical":
        covs = np.array([np.eye(d) * np.trace(c) / d for c in covs])
    covs = covs + reg * np.eye(d)
    return Gaussians(nk / nk.sum(), means, covs)


def reference_em(X, w, start, n_iter, *, tol=None, r_diff=None, covariance_type="full"):
    """EM with scipy densities; scikit-learn's tol rule or gmr's R_diff rule.

    Returns (final Gaussians, iterations, mean log-likelihoods, changes,
    responsibility changes, converged).
    """
    w = np.ones(X.shape[0]) if w is None else w
    state = start
    lls, changes, rdiffs = [], [], []
    R_prev = np.zeros((X.shape[0], len(start.priors)))  # gmr starts from zeros
    for it in range(1, n_iter + 1):
        lse, R = scipy_log_resp(X, *state)
        ll = float(w @ lse / w.sum())
        change = ll - (lls[-1] if lls else -np.inf)
        lls.append(ll)
        changes.append(change)
        rdiffs.append(float(np.linalg.norm(R - R_prev)))
        if r_diff is not None and rdiffs[-1] < r_diff:  # gmr: before the M-step
            return state, it, lls, changes, rdiffs, True
        state = closed_form_m_step(X, w, R, REG, covariance_type)
        if tol is not None and abs(change) < tol:  # scikit-learn: after the M-step
            return state, it, lls, changes, rdiffs, True
        R_prev = R
    return state, n_iter, lls, changes, rdiffs, False


def assert_gaussians_close(a, b, rtol=1e-8, atol=1e-10):
    np.testing.assert_allclose(a[0], b[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(a[1], b[1], rtol=rtol, atol=atol)
    np.testing.assert_allclose(a[2], b[2], rtol=rtol, atol=atol)


def assert_stats_close(a: Statistics, b: Statistics, rtol=1e-12):
    scale = max(1.0, float(np.abs(b.moments).max()))
    np.testing.assert_allclose(a.moments, b.moments, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.resp_sq_sum, b.resp_sq_sum, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.log_lik_sum, b.log_lik_sum, rtol=rtol)
    np.testing.assert_allclose(a.weight_sum, b.weight_sum, rtol=rtol)
    np.testing.assert_allclose(a.resp_change_sq, b.resp_change_sq, rtol=1e-10, atol=1e-12)


def source_and_params(X, w, covariance_type, previous=None, need_resp_sq=True, start=None):
    """An ArraySource and the E-step parameters of one iteration under ``start``."""
    family = MaximumLikelihood(covariance_type, REG)
    g = family.start(*(start_full() if start is None else start))
    source = ArraySource(X, w, covariance_type)
    params = source.e_step_parameters(g, previous, need_resp_sq)
    return source, family, g, params


def gmm_fit(X, start, **kwargs):
    gmm = GMM(
        len(start.priors),
        priors=start.priors.copy(),
        means=start.means.copy(),
        covariances=start.covariances.copy(),
        random_state=0,
    )
    return gmm.from_samples(X, **kwargs)


def block_pack(block, weights, params):
    """What a worker process returns: the packed statistics of its block."""
    return e_step(block, weights, params).pack()


# --------------------------------------------------------------------------
# 1. Additivity, pack/unpack, pickling, processes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_are_additive_over_row_blocks(covariance_type, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    prev = structured(start_full(seed=5), covariance_type)
    source, _, g, params = source_and_params(X, w, covariance_type, previous=prev)
    whole, _shift = source.statistics(g, prev, True)
    direct = e_step(X, w, params)
    assert_stats_close(direct, whole)
    cuts = [0, 1, 8, 9, 57, 130, 131, 250, N]
    parts = [e_step(X[a:b], None if w is None else w[a:b], params) for a, b in pairwise(cuts)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    assert_stats_close(total, whole)
    assert total.weight_sum == pytest.approx(N if w is None else w.sum(), rel=1e-12)
    assert total.resp_sum.sum() == pytest.approx(total.weight_sum, rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_are_additive_on_the_precise_path(covariance_type):
    # theta=None: moments about each component's own mean.
    X, w = make_data(), make_weights()
    g = MaximumLikelihood(covariance_type, REG).start(*start_full())
    params = EStepParameters(
        covariance_type=covariance_type,
        shift=g.means,
        priors=g.priors,
        means=g.means,
        covariances=g.covariances,
        need_resp_sq=True,
    )
    whole = e_step(X, w, params)
    total = e_step(X[:101], w[:101], params) + e_step(X[101:], w[101:], params)
    assert_stats_close(total, whole)


@settings(max_examples=25, deadline=None)
@given(
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    weighted=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=N - 1), max_size=8, unique=True),
    order_seed=st.integers(0, 2**16),
)
def test_additivity_over_random_block_splits(covariance_type, weighted, cuts, order_seed):
    X = make_data()
    w = make_weights() if weighted else None
    source, _, g, params = source_and_params(X, w, covariance_type)
    whole, _ = source.statistics(g, None, True)
    bounds = [0, *sorted(cuts), N]
    blocks = list(pairwise(bounds))
    np.random.default_rng(order_seed).shuffle(blocks)  # reduce in any order
    k, n_phi = whole.moments.shape
    flat = np.zeros(Statistics.packed_size(k, n_phi))
    for a, b in blocks:
        flat += e_step(X[a:b], None if w is None else w[a:b], params).pack()
    assert_stats_close(Statistics.unpack(flat, k, n_phi), whole)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pack_unpack_round_trip_is_exact(covariance_type):
    X, w = make_data(), make_weights()
    prev = structured(start_full(seed=9), covariance_type)
    _, _, _, params = source_and_params(X, w, covariance_type, previous=prev)
    s = e_step(X, w, params)
    k, n_phi = s.moments.shape
    flat = s.pack()
    assert flat.dtype == np.float64 and flat.ndim == 1
    assert flat.shape == (Statistics.packed_size(k, n_phi),)
    back = Statistics.unpack(flat, k, n_phi)
    np.testing.assert_array_equal(back.moments, s.moments)
    np.testing.assert_array_equal(back.resp_sq_sum, s.resp_sq_sum)
    np.testing.assert_array_equal(back.resp_sum, s.resp_sum)
    assert back.log_lik_sum == s.log_lik_sum
    assert back.weight_sum == s.weight_sum
    assert back.resp_change_sq == s.resp_change_sq
    np.testing.assert_array_equal(back.pack(), flat)
    # unpack owns its arrays: mutating the flat vector does not change it
    flat[:] = 0.0
    np.testing.assert_array_equal(back.moments, s.moments)
    with pytest.raises(ValueError):
        Statistics.unpack(np.zeros(Statistics.packed_size(k, n_phi) + 1), k, n_phi)


def test_e_step_arguments_pickle():
    X, w = make_data(), make_weights()
    for covariance_type in COVARIANCE_TYPES:
        _, _, _, params = source_and_params(X, w, covariance_type, previous=start_full(7))
        args = (X[:50], w[:50], params)
        fn, args2 = pickle.loads(pickle.dumps((e_step, args)))
        assert fn is e_step
        np.testing.assert_array_equal(fn(*args2).pack(), e_step(*args).pack())
    # the missing-values E-step too
    Xm = X.copy()
    Xm[::7, 1] = np.nan
    source = MissingValuesSource(Xm, w, "full")
    g = start_full()
    mparams = EStepParameters("full", source.shift, *g)
    fn, args2 = pickle.loads(pickle.dumps((missing_e_step, (source.block, w, mparams))))
    assert fn is missing_e_step
    np.testing.assert_array_equal(
        fn(*args2).pack(), missing_e_step(source.block, w, mparams).pack()
    )


def test_process_pool_block_statistics_sum_to_in_process_result():
    X, w = make_data(), make_weights()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for covariance_type in ("full", "diag"):
            source, _, g, params = source_and_params(X, w, covariance_type, previous=start_full(3))
            whole, _ = source.statistics(g, start_full(3), True)
            bounds = [0, 77, 160, 233, N]
            futures = [pool.submit(e_step, X[a:b], w[a:b], params) for a, b in pairwise(bounds)]
            packed = [f.result().pack() for f in futures]
            k, n_phi = whole.moments.shape
            total = Statistics.unpack(np.sum(packed, axis=0), k, n_phi)
            np.testing.assert_allclose(total.pack(), whole.pack(), rtol=1e-12, atol=1e-9)
            assert_stats_close(total, whole)


def test_process_pool_workers_returning_packed_vectors():
    # The worker itself returns the flat float64 vector (no Statistics object travels).
    X = make_data()
    source, _, g, params = source_and_params(X, None, "tied")
    whole, _ = source.statistics(g, None, True)
    context = multiprocessing.get_context("spawn")
    bounds = [0, 150, N]
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        try:
            flats = list(
                pool.map(
                    block_pack,
                    [X[a:b] for a, b in pairwise(bounds)],
                    [None, None],
                    [params, params],
                )
            )
        except concurrent.futures.process.BrokenProcessPool:  # pragma: no cover
            pytest.skip("test module not importable in a spawned worker")
    k, n_phi = whole.moments.shape
    np.testing.assert_allclose(
        Statistics.unpack(sum(flats), k, n_phi).pack(), whole.pack(), rtol=1e-12, atol=1e-9
    )


# --------------------------------------------------------------------------
# 2. E-step against scipy
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_e_step_matches_scipy_mixture_density(covariance_type, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    ww = np.ones(N) if w is None else w
    prev = structured(start_full(seed=11), covariance_type)
    source, _, g, params = source_and_params(X, w, covariance_type, previous=prev)
    g = structured(start_full(), covariance_type)  # the same components, built here
    s = e_step(X, w, params)
    lse, R = scipy_log_resp(X, *g)
    _, R_prev = scipy_log_resp(X, *prev)
    np.testing.assert_allclose(s.log_lik_sum, ww @ lse, rtol=1e-10)
    np.testing.assert_allclose(s.weight_sum, ww.sum(), rtol=1e-12)
    np.testing.assert_allclose(s.resp_sum, ww @ R, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.resp_sq_sum, ww @ (R * R), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(s.resp_change_sq, np.square(R - R_prev).sum(), rtol=1e-8)
    # first moments about the source's shift (the documented layout)
    shift = params.shift
    first = (R * ww[:, None]).T @ (X - shift)
    q = s.moments.shape[1] - D - 1
    np.testing.assert_allclose(s.moments[:, q : q + D], first, rtol=1e-9, atol=1e-8)
    # the source's total is the same
    total, _ = source.statistics(g, prev, True)
    np.testing.assert_allclose(total.log_lik_sum, ww @ lse, rtol=1e-10)
    np.testing.assert_allclose(total.resp_sum, ww @ R, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------
# 3. M-step against the closed form
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_m_step_matches_closed_form(covariance_type, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    ww = np.ones(N) if w is None else w
    reg = 1e-3
    family = MaximumLikelihood(covariance_type, reg)
    g = family.start(*start_full())
    source = ArraySource(X, w, covariance_type)
    stats, shift = source.statistics(g, None, family.need_resp_sq)
    new = family.m_step(stats, shift)
    _, R = scipy_log_resp(X, *structured(start_full(), covariance_type))
    ref = closed_form_m_step(X, ww, R, 0.0, covariance_type)
    ref = Gaussians(ref.priors, ref.means, ref.covariances + reg * np.eye(D))
    assert_gaussians_close(new, ref, rtol=1e-8, atol=1e-10)
    assert new.covariances.shape == (K, D, D)


def test_m_step_on_precise_path_statistics():
    # Statistics about each component's own mean give the same M-step.
    X, w = make_data(), make_weights()
    family = MaximumLikelihood("full", REG)
    g = family.start(*start_full())
    params = EStepParameters("full", g.means, *g)
    new = family.m_step(e_step(X, w, params), g.means)
    _, R = scipy_log_resp(X, *g)
    assert_gaussians_close(new, closed_form_m_step(X, w, R, REG, "full"))


# --------------------------------------------------------------------------
# 4. A contributor's source, run through the driver
# --------------------------------------------------------------------------
class BlockListSource(StatisticsSource):
    """Rows held as a list of blocks, each reduced by a 'remote worker' to a packed vector.

    Uses only the public engine API: EStepParameters, e_step, Statistics.pack/unpack.
    """

    def __init__(self, blocks, weight_blocks, covariance_type):
        self.blocks = [np.asarray(b, dtype=np.float64) for b in blocks]
        self.weight_blocks = weight_blocks
        self.covariance_type = covariance_type
        self.n_samples = sum(b.shape[0] for b in self.blocks)
        self.n_features = self.blocks[0].shape[1]
        X = np.vstack(self.blocks)
        w = None if weight_blocks is None else np.concatenate(weight_blocks)
        self.shift = np.average(X, axis=0, weights=w)
        self.calls = 0

    def initialization_data(self):
        return np.vstack(self.blocks)

    def statistics(self, gaussians, previous, need_resp_sq):
        self.calls += 1
        params = EStepParameters(
            covariance_type=self.covariance_type,
            shift=gaussians.means,  # moments about each component's mean
            priors=gaussians.priors,
            means=gaussians.means,
            covariances=gaussians.covariances,
            previous=None if previous is None else tuple(previous),
            need_resp_sq=need_resp_sq,
        )
        weights = self.weight_blocks or [None] * len(self.blocks)
        # "remote": each block's arguments travel pickled, the result as a flat vector
        flats = [
            e_step(*pickle.loads(pickle.dumps((b, wb, params)))).pack()
            for b, wb in zip(self.blocks, weights, strict=True)
        ]
        k = gaussians.means.shape[0]
        total = np.sum(flats, axis=0)
        n_phi = (total.size - Statistics.packed_size(k, 0)) // k
        return Statistics.unpack(total, k, n_phi), params.shift


def _blocks(X, w, bounds):
    xs = [X[a:b] for a, b in pairwise(bounds)]
    ws = None if w is None else [w[a:b] for a, b in pairwise(bounds)]
    return xs, ws


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_custom_source_through_driver_matches_from_samples(covariance_type, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    start = start_full()
    xs, ws = _blocks(X, w, [0, 40, 41, 170, N])
    source = BlockListSource(xs, ws, covariance_type)
    family = MaximumLikelihood(covariance_type, REG)
    n_iter = 15
    result = driver.fit(
        source,
        family,
        lambda run: family.start(*start),
        n_init=1,
        n_iter=n_iter,
        rule=convergence_rule(None, None),
    )
    assert result.n_iter == n_iter and source.calls == n_iter
    gmm = gmm_fit(
        X, start, covariance_type=covariance_type, tol=None, n_iter=n_iter, sample_weight=w
    )
    fitted = family.mixture(result.state)
    assert_gaussians_close(fitted, (gmm.priors, gmm.means, gmm.covariances), rtol=1e-8)
    assert gmm.n_iter_ == n_iter
    np.testing.assert_allclose(result.lower_bound, gmm.lower_bound_, rtol=1e-10)
    # and both agree with the scipy reference EM
    ref = reference_em(
        X, w, structured(start, covariance_type), n_iter, covariance_type=covariance_type
    )
    assert_gaussians_close(fitted, ref[0], rtol=1e-8)


def test_custom_source_with_gmr_rule_matches_from_samples():
    X = make_data()
    start = start_full()
    xs, ws = _blocks(X, None, [0, 123, N])
    source = BlockListSource(xs, ws, "full")
    family = MaximumLikelihood("full", REG)
    result = driver.fit(
        source,
        family,
        lambda run: family.start(*start),
        n_iter=200,
        rule=convergence_rule("auto", 1e-3),
    )
    gmm = gmm_fit(X, start, tol="auto", R_diff=1e-3, n_iter=200)
    assert result.converged and gmm.converged_
    assert result.n_iter == gmm.n_iter_
    assert_gaussians_close(family.mixture(result.state), (gmm.priors, gmm.means, gmm.covariances))


# --------------------------------------------------------------------------
# 5. Callback
# --------------------------------------------------------------------------
class Recorder:
    def __init__(self, stop_at=None):
        self.calls = []
        self.stop_at = stop_at

    def __call__(self, iteration, mean_log_likelihood, change, elapsed):
        self.calls.append((iteration, mean_log_likelihood, change, elapsed))
        return self.stop_at is not None and iteration == self.stop_at


def _check_run(calls):
    its = [c[0] for c in calls]
    assert its == list(range(1, len(calls) + 1))
    ll = np.array([c[1] for c in calls])
    change = np.array([c[2] for c in calls])
    elapsed = np.array([c[3] for c in calls])
    assert np.all(np.isfinite(ll))
    assert np.all(np.isfinite(elapsed)) and np.all(elapsed >= 0)
    assert np.all(np.diff(elapsed) >= 0)
    assert change[0] == np.inf
    np.testing.assert_allclose(change[1:], np.diff(ll), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_callback_once_per_iteration_with_reference_log_likelihoods(weighted):
    X = make_data()
    w = make_weights() if weighted else None
    rec = Recorder()
    n_iter = 12
    gmm = gmm_fit(X, start_full(), tol=None, n_iter=n_iter, callback=rec, sample_weight=w)
    assert len(rec.calls) == n_iter == gmm.n_iter_
    _check_run(rec.calls)
    _, _, lls, _, _, _ = reference_em(X, w, start_full(), n_iter)
    np.testing.assert_allclose([c[1] for c in rec.calls], lls, rtol=1e-10)
    np.testing.assert_allclose(gmm.lower_bound_, lls[-1], rtol=1e-10)
    # EM never decreases the likelihood
    assert np.all(np.diff(lls) > -1e-12)


@pytest.mark.parametrize("tol", ["auto", 1e-12])
def test_callback_returning_true_stops_without_warning(tol):
    X = make_data()
    rec = Recorder(stop_at=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gmm = gmm_fit(X, start_full(), tol=tol, R_diff=1e-12, n_iter=50, callback=rec)
    assert [c[0] for c in rec.calls] == [1, 2, 3]
    assert gmm.n_iter_ == 3
    assert not gmm.converged_
    # stopped after that iteration's M-step: the state of 3 full iterations
    three = gmm_fit(X, start_full(), tol=None, n_iter=3)
    assert_gaussians_close(
        (gmm.priors, gmm.means, gmm.covariances),
        (three.priors, three.means, three.covariances),
        rtol=1e-12,
    )


def test_callback_stop_through_driver_sets_stopped():
    X = make_data()
    source = ArraySource(X, None, "full")
    family = MaximumLikelihood("full", REG)
    rec = Recorder(stop_at=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = driver.fit(
            source,
            family,
            lambda run: family.start(*start_full()),
            n_iter=50,
            rule=convergence_rule(1e-14, None),
            callback=rec,
        )
    assert result.n_iter == 3 and not result.converged and result.stopped


def test_callback_restarts_at_one_for_each_of_n_init_runs():
    X = make_data()
    rec = Recorder()
    gmm = GMM(K, random_state=0)
    gmm.from_samples(X, tol=None, n_iter=4, n_init=3, callback=rec)
    assert [c[0] for c in rec.calls] == [1, 2, 3, 4] * 3
    for r in range(3):
        _check_run(rec.calls[4 * r : 4 * r + 4])
    # best run is kept: its lower bound is the largest final one
    finals = [rec.calls[4 * r + 3][1] for r in range(3)]
    assert gmm.lower_bound_ == pytest.approx(max(finals), rel=1e-12)


def test_callback_stop_skips_remaining_runs():
    X = make_data()
    rec = Recorder(stop_at=2)
    GMM(K, random_state=0).from_samples(X, tol=None, n_iter=5, n_init=3, callback=rec)
    assert [c[0] for c in rec.calls] == [1, 2]


@pytest.mark.parametrize("bad", [5, "print", [print]])
def test_non_callable_callback_raises_type_error(bad):
    X = make_data()
    with pytest.raises(TypeError):
        gmm_fit(X, start_full(), callback=bad, n_iter=3)


def test_verbose_prints_one_line_per_iteration_alongside_callback(capsys):
    X = make_data()
    rec = Recorder()
    start = start_full()
    gmm = GMM(K, priors=start.priors, means=start.means, covariances=start.covariances, verbose=1)
    gmm.from_samples(X, tol=None, n_iter=4, callback=rec)
    out = capsys.readouterr().out
    assert len(rec.calls) == 4
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) >= 4


# --------------------------------------------------------------------------
# 6. tol semantics (GMM, driver and GaussianMixtureRegressor)
# --------------------------------------------------------------------------
def _separated_threshold(values, lo_index=6):
    """A threshold between sorted |values| with a clear margin (> 2 %) from all of them.

    The margin is many orders of magnitude above the numerical differences
    between gaussmix and the reference EM, so both must stop at the same
    iteration.
    """
    a = np.sort(np.abs(np.asarray(values, dtype=float)[np.isfinite(values)]))[::-1]
    for i in range(lo_index, len(a) - 1):
        if a[i] > 1.05 * a[i + 1] > 0:
            return float(np.sqrt(a[i] * a[i + 1]))
    raise AssertionError("no separated threshold")  # pragma: no cover


def test_tol_none_runs_exactly_n_iter():
    X = make_data()
    for n_iter in (1, 7, 40):
        rec = Recorder()
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            gmm = gmm_fit(X, start_full(), tol=None, R_diff=1.0, n_iter=n_iter, callback=rec)
        assert gmm.n_iter_ == n_iter and len(rec.calls) == n_iter
        assert not gmm.converged_
        ref = reference_em(X, None, start_full(), n_iter)
        assert_gaussians_close((gmm.priors, gmm.means, gmm.covariances), ref[0])


def test_float_tol_is_scikit_learns_rule():
    X = make_data()
    n_max = 200
    _, _, _, changes, _, _ = reference_em(X, None, start_full(), 60)
    tol = _separated_threshold(changes)
    ref_state, ref_n, _, _, _, ref_conv = reference_em(X, None, start_full(), n_max, tol=tol)
    assert ref_conv
    rec = Recorder()
    gmm = gmm_fit(X, start_full(), tol=tol, R_diff=1e6, n_iter=n_max, callback=rec)
    assert gmm.converged_
    assert gmm.n_iter_ == ref_n == len(rec.calls)
    changes = [c[2] for c in rec.calls]
    assert abs(changes[-1]) < tol
    assert all(abs(c) >= tol for c in changes[:-1])
    assert_gaussians_close((gmm.priors, gmm.means, gmm.covariances), ref_state)
    # scikit-learn's GaussianMixture from the same start
    from sklearn.mixture import GaussianMixture

    s = start_full()
    skl = GaussianMixture(
        K,
        covariance_type="full",
        tol=tol,
        reg_covar=REG,
        max_iter=n_max,
        weights_init=s.priors,
        means_init=s.means,
        precisions_init=np.linalg.inv(s.covariances),
        random_state=0,
    ).fit(X)
    assert skl.converged_
    assert skl.n_iter_ == gmm.n_iter_
    assert_gaussians_close(
        (gmm.priors, gmm.means, gmm.covariances), (skl.weights_, skl.means_, skl.covariances_)
    )
    np.testing.assert_allclose(gmm.lower_bound_, skl.lower_bound_, rtol=1e-10)


def test_float_tol_not_met_warns():
    X = make_data()
    with pytest.warns(ConvergenceWarning):
        gmm = gmm_fit(X, start_full(), tol=1e-300, n_iter=3)
    assert gmm.n_iter_ == 3 and not gmm.converged_


def test_auto_tol_is_gmrs_r_diff_rule():
    X = make_data()
    n_max = 300
    _, _, _, _, rdiffs, _ = reference_em(X, None, start_full(), 60)
    r_diff = _separated_threshold(rdiffs[1:])
    ref_state, ref_n, _, _, _, ref_conv = reference_em(X, None, start_full(), n_max, r_diff=r_diff)
    assert ref_conv
    rec = Recorder()
    gmm = gmm_fit(X, start_full(), R_diff=r_diff, n_iter=n_max, callback=rec)  # tol default
    assert gmm.converged_
    assert gmm.n_iter_ == ref_n == len(rec.calls)
    assert_gaussians_close((gmm.priors, gmm.means, gmm.covariances), ref_state)
    # explicit "auto" is the default
    explicit = gmm_fit(X, start_full(), tol="auto", R_diff=r_diff, n_iter=n_max)
    assert explicit.n_iter_ == gmm.n_iter_
    # and "auto" ignores the likelihood change (a huge float tol would stop at 2)
    assert gmm.n_iter_ > 2


def test_auto_tol_not_met_warns_and_r_diff_zero_runs_all():
    X = make_data()
    with pytest.warns(ConvergenceWarning):
        gmm = gmm_fit(X, start_full(), R_diff=1e-300, n_iter=4)
    assert gmm.n_iter_ == 4 and not gmm.converged_
    rec = Recorder()
    gmm = gmm_fit(X, start_full(), R_diff=0, n_iter=6, callback=rec)
    assert gmm.n_iter_ == 6 and len(rec.calls) == 6


def test_convergence_rule_readings():
    assert convergence_rule(None, 1e-3) == (None, None)
    assert convergence_rule(1e-3, 5.0) == (1e-3, None)
    assert convergence_rule("auto", 1e-3) == (None, 1e-3)
    assert convergence_rule("auto", 0) == (None, None)
    with pytest.raises(ValueError):
        convergence_rule(-1.0, None)
    with pytest.raises(TypeError):
        convergence_rule("fast", None)


def _regressor_data():
    X = make_data()
    return X[:, :2], X[:, 2]


def test_regressor_tol_semantics_match_gmm():
    from gaussmix.sklearn import GaussianMixtureRegressor

    Xin, y = _regressor_data()
    XY = np.column_stack([Xin, y])
    s = start_full()
    kw = dict(priors=s.priors, means=s.means, covariances=s.covariances)

    # tol=None: exactly n_iter
    reg = GaussianMixtureRegressor(K, tol=None, n_iter=9, **kw).fit(Xin, y)
    assert reg.gmm_.n_iter_ == 9 and not reg.gmm_.converged_
    ref = reference_em(XY, None, s, 9)
    g = reg.gmm_
    assert_gaussians_close((g.priors, g.means, g.covariances), ref[0])

    # float tol: scikit-learn's rule
    _, _, _, changes, rdiffs, _ = reference_em(XY, None, s, 60)
    tol = _separated_threshold(changes)
    ref_state, ref_n, *_ = reference_em(XY, None, s, 500, tol=tol)
    reg = GaussianMixtureRegressor(K, tol=tol, R_diff=1e6, **kw).fit(Xin, y)
    assert reg.gmm_.converged_ and reg.gmm_.n_iter_ == ref_n
    g = reg.gmm_
    assert_gaussians_close((g.priors, g.means, g.covariances), ref_state)

    # default "auto": gmr's R_diff rule
    r_diff = _separated_threshold(rdiffs[1:])
    ref_state, ref_n, *_ = reference_em(XY, None, s, 500, r_diff=r_diff)
    reg = GaussianMixtureRegressor(K, R_diff=r_diff, **kw).fit(Xin, y)
    assert reg.gmm_.converged_ and reg.gmm_.n_iter_ == ref_n
    g = reg.gmm_
    assert_gaussians_close((g.priors, g.means, g.covariances), ref_state)


# --------------------------------------------------------------------------
# 7. Missing-values source without NaN == ArraySource
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_missing_source_without_nan_equals_array_source(covariance_type, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    family = MaximumLikelihood(covariance_type, REG)
    g = family.start(*start_full())
    prev = family.start(*start_full(seed=4))
    a_src = ArraySource(X, w, covariance_type)
    m_src = MissingValuesSource(X, w, covariance_type)
    assert m_src.n_samples == a_src.n_samples == N
    a, a_shift = a_src.statistics(g, prev, True)
    m, m_shift = m_src.statistics(g, prev, True)
    np.testing.assert_allclose(m_shift, a_shift, rtol=1e-10, atol=1e-12)
    scale = float(np.abs(a.moments).max())
    np.testing.assert_allclose(m.moments, a.moments, rtol=1e-10, atol=1e-10 * scale)
    np.testing.assert_allclose(m.resp_sq_sum, a.resp_sq_sum, rtol=1e-10)
    np.testing.assert_allclose(m.log_lik_sum, a.log_lik_sum, rtol=1e-10)
    np.testing.assert_allclose(m.weight_sum, a.weight_sum, rtol=1e-10)
    np.testing.assert_allclose(m.resp_change_sq, a.resp_change_sq, rtol=1e-8)
    assert_gaussians_close(family.m_step(m, m_shift), family.m_step(a, a_shift), rtol=1e-10)


def test_missing_source_log_likelihood_is_marginal_of_observed_entries():
    X = make_data()
    rng = np.random.default_rng(3)
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.15] = np.nan
    Xm[np.isnan(Xm).all(axis=1), 0] = X[np.isnan(Xm).all(axis=1), 0]
    w = make_weights()
    g = start_full()
    source = MissingValuesSource(Xm, w, "full")
    s, _ = source.statistics(g, None, True)
    # reference: each row's log density of its observed entries (scipy)
    lse = np.empty(N)
    R = np.empty((N, K))
    for i in range(N):
        o = ~np.isnan(Xm[i])
        lp = np.array(
            [
                np.log(g.priors[j])
                + multivariate_normal(g.means[j][o], g.covariances[j][np.ix_(o, o)]).logpdf(
                    Xm[i, o]
                )
                for j in range(K)
            ]
        )
        lse[i] = logsumexp(lp)
        R[i] = np.exp(lp - lse[i])
    np.testing.assert_allclose(s.log_lik_sum, w @ lse, rtol=1e-10)
    np.testing.assert_allclose(s.resp_sum, w @ R, rtol=1e-9)
    np.testing.assert_allclose(s.weight_sum, w.sum(), rtol=1e-12)


def test_data_spread_is_remembered_per_array_and_recomputed_after_a_change():
    from gaussmix.em import init

    X = np.random.default_rng(3).normal(size=(500, 3))
    first = init.data_spread(X)
    np.testing.assert_allclose(first, init.mean_pairwise_abs_difference(X), rtol=1e-15)
    assert np.array_equal(init.data_spread(X), first)
    X[0, 1] += 100.0  # changed in place: computed again
    np.testing.assert_allclose(
        init.data_spread(X), init.mean_pairwise_abs_difference(X), rtol=1e-15
    )
    assert not np.allclose(init.data_spread(X), first)
