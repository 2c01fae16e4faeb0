"""The optional compiled EM kernel (gaussmix.kernels._fused via gaussmix.kernels.compiled).

References: numpy's exp for the kernel's exponential, the numpy statistics
path (gaussmix.em.estep.e_step without the kernel) for the statistics, and whole EM
fits with the kernel switched off.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GMM
from gaussmix._gaussian import natural_parameters
from gaussmix.em.estep import EStepParameters, e_step
from gaussmix.kernels import compiled as _compiled

needs_kernel = pytest.mark.skipif(
    not _compiled.available(), reason="compiled kernel not built (no C compiler?)"
)


def test_kernel_is_built_in_ci():
    # CI installs with a C compiler present: a silent fallback to the numpy
    # path there would leave the kernel untested.
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        assert _compiled.available()


def test_environment_variable_disables_the_kernel():
    code = "from gaussmix.kernels import compiled; print(compiled.available())"
    env = dict(os.environ, GAUSSMIX_DISABLE_COMPILED="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@needs_kernel
def test_exponential_matches_numpy_to_two_ulp(vector_form):
    # The narrow form's exponential (degree-13 polynomial) and the wide form's (a table of
    # 2^(m/16) and a degree-7 polynomial) against numpy's.
    rng = np.random.default_rng(0)
    x = -np.concatenate(
        [
            rng.uniform(0, 700, 200_000),
            rng.uniform(0, 1, 20_000),
            # around the table's steps ln2/16 and the reduction's edges
            np.add.outer(np.log(2) / 32 * np.arange(0, 64), [-1e-12, 0.0, 1e-12]).ravel(),
            [0.0, 700.0, 1e-300, 0.5, 5e-324],
        ]
    )
    ours, ref = _compiled.exp_nonpositive(x), np.exp(x)
    assert np.max(np.abs(ours - ref) / ref) <= 2 * np.finfo(float).eps
    assert _compiled.exp_nonpositive(np.zeros(9))[8] == 1.0
    # Below the floor the kernel clips, like gaussmix._gaussian.softmax_columns; NaN stays.
    tail = _compiled.exp_nonpositive(np.array([-750.0, -1e308, -np.inf, np.nan, -1.0]))
    assert_allclose(tail[:3], np.exp(-700.0), rtol=2 * np.finfo(float).eps)
    assert np.isnan(tail[3]) and tail[4] == pytest.approx(np.exp(-1.0), rel=1e-15)


@needs_kernel
def test_logarithm_matches_numpy_to_a_few_ulp():
    # The softmax's sums lie in [1, k]; the function takes any positive normal number.
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(1, 64, 200_000),
            np.exp(rng.uniform(-700, 700, 100_000)),
            np.nextafter(np.sqrt(2.0), [0.0, 4.0]),
            [1.0, 2.0, 0.5, np.finfo(float).tiny, np.finfo(float).max],
        ]
    )
    ours, ref = _compiled.log_positive(x), np.log(x)
    near_one = np.abs(ref) < 1e-300
    assert np.all(ours[near_one] == 0.0)
    rel = np.abs(ours - ref)[~near_one] / np.abs(ref[~near_one])
    assert np.max(rel) <= 4 * np.finfo(float).eps
    # Near 1, where log(x) is small, the error stays relative to log(x).
    x = 1.0 + rng.uniform(-1e-3, 1e-3, 10_000)
    ours, ref = _compiled.log_positive(x), np.log(x)
    assert np.max(np.abs(ours - ref) / np.abs(ref)) <= 4 * np.finfo(float).eps


def _numpy_statistics(X, weights, theta, shift, theta_prev, need_resp_sq, covariance_type="full"):
    params = EStepParameters(
        covariance_type,
        shift,
        None,
        None,
        None,
        theta=theta,
        theta_previous=theta_prev,
        need_resp_sq=need_resp_sq,
        chunk_rows=64,
    )
    return e_step(np.ascontiguousarray(X), weights, params)


@pytest.fixture(params=["auto", "narrow", "wide"])
def vector_form(request):
    """The kernel's register tiles as the CPU picks them, or forced: the narrow form (32-byte
    vectors, what runs without AVX-512) and the wide one (64-byte vectors and two blocks at
    once, what runs with it) both give the numpy path's statistics on any machine."""
    policy = {"auto": 0, "narrow": 1, "wide": 2}[request.param]
    library = _compiled.library()
    if library is None or not hasattr(library, "gm_set_vector_policy"):
        pytest.skip("compiled kernel not built")
    library.gm_set_vector_policy(policy)
    yield request.param
    library.gm_set_vector_policy(0)


