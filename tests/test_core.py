"""The pure array functions of the math core against references.

References: scipy.stats (densities, chi2), scipy.special.logsumexp, numpy.linalg,
closed-form Gaussian conditionals (Schur complement, Bishop 2006 eqs. 2.81-2.82),
Monte Carlo moments with 5-standard-error tolerances.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

from gaussmix import _gaussian, _linalg
from gaussmix.utils import check_random_state
from helpers import random_spd

_spd = random_spd


def _params(seed, k, d):
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.ones(k))
    means = rng.normal(0.0, 2.0, size=(k, d))
    covs = np.array([_spd(rng, d) for _ in range(k)])
    return priors, means, covs, rng


seeds = st.integers(0, 2**32 - 1)
ks = st.integers(1, 5)
dims = st.integers(1, 5)


def _scipy_logpdf(X, means, covs):
    return np.stack(
        [stats.multivariate_normal(m, c).logpdf(X) for m, c in zip(means, covs, strict=True)],
        axis=-1,
    ).reshape(len(X), len(means))


# --------------------------------------------------------------------------- linear algebra


@given(seed=seeds, k=ks, d=dims)
def test_cholesky_logdet_precision_inverse(seed, k, d):
    _, _, covs, _ = _params(seed, k, d)
    chol = _linalg.safe_cholesky(covs)
    assert chol.shape == (k, d, d)
    assert_allclose(chol, np.linalg.cholesky(covs), rtol=1e-12, atol=1e-14)
    assert_allclose(np.triu(chol, 1), 0.0)
    assert_allclose(_linalg.log_det_from_cholesky(chol), np.linalg.slogdet(covs)[1], rtol=1e-10)
    prec = _linalg.precisions_from_cholesky(chol)
    assert_allclose(prec, np.linalg.inv(covs), rtol=1e-8, atol=1e-10)
    inv_chol = _linalg.inverse_cholesky(chol)
    assert_allclose(inv_chol @ chol, np.broadcast_to(np.eye(d), (k, d, d)), atol=1e-10)


def test_safe_cholesky_regularizes_singular_matrices():
    v = np.array([1.0, 2.0, -1.0])
    singular = np.stack([np.outer(v, v), np.zeros((3, 3)), np.eye(3)])
    chol = _linalg.safe_cholesky(singular)
    assert np.all(np.isfinite(chol))
    assert np.all(np.diagonal(chol, axis1=1, axis2=2) > 0)
    rebuilt = chol @ np.swapaxes(chol, 1, 2)
    # The perturbation is a small multiple of the identity (documented rule:
    # delta = max(0, 1e-10 * scale - lambda_min), grown by 10x until it works).
    delta = rebuilt - singular
    for j, scale in enumerate([np.dot(v, v), 1.0]):
        assert_allclose(delta[j], delta[j][0, 0] * np.eye(3), atol=1e-12 * scale)
        assert 0 < delta[j][0, 0] < 1e-5 * scale
    # A matrix that factorizes is left untouched.
    assert_allclose(rebuilt[2], np.eye(3), atol=0)


def test_safe_cholesky_rejects_nan():
    """Regression: NaN input used to come back as a factor with NaN entries."""
    with pytest.raises(ValueError):
        _linalg.safe_cholesky(np.array([[[1.0, np.nan], [np.nan, 1.0]]]))


@given(seed=seeds, d=dims)
def test_sqrtm_psd_and_symmetrize(seed, d):
    _, _, covs, rng = _params(seed, 1, d)
    root = _linalg.sqrtm_psd(covs[0])
    assert_allclose(root, root.T, atol=1e-12)
    assert_allclose(root @ root, covs[0], rtol=1e-8, atol=1e-10)
    A = rng.normal(size=(2, d, d))
    assert_allclose(_linalg.symmetrize(A), (A + np.swapaxes(A, 1, 2)) / 2)


def test_sqrtm_psd_clips_negative_eigenvalues():
    M = np.diag([4.0, -1e-12])
    assert_allclose(_linalg.sqrtm_psd(M), np.diag([2.0, 0.0]), atol=1e-6)


# --------------------------------------------------------------------------- densities


@given(seed=seeds, k=ks, d=dims)
def test_component_log_densities_equal_scipy(seed, k, d):
    _, means, covs, rng = _params(seed, k, d)
    X = rng.normal(0.0, 3.0, size=(6, d))
    chol = np.linalg.cholesky(covs)
    out = _gaussian.component_log_densities(X, means, chol)
    assert out.shape == (6, k)
    assert_allclose(out, _scipy_logpdf(X, means, covs), rtol=1e-10, atol=1e-10)
    zeros = np.zeros((1, d))
    expected_norm = _scipy_logpdf(zeros, np.zeros((k, d)), covs)[0]
    assert_allclose(_gaussian.log_normalizers(chol), expected_norm, rtol=1e-10)


@given(seed=seeds, k=ks, d=dims)
def test_squared_mahalanobis_equals_scipy_cdist(seed, k, d):
    _, means, covs, rng = _params(seed, k, d)
    X = rng.normal(size=(5, d))
    out = _gaussian.squared_mahalanobis(X, means, np.linalg.cholesky(covs))
    assert out.shape == (5, k)
    for j in range(k):
        ref = cdist(X, means[j : j + 1], "mahalanobis", VI=np.linalg.inv(covs[j]))[:, 0] ** 2
        assert_allclose(out[:, j], ref, rtol=1e-9, atol=1e-12)


@given(
    log_w=st.lists(
        st.lists(st.floats(-1e5, 1e3), min_size=3, max_size=3),
        min_size=1,
        max_size=5,
    )
)
def test_normalize_log_weights_is_logsumexp(log_w):
    log_w = np.array(log_w)
    log_norm, log_resp = _gaussian.normalize_log_weights(log_w)
    # max + log(sum of exps): an error of a few ulp of the sum (1 + tiny), so absolute
    # near 0 (hypothesis found [0, -10, -11]: 6.20997023262e-05 vs 6.20997023263e-05)
    reference = logsumexp(log_w, axis=1)
    scale = np.maximum(1.0, np.maximum(np.abs(reference), np.abs(log_w.max(axis=1))))
    assert np.all(np.abs(log_norm - reference) <= 1e-12 * scale)
    assert_allclose(np.exp(log_resp).sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(log_norm))


def test_normalize_log_weights_all_minus_inf_row_is_uniform():
    """Regression: -inf - (-inf) raised 'RuntimeWarning: invalid value in subtract'."""
    log_w = np.array([[-np.inf, -np.inf], [0.0, np.log(3.0)]])
    log_norm, log_resp = _gaussian.normalize_log_weights(log_w)
    assert log_norm[0] == -np.inf
    assert_allclose(np.exp(log_resp), [[0.5, 0.5], [0.25, 0.75]])


@given(seed=seeds, k=ks, d=dims)
def test_mixture_log_density_and_responsibilities(seed, k, d):
    priors, means, covs, rng = _params(seed, k, d)
    X = rng.normal(0.0, 3.0, size=(7, d))
    log_dens, log_resp = _gaussian.mixture_log_density(X, priors, means, np.linalg.cholesky(covs))
    log_joint = np.log(priors) + _scipy_logpdf(X, means, covs)
    ref = logsumexp(log_joint, axis=1)
    assert_allclose(log_dens, ref, rtol=1e-10)
    assert_allclose(log_resp, log_joint - ref[:, None], rtol=1e-8, atol=1e-9)


def test_whitening_operators_stack_all_components():
    _, means, covs, rng = _params(0, 3, 2)
    chol = np.linalg.cholesky(covs)
    W, b = _gaussian.whitening_operators(means, chol)
    assert W.shape == (2, 6)
    assert b.shape == (6,)
    X = rng.normal(size=(4, 2))
    Z = X @ W - b
    for j in range(3):
        expected = np.linalg.solve(chol[j], (X - means[j]).T).T
        assert_allclose(Z[:, 2 * j : 2 * j + 2], expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- conditioning


def _closed_form(priors, means, covs, in_idx, out_idx, x):
    w, m, c = [], [], []
    for p, mu, s in zip(priors, means, covs, strict=True):
        coef = s[np.ix_(out_idx, in_idx)] @ np.linalg.inv(s[np.ix_(in_idx, in_idx)])
        m.append(mu[out_idx] + coef @ (x - mu[in_idx]))
        c.append(s[np.ix_(out_idx, out_idx)] - coef @ s[np.ix_(in_idx, out_idx)])
        w.append(
            np.log(p) + stats.multivariate_normal(mu[in_idx], s[np.ix_(in_idx, in_idx)]).logpdf(x)
        )
    w = np.array(w)
    return w - logsumexp(w), logsumexp(w), np.array(m), np.array(c)


@settings(max_examples=15)
@given(seed=seeds, k=ks, d=st.integers(2, 5), data=st.data())
def test_batched_conditioning_equals_closed_form(seed, k, d, data):
    priors, means, covs, rng = _params(seed, k, d)
    n_in = data.draw(st.integers(1, d - 1))
    perm = rng.permutation(d)
    in_idx, out_idx = np.sort(perm[:n_in]), np.sort(perm[n_in:])
    X_in = rng.normal(0.0, 2.0, size=(4, n_in))
    cond = _gaussian.make_conditioner(means, covs, in_idx, out_idx)
    cmeans = _gaussian.conditional_means(X_in, cond)
    log_w, log_marg = _gaussian.conditional_log_weights(X_in, priors, cond)
    mean, cov = _gaussian.predict_conditional(X_in, priors, cond, return_covariance=True)
    assert cmeans.shape == (4, k, len(out_idx))
    assert log_w.shape == (4, k)
    assert mean.shape == (4, len(out_idx))
    assert cov.shape == (4, len(out_idx), len(out_idx))
    for i, x in enumerate(X_in):
        ref_w, ref_marg, ref_m, ref_c = _closed_form(priors, means, covs, in_idx, out_idx, x)
        assert_allclose(cmeans[i], ref_m, rtol=1e-8, atol=1e-10)
        assert_allclose(np.exp(log_w[i]), np.exp(ref_w), rtol=1e-7, atol=1e-12)
        assert log_marg[i] == pytest.approx(ref_marg, rel=1e-9)
        w = np.exp(ref_w)
        ref_mean = w @ ref_m
        diff = ref_m - ref_mean
        ref_cov = np.einsum("k,kij->ij", w, ref_c + np.einsum("ki,kj->kij", diff, diff))
        assert_allclose(mean[i], ref_mean, rtol=1e-8, atol=1e-10)
        assert_allclose(cov[i], ref_cov, rtol=1e-7, atol=1e-10)
    mean_only, no_cov = _gaussian.predict_conditional(X_in, priors, cond)
    assert_allclose(mean_only, mean)
    assert no_cov is None


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("alpha", [0.05, 0.6827, 0.999])
def test_truncated_chi2_radii_distribution(d, alpha):
    rng = check_random_state(d)
    r = _gaussian.truncated_chi2_radii(rng, 3000, d, alpha)
    assert r.shape == (3000,)
    bound = stats.chi2(d).ppf(alpha)
    assert np.all(r >= 0)
    assert np.all(r**2 <= bound * (1 + 1e-12))
    cdf = lambda t: stats.chi2(d).cdf(np.minimum(t, bound)) / alpha  # noqa: E731
    assert stats.kstest(r**2, cdf).pvalue > 1e-3


@pytest.mark.parametrize("d", [1, 2, 3, 6])
def test_uniform_directions_moments(d):
    n = 20_000
    U = _gaussian.uniform_directions(check_random_state(10 + d), n, d)
    assert U.shape == (n, d)
    assert_allclose(np.linalg.norm(U, axis=1), 1.0, rtol=1e-12)
    # For a uniform direction, E[u] = 0 and E[u u^T] = I / d; Var(u_i) = 1 / d.
    assert np.all(np.abs(U.mean(axis=0)) < 5 * np.sqrt(1.0 / d / n))
    second = U.T @ U / n
    products = np.einsum("ni,nj->nij", U, U)
    se = products.std(axis=0) / np.sqrt(n) + 1e-12
    assert np.all(np.abs(second - np.eye(d) / d) < 5 * se + 1e-12)


def test_sample_components_is_affine_map():
    _, means, covs, rng = _params(1, 3, 2)
    chol = np.linalg.cholesky(covs)
    labels = np.array([0, 2, 1, 2, 0])
    Z = rng.normal(size=(5, 2))
    X = _gaussian.sample_components(check_random_state(0), means, chol, labels, Z)
    expected = means[labels] + np.einsum("nij,nj->ni", chol[labels], Z)
    assert_allclose(X, expected, rtol=1e-12)


def test_confidence_region_samples_per_label():
    _, means, covs, _ = _params(2, 2, 3)
    chol = np.linalg.cholesky(covs)
    labels = np.repeat([0, 1], 1500)
    alpha = 0.5
    X = _gaussian.confidence_region_samples(check_random_state(3), means, chol, labels, alpha)
    assert X.shape == (3000, 3)
    bound = stats.chi2(3).ppf(alpha)
    for j in range(2):
        Xj = X[labels == j]
        r2 = np.einsum("ni,ij,nj->n", Xj - means[j], np.linalg.inv(covs[j]), Xj - means[j])
        assert np.all(r2 <= bound * (1 + 1e-9))
        cdf = lambda t: stats.chi2(3).cdf(np.minimum(t, bound)) / alpha  # noqa: E731
        assert stats.kstest(r2, cdf).pvalue > 1e-3


# --------------------------------------------------------------------------- unscented transform


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize(("alpha", "beta", "kappa"), [(1e-3, 2.0, 0.0), (0.5, 2.0, 1.0)])
def test_unscented_weights_and_points(d, alpha, beta, kappa):
    """Julier & Uhlmann: lambda = alpha^2 (d + kappa) - d, W0m = lambda / (d + lambda)."""
    w_mean, w_cov = _gaussian.unscented_weights(d, alpha, beta, kappa)
    lmbda = alpha**2 * (d + kappa) - d
    assert len(w_mean) == len(w_cov) == 2 * d + 1
    assert w_mean[0] == pytest.approx(lmbda / (d + lmbda))
    assert w_cov[0] == pytest.approx(lmbda / (d + lmbda) + 1 - alpha**2 + beta)
    assert_allclose(w_mean[1:], 1 / (2 * (d + lmbda)))
    assert_allclose(w_cov[1:], 1 / (2 * (d + lmbda)))
    assert np.sum(w_mean) == pytest.approx(1.0)
    _, means, covs, _ = _params(d, 1, d)
    pts = _gaussian.gaussian_sigma_points(means[0], covs[0], alpha, kappa)
    assert pts.shape == (2 * d + 1, d)
    assert_allclose(np.asarray(w_mean) @ pts, means[0], atol=1e-8)
    centered = pts - means[0]
    assert_allclose(centered.T @ (np.asarray(w_cov)[:, None] * centered), covs[0], rtol=1e-6)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_predict_covariance_over_many_chunks_equals_centred_path(n_jobs):
    # Regression test for the chunked covariance path (one GEMM per output
    # dimension, weights along contiguous rows, per-row products on strided
    # views): several full chunks, a partial last chunk and two thread blocks
    # must agree with the per-component formulation of the law of total
    # covariance (mixture_moments).
    priors, means, covs, rng = _params(3, 7, 8)
    in_idx, out_idx = np.array([0, 2, 5]), np.array([1, 3, 4, 6, 7])
    cond = _gaussian.make_conditioner(means, covs, in_idx, out_idx)
    X_in = rng.normal(0.0, 2.0, size=(40_003, 3))
    mean, cov = _gaussian.predict_conditional(
        X_in, priors, cond, return_covariance=True, n_jobs=n_jobs
    )
    ref_mean, ref_cov = _gaussian._predict_conditional_centred(X_in, priors, cond, True)
    assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-9)
    assert_allclose(cov, ref_cov, rtol=1e-9, atol=1e-9)
    assert_allclose(cov, np.swapaxes(cov, 1, 2), rtol=0, atol=1e-12)
