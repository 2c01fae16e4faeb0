"""Scores of measured rows: projections, Dask arrays, and the shapes of the noise.

References we did not write: scipy.stats.multivariate_normal densities of the
convolved (and projected) components, N(y_i | R_i mu_j, R_i V_j R_i^T + S_i),
added with scipy.special.logsumexp row by row; BIC and AIC from those totals by
their definitions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM


def _spd(rng, n, d, scale=1.0):
    A = rng.normal(size=(n, d, d)) * scale
    return A @ np.swapaxes(A, 1, 2) / d + 0.2 * scale**2 * np.eye(d)


def _mixture(seed=0, k=3, d=3):
    rng = np.random.default_rng(seed)
    gmm = GMM(
        k,
        priors=rng.dirichlet(np.ones(k) * 3),
        means=rng.normal(size=(k, d)) * 2,
        covariances=_spd(rng, k, d, 1.2),
    )
    gmm.covariance_type_ = "full"
    return gmm, rng


def _as_matrices(S, n, m):
    S = np.asarray(S, dtype=float)
    if S.shape == (1, m, m):
        S = S[0]
    if S.shape == (m, m):
        return np.broadcast_to(S, (n, m, m))
    if S.shape == (n, m):
        return S[:, :, None] * np.eye(m)
    return S


def _reference(gmm, Y, S=None, R=None):
    """log p(y_i) and p(j | y_i) of the projected convolved mixture, with scipy, row by row."""
    n, m = Y.shape
    d = gmm.means.shape[1]
    S = np.zeros((n, m, m)) if S is None else _as_matrices(S, n, m)
    R = np.broadcast_to(np.eye(d), (n, d, d)) if R is None else np.asarray(R)
    if R.ndim == 2:
        R = np.broadcast_to(R, (n, *R.shape))
    terms = np.array(
        [
            [
                np.log(gmm.priors[j])
                + multivariate_normal(
                    R[i] @ gmm.means[j], R[i] @ gmm.covariances[j] @ R[i].T + S[i]
                ).logpdf(Y[i])
                for j in range(gmm.n_components)
            ]
            for i in range(n)
        ]
    )
    log_p = logsumexp(terms, axis=1)
    return log_p, np.exp(terms - log_p[:, None])


def _criteria(gmm, log_p):
    k, d = gmm.n_components, gmm.means.shape[1]
    p = k * d * (d + 1) / 2 + k * d + k - 1
    total = log_p.sum()
    return total / log_p.size, -2 * total + p * np.log(log_p.size), -2 * total + 2 * p


@pytest.mark.parametrize("shape", ["per-row", "shared"])
def test_projected_scores_and_responsibilities_match_scipy(shape):
    gmm, rng = _mixture(seed=1)
    n, m, d = 30, 2, 3
    R = rng.normal(size=(n, m, d)) if shape == "per-row" else rng.normal(size=(m, d))
    S = _spd(rng, n, m, 0.5)
    Y = rng.normal(size=(n, m)) * 3
    log_p, resp = _reference(gmm, Y, S, R)
    assert_allclose(gmm.score_samples(Y, noise_covariances=S, projection=R), log_p, rtol=1e-10)
    resp_ours = gmm.to_responsibilities(Y, noise_covariances=S, projection=R)
    assert_allclose(resp_ours, resp, atol=1e-12)
    # Exact measurements (no noise) of a full-rank map.
    log_p0, resp0 = _reference(gmm, Y, None, R)
    assert_allclose(gmm.score_samples(Y, projection=R), log_p0, rtol=1e-10)
    assert_allclose(gmm.to_responsibilities(Y, projection=R), resp0, atol=1e-12)
    mean, bic, aic = _criteria(gmm, log_p)
    # One measured row of m entries may be 1-D.
    one = gmm.score_samples(Y[3], noise_covariances=S[3:4], projection=R if R.ndim == 2 else R[3])
    assert_allclose(one, log_p[3:4], rtol=1e-10)
    assert gmm.score(Y, noise_covariances=S, projection=R) == pytest.approx(mean, rel=1e-12)
    assert gmm.bic(Y, noise_covariances=S, projection=R) == pytest.approx(bic, rel=1e-12)
    assert gmm.aic(Y, noise_covariances=S, projection=R) == pytest.approx(aic, rel=1e-12)


def test_shared_noise_as_1dd_is_shared_when_rows_equal_features():
    # (1, d, d) with n == d rows once became (d, d) and was read as per-row variances.
    gmm, rng = _mixture(seed=2, d=2)
    X = rng.normal(size=(2, 2))
    S = _spd(rng, 1, 2, 0.7)
    log_p, resp = _reference(gmm, X, S)
    assert_allclose(gmm.score_samples(X, noise_covariances=S), log_p, rtol=1e-10)
    assert_allclose(gmm.to_responsibilities(X, noise_covariances=S), resp, atol=1e-12)
    post = gmm.true_value_posterior(X, S)
    # Shared noise: one posterior covariance per component, V - V (V + S)^-1 V.
    V = gmm.covariances
    expected = V - V @ np.linalg.solve(V + S, V)
    assert_allclose(post.covariances, expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="noise_covariances of shape \\(2, 2\\) is ambiguous"):
        gmm.score_samples(X, noise_covariances=S[0])


def test_one_row_one_feature_noise_is_not_ambiguous():
    gmm = GMM(1, priors=[1.0], means=[[0.5]], covariances=[[[2.0]]])
    expected = multivariate_normal(0.5, 2.0 + 0.25).logpdf(1.5)
    assert gmm.score_samples([[1.5]], noise_covariances=[[0.25]])[0] == pytest.approx(expected)
    # One query of one noisy input: the Gaussian conditional with s_xx + 0.25.
    joint = GMM(1, priors=[1.0], means=[[0.5, -1.0]], covariances=[[[2.0, 0.6], [0.6, 1.0]]])
    mean, cov = joint.predict([0], [[1.5]], return_covariance=True, noise_covariances=[[0.25]])
    assert mean[0, 0] == pytest.approx(-1.0 + 0.6 / 2.25 * 1.0)
    assert cov[0, 0, 0] == pytest.approx(1.0 - 0.6**2 / 2.25)


@pytest.mark.parametrize(
    "noise", ["variances", "matrices", "shared", "shared-1dd", "dask-variances", "dask-matrices"]
)
def test_dask_scores_under_noise_match_scipy(noise):
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=3)
    n, d = 62, 3
    X = rng.normal(size=(n, d)) * 2
    S = {
        "variances": rng.uniform(0.1, 1.0, (n, d)),
        "matrices": _spd(rng, n, d, 0.6),
        "shared": _spd(rng, 1, d, 0.6)[0],
        "shared-1dd": _spd(rng, 1, d, 0.6),
        "dask-variances": da.from_array(rng.uniform(0.1, 1.0, (n, d)), chunks=17),
        "dask-matrices": da.from_array(_spd(rng, n, d, 0.6), chunks=(9, d, d)),
    }[noise]
    dense = np.asarray(S)
    log_p, resp = _reference(gmm, X, dense)
    # Chunks of 20 rows leave a last chunk of 2 and one of d rows would be 3: use both.
    for chunks in (20, 59):
        lazy = da.from_array(X, chunks=chunks)
        scores = gmm.score_samples(lazy, noise_covariances=S)
        assert isinstance(scores, da.Array)
        assert_allclose(scores.compute(), log_p, rtol=1e-10)
        probabilities = gmm.to_responsibilities(lazy, noise_covariances=S)
        assert probabilities.chunks[0] == lazy.chunks[0]
        assert_allclose(probabilities.compute(), resp, atol=1e-12)
        mean, bic, aic = _criteria(gmm, log_p)
        assert gmm.score(lazy, noise_covariances=S) == pytest.approx(mean, rel=1e-12)
        assert gmm.bic(lazy, noise_covariances=S) == pytest.approx(bic, rel=1e-12)
        assert gmm.aic(lazy, noise_covariances=S) == pytest.approx(aic, rel=1e-12)


def test_dask_scores_with_projection_match_scipy():
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=4)
    n, m, d = 45, 2, 3
    R = rng.normal(size=(n, m, d))
    S = rng.uniform(0.1, 0.5, (n, m))
    Y = rng.normal(size=(n, m)) * 2
    log_p, resp = _reference(gmm, Y, S, R)
    lazy = da.from_array(Y, chunks=10)
    for maps, noise in ((R, S), (da.from_array(R, chunks=(7, m, d)), da.from_array(S, chunks=13))):
        assert_allclose(
            gmm.score_samples(lazy, noise_covariances=noise, projection=maps).compute(),
            log_p,
            rtol=1e-10,
        )
        assert_allclose(
            gmm.to_responsibilities(lazy, noise_covariances=noise, projection=maps).compute(),
            resp,
            atol=1e-12,
        )
    shared = rng.normal(size=(m, d))
    log_p, _ = _reference(gmm, Y, None, shared)
    assert_allclose(gmm.score_samples(lazy, projection=shared).compute(), log_p, rtol=1e-10)
    assert gmm.bic(lazy, projection=shared) == pytest.approx(_criteria(gmm, log_p)[1], rel=1e-12)


def test_dask_bic_counts_rows_of_unknown_chunk_sizes():
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=5)
    X = rng.normal(size=(50, 3))
    lazy = da.from_array(X, chunks=16)
    unknown = lazy[lazy[:, 0] > -np.inf]  # all rows, NaN chunk sizes
    S = _spd(rng, 1, 3, 0.5)[0]
    for noise in (None, S):
        log_p, _ = _reference(gmm, X, None if noise is None else S)
        mean, bic, aic = _criteria(gmm, log_p)
        assert gmm.bic(unknown, noise_covariances=noise) == pytest.approx(bic, rel=1e-12)
        assert gmm.aic(unknown, noise_covariances=noise) == pytest.approx(aic, rel=1e-12)
        assert gmm.score(unknown, noise_covariances=noise) == pytest.approx(mean, rel=1e-12)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        gmm.score_samples(unknown, noise_covariances=np.ones((50, 3)))


def test_dask_scores_refuse_bad_noise_and_maps_by_name():
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=6)
    X = rng.normal(size=(40, 3))
    lazy = da.from_array(X, chunks=10)
    with pytest.raises(ValueError, match="noise_covariances has shape"):
        gmm.score_samples(lazy, noise_covariances=np.ones((39, 3)))
    with pytest.raises(ValueError, match="noise_covariances has shape"):
        gmm.score_samples(lazy, noise_covariances=da.ones((40, 2), chunks=10))
    with pytest.raises(TypeError, match="noise_covariances must contain real numbers"):
        gmm.score_samples(lazy, noise_covariances=da.ones((40, 3), chunks=10) * 1j)
    with pytest.raises(ValueError, match="must be symmetric"):
        gmm.score_samples(lazy, noise_covariances=np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]))
    bad = np.ones((40, 3))
    bad[33, 1] = np.nan
    with pytest.raises(ValueError, match="noise_covariances contains NaN"):
        gmm.score_samples(lazy, noise_covariances=da.from_array(bad, chunks=10)).compute()
    with pytest.raises(ValueError, match="projection maps from 2 dimensions"):
        gmm.score_samples(lazy[:, :1], projection=np.ones((40, 1, 2)))
    with pytest.raises(ValueError, match="projection has shape"):
        gmm.score_samples(lazy[:, :1], projection=np.ones((39, 1, 3)))
    with pytest.raises(ValueError, match="but X is not"):
        gmm.score_samples(X, noise_covariances=da.ones((40, 3), chunks=10))
    with pytest.raises(ValueError, match="convolved_log_density takes numpy arrays"):
        gmm.convolved_log_density(lazy, np.ones((40, 3)))


def test_dask_fit_with_a_chunk_of_d_rows_of_variances_equals_in_memory():
    # A last chunk of d rows of (d,) variances once read as one shared (d, d) covariance.
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(52, 2)) + 4])
    S = rng.uniform(0.1, 0.5, X.shape)
    kwargs = dict(init_params="kmeans++", n_iter=20, tol=None)
    memory = GMM(2, random_state=0).from_samples(X, noise_covariances=S, **kwargs)
    lazy = GMM(2, random_state=0).from_samples(
        da.from_array(X, chunks=50), noise_covariances=da.from_array(S, chunks=50), **kwargs
    )
    order = np.argsort(memory.means[:, 0]), np.argsort(lazy.means[:, 0])
    assert_allclose(lazy.means[order[1]], memory.means[order[0]], rtol=1e-8, atol=1e-10)
    with pytest.raises(TypeError, match="noise_covariances must contain real numbers"):
        GMM(2).from_samples(da.from_array(X, chunks=50), noise_covariances=da.from_array(S * 1j))


def test_select_model_on_dask_arrays_deconvolves_and_scores_the_convolved_model():
    # select_model once ignored noise_covariances (and projection) for a Dask X.
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(8)
    n = 400
    V = np.vstack(
        [
            rng.multivariate_normal([-2, 0], [[0.3, 0.1], [0.1, 0.2]], n // 2),
            rng.multivariate_normal([2, 1], [[0.2, 0], [0, 0.4]], n // 2),
        ]
    )
    S = rng.uniform(0.2, 1.0, (n, 2))
    X = V + rng.normal(size=V.shape) * np.sqrt(S)
    kwargs = dict(
        n_components=[1, 2],
        covariance_type=["full", "diag", "spherical"],
        n_init=1,
        random_state=0,
        tol=1e-8,
        n_iter=300,
    )
    from gaussmix import select_model

    memory = select_model(X, noise_covariances=S, **kwargs)
    lazy = select_model(
        da.from_array(X, chunks=128), noise_covariances=da.from_array(S, chunks=100), **kwargs
    )
    for row_memory, row_lazy in zip(memory.table, lazy.table, strict=True):
        assert row_lazy["bic"] == pytest.approx(row_memory["bic"], rel=1e-9)
        model = lazy.models[(row_lazy["n_components"], row_lazy["covariance_type"])]
        log_p, _ = _reference(model, X, S)
        k = row_lazy["n_components"]
        per_component = {"full": 3, "diag": 2, "spherical": 1}[row_lazy["covariance_type"]]
        p = k * per_component + k * 2 + k - 1
        assert row_lazy["bic"] == pytest.approx(-2 * log_p.sum() + p * np.log(n), rel=1e-9)
    # Each covariance type's candidates deconvolve with that type's E-step.
    spherical = lazy.models[(2, "spherical")].covariances
    assert_allclose(spherical, np.eye(2) * spherical[:, :1, :1], atol=1e-12)
    # (a Dask array with a projection: test_noisy_scale.py)


def test_scikit_learn_estimator_scores_dask_arrays_under_noise_lazily():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture

    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 4])
    S = rng.uniform(0.1, 0.5, X.shape)
    estimator = GaussianMixture(2, random_state=0).fit(X, noise_covariances=S)
    model = estimator.to_gmm()
    log_p, resp = _reference(model, X, S)
    lazy = da.from_array(X, chunks=50)
    scores = estimator.score_samples(lazy, noise_covariances=da.from_array(S, chunks=50))
    assert isinstance(scores, da.Array)
    assert_allclose(scores.compute(), log_p, rtol=1e-10)
    probabilities = estimator.predict_proba(lazy, noise_covariances=S)
    assert isinstance(probabilities, da.Array)
    assert_allclose(probabilities.compute(), resp, atol=1e-12)
    assert estimator.score(lazy, noise_covariances=S) == pytest.approx(log_p.mean(), rel=1e-12)
    p = 2 * 3 + 2 * 2 + 1
    assert estimator.bic(lazy, noise_covariances=S) == pytest.approx(
        -2 * log_p.sum() + p * np.log(120), rel=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 7),
    d=st.integers(1, 3),
    chunk=st.integers(1, 7),
    form=st.sampled_from(["variances", "matrices", "shared", "shared-1dd"]),
    lazy_noise=st.booleans(),
)
def test_any_rows_chunks_and_noise_form_score_as_scipy(seed, n, d, chunk, form, lazy_noise):
    # Chunks of n == d rows, one-row chunks and n == d data are where the noise's
    # shape was misread; in memory and on Dask every form must give scipy's density.
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=seed % 1000, k=2, d=d)
    X = rng.normal(size=(n, d)) * 2
    S = {
        "variances": rng.uniform(0.05, 1.0, (n, d)),
        "matrices": _spd(rng, n, d, 0.5),
        "shared": _spd(rng, 1, d, 0.5)[0],
        "shared-1dd": _spd(rng, 1, d, 0.5),
    }[form]
    if form == "shared" and n == d > 1:
        with pytest.raises(ValueError, match="ambiguous"):
            gmm.score_samples(X, noise_covariances=S)
        return
    if form == "variances" and n == d > 1:
        S = S[:, :, None] * np.eye(d)  # (n, d) would be ambiguous: pass the matrices
    log_p, resp = _reference(gmm, X, S)
    assert_allclose(gmm.score_samples(X, noise_covariances=S), log_p, rtol=1e-9)
    assert_allclose(gmm.to_responsibilities(X, noise_covariances=S), resp, atol=1e-10)
    noise = S
    if lazy_noise and not form.startswith("shared"):
        noise = da.from_array(S, chunks=(max(1, chunk - 1), *S.shape[1:]))
    lazy = da.from_array(X, chunks=(chunk, -1))
    assert_allclose(gmm.score_samples(lazy, noise_covariances=noise).compute(), log_p, rtol=1e-9)


@pytest.mark.parametrize("form", ["variances", "matrices", "shared", "dask"])
def test_dask_regression_on_noisy_inputs_is_the_conditional_with_inflated_inputs(form):
    # Reference: per component the Gaussian conditional with Sigma_xx + S_i (explicit
    # inverses), weighted by scipy densities N(x | mu_x, Sigma_xx + S_i); the mixture's
    # mean and covariance by the law of total covariance.
    da = pytest.importorskip("dask.array")
    gmm, rng = _mixture(seed=10, k=2, d=3)
    n, given, out = 23, np.array([2, 0]), np.array([1])
    X = rng.normal(size=(n, 2)) * 2
    S = {
        "variances": rng.uniform(0.1, 1.0, (n, 2)),
        "matrices": _spd(rng, n, 2, 0.5),
        "shared": _spd(rng, 1, 2, 0.5)[0],
        "dask": rng.uniform(0.1, 1.0, (n, 2)),
    }[form]
    dense = _as_matrices(S, n, 2)
    means, covs = np.empty((n, 1)), np.empty((n, 1, 1))
    for i in range(n):
        w, m_j, c_j = [], [], []
        for j in range(2):
            mu, V = gmm.means[j], gmm.covariances[j]
            T = V[np.ix_(given, given)] + dense[i]
            gain = V[np.ix_(out, given)] @ np.linalg.inv(T)
            w.append(gmm.priors[j] * multivariate_normal(mu[given], T).pdf(X[i]))
            m_j.append(mu[out] + gain @ (X[i] - mu[given]))
            c_j.append(V[np.ix_(out, out)] - gain @ V[np.ix_(given, out)])
        w = np.array(w) / np.sum(w)
        means[i] = w @ np.array(m_j)
        spread = np.array(m_j) - means[i]
        covs[i] = np.einsum("j,jab->ab", w, np.array(c_j)) + np.einsum(
            "j,ja,jb->ab", w, spread, spread
        )
    noise = da.from_array(S, chunks=5) if form == "dask" else S
    lazy = da.from_array(X, chunks=(7, -1))
    mean_only = gmm.predict(given, lazy, noise_covariances=noise)
    assert isinstance(mean_only, da.Array)
    assert_allclose(mean_only.compute(), means, rtol=1e-9, atol=1e-12)
    mean, cov = gmm.predict(given, lazy, return_covariance=True, noise_covariances=noise)
    assert_allclose(mean.compute(), means, rtol=1e-9, atol=1e-12)
    assert_allclose(cov.compute(), covs, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="but X is not"):
        gmm.predict(given, X, noise_covariances=da.from_array(S))