def _random_parameters(rng, k, d, spread=3.0):
    priors = rng.dirichlet(np.ones(k))
    means = rng.normal(0, spread, (k, d))
    A = rng.normal(size=(k, d, d))
    covariances = A @ np.swapaxes(A, 1, 2) / d + 0.3 * np.eye(d)
    return priors, means, covariances


@needs_kernel
@pytest.mark.parametrize("d, k", [(1, 1), (2, 3), (5, 9), (16, 16), (3, 17)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_previous", [False, True])
def test_statistics_equal_numpy_path(d, k, weighted, with_previous, vector_form):
    rng = np.random.default_rng(d * 100 + k)
    n = 203  # not a multiple of the kernel's 8-row blocks
    wide = rng.normal(0, 3, (n, d + 2))
    X = wide[:, 1 : d + 1]  # rows 'd + 2' elements apart: a strided view
    weights = rng.uniform(0.1, 3.0, n) if weighted else None
    shift = X.mean(axis=0)
    theta = natural_parameters(*_random_parameters(rng, k, d), shift, "full")
    theta_prev = (
        natural_parameters(*_random_parameters(rng, k, d), shift, "full")
        if with_previous
        else None
    )
    result = _compiled.em_statistics(
        X,
        weights,
        _compiled.padded_parameters(theta),
        k,
        shift,
        None if theta_prev is None else _compiled.padded_parameters(theta_prev),
        True,
    )
    assert result is not None
    moments, resp_sq, log_lik, weight_sum, change = result
    ref = _numpy_statistics(X, weights, theta, shift, theta_prev, True)
    scale = np.abs(ref.moments).max()
    assert_allclose(moments, ref.moments, rtol=1e-12, atol=1e-13 * scale)
    assert_allclose(resp_sq, ref.resp_sq_sum, rtol=1e-12, atol=1e-12)
    assert log_lik == pytest.approx(ref.log_lik_sum, rel=1e-13)
    assert weight_sum == pytest.approx(ref.weight_sum, rel=1e-14)
    assert change == pytest.approx(ref.resp_change_sq, rel=1e-10, abs=1e-12)


@needs_kernel
@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 24, 197, 203])
@pytest.mark.parametrize("d, k", [(16, 16), (22, 32), (23, 5), (4, 33), (3, 2)])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_statistics_equal_numpy_path_for_any_row_count(n, d, k, covariance_type, vector_form):
    """The kernel takes two 8-row blocks at once, and a last lone block alone: every row
    count, full and partial second blocks."""
    rng = np.random.default_rng(n * 1000 + d * 10 + k)
    X = rng.normal(0, 3, (n, d))
    weights = rng.uniform(0.1, 3.0, n)
    shift = X.mean(axis=0)
    theta = natural_parameters(*_random_parameters(rng, k, d), shift, covariance_type)
    result = _compiled.em_statistics(
        X, weights, _compiled.padded_parameters(theta), k, shift, None, True
    )
    assert result is not None
    moments, resp_sq, log_lik, weight_sum, _ = result
    ref = _numpy_statistics(X, weights, theta, shift, None, True, covariance_type)
    scale = np.abs(ref.moments).max()
    assert_allclose(moments, ref.moments, rtol=1e-12, atol=1e-13 * scale)
    assert_allclose(resp_sq, ref.resp_sq_sum, rtol=1e-12, atol=1e-12)
    assert log_lik == pytest.approx(ref.log_lik_sum, rel=1e-13)
    assert weight_sum == pytest.approx(ref.weight_sum, rel=1e-14)


