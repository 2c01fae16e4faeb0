"""The compiled E-step of many small EM runs (kernels.batched, em.dense's E-step).

References: scipy's multivariate normal densities and logsumexp for every run's
responsibilities and log-likelihood, in both vector forms of the kernel and for
dimensions the kernel specializes (d <= 12) and those it does not; numpy's path
(kernel switched off) for the dense EM and the ranking of optima.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix.em import dense, driver
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.em.front import SourceRequest, open_source
from gaussmix.kernels import batched
from gaussmix.kernels import compiled as _compiled

pytestmark = pytest.mark.skipif(
    _compiled.library() is None or not hasattr(_compiled.library(), "gm_dense_responsibilities"),
    reason="compiled kernel not built",
)


@pytest.fixture(params=["auto", "narrow", "wide"])
def vector_form(request):
    library = _compiled.library()
    library.gm_set_vector_policy({"auto": 0, "narrow": 1, "wide": 2}[request.param])
    yield request.param
    library.gm_set_vector_policy(0)


def _runs(rng, B, k, d, spread=2.0):
    priors = rng.dirichlet(np.ones(k), size=B)
    means = rng.normal(0, spread, (B, k, d))
    A = rng.normal(size=(B, k, d, d)) * rng.uniform(0.3, 2.0, (B, k, 1, 1))
    covariances = A @ np.swapaxes(A, -1, -2) + 0.3 * np.eye(d)
    return priors, means, covariances


def _kernel_inputs(X, priors, means, covariances):
    shift = X.mean(axis=0)
    chol = np.linalg.cholesky(covariances)
    inverse = np.linalg.inv(chol)
    constants = (
        np.log(priors)
        - np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
        - 0.5 * X.shape[1] * np.log(2 * np.pi)
    )
    return np.ascontiguousarray((X - shift).T), inverse, means - shift, constants


def _scipy(X, priors, means, covariances, weights):
    B, k = priors.shape
    w = np.ones(len(X)) if weights is None else weights
    resp, log_lik = np.empty((B, k, len(X))), np.empty(B)
    for b in range(B):
        joint = np.stack(
            [
                np.log(priors[b, j])
                + multivariate_normal(means[b, j], covariances[b, j]).logpdf(X)
                for j in range(k)
            ]
        )
        total = logsumexp(joint, axis=0)
        resp[b] = w * np.exp(joint - total)
        log_lik[b] = (w * total).sum()
    return resp, log_lik


@pytest.mark.parametrize(
    "n, d, k, B, weighted",
    [(1, 1, 1, 1, False), (37, 2, 3, 4, True), (203, 8, 5, 3, False), (64, 12, 2, 2, True),
     (91, 13, 3, 2, False), (40, 17, 4, 1, True), (250, 5, 9, 5, True)],
)  # fmt: skip
def test_responsibilities_and_log_likelihoods_equal_scipys(vector_form, n, d, k, B, weighted):
    rng = np.random.default_rng(n * d + k)
    X = rng.normal(0, 2, (n, d)) + 5.0
    priors, means, covariances = _runs(rng, B, k, d)
    means += 5.0
    weights = rng.uniform(0, 3, n) * (rng.random(n) > 0.2) if weighted else None
    resp, log_lik, lost = batched.dense_responsibilities(
        *_kernel_inputs(X, priors, means, covariances), weights
    )
    expected_resp, expected_log_lik = _scipy(X, priors, means, covariances, weights)
    assert lost.tolist() == [0] * B
    assert_allclose(resp, expected_resp, rtol=1e-10, atol=1e-13)
    assert_allclose(log_lik, expected_log_lik, rtol=1e-11)
    # the log-likelihoods alone: no responsibilities, the same sums
    none, alone, _ = batched.dense_responsibilities(
        *_kernel_inputs(X, priors, means, covariances), weights, responsibilities=False
    )
    assert none is None
    assert_array_equal(alone, log_lik)


def test_a_run_gets_the_same_numbers_in_any_batch(vector_form):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(203, 6))
    priors, means, covariances = _runs(rng, 4, 3, 6)
    columns, inverse, offsets, constants = _kernel_inputs(X, priors, means, covariances)
    resp, log_lik, _ = batched.dense_responsibilities(columns, inverse, offsets, constants, None)
    for b in range(4):
        one = slice(b, b + 1)
        r, ll, _ = batched.dense_responsibilities(
            columns, inverse[one], offsets[one], constants[one], None
        )
        assert_array_equal(r[0], resp[b])
        assert_array_equal(ll[0], log_lik[b])


def test_runs_with_infinite_or_nan_logits_are_counted_lost_and_the_others_kept(vector_form):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(29, 3))
    priors, means, covariances = _runs(rng, 4, 3, 3)
    columns, inverse, offsets, constants = _kernel_inputs(X, priors, means, covariances)
    constants[1] = -np.inf  # every component impossible
    constants[2, 1] = np.nan  # one NaN component
    constants[3, 0] = np.inf
    resp, log_lik, lost = batched.dense_responsibilities(
        columns, inverse, offsets, constants, None
    )
    assert lost.tolist() == [0, 29, 29, 29]
    expected_resp, expected_log_lik = _scipy(X, priors[:1], means[:1], covariances[:1], None)
    assert_allclose(resp[0], expected_resp[0], rtol=1e-10, atol=1e-13)
    assert_allclose(log_lik[0], expected_log_lik[0], rtol=1e-11)
    assert np.isfinite(log_lik[1:]).all()  # the lost rows add nothing
    # and have no responsibilities, not NaN (exp of a NaN or infinite logit times 0)
    assert (resp[1:] == 0).all()


def test_columns_in_any_layout_or_dtype_are_read_while_alive():
    # F-ordered or float32 columns are copied; the copy must live until the kernel
    # has read it. glibc's M_PERTURB fills freed memory, so a freed copy would show.
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        pytest.skip("no glibc mallopt")
    rng = np.random.default_rng(11)
    X = rng.normal(size=(3000, 4))
    priors, means, covariances = _runs(rng, 2, 3, 4)
    columns, inverse, offsets, constants = _kernel_inputs(X, priors, means, covariances)
    _, expected, _ = batched.dense_responsibilities(columns, inverse, offsets, constants, None)
    if mallopt(-6, 165) != 1:  # M_PERTURB
        pytest.skip("mallopt(M_PERTURB) refused")
    try:
        _, fortran, _ = batched.dense_responsibilities(
            np.asfortranarray(columns), inverse, offsets, constants, None
        )
        _, single, _ = batched.dense_responsibilities(
            columns.astype(np.float32), inverse, offsets, constants, None
        )
    finally:
        mallopt(-6, 0)
    assert_array_equal(fortran, expected)
    assert_allclose(single, expected, rtol=1e-6)


def test_sizes_that_disagree_are_refused():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(20, 3))
    columns, inverse, offsets, constants = _kernel_inputs(X, *_runs(rng, 2, 3, 3))
    for bad in (
        (columns, inverse[:, :2], offsets, constants, None),
        (columns, inverse, offsets[..., :2], constants, None),
        (columns, inverse, offsets, constants, np.ones(19)),
    ):
        with pytest.raises(ValueError, match="need inverse"):
            batched.dense_responsibilities(*bad)


def test_mean_log_likelihoods_rank_states_as_scipy_does():
    rng = np.random.default_rng(9)
    X = rng.normal(0, 3, (500, 4))
    priors, means, covariances = _runs(rng, 3, 2, 4, spread=3.0)
    states = [Gaussians(p, m, c) for p, m, c in zip(priors, means, covariances, strict=True)]
    singular = Gaussians(priors[0], means[0], np.zeros((2, 4, 4)))
    values = dense.mean_log_likelihoods(dense.DenseRows(X, None), [*states, singular])
    _, expected = _scipy(X, priors, means, covariances, None)
    assert_allclose(values[:3], expected / len(X), rtol=1e-11)
    assert values[3] == -np.inf
    assert dense.mean_log_likelihoods(dense.DenseRows(X, None), []).shape == (0,)


@pytest.mark.parametrize("code", ["VVV", "EVE", "VEI", "EII"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dense_em_with_the_kernel_is_numpys_dense_em(monkeypatch, code, weighted):
    # The same EM runs with the kernel's E-step and with numpy's (kernel switched off).
    rng = np.random.default_rng(10)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 1.0, -2.0], [-3.0, 5.0, 2.0]])
    X = centres[rng.integers(0, 3, 300)] + rng.normal(size=(300, 3))
    weights = rng.uniform(0.2, 3.0, 300) if weighted else None
    source = open_source(SourceRequest(X, weights, code, n_components=3))
    family = MaximumLikelihood(code, 1e-6)
    starts = [
        family.start(
            np.full(3, 1 / 3), X[rng.choice(300, 3, replace=False)], np.stack([np.eye(3)] * 3)
        )
        for _ in range(3)
    ]
    rule = driver.convergence_rule(1e-8, None)

    def runs():
        rows = dense.DenseRows(X, weights)
        return dense.run_batch(rows, source, family, starts, n_iter=200, rule=rule)

    if not batched.has_dense_responsibilities():
        pytest.skip("the dense EM takes numpy's path here (no AVX-512)")
    with_kernel = runs()
    monkeypatch.setattr(_compiled, "enabled", False)
    assert not batched.has_dense_responsibilities()
    without = runs()
    for ours, numpys in zip(with_kernel, without, strict=True):
        assert ours.converged and numpys.converged
        assert abs(ours.n_iter - numpys.n_iter) <= 2
        assert ours.lower_bound == pytest.approx(numpys.lower_bound, rel=1e-9)
        for got, expected in zip(ours.state, numpys.state, strict=True):
            assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
