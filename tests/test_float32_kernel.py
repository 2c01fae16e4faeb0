"""The float32 EM kernel (full features) against the float64 kernel and scipy.

float32 arithmetic in the products, float64 in the sums: the statistics must
agree with float64's to float32's relative precision (a few 1e-7 of their
scale), the log-likelihood with scipy's densities of the float32-rounded rows.
"""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix._gaussian import natural_parameters
from gaussmix.em.estep import e_step, make_e_step_parameters
from gaussmix.kernels import compiled

pytestmark = pytest.mark.skipif(not compiled.has_float32(), reason="float32 kernel not built")


def _problem(seed, n, d, k):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 3, (k, d))
    A = rng.normal(size=(k, d, d))
    covariances = A @ A.transpose(0, 2, 1) + np.eye(d)
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    return X.astype(np.float32), rng.dirichlet(np.ones(k)), means, covariances, rng


@pytest.mark.parametrize(
    "n, d, k", [(1000, 1, 2), (777, 3, 5), (2000, 8, 3), (3001, 16, 17), (501, 13, 33)]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_statistics_equal_the_float64_kernel(n, d, k, weighted):
    X, priors, means, covariances, rng = _problem(n + d + k, n, d, k)
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    shift = X.mean(axis=0, dtype=np.float64)
    theta = natural_parameters(priors, means, covariances, shift, "full")
    previous = natural_parameters(priors, means * 1.05, covariances, shift, "full")
    single = compiled.em_statistics_float32(
        X,
        weights,
        compiled.padded_parameters_float32(theta),
        k,
        shift,
        compiled.padded_parameters_float32(previous),
        True,
    )
    double = compiled.em_statistics(
        X,
        weights,
        compiled.padded_parameters(theta),
        k,
        shift,
        compiled.padded_parameters(previous),
        True,
    )
    scale = np.abs(double[0]).max(axis=1, keepdims=True)
    assert np.max(np.abs(single[0] - double[0]) / scale) < 2e-6
    np.testing.assert_allclose(single[1], double[1], rtol=2e-5, atol=1e-6 * n)
    assert single[2] == pytest.approx(double[2], rel=1e-6)
    assert single[3] == pytest.approx(double[3], rel=1e-12)
    # gmr's R_diff: sum of squared changes of the responsibilities
    assert single[4] == pytest.approx(double[4], rel=1e-4, abs=1e-6)


def test_log_likelihood_equals_scipy_through_the_e_step(monkeypatch):
    monkeypatch.setattr(compiled, "wide_vectors", lambda: True)  # the float32 kernel on any CPU
    X, priors, means, covariances, _ = _problem(5, 1500, 12, 3)
    params = make_e_step_parameters(
        "full",
        (priors, means, covariances),
        None,
        X.mean(axis=0, dtype=np.float64),
        dtype=np.float32,
    )
    assert params.kernel_theta is not None and params.kernel_theta.dtype == np.float32
    stats = e_step(X, None, params)
    rows = X.astype(np.float64)
    density = sum(
        p * multivariate_normal(m, c).pdf(rows)
        for p, m, c in zip(priors, means, covariances, strict=True)
    )
    assert stats.log_lik_sum == pytest.approx(np.log(density).sum(), rel=1e-6)


@pytest.mark.parametrize("tol", [None, "auto"])
@pytest.mark.parametrize("d", [5, 12])
def test_float32_fit_agrees_with_float64(tol, d):
    """Every convergence rule (gmr's R_diff with "auto"), with and without the float32 kernel."""
    X, *_ = _problem(6, 4000, d, 3)
    a = GMM(3, random_state=0).from_samples(X, init_params="kmeans++", tol=tol, dtype=np.float32)
    b = GMM(3, random_state=0).from_samples(X.astype(np.float64), init_params="kmeans++", tol=tol)
    order_a, order_b = np.argsort(a.means[:, 0]), np.argsort(b.means[:, 0])
    np.testing.assert_allclose(a.means[order_a], b.means[order_b], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        a.covariances[order_a], b.covariances[order_b], rtol=1e-3, atol=1e-4
    )


@pytest.mark.parametrize("d", [1, 4, 7, 8, 16])
def test_the_float32_kernel_runs_where_it_is_faster(d):
    """Every width with AVX-512, never elsewhere (bench_float32.py; built for AVX2 the
    float64 kernel is the faster one)."""
    _, priors, means, covariances, _ = _problem(7, 10, d, 2)
    params = make_e_step_parameters(
        "full", (priors, means, covariances), None, np.zeros(d), dtype=np.float32
    )
    single = d >= compiled.float32_min_features()
    assert single == compiled.wide_vectors()
    assert params.kernel_theta is not None
    assert params.kernel_theta.dtype == (np.float32 if single else np.float64)


def exp_nonpositive_float32(x):
    """The float32 kernel's exponential of values <= 0, as its softmax computes it."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    compiled.library().gm_expf_array(x.ctypes.data, x.size, out.ctypes.data)
    return out


def test_float_exponential_within_one_unit_of_numpy():
    """The softmax's float32 exponential: within one float32 unit in the last place of
    numpy's float64 exp, 0 below -86 (under 2e-38: float32's smallest normal numbers),
    NaN kept."""
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            -rng.uniform(0.0, 86.0, 200_003),
            -rng.uniform(0.0, 1.0, 10_000),
            [0.0, -0.0, -1e-30, -np.log(2) / 2, -np.log(2), -85.999, -86.0],
        ]
    ).astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    got = exp_nonpositive_float32(x)
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 1.0
    assert exp_nonpositive_float32(np.float32([0.0]))[0] == 1.0
    tail = exp_nonpositive_float32(np.float32([-86.01, -100.0, -1e30, -np.inf, np.nan]))
    np.testing.assert_array_equal(tail[:4], 0.0)
    assert np.isnan(tail[4])


@pytest.mark.parametrize("weighted", [False, True])
def test_float64_rows_in_the_float32_kernel(weighted):
    """float64 rows (``dtype=np.float32`` on float64 data) are read as they are, shifted in
    float64 and rounded once: the float64 kernel's statistics of the same rows."""
    X, priors, means, covariances, rng = _problem(10, 1237, 14, 6)
    X = X.astype(np.float64) + rng.normal(scale=1e-3, size=X.shape)  # not float32 values
    weights = rng.uniform(0.5, 2.0, len(X)) if weighted else None
    shift = X.mean(axis=0)
    theta = natural_parameters(priors, means, covariances, shift, "full")
    single = compiled.em_statistics_float32(
        X, weights, compiled.padded_parameters_float32(theta), 6, shift, None, True
    )
    double = compiled.em_statistics(
        X, weights, compiled.padded_parameters(theta), 6, shift, None, True
    )
    scale = np.abs(double[0]).max(axis=1, keepdims=True)
    assert np.max(np.abs(single[0] - double[0]) / scale) < 2e-6
    np.testing.assert_allclose(single[1], double[1], rtol=2e-5, atol=1e-6 * len(X))
    assert single[2] == pytest.approx(double[2], rel=1e-6)
    assert single[3] == pytest.approx(double[3], rel=1e-12)