@needs_kernel
@pytest.mark.parametrize("d", [8, 9, 13, 16, 24, 31])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_statistics_of_rows_inside_a_wider_array(d, covariance_type, vector_form):
    """Rows read where they lie in a wider array (row stride > d): the kernel
    transposes groups of eight columns of eight rows in registers, and takes the
    remaining columns one at a time."""
    rng = np.random.default_rng(d)
    n, k = 203, 6
    wide = rng.normal(2.0, 3.0, (n, d + 5))
    X = wide[:, 3 : 3 + d]
    weights = rng.uniform(0.1, 3.0, n)
    shift = X.mean(axis=0) + rng.normal(0, 0.1, d)
    theta = natural_parameters(*_random_parameters(rng, k, d), shift, covariance_type)
    result = _compiled.em_statistics(
        X, weights, _compiled.padded_parameters(theta), k, shift, None, True
    )
    assert result is not None
    moments, resp_sq, log_lik, weight_sum, _ = result
    ref = _numpy_statistics(
        np.ascontiguousarray(X), weights, theta, shift, None, True, covariance_type
    )
    scale = np.abs(ref.moments).max()
    assert_allclose(moments, ref.moments, rtol=1e-12, atol=1e-13 * scale)
    assert_allclose(resp_sq, ref.resp_sq_sum, rtol=1e-12, atol=1e-12)
    assert log_lik == pytest.approx(ref.log_lik_sum, rel=1e-13)
    assert weight_sum == pytest.approx(ref.weight_sum, rel=1e-14)


@needs_kernel
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_columns", [False, True])
@pytest.mark.parametrize("with_previous", [True, False])
def test_statistics_of_rows_read_in_place_equal_those_of_a_copy(
    covariance_type, dtype, with_columns, with_previous, vector_form
):
    # The kernel's gather form (rows and columns read where they lie) against
    # the numpy path on the gathered copy.
    rng = np.random.default_rng(4)
    n, d_all, k = 301, 7, 5
    X = rng.normal(0, 3, (n, d_all)).astype(dtype)
    rows = rng.choice(n, 157, replace=False)
    columns = np.array([5, 0, 3, 6]) if with_columns else None
    d = d_all if columns is None else columns.size
    block = X[rows] if columns is None else X[rows][:, columns]
    weights = rng.uniform(0.1, 3.0, rows.size)
    shift = block.astype(np.float64).mean(axis=0)
    theta = natural_parameters(*_random_parameters(rng, k, d), shift, covariance_type)
    theta_prev = natural_parameters(*_random_parameters(rng, k, d), shift, covariance_type)
    if not with_previous:  # (then the kernel takes two blocks of rows at once)
        theta_prev = None
    result = _compiled.em_statistics(
        X,
        weights,
        _compiled.padded_parameters(theta),
        k,
        shift,
        None if theta_prev is None else _compiled.padded_parameters(theta_prev),
        True,
        rows=rows,
        columns=columns,
    )
    assert result is not None
    params = EStepParameters(
        covariance_type,
        shift,
        None,
        None,
        None,
        theta=theta,
        theta_previous=theta_prev,
        need_resp_sq=True,
        chunk_rows=64,
    )
    ref = e_step(np.ascontiguousarray(block, dtype=np.float64), weights, params)
    moments, resp_sq, log_lik, weight_sum, change = result
    assert_allclose(moments, ref.moments, rtol=1e-12, atol=1e-13 * np.abs(ref.moments).max())
    assert_allclose(resp_sq, ref.resp_sq_sum, rtol=1e-12, atol=1e-12)
    assert log_lik == pytest.approx(ref.log_lik_sum, rel=1e-13)
    assert weight_sum == pytest.approx(ref.weight_sum, rel=1e-14)
    if with_previous:
        assert change == pytest.approx(ref.resp_change_sq, rel=1e-10, abs=1e-12)


