"""Extreme deconvolution (Bovy, Hogg & Roweis 2011): noisy rows with known noise covariances.

References we did not write: astroML 1.0.2's ``XDGMM._EMstep`` (when installed), an
independent row-by-row E-step with scipy.stats.multivariate_normal densities, closed
forms (zero noise is plain EM; one component with shared noise S has V = C - S), and a
Monte Carlo recovery of a known mixture.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix._deconvolution import deconvolve_chunk
from gaussmix._linalg import SMALL_MATRIX_DIM, cholesky_columns, forward_solve_columns
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.em.front import SourceRequest, open_source
from gaussmix.em.noisy import NoisySource


def _random_spd(rng, n, d, scale=1.0):
    A = rng.normal(size=(n, d, d)) * scale
    return A @ np.swapaxes(A, 1, 2) / d + 0.05 * scale**2 * np.eye(d)


def _problem(seed=0, n=200, d=3, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 2.0 + rng.integers(0, 3, n)[:, None] * 3.0
    S = _random_spd(rng, n, d, 0.7)
    priors = rng.dirichlet(np.ones(k) * 3)
    means = X[rng.choice(n, k, replace=False)]
    V = _random_spd(rng, k, d, 1.5)
    return X, S, Gaussians(priors, means, V)


def _reference_step(X, S, start, weights=None):
    """One XD EM step written row by row from Bovy et al. (2011), eq. 16-18."""
    n, d = X.shape
    k = len(start.priors)
    w = np.ones(n) if weights is None else weights
    dens = np.empty((n, k))
    b = np.empty((n, k, d))
    B = np.empty((n, k, d, d))
    for i in range(n):
        for j in range(k):
            T = start.covariances[j] + S[i]
            dens[i, j] = start.priors[j] * multivariate_normal(start.means[j], T).pdf(X[i])
            gain = start.covariances[j] @ np.linalg.inv(T)
            b[i, j] = start.means[j] + gain @ (X[i] - start.means[j])
            B[i, j] = start.covariances[j] - gain @ start.covariances[j]
    q = dens / dens.sum(axis=1, keepdims=True)
    wq = w[:, None] * q
    nk = wq.sum(axis=0)
    means = np.einsum("ij,ijd->jd", wq, b) / nk[:, None]
    V = np.empty((k, d, d))
    for j in range(k):
        dev = b[:, j] - means[j]
        V[j] = (
            np.einsum("i,id,ie->de", wq[:, j], dev, dev)
            + np.einsum("i,ide->de", wq[:, j], B[:, j])
        ) / nk[j]
    log_lik = float(w @ np.log(dens.sum(axis=1)))
    return Gaussians(nk / nk.sum(), means, V), log_lik


def _engine_step(X, S, start, covariance_type="full", weights=None, reg_covar=0.0, chunk=None):
    source = open_source(
        SourceRequest(
            X, weights, covariance_type, len(start.priors), noise_covariances=S, chunk_rows=chunk
        )
    )
    assert isinstance(source, NoisySource)
    family = MaximumLikelihood(covariance_type, reg_covar)
    stats, shift = source.statistics(family.gaussians(start), None, False)
    return family.m_step(stats, shift), stats


@pytest.mark.parametrize("chunk", [None, 7])
def test_one_step_matches_a_row_by_row_reference(chunk):
    X, S, start = _problem()
    expected, log_lik = _reference_step(X, S, start)
    new, stats = _engine_step(X, S, start, chunk=chunk)
    assert stats.log_lik_sum == pytest.approx(log_lik, rel=1e-12)
    assert_allclose(new.priors, expected.priors, rtol=1e-10)
    assert_allclose(new.means, expected.means, rtol=1e-10, atol=1e-12)
    assert_allclose(new.covariances, expected.covariances, rtol=1e-9, atol=1e-12)


def test_one_step_matches_astroml_xdgmm():
    density = pytest.importorskip("astroML.density_estimation")
    X, S, start = _problem(seed=3, n=150, d=2, k=2)
    xd = density.XDGMM(n_components=2, max_iter=1)
    xd.alpha, xd.mu, xd.V = start.priors.copy(), start.means.copy(), start.covariances.copy()
    xd._EMstep(X, S)
    new, _ = _engine_step(X, S, start)
    assert_allclose(new.priors, xd.alpha, rtol=1e-10)
    assert_allclose(new.means, xd.mu, rtol=1e-10, atol=1e-12)
    assert_allclose(new.covariances, xd.V, rtol=1e-9, atol=1e-12)


def test_weights_structures_and_reg_covar_in_one_step():
    X, S, start = _problem(seed=1)
    weights = np.random.default_rng(5).uniform(0.2, 3.0, len(X))
    expected, _ = _reference_step(X, S, start, weights)
    new, _ = _engine_step(X, S, start, weights=weights)
    assert_allclose(new.covariances, expected.covariances, rtol=1e-9)
    # reg_covar is added to the deconvolved covariances V (the units of X).
    regularized, _ = _engine_step(X, S, start, weights=weights, reg_covar=0.5)
    assert_allclose(regularized.covariances, expected.covariances + 0.5 * np.eye(3), rtol=1e-9)
    # Diagonal structure: the diagonals of the full XD M-step.
    diag, _ = _engine_step(X, S, start, covariance_type="diag", weights=weights)
    assert_allclose(
        np.diagonal(diag.covariances, axis1=1, axis2=2),
        np.diagonal(expected.covariances, axis1=1, axis2=2),
        rtol=1e-9,
    )
    # Tied: the responsibility-weighted mean of the components' covariances.
    tied, _ = _engine_step(X, S, start, covariance_type="tied", weights=weights)
    pooled = np.einsum("j,jde->de", expected.priors, expected.covariances)
    assert_allclose(tied.covariances, np.broadcast_to(pooled, tied.covariances.shape), rtol=1e-9)


def test_diagonal_and_shared_noise_equal_their_full_matrices():
    X, _, start = _problem(seed=2)
    rng = np.random.default_rng(0)
    variances = rng.uniform(0.1, 2.0, X.shape)
    as_matrices = np.einsum("nd,de->nde", variances, np.eye(3))
    a, sa = _engine_step(X, variances, start)
    b, sb = _engine_step(X, as_matrices, start)
    assert_allclose(a.covariances, b.covariances, rtol=1e-12)
    assert sa.log_lik_sum == pytest.approx(sb.log_lik_sum, rel=1e-13)
    shared = _random_spd(rng, 1, 3)[0]
    c, sc = _engine_step(X, shared, start)
    e, se = _engine_step(X, np.broadcast_to(shared, (len(X), 3, 3)).copy(), start)
    assert_allclose(c.covariances, e.covariances, rtol=1e-11)
    assert_allclose(c.means, e.means, rtol=1e-11)
    assert sc.log_lik_sum == pytest.approx(se.log_lik_sum, rel=1e-13)
    f, _ = _engine_step(X, shared[None], start)  # (1, d, d) is shared too
    assert_allclose(f.covariances, c.covariances, rtol=1e-13)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "VEV"])
def test_zero_noise_is_plain_em(covariance_type):
    X, _, _ = _problem(seed=4, n=300, d=2)
    options = dict(covariance_type=covariance_type, n_iter=30, tol=None, init_params="kmeans++")
    plain = GMM(3, random_state=0).from_samples(X, **options)
    noisy = GMM(3, random_state=0).from_samples(X, noise_covariances=np.zeros(X.shape), **options)
    assert_allclose(noisy.priors, plain.priors, rtol=1e-7)
    assert_allclose(noisy.means, plain.means, rtol=1e-7, atol=1e-9)
    assert_allclose(noisy.covariances, plain.covariances, rtol=1e-6, atol=1e-9)
    assert noisy.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-9)


def test_one_component_with_shared_noise_subtracts_the_noise():
    rng = np.random.default_rng(7)
    X = rng.multivariate_normal([1.0, -2.0], [[3.0, 1.0], [1.0, 2.0]], size=2000)
    S = np.array([[0.8, 0.3], [0.3, 0.5]])
    gmm = GMM(1, random_state=0).from_samples(
        X, noise_covariances=S, reg_covar=0.0, tol=1e-13, n_iter=2000
    )
    C = np.cov(X.T, bias=True)
    assert_allclose(gmm.means[0], X.mean(axis=0), rtol=1e-10)
    assert_allclose(gmm.covariances[0], C - S, rtol=1e-5)


def test_recovers_a_known_mixture_from_heteroscedastic_correlated_noise():
    # Monte Carlo: 6000 rows; the noise (up to 3x the true spread) is removed to
    # within 0.06 in the means and 0.12 in the covariances (about 4 standard errors).
    rng = np.random.default_rng(11)
    n = 6000
    true_means = np.array([[0.0, 0.0], [4.0, 3.0]])
    true_covs = np.array([[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.2], [-0.2, 0.4]]])
    labels = rng.random(n) < 0.4
    truth = np.where(
        labels[:, None],
        rng.multivariate_normal(true_means[0], true_covs[0], n),
        rng.multivariate_normal(true_means[1], true_covs[1], n),
    )
    S = _random_spd(rng, n, 2, 1.2)
    X = truth + np.einsum("nde,ne->nd", np.linalg.cholesky(S), rng.normal(size=(n, 2)))
    gmm = GMM(2, random_state=1).from_samples(
        X, noise_covariances=S, init_params="kmeans++", n_init=2, tol=1e-7, n_iter=1000
    )
    order = np.argsort(gmm.means[:, 0])
    assert_allclose(gmm.priors[order], [0.4, 0.6], atol=0.03)
    assert_allclose(gmm.means[order], true_means, atol=0.06)
    assert_allclose(gmm.covariances[order], true_covs, atol=0.12)
    plain = GMM(2, random_state=1).from_samples(X, init_params="kmeans++", tol=1e-7)
    # Without deconvolution the components are far too wide.
    assert np.trace(plain.covariances, axis1=1, axis2=2).min() > 2 * np.trace(true_covs[0])


def test_the_log_likelihood_never_decreases_and_callback_and_n_init_work():
    X, S, _ = _problem(seed=8, n=400, d=2)
    seen = []
    gmm = GMM(3, random_state=0).from_samples(
        X,
        noise_covariances=S,
        n_iter=60,
        tol=None,
        n_init=2,
        callback=lambda it, lb, ch, el: seen.append((it, lb)),
    )
    assert len(seen) == 120
    for run in (seen[:60], seen[60:]):
        bounds = np.array([lb for _, lb in run])
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    best = max(seen[59][1], seen[119][1])
    assert gmm.score(X, noise_covariances=S) == pytest.approx(best, rel=1e-3)


def test_integer_weights_equal_repeated_rows():
    X, S, _ = _problem(seed=9, n=120, d=2)
    counts = np.random.default_rng(1).integers(1, 4, len(X))
    options = dict(n_iter=20, tol=None, init_params="kmeans++")
    weighted = GMM(2, random_state=0).from_samples(
        X, noise_covariances=S, sample_weight=counts, **options
    )
    repeated = np.repeat(np.arange(len(X)), counts)
    # k-means++ draws from the rows: start both from the weighted fit's first start.
    start = GMM(2, random_state=0).from_samples(
        X, noise_covariances=S, sample_weight=counts, n_iter=0, init_params="kmeans++"
    )
    a = GMM(2, priors=start.priors, means=start.means, covariances=start.covariances)
    b = GMM(2, priors=start.priors, means=start.means, covariances=start.covariances)
    a.from_samples(X, noise_covariances=S, sample_weight=counts, n_iter=20, tol=None)
    b.from_samples(X[repeated], noise_covariances=S[repeated], n_iter=20, tol=None)
    assert_allclose(a.means, b.means, rtol=1e-9)
    assert_allclose(a.covariances, b.covariances, rtol=1e-8)
    assert weighted.n_iter_ == 20


def test_scores_are_those_of_the_convolved_mixture():
    X, S, start = _problem(seed=10, n=50, d=2, k=2)
    gmm = GMM(2, priors=start.priors, means=start.means, covariances=start.covariances)
    expected = np.log(
        [
            sum(
                start.priors[j]
                * multivariate_normal(start.means[j], start.covariances[j] + S[i]).pdf(X[i])
                for j in range(2)
            )
            for i in range(len(X))
        ]
    )
    assert_allclose(gmm.score_samples(X, noise_covariances=S), expected, rtol=1e-12)
    assert gmm.score(X, noise_covariances=S) == pytest.approx(expected.mean(), rel=1e-12)
    p = gmm._n_parameters()
    assert gmm.bic(X, noise_covariances=S) == pytest.approx(
        -2 * expected.sum() + p * np.log(len(X)), rel=1e-12
    )
    assert gmm.aic(X, noise_covariances=S) == pytest.approx(-2 * expected.sum() + 2 * p, rel=1e-12)
    resp = gmm.to_responsibilities(X, noise_covariances=S)
    assert_allclose(resp.sum(axis=1), 1.0)
    # Zero noise: the plain scores.
    zeros = np.zeros_like(X)
    assert_allclose(gmm.score_samples(X, noise_covariances=zeros), gmm.score_samples(X))
    assert_allclose(
        gmm.to_responsibilities(X, noise_covariances=zeros), gmm.to_responsibilities(X)
    )


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        (np.ones((9, 2)), r"noise_covariances has shape \(9, 2\)"),
        (np.ones((10, 3)), r"noise_covariances has shape \(10, 3\)"),
        (np.ones((10, 2, 3)), r"noise_covariances has shape"),
        (np.ones(10), r"noise_covariances must be 2-D or 3-D"),
        (np.full((10, 2), np.nan), "noise_covariances contains NaN"),
        (np.full((10, 2, 2), np.inf), "noise_covariances contains infinite"),
        (np.array([[1.0, 0.5], [0.2, 1.0]]), "noise_covariances must be symmetric"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "noise_covariances must be positive semi-definite"),
        (-np.ones((10, 2)), "noise_covariances must hold non-negative variances"),
        ("noise", "noise_covariances must contain real numbers"),
    ],
)
def test_hostile_noise_is_refused_with_its_name(noise, message):
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises((ValueError, TypeError), match=message):
        GMM(2).from_samples(X, noise_covariances=noise)


def test_ambiguous_square_noise_nan_rows_and_per_row_psd_are_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 2))
    with pytest.raises(ValueError, match=r"noise_covariances of shape .* is ambiguous"):
        GMM(1).from_samples(X, noise_covariances=np.eye(2))
    GMM(1).from_samples(X, noise_covariances=np.eye(2)[None], n_iter=2)
    X = rng.normal(size=(10, 2))
    S = np.broadcast_to(np.eye(2), (10, 2, 2)).copy()
    S[6] = [[1.0, 3.0], [3.0, 1.0]]
    with pytest.raises(ValueError, match="row 6 has eigenvalue"):
        GMM(1).from_samples(X, noise_covariances=S)
    X[3, 1] = np.nan
    # With allow_missing, NaN entries are fitted (tests/test_projection.py).
    GMM(1).from_samples(X, noise_covariances=np.ones((10, 2)), allow_missing=True, n_iter=2)
    with pytest.raises(ValueError, match="X contains NaN"):
        GMM(1).from_samples(X, noise_covariances=np.ones((10, 2)))
    gmm = GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[np.eye(2)])
    with pytest.raises(ValueError, match=r"noise_covariances has shape \(3, 2\)"):
        gmm.score_samples(np.zeros((4, 2)), noise_covariances=np.ones((3, 2)))


def test_a_translated_data_set_gives_the_translated_fit():
    # Moments are taken about each component's mean: no cancellation far from zero.
    X, S, _ = _problem(seed=12, n=300, d=2)
    options = dict(n_iter=25, tol=None, init_params="kmeans++")
    near = GMM(3, random_state=0).from_samples(X, noise_covariances=S, **options)
    far = GMM(3, random_state=0).from_samples(X + 1e7, noise_covariances=S, **options)
    assert_allclose(far.means - 1e7, near.means, atol=1e-6)
    assert_allclose(far.covariances, near.covariances, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shared", [False, True])
def test_large_dimensions_take_lapack_and_agree_with_the_reference(shared):
    # d > SMALL_MATRIX_DIM: numpy's stacked Cholesky instead of the entry-major one.
    X, S, start = _problem(seed=13, n=40, d=SMALL_MATRIX_DIM + 1, k=2)
    if shared:
        S = np.broadcast_to(S[0], S.shape).copy()
    expected, log_lik = _reference_step(X, S, start)
    new, stats = _engine_step(X, S[0] if shared else S, start)
    assert stats.log_lik_sum == pytest.approx(log_lik, rel=1e-11)
    assert_allclose(new.means, expected.means, rtol=1e-9, atol=1e-11)
    assert_allclose(new.covariances, expected.covariances, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("d", [1, 2, 5, 8])
def test_entry_major_cholesky_and_solve_match_numpy(d):
    rng = np.random.default_rng(d)
    matrices = _random_spd(rng, 30, d)
    rhs = rng.normal(size=(30, d, 3))
    factor, log_det = cholesky_columns(np.moveaxis(matrices, 0, -1))
    expected = np.linalg.cholesky(matrices)
    assert_allclose(np.moveaxis(factor, -1, 0), expected, rtol=1e-12, atol=1e-14)
    assert_allclose(log_det, np.linalg.slogdet(matrices)[1], rtol=1e-12)
    solved = forward_solve_columns(factor, np.moveaxis(rhs, 0, -1))
    assert_allclose(np.moveaxis(solved, -1, 0), np.linalg.solve(expected, rhs), rtol=1e-10)
    matrices[7] = -np.eye(d)
    with pytest.raises(np.linalg.LinAlgError):
        cholesky_columns(np.moveaxis(matrices, 0, -1))


def test_a_singular_convolved_covariance_names_reg_covar():
    X = np.random.default_rng(0).normal(size=(20, 2))
    gmm = GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[np.zeros((2, 2))])
    with pytest.raises(ValueError, match="reg_covar > 0"):
        gmm.from_samples(X, noise_covariances=np.zeros((20, 2)), reg_covar=0.0, n_iter=1)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "EEI"])
def test_diagonal_noise_with_diagonal_components_is_elementwise_and_exact(covariance_type):
    # Diagonal features with (n, d) variances take the element-wise path; the same
    # noise as (n, d, d) matrices takes the matrix path: the two agree.
    X, _, start = _problem(seed=14, n=150, d=3)
    variances = np.random.default_rng(2).uniform(0.1, 2.0, X.shape)
    matrices = np.einsum("nd,de->nde", variances, np.eye(3))
    diagonal = np.einsum("kd,de->kde", np.array([[1.0, 2.0, 3.0]] * 3), np.eye(3))
    start = Gaussians(start.priors, start.means, diagonal)
    a, sa = _engine_step(X, variances, start, covariance_type=covariance_type)
    b, sb = _engine_step(X, matrices, start, covariance_type=covariance_type)
    assert_allclose(a.covariances, b.covariances, rtol=1e-11)
    assert_allclose(a.means, b.means, rtol=1e-11)
    assert sa.log_lik_sum == pytest.approx(sb.log_lik_sum, rel=1e-12)
    gmm = GMM(3, priors=start.priors, means=start.means, covariances=start.covariances)
    assert_allclose(
        gmm.score_samples(X, noise_covariances=variances),
        gmm.score_samples(X, noise_covariances=matrices),
        rtol=1e-12,
    )
    fitted = GMM(3, random_state=0).from_samples(
        X, noise_covariances=variances, covariance_type=covariance_type, n_iter=10, tol=None
    )
    assert np.all(fitted.covariances * (1 - np.eye(3)) == 0)


@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 10), shared=st.booleans())
def test_posteriors_are_the_product_of_two_gaussians(seed, d, shared):
    # Closed form: N(v | mu, V) N(x | v, S) is proportional to N(v | b, B) with
    # B = (V^-1 + S^-1)^-1 and b = B (V^-1 mu + S^-1 x); the marginal is N(x | mu, V + S).
    rng = np.random.default_rng(seed)
    m, k = 5, 3
    X = rng.normal(size=(m, d)) * 3
    S = _random_spd(rng, 1 if shared else m, d)
    means = rng.normal(size=(k, d))
    V = _random_spd(rng, k, d, 1.3)
    log_dens, b, B = deconvolve_chunk(X, S, means, V)
    Vinv, Sinv = np.linalg.inv(V), np.linalg.inv(S)
    expected_B = np.linalg.inv(Vinv[None] + Sinv[:, None])
    assert_allclose(B, expected_B, rtol=1e-7, atol=1e-10)
    assert_allclose(B, np.swapaxes(B, -1, -2), rtol=0, atol=0)
    rows = np.broadcast_to(Sinv[:, None], (m, k, d, d))
    natural = np.einsum("kde,ke->kd", Vinv, means)[None] + np.einsum("mkde,me->mkd", rows, X)
    expected_b = np.einsum("mkde,mke->mkd", np.broadcast_to(expected_B, (m, k, d, d)), natural)
    assert_allclose(b, expected_b, rtol=1e-7, atol=1e-9)
    T = V[None] + S[:, None]
    log_det = np.linalg.slogdet(T)[1]
    diff = X[:, None] - means[None]
    maha = np.einsum("mkd,mkd->mk", diff, np.linalg.solve(T, diff[..., None])[..., 0])
    assert_allclose(log_dens, -0.5 * (d * np.log(2 * np.pi) + log_det + maha), rtol=1e-9)


def test_verbose_reports_the_iterations(capsys):
    X, S, _ = _problem(seed=15, n=100, d=2)
    GMM(2, random_state=0, verbose=2).from_samples(X, noise_covariances=S, n_iter=3, tol=None)
    assert capsys.readouterr().out.count("\n") >= 3
