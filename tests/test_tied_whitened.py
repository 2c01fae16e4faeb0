"""One shared covariance: the E-step in whitened coordinates on diagonal features.

The statistics the tied M-step reads (the sum over components of the second
moments, each component's first moments and counts, the log-likelihood, the
entropy) must equal those of the full quadratic-feature E-step, and the
log-likelihood scipy's densities.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix.em.estep import e_step, make_e_step_parameters
from gaussmix.em.families import MaximumLikelihood

D = 5


def _problem(seed=0, n=900, k=4):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(D, D))
    shared = A @ A.T + 0.5 * np.eye(D)
    means = rng.normal(0, 3, (k, D))
    labels = rng.integers(0, k, n)
    X = means[labels] + rng.multivariate_normal(np.zeros(D), shared, n)
    priors = rng.dirichlet(np.ones(k))
    gaussians = MaximumLikelihood("tied", 1e-6).start(priors, means, np.array([shared] * k))
    weights = rng.uniform(0.5, 2.0, n)
    return X, gaussians, weights, X.mean(axis=0)


@pytest.mark.parametrize("use_kernel", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_whitened_statistics_equal_the_full_e_steps(use_kernel, weighted):
    X, g, w, shift = _problem()
    w = w if weighted else None
    pooled = make_e_step_parameters("tied", g, None, shift, pooled=True, use_kernel=use_kernel)
    full = make_e_step_parameters("tied", g, None, shift, pooled=False, use_kernel=use_kernel)
    assert pooled.whitening is not None and full.whitening is None
    a, b = e_step(X, w, pooled), e_step(X, w, full)
    assert_allclose(
        a.second_moments(D, True).sum(axis=0), b.second_moments(D, True).sum(axis=0), rtol=1e-10
    )
    assert_allclose(a.first_moments(D), b.first_moments(D), rtol=1e-9, atol=1e-9)
    assert_allclose(a.resp_sum, b.resp_sum, rtol=1e-10)
    assert_allclose(a.resp_sq_sum, b.resp_sq_sum, rtol=1e-9)
    assert a.log_lik_sum == pytest.approx(b.log_lik_sum, rel=1e-11)
    assert a.weight_sum == pytest.approx(b.weight_sum, rel=1e-14)
    assert a.resp_entropy == pytest.approx(b.resp_entropy, rel=1e-7, abs=1e-9)


def test_whitened_log_likelihood_equals_scipy():
    X, (priors, means, covs), _, shift = _problem(1, n=300)
    params = make_e_step_parameters("tied", (priors, means, covs), None, shift, pooled=True)
    stats = e_step(X, None, params)
    density = sum(
        p * multivariate_normal(m, covs[0]).pdf(X) for p, m in zip(priors, means, strict=True)
    )
    assert stats.log_lik_sum == pytest.approx(np.log(density).sum(), rel=1e-11)


def test_unequal_covariances_or_a_previous_iteration_keep_the_full_features():
    _, (priors, means, covs), _, shift = _problem(2)
    unequal = covs.copy()
    unequal[1] *= 2.0
    assert (
        make_e_step_parameters(
            "tied", (priors, means, unequal), None, shift, pooled=True
        ).whitening
        is None
    )
    previous = (priors, means, covs)
    assert make_e_step_parameters("tied", previous, previous, shift, pooled=True).whitening is None
    assert make_e_step_parameters("full", previous, None, shift, pooled=True).whitening is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tied_fit_equals_the_fit_without_whitening(dtype, monkeypatch):
    from gaussmix.em import sources

    X, *_ = _problem(3, n=3000, k=3)
    fits = []
    original = sources.make_e_step_parameters
    for pooled in (True, False):
        monkeypatch.setattr(
            sources,
            "make_e_step_parameters",
            lambda *a, _p=pooled, **kw: original(*a, **{**kw, "pooled": _p}),
        )
        fits.append(
            GMM(3, random_state=0).from_samples(
                X, covariance_type="tied", tol=None, n_iter=25, dtype=dtype
            )
        )
    rtol = 1e-8 if dtype == np.float64 else 1e-4
    assert_allclose(fits[0].means, fits[1].means, rtol=rtol, atol=rtol)
    assert_allclose(fits[0].covariances, fits[1].covariances, rtol=rtol, atol=rtol)
    assert fits[0].lower_bound_ == pytest.approx(fits[1].lower_bound_, rel=rtol)


def _linear_kernel_or_skip():
    from gaussmix.kernels import compiled

    if not compiled.has_linear():
        pytest.skip("compiled kernel without linear features")
    return compiled


@pytest.mark.parametrize("weighted", [False, True])
def test_linear_features_equal_the_whitened_diagonal_path(weighted, monkeypatch):
    """The kernel's linear features [y, 1] against the whitened diagonal E-step."""
    compiled = _linear_kernel_or_skip()
    X, g, w, shift = _problem(3)
    w = w if weighted else None
    linear = make_e_step_parameters("tied", g, None, shift, pooled=True)
    assert linear.linear_theta is not None
    a = e_step(X, w, linear)
    monkeypatch.setattr(compiled, "has_linear", lambda: False)
    diagonal = make_e_step_parameters("tied", g, None, shift, pooled=True)
    assert diagonal.linear_theta is None and diagonal.whitening is not None
    b = e_step(X, w, diagonal)
    assert_allclose(a.moments, b.moments, rtol=1e-10, atol=1e-9)
    assert a.log_lik_sum == pytest.approx(b.log_lik_sum, rel=1e-11)
    assert a.resp_entropy == pytest.approx(b.resp_entropy, rel=1e-7, abs=1e-9)


def test_blocks_without_their_scatter_leave_the_common_term_to_the_caller(monkeypatch):
    """block_scatter=False: the caller's pooled_log_lik_term completes the log-likelihood,
    also for a block that the linear kernel gave back (numpy fallback)."""
    from gaussmix.em.estep import pooled_log_lik_term, scatter_about

    compiled = _linear_kernel_or_skip()
    X, g, w, shift = _problem(4, n=500)
    params = make_e_step_parameters("tied", g, None, shift, pooled=True)
    reference = e_step(X, w, params)  # block_scatter: complete in itself
    lean = params._replace(block_scatter=False)
    scatter = scatter_about(X - shift, w)
    total = e_step(X, w, lean).log_lik_sum + pooled_log_lik_term(lean, scatter)
    assert total == pytest.approx(reference.log_lik_sum, rel=1e-11)
    monkeypatch.setattr(compiled, "em_statistics", lambda *a, **k: None)
    fallback = e_step(X, w, lean)
    assert fallback.log_lik_sum + pooled_log_lik_term(lean, scatter) == pytest.approx(
        reference.log_lik_sum, rel=1e-11
    )
    assert_allclose(fallback.first_moments(D), reference.first_moments(D), rtol=1e-9, atol=1e-9)