@needs_kernel
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_previous", [False, True])
@pytest.mark.parametrize("spread", [1.0, 1e4])
def test_centred_kernel_equals_numpy_precise_path(
    monkeypatch, covariance_type, weighted, with_previous, spread
):
    # The precise path (moments about each component's mean) with the kernel
    # and on numpy: overlapping components (entropy and change of the
    # responsibilities away from 0) and components far apart relative to
    # their spread; a zero prior; n not a multiple of the 64-row super-blocks.
    from gaussmix.em.estep import _centred_statistics

    rng = np.random.default_rng(int(spread) + 7)
    n, d, k = 1003, 5, 4
    priors, means, covariances = _random_parameters(rng, k, d, spread=spread)
    priors[2] = 0.0
    priors /= priors.sum()
    if covariance_type in ("diag", "spherical"):
        covariances = np.stack([np.diag(np.diag(c)) for c in covariances])
    if covariance_type == "spherical":
        covariances = np.stack([np.eye(d) * np.trace(c) / d for c in covariances])
    if covariance_type == "tied":
        covariances = np.broadcast_to(covariances[0], (k, d, d)).copy()
    X = means[rng.integers(0, k, n)] + rng.normal(size=(n, d))
    weights = rng.uniform(0.1, 2.0, n) if weighted else None
    previous = (np.roll(priors, 1), means + 0.3, 1.2 * covariances) if with_previous else None
    params = EStepParameters(
        covariance_type, means, priors, means, covariances, previous=previous, need_resp_sq=True
    )
    monkeypatch.setattr(_compiled, "wide_vectors", lambda: True)  # the kernel on any CPU
    fast = _centred_statistics(X, weights, params)
    monkeypatch.setattr(_compiled, "enabled", False)
    slow = _centred_statistics(X, weights, params)
    assert_allclose(
        fast.moments, slow.moments, rtol=1e-11, atol=1e-12 * np.abs(slow.moments).max()
    )
    assert_allclose(fast.resp_sq_sum, slow.resp_sq_sum, rtol=1e-11, atol=1e-11)
    assert fast.log_lik_sum == pytest.approx(slow.log_lik_sum, rel=1e-12)
    assert fast.weight_sum == pytest.approx(slow.weight_sum, rel=1e-14)
    assert fast.resp_change_sq == pytest.approx(slow.resp_change_sq, rel=1e-9, abs=1e-11)
    assert fast.resp_entropy == pytest.approx(slow.resp_entropy, rel=1e-9, abs=1e-9)
    if spread == 1.0:
        assert slow.resp_entropy > 1.0
        assert not with_previous or slow.resp_change_sq > 1.0


@needs_kernel
@pytest.mark.parametrize("c", [1, 2, 3, 7])
def test_small_spd_inverses_equal_the_numpy_version_and_invert(monkeypatch, c):
    from gaussmix import _missing

    rng = np.random.default_rng(c)
    B = rng.normal(size=(300, 3, c, c))
    A = B @ np.swapaxes(B, -1, -2) + 0.1 * np.eye(c)
    A[0, 0] = np.outer(np.ones(c), np.ones(c))  # singular for c > 1: the pivot floor
    inverse, log_det = _missing.spd_inverse(A)
    monkeypatch.setattr(_compiled, "enabled", False)
    ref_inverse, ref_log_det = _missing.spd_inverse(A)
    assert_allclose(inverse[1:], ref_inverse[1:], rtol=1e-10, atol=1e-12)
    assert_allclose(log_det[1:], ref_log_det[1:], rtol=1e-12, atol=1e-12)
    assert_allclose(inverse[1:] @ A[1:], np.broadcast_to(np.eye(c), A[1:].shape), atol=1e-9)
    assert_allclose(log_det[1:], np.linalg.slogdet(A[1:])[1], rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(inverse[0])) and np.isfinite(log_det[0, 0])
    assert np.array_equal(inverse, np.swapaxes(inverse, -1, -2))


@needs_kernel
@pytest.mark.parametrize("n", [1, 8, 9, 70])
def test_centred_kernel_ignores_the_lanes_past_the_data(n):
    # Regression (review): the empty lanes of a last block hold zeros, whose
    # logits overflow to NaN for components near 1e300 with large whitening
    # factors; they must not reach the moments of the real rows.
    means = np.array([[1e300, 1e300], [1e300 + 1e290, 1e300]])
    factors = np.array([[[1e10, 0.0], [-1e10, 1e10]]] * 2)
    consts = np.log([0.5, 0.5]) + np.log(1e20) - np.log(2 * np.pi)
    X = np.tile(means[0], (n, 1))
    result = _compiled.centred_statistics(X, None, means, factors, consts, None, False, True)
    assert result is not None
    moments, resp_sq, log_lik, weight_sum, _, _ = result
    assert np.all(np.isfinite(moments)) and np.all(np.isfinite(resp_sq))
    assert_allclose(moments[0, -1], n)  # every row belongs to the first component
    assert weight_sum == n and np.isfinite(log_lik)