def test_rows_far_from_the_shift_keep_their_precision():
    """y = x - shift is formed in float64 before rounding: data offset by 1e4 give the
    float64 kernel's statistics of the same float32 rows."""
    X, priors, means, covariances, _ = _problem(8, 2000, 12, 4)
    X = (X.astype(np.float64) + 1e4).astype(np.float32)
    means = means + 1e4
    shift = X.mean(axis=0, dtype=np.float64)
    theta = natural_parameters(priors, means, covariances, shift, "full")
    single = compiled.em_statistics_float32(
        X, None, compiled.padded_parameters_float32(theta), 4, shift, None, False
    )
    double = compiled.em_statistics(
        X, None, compiled.padded_parameters(theta), 4, shift, None, False
    )
    scale = np.abs(double[0]).max(axis=1, keepdims=True)
    assert np.max(np.abs(single[0] - double[0]) / scale) < 2e-6
    assert single[2] == pytest.approx(double[2], rel=1e-6)


def test_rows_whose_features_overflow_float32_are_given_back():
    """A row whose squares overflow float32 has no usable logits: the kernel gives the
    call back (None) instead of statistics with inf or NaN in them."""
    X, priors, means, covariances, _ = _problem(9, 100, 4, 2)
    X[37] = 3e19  # squares of 9e38 overflow float32 (max 3.4e38)
    shift = np.zeros(4)
    theta = natural_parameters(priors, means, covariances, shift, "full")
    single = compiled.em_statistics_float32(
        X, None, compiled.padded_parameters_float32(theta), 2, shift, None, False
    )
    assert single is None
    X[37] = 0.0
    assert (
        compiled.em_statistics_float32(
            X, None, compiled.padded_parameters_float32(theta), 2, shift, None, False
        )
        is not None
    )
