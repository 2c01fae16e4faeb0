"""The compiled E-step of extreme deconvolution (``gm_xd_statistics``) against the numpy path.

References: the numpy path of :mod:`gaussmix._deconvolution` (itself tested against
astroML 1.0.2's ``XDGMM._EMstep`` and a row-by-row scipy reference in
test_deconvolution.py), astroML's step directly, and scipy's densities for the
log-likelihood. The numpy path is forced as the other kernel tests do, with
``gaussmix.kernels.compiled.enabled = False``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix._deconvolution import NoiseCovariances
from gaussmix.em import noisy as noisy_module
from gaussmix.em import noisy_kernel
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.em.noisy import NoisySource
from gaussmix.kernels import compiled as _compiled

pytestmark = pytest.mark.skipif(
    not _compiled.has_deconvolution(), reason="the compiled kernel is not built"
)

TYPES = ["full", "tied", "diag", "spherical"]
KINDS = ["matrices", "variances", "shared"]


def _spd(rng, n, d, scale=1.0):
    A = rng.normal(size=(n, d, d)) * scale
    return A @ np.swapaxes(A, 1, 2) / d + 0.05 * scale**2 * np.eye(d)


def _noise(rng, kind, n, d, scale=1.0):
    if kind == "matrices":
        return _spd(rng, n, d, 0.7 * scale)
    if kind == "variances":
        return rng.uniform(0.05, 1.0, (n, d)) * scale**2
    return _spd(rng, 1, d, 0.7 * scale)[0]


def _problem(seed, n, d, k, kind, covariance_type, scale=1.0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 2.0 + rng.integers(0, 3, n)[:, None] * 3.0) * scale
    S = _noise(rng, kind, n, d, scale)
    V = _spd(rng, k, d, 1.5 * scale)
    if covariance_type in ("diag", "spherical"):  # diagonal components for those structures
        V = V * np.eye(d)
    gaussians = Gaussians(rng.dirichlet(np.ones(k) * 3), X[rng.choice(n, k, replace=False)], V)
    previous = Gaussians(rng.dirichlet(np.ones(k) * 3), gaussians.means + 0.1 * scale, V * 1.2)
    weights = rng.uniform(0.2, 2.0, n)
    return X, S, gaussians, previous, weights


def _statistics(monkeypatch, kernel, X, S, kind, weights, covariance_type, gaussians, previous):
    monkeypatch.setattr(_compiled, "enabled", kernel)
    source = NoisySource(X, NoiseCovariances(S, kind), weights, covariance_type)
    stats, _ = source.statistics(gaussians, previous, True)
    monkeypatch.setattr(_compiled, "enabled", True)
    return stats


def _assert_equal_statistics(a, b, rtol=1e-10):
    scale = np.abs(b.moments).max()
    assert_allclose(a.moments, b.moments, rtol=rtol, atol=rtol * scale)
    assert_allclose(a.resp_sq_sum, b.resp_sq_sum, rtol=rtol, atol=rtol * b.resp_sq_sum.max())
    for name in ("log_lik_sum", "weight_sum", "resp_change_sq", "resp_entropy"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=rtol, abs=1e-300), name


@pytest.mark.parametrize("d", [1, 2, 4, 8, 9, 16])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_compiled_statistics_equal_the_numpy_path(monkeypatch, d, kind, covariance_type):
    # 37 rows: four full blocks of 8 and a partial one; weights and previous parameters.
    # (A shared S takes the precise-path kernel, used only where AVX-512 runs: forced.)
    monkeypatch.setattr(_compiled, "wide_vectors", lambda: True)
    X, S, gaussians, previous, weights = _problem(d, 37, d, 3, kind, covariance_type)
    direct = noisy_kernel.compiled_noisy_statistics(
        X, NoiseCovariances(S, kind), weights, gaussians, previous, covariance_type, True
    )
    assert direct is not None  # the kernel took them
    kernel = _statistics(monkeypatch, True, X, S, kind, weights, covariance_type, gaussians,
                         previous)  # fmt: skip
    numpy = _statistics(monkeypatch, False, X, S, kind, weights, covariance_type, gaussians,
                        previous)  # fmt: skip
    _assert_equal_statistics(kernel, numpy)
    _assert_equal_statistics(direct, numpy)
    assert numpy.resp_change_sq > 0 and numpy.resp_entropy > 0  # compared away from 0


@pytest.mark.parametrize("n", [32, 33, 64, 95, 161])
@pytest.mark.parametrize("kind", ["matrices", "variances"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_statistics_over_many_blocks_equal_the_numpy_path(monkeypatch, n, kind, covariance_type):
    # The kernel adds the values of four blocks of 8 rows at once: row counts that end
    # on a full group (32, 64), just after one (33) and in the middle of later groups.
    X, S, gaussians, previous, weights = _problem(n, n, 3, 4, kind, covariance_type)
    direct = noisy_kernel.compiled_noisy_statistics(
        X, NoiseCovariances(S, kind), weights, gaussians, previous, covariance_type, True
    )
    assert direct is not None
    numpy = _statistics(monkeypatch, False, X, S, kind, weights, covariance_type, gaussians,
                        previous)  # fmt: skip
    _assert_equal_statistics(direct, numpy)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    d=st.integers(1, 10),
    k=st.integers(1, 5),
    kind=st.sampled_from(KINDS),
    covariance_type=st.sampled_from(TYPES),
    weighted=st.booleans(),
)
def test_compiled_statistics_equal_the_numpy_path_for_any_shape(
    seed, n, d, k, kind, covariance_type, weighted
):
    k = min(k, n)
    X, S, gaussians, previous, weights = _problem(seed, n, d, k, kind, covariance_type)
    weights = weights if weighted else None
    noise = NoiseCovariances(S, kind)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_compiled, "wide_vectors", lambda: True)  # the kernels on any CPU
        kernel = noisy_kernel.compiled_noisy_statistics(
            X, noise, weights, gaussians, previous, covariance_type, True
        )
    assert kernel is not None
    saved = _compiled.enabled
    _compiled.enabled = False
    try:
        numpy, _ = NoisySource(X, noise, weights, covariance_type).statistics(
            gaussians, previous, True
        )
    finally:
        _compiled.enabled = saved
    _assert_equal_statistics(kernel, numpy)


@pytest.mark.parametrize("scale", [1e-100, 1e100])
@pytest.mark.parametrize("kind", ["matrices", "variances"])
def test_extreme_scales_keep_the_log_determinant(monkeypatch, scale, kind):
    # |T| of 8 x 8 matrices at 1e+-200 per entry is far outside float64: the kernel sums
    # the pivots' exponents, so its log-likelihood is the numpy path's and scipy's.
    X, S, gaussians, _, weights = _problem(4, 21, 8, 3, kind, "full", scale=scale)
    kernel = _statistics(monkeypatch, True, X, S, kind, weights, "full", gaussians, None)
    numpy = _statistics(monkeypatch, False, X, S, kind, weights, "full", gaussians, None)
    _assert_equal_statistics(kernel, numpy)
    full_S = S if kind == "matrices" else S[:, :, None] * np.eye(8)
    log_dens = np.array(
        [
            [
                multivariate_normal(
                    gaussians.means[j], gaussians.covariances[j] + full_S[i]
                ).logpdf(X[i])
                for j in range(3)
            ]
            for i in range(len(X))
        ]
    )
    expected = weights @ np.logaddexp.reduce(log_dens + np.log(gaussians.priors), axis=1)
    assert kernel.log_lik_sum == pytest.approx(expected, rel=1e-10)


def test_one_step_through_the_kernel_matches_astroml():
    density = pytest.importorskip("astroML.density_estimation")
    X, S, gaussians, _, _ = _problem(3, 150, 3, 2, "matrices", "full")
    calls = []
    original = noisy_kernel.compiled_noisy_statistics

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(result is not None)
        return result

    xd = density.XDGMM(n_components=2, max_iter=1)
    xd.alpha, xd.mu = gaussians.priors.copy(), gaussians.means.copy()
    xd.V = gaussians.covariances.copy()
    xd._EMstep(X, S)
    source = NoisySource(X, NoiseCovariances(S, "matrices"), None, "full")
    noisy_module.compiled_noisy_statistics = spy
    try:
        stats, shift = source.statistics(gaussians, None, False)
    finally:
        noisy_module.compiled_noisy_statistics = original
    assert calls and all(calls)
    new = MaximumLikelihood("full", 0.0).m_step(stats, shift)
    assert_allclose(new.priors, xd.alpha, rtol=1e-10)
    assert_allclose(new.means, xd.mu, rtol=1e-10, atol=1e-12)
    assert_allclose(new.covariances, xd.V, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_fits_with_and_without_the_kernel_agree(monkeypatch, kind, covariance_type):
    X, S, gaussians, _, weights = _problem(7, 400, 3, 3, kind, covariance_type)

    def fit():
        gmm = GMM(3, priors=gaussians.priors, means=gaussians.means,
                  covariances=gaussians.covariances)  # fmt: skip
        return gmm.from_samples(
            X, n_iter=5, tol=None, covariance_type=covariance_type, noise_covariances=S,
            sample_weight=weights, n_jobs=2,
        )  # fmt: skip

    with_kernel = fit()
    monkeypatch.setattr(_compiled, "enabled", False)
    assert (
        noisy_kernel.compiled_noisy_statistics(
            X, NoiseCovariances(S, kind), None, gaussians, None, covariance_type, False
        )
        is None
    )  # the fallback: numpy
    without = fit()
    assert_allclose(with_kernel.priors, without.priors, rtol=1e-9)
    assert_allclose(with_kernel.means, without.means, rtol=1e-9, atol=1e-12)
    assert_allclose(with_kernel.covariances, without.covariances, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_a_convolved_covariance_that_is_not_positive_definite_raises(kind):
    # V_1 indefinite (as a user's warm start could give): V_1 + S_i is not positive
    # definite; the kernel reports it and the numpy path raises its clear error.
    X, S, gaussians, _, _ = _problem(2, 40, 3, 2, kind, "full")
    V = gaussians.covariances.copy()
    V[1] = np.diag([1.0, -50.0, 1.0])
    bad = Gaussians(gaussians.priors, gaussians.means, V)
    noise = NoiseCovariances(S, kind)
    assert noisy_kernel.compiled_noisy_statistics(X, noise, None, bad, None, "full", False) is None
    with pytest.raises(ValueError, match=r"not positive definite.*reg_covar"):
        NoisySource(X, noise, None, "full").statistics(bad, None, False)


def test_rows_the_kernel_cannot_take_go_to_the_numpy_path():
    # A row so far out that every logit is -inf: the kernel declines (None) and the
    # numpy path gives its limit (uniform responsibilities, log-likelihood -inf).
    X, S, gaussians, _, _ = _problem(5, 20, 2, 2, "variances", "full")
    X[3] = 1e200
    noise = NoiseCovariances(S, "variances")
    declined = noisy_kernel.compiled_noisy_statistics(
        X, noise, None, gaussians, None, "full", False
    )
    assert declined is None
    stats, _ = NoisySource(X, noise, None, "full").statistics(gaussians, None, False)
    assert stats.log_lik_sum == -np.inf


def test_the_wrapper_refuses_layouts_it_cannot_take():
    X, S, gaussians, _, _ = _problem(1, 10, 2, 2, "variances", "full")
    args = (gaussians.means, gaussians.covariances, np.log(gaussians.priors), None, None, False)
    assert _compiled.deconvolution_statistics(X, S, 3, *args) is None  # unknown form
    assert _compiled.deconvolution_statistics(X, S[:5], 1, *args) is None  # rows differ
    assert _compiled.deconvolution_statistics(X.astype(np.float32), S, 1, *args) is None
    assert _compiled.deconvolution_statistics(np.asfortranarray(X), S, 1, *args) is None
    assert _compiled.deconvolution_statistics(X[::2], S[::2], 1, *args) is not None  # strided