@needs_kernel
def test_small_spd_inverses_keep_nan():
    from gaussmix import _missing

    A = np.broadcast_to(2.0 * np.eye(3), (4, 3, 3)).copy()
    A[2, 1, 0] = A[2, 0, 1] = np.nan
    inverse, log_det = _missing.spd_inverse(A)
    assert np.isnan(log_det[2]) and np.isnan(inverse[2]).any()
    assert_allclose(log_det[[0, 1, 3]], 3 * np.log(2.0))


@needs_kernel
def test_overflowing_rows_are_left_to_the_numpy_path():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 2))
    X[3] = 1e200  # its quadratic features overflow to inf
    shift = np.zeros(2)
    theta = natural_parameters(*_random_parameters(rng, 3, 2), shift, "full")
    padded = _compiled.padded_parameters(theta)
    assert _compiled.em_statistics(X, None, padded, 3, shift, None, False) is None
    assert _compiled.em_statistics(X[4:], None, padded, 3, shift, None, False) is not None
    # A NaN logit in a later component (the running maximum skips NaN) is
    # caught too (review finding).
    theta[2, 0] = np.nan
    padded = _compiled.padded_parameters(theta)
    assert _compiled.em_statistics(X[4:], None, padded, 3, shift, None, False) is None


def test_unsuitable_layouts_are_declined():
    X = np.asfortranarray(np.random.default_rng(2).normal(size=(30, 3)))
    theta = natural_parameters(*_random_parameters(np.random.default_rng(3), 2, 3), X[0], "full")
    padded = _compiled.padded_parameters(theta)
    assert _compiled.em_statistics(X, None, padded, 2, X[0], None, False) is None
    X16 = np.ascontiguousarray(X, dtype=np.float16)
    assert _compiled.em_statistics(X16, None, padded, 2, X[0], None, False) is None


@needs_kernel
def test_float32_rows_give_the_float64_statistics_of_the_same_values():
    rng = np.random.default_rng(6)
    X32 = rng.normal(0, 2, (101, 4)).astype(np.float32)
    shift = X32.astype(np.float64).mean(axis=0)
    theta = natural_parameters(*_random_parameters(rng, 5, 4), shift, "full")
    padded = _compiled.padded_parameters(theta)
    from32 = _compiled.em_statistics(X32, None, padded, 5, shift, None, True)
    from64 = _compiled.em_statistics(X32.astype(np.float64), None, padded, 5, shift, None, True)
    for a, b in zip(from32, from64, strict=True):
        assert_allclose(a, b, rtol=0, atol=0)


@needs_kernel
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("criterion", ["tol", "r_diff"])
def test_em_fit_with_and_without_kernel(monkeypatch, covariance_type, criterion):
    rng = np.random.default_rng(4)
    centres = rng.normal(0, 4, (4, 5))
    X = centres[rng.integers(0, 4, 30_000)] + rng.normal(size=(30_000, 5))
    weights = rng.integers(1, 4, X.shape[0]).astype(float)
    options = {"tol": 1e-6} if criterion == "tol" else {"R_diff": 1e-3}
    options.update(n_iter=25, covariance_type=covariance_type, sample_weight=weights)

    def fit():
        return GMM(4, random_state=0).from_samples(X, init_params="kmeans++", **options)

    fast = fit()
    monkeypatch.setattr(_compiled, "enabled", False)
    slow = fit()
    assert fast.n_iter_ == slow.n_iter_
    assert_allclose(fast.priors, slow.priors, rtol=1e-9)
    assert_allclose(fast.means, slow.means, rtol=1e-9, atol=1e-10)
    assert_allclose(fast.covariances, slow.covariances, rtol=1e-9, atol=1e-10)
    assert fast.lower_bound_ == pytest.approx(slow.lower_bound_, rel=1e-12)


@needs_kernel
@pytest.mark.parametrize(
    "d_in, d_out, k", [(1, 1, 1), (2, 3, 4), (4, 4, 16), (3, 8, 9), (2, 9, 3)]
)
def test_predict_covariance_with_and_without_kernel(monkeypatch, d_in, d_out, k):
    # d_out = 9: more outputs than a vector register holds (the kernel takes any d_out).
    rng = np.random.default_rng(d_in * 100 + d_out * 10 + k)
    d = d_in + d_out
    priors, means, covariances = _random_parameters(rng, k, d)
    gmm = GMM(k, priors=priors, means=means, covariances=covariances)
    indices = rng.permutation(d)[:d_in]
    X = rng.normal(0, 3, (20_011, d_in))
    mean, cov = gmm.predict(indices, X, return_covariance=True)
    monkeypatch.setattr(_compiled, "enabled", False)
    ref_mean, ref_cov = gmm.predict(indices, X, return_covariance=True)
    assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-12)
    assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-11 * np.abs(ref_cov).max())
    assert np.array_equal(cov, np.swapaxes(cov, 1, 2))


@needs_kernel
@pytest.mark.parametrize(
    "d_in, d_out, k", [(1, 1, 1), (2, 3, 4), (4, 4, 16), (3, 9, 9), (5, 13, 3), (6, 2, 17)]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_means_with_and_without_kernel(monkeypatch, d_in, d_out, k, dtype):
    rng = np.random.default_rng(d_in * 100 + d_out * 10 + k)
    d = d_in + d_out
    priors, means, covariances = _random_parameters(rng, k, d)
    gmm = GMM(k, priors=priors, means=means, covariances=covariances)
    indices = rng.permutation(d)[:d_in]
    X = rng.normal(0, 3, (20_011, d_in)).astype(dtype)
    mean = gmm.predict(indices, X)
    monkeypatch.setattr(_compiled, "enabled", False)
    ref = gmm.predict(indices, X)
    assert_allclose(mean, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@needs_kernel
def test_predict_means_kernel_against_scipy_densities():
    # Reference: posterior weights from scipy.stats densities of the input
    # marginals and each component's closed-form conditional mean.
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(11)
    k, d_in, d_out = 5, 3, 2
    priors, means, covariances = _random_parameters(rng, k, d_in + d_out)
    gmm = GMM(k, priors=priors, means=means, covariances=covariances)
    X = rng.normal(0, 2, (257, d_in))
    i, o = slice(0, d_in), slice(d_in, None)
    dens = np.stack(
        [
            priors[j] * multivariate_normal(means[j, i], covariances[j, i, i]).pdf(X)
            for j in range(k)
        ],
        axis=1,
    )
    weights = dens / dens.sum(axis=1, keepdims=True)
    cond_means = np.stack(
        [
            means[j, o]
            + (covariances[j, o, i] @ np.linalg.solve(covariances[j, i, i], (X - means[j, i]).T)).T
            for j in range(k)
        ],
        axis=1,
    )
    expected = np.einsum("nk,nko->no", weights, cond_means)
    assert_allclose(gmm.predict(np.arange(d_in), X), expected, rtol=1e-10, atol=1e-12)


@needs_kernel
def test_predict_means_of_far_rows_and_strided_inputs(monkeypatch):
    # Rows whose squared features overflow make the kernel give the chunk back
    # to the numpy path; a column-strided view is declined by the kernel.
    rng = np.random.default_rng(3)
    priors, means, covariances = _random_parameters(rng, 4, 5)
    gmm = GMM(4, priors=priors, means=means, covariances=covariances)
    X = rng.normal(0, 3, (1000, 6))[:, ::2]
    X[7] = [1e170, -1e170, 1e170]
    mean = gmm.predict([0, 1, 2], X)
    monkeypatch.setattr(_compiled, "enabled", False)
    ref = gmm.predict([0, 1, 2], X)
    assert np.all(np.isfinite(mean))
    assert_allclose(mean, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


@needs_kernel
def test_predict_covariance_with_a_weightless_component_far_away(monkeypatch):
    # A component whose outputs lie at 1e200 gets weight 0 for these queries:
    # its squared deviation overflows, and it must add exactly nothing.
    rng = np.random.default_rng(9)
    priors, means, covariances = _random_parameters(rng, 3, 4)
    means[2] = [40.0, 40.0, 1e200, -1e200]
    gmm = GMM(3, priors=priors, means=means, covariances=covariances)
    X = rng.normal(0, 1, (37, 2))
    mean, cov = gmm.predict([0, 1], X, return_covariance=True)
    monkeypatch.setattr(_compiled, "enabled", False)
    ref_mean, ref_cov = gmm.predict([0, 1], X, return_covariance=True)
    assert np.all(np.isfinite(cov)) and np.all(np.isfinite(mean))
    assert_allclose(mean, ref_mean, rtol=1e-12, atol=1e-12)
    assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-11 * np.abs(ref_cov).max())


@pytest.mark.parametrize("use_kernel", [True, False])
def test_predict_covariance_far_from_all_components(monkeypatch, use_kernel):
    # Regression: rows dominated by one component far away (|u| ~ 1e140) got
    # covariances of 1e249 on the numpy path (cancellation of the huge common
    # part) and 3e-4 too large at 1e150 (weights at the softmax's exp(-700)
    # floor times squared deviations of 1e300).
    if use_kernel and not _compiled.available():
        pytest.skip("compiled kernel not built")
    monkeypatch.setattr(_compiled, "enabled", use_kernel and _compiled.enabled)
    rng = np.random.default_rng(5)
    priors, means, covariances = _random_parameters(rng, 3, 3)
    gmm = GMM(3, priors=priors, means=means, covariances=covariances)
    X = np.array([[1e150, -1e150], [3e140, 1e141], [0.0, 0.0]])
    _, cov = gmm.predict([0, 1], X, return_covariance=True)
    assert np.all(np.isfinite(cov))
    # Far away one component takes all the weight: its conditional covariance.
    cond = gmm.condition_batch([0, 1], X[:2])
    dominant = np.argmax(cond.priors, axis=1)
    assert_allclose(cov[:2], cond.covariances[dominant], rtol=1e-9)


@needs_kernel
def test_em_fit_of_float32_data_with_and_without_kernel(monkeypatch):
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 4, (3, 4))
    X = (centres[rng.integers(0, 3, 20_000)] + rng.normal(size=(20_000, 4))).astype(np.float32)

    def fit():
        return GMM(3, random_state=1).from_samples(X, n_iter=15, tol=None)

    fast = fit()
    monkeypatch.setattr(_compiled, "enabled", False)
    slow = fit()
    assert_allclose(fast.means, slow.means, rtol=1e-10, atol=1e-10)
    assert_allclose(fast.covariances, slow.covariances, rtol=1e-9, atol=1e-10)


@needs_kernel
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
@pytest.mark.parametrize("weighted", [False, True])
def test_diagonal_kernel_statistics_equal_numpy_path(monkeypatch, covariance_type, weighted):
    """Issue 14: the kernel's diagonal features [y * y, y, 1] give the numpy path's sums."""
    from gaussmix.em.estep import e_step, make_e_step_parameters
    from gaussmix.em.families import MaximumLikelihood

    assert _compiled.has_diagonal()
    rng = np.random.default_rng(11)
    X = rng.normal(0, 2, (5003, 6)) + 1.0
    w = rng.uniform(0.5, 2.0, X.shape[0]) if weighted else None
    family = MaximumLikelihood(covariance_type, 1e-6)
    covs = np.array([np.diag(rng.uniform(0.5, 2, 6)) for _ in range(5)])
    g = family.start(np.full(5, 0.2), rng.normal(0, 2, (5, 6)), covs)
    prev = family.start(np.full(5, 0.2), rng.normal(0, 2, (5, 6)), covs)
    shift = X.mean(axis=0)
    params = make_e_step_parameters(covariance_type, g, prev, shift, need_resp_sq=True)
    assert params.kernel_theta is not None
    fast = e_step(X, w, params)
    slow = e_step(X, w, params._replace(kernel_theta=None, kernel_theta_previous=None))
    scale = np.abs(slow.moments).max()
    assert_allclose(fast.moments, slow.moments, rtol=1e-11, atol=1e-12 * scale)
    assert_allclose(fast.resp_sq_sum, slow.resp_sq_sum, rtol=1e-11)
    assert fast.log_lik_sum == pytest.approx(slow.log_lik_sum, rel=1e-12)
    assert fast.weight_sum == pytest.approx(slow.weight_sum, rel=1e-13)
    assert fast.resp_change_sq == pytest.approx(slow.resp_change_sq, rel=1e-9)
    assert fast.resp_entropy == pytest.approx(slow.resp_entropy, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_aligned_buffers_start_on_a_cache_line(dtype):
    from gaussmix.kernels.buffers import aligned_zeros

    # numpy's own allocations are 16-byte aligned: most of these would be off a line
    for shape in [1, 7, 8, 153, 3616, (153, 16), (5, 153, 16), (0,), np.int64(9)]:
        buffers = [aligned_zeros(shape, dtype) for _ in range(4)]
        for buffer in buffers:
            assert buffer.size == 0 or buffer.ctypes.data % 64 == 0
            assert buffer.dtype == dtype and buffer.flags.c_contiguous
            assert buffer.shape == ((int(shape),) if np.ndim(shape) == 0 else shape)
            assert not buffer.any()


@needs_kernel
@pytest.mark.parametrize("allow_missing", [False, True])
def test_column_major_input_is_fit_by_the_kernel_as_row_major(allow_missing, monkeypatch):
    """Regression (issue 27 review): Fortran-ordered rows (a DataFrame's values) took the
    numpy path every iteration (3x the time); the front door copies them to C order once,
    so the fit is the row-major input's, bit for bit, and the kernel computes it."""
    from gaussmix import GMM

    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 5)) + np.where(rng.random((3000, 1)) < 0.5, 3.0, -3.0)
    if allow_missing:
        X[rng.random(X.shape) < 0.05] = np.nan
    results = []
    original = _compiled.em_statistics

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        results.append(result is not None)
        return result

    monkeypatch.setattr(_compiled, "em_statistics", recording)
    fits = []
    for rows in (np.ascontiguousarray(X), np.asfortranarray(X)):
        results.clear()
        gmm = GMM(n_components=3, random_state=0).from_samples(
            rows, n_iter=5, allow_missing=allow_missing
        )
        assert results and all(results)
        fits.append(gmm)
    assert np.array_equal(fits[0].means, fits[1].means)
    assert np.array_equal(fits[0].covariances, fits[1].covariances)


@needs_kernel
@pytest.mark.parametrize("return_covariance", [False, True])
def test_column_major_queries_are_predicted_by_the_kernel(return_covariance, monkeypatch):
    """GMR on Fortran-ordered queries: the predict kernels read rows in place only, so the
    queries are copied to rows (they took the numpy path, twice the time); the same
    predictions, bit for bit."""
    from gaussmix import GMM

    if not _compiled.wide_vectors():
        pytest.skip("the predict kernels run only where AVX-512 does")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 5)) + np.where(rng.random((2000, 1)) < 0.5, 2.0, -2.0)
    gmm = GMM(n_components=3, random_state=0).from_samples(X, n_iter=5)
    queries = rng.normal(size=(500, 3))
    name = "predict_moments" if return_covariance else "predict_means"
    done = []
    original = getattr(_compiled, name)

    def recording(*args, **kwargs):
        done.append(original(*args, **kwargs))
        return done[-1]

    monkeypatch.setattr(_compiled, name, recording)
    results = [
        gmm.predict(np.arange(3), rows, return_covariance=return_covariance)
        for rows in (np.ascontiguousarray(queries), np.asfortranarray(queries))
    ]
    assert done and all(done)
    if not return_covariance:
        results = [(result,) for result in results]
    for a, b in zip(results[0], results[1], strict=True):
        assert np.array_equal(a, b)
