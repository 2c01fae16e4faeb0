"""Extreme deconvolution with projections R_i and with missing entries under noise.

The data are y_i = R_i v_i + e_i (Bovy, Hogg & Roweis 2011, eq. 5). References we did
not write: a row-by-row EM step from the paper's eq. 16-18 with scipy.stats densities and
explicit inverses (any m_i per row, so the missing-entry case is its selection matrix),
the missing-data EM of Ghahramani & Jordan (gaussmix's MissingValuesSource, an
independent implementation) for zero noise, the no-projection XD source for R_i = I,
and a Monte Carlo recovery of a known mixture from one-dimensional projections.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.em.front import SourceRequest, open_source
from gaussmix.em.projected import ProjectedSource


def _spd(rng, n, d, scale=1.0):
    A = rng.normal(size=(n, d, d)) * scale
    return A @ np.swapaxes(A, 1, 2) / d + 0.1 * scale**2 * np.eye(d)


def _start(rng, k, d):
    return Gaussians(
        rng.dirichlet(np.ones(k) * 3), rng.normal(size=(k, d)) * 2, _spd(rng, k, d, 1.5)
    )


def _reference_step(rows, start, weights=None):
    """One XD step row by row; ``rows`` is a list of (y_i, R_i, S_i) of any m_i."""
    k, d = start.means.shape
    n = len(rows)
    w = np.ones(n) if weights is None else weights
    dens, b, B = np.empty((n, k)), np.empty((n, k, d)), np.empty((n, k, d, d))
    for i, (y, R, S) in enumerate(rows):
        for j in range(k):
            V, mu = start.covariances[j], start.means[j]
            T = R @ V @ R.T + S
            dens[i, j] = start.priors[j] * multivariate_normal(R @ mu, T).pdf(y)
            gain = V @ R.T @ np.linalg.inv(T)
            b[i, j] = mu + gain @ (y - R @ mu)
            B[i, j] = V - gain @ R @ V
    q = w[:, None] * dens / dens.sum(axis=1, keepdims=True)
    nk = q.sum(axis=0)
    means = np.einsum("ij,ijd->jd", q, b) / nk[:, None]
    V = np.empty((k, d, d))
    for j in range(k):
        dev = b[:, j] - means[j]
        V[j] = (
            np.einsum("i,id,ie->de", q[:, j], dev, dev) + np.einsum("i,ide->de", q[:, j], B[:, j])
        ) / nk[j]
    return Gaussians(nk / nk.sum(), means, V), float(w @ np.log(dens.sum(axis=1)))


def _engine_step(X, start, *, S=None, R=None, weights=None, allow_missing=False, chunk=None):
    source = open_source(
        SourceRequest(
            X,
            weights,
            "full",
            len(start.priors),
            allow_missing=allow_missing,
            noise_covariances=S,
            projection=R,
            chunk_rows=chunk,
        )
    )
    assert isinstance(source, ProjectedSource)
    family = MaximumLikelihood("full", 0.0)
    stats, shift = source.statistics(family.gaussians(start), None, False)
    return family.m_step(stats, shift), stats


def _check(new, stats, expected, log_lik):
    assert stats.log_lik_sum == pytest.approx(log_lik, rel=1e-11)
    assert_allclose(new.priors, expected.priors, rtol=1e-10)
    assert_allclose(new.means, expected.means, rtol=1e-9, atol=1e-11)
    assert_allclose(new.covariances, expected.covariances, rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("m, d", [(1, 3), (2, 3), (4, 2), (3, 3)])
@pytest.mark.parametrize("chunk", [None, 7])
def test_per_row_projections_match_a_row_by_row_reference(m, d, chunk):
    rng = np.random.default_rng(m * 10 + d)
    n, k = 90, 3
    R = rng.normal(size=(n, m, d))
    S = _spd(rng, n, m, 0.5)
    Y = rng.normal(size=(n, m)) * 3
    weights = rng.uniform(0.2, 2.0, n)
    start = _start(rng, k, d)
    expected, log_lik = _reference_step(list(zip(Y, R, S, strict=True)), start, weights)
    _check(*_engine_step(Y, start, S=S, R=R, weights=weights, chunk=chunk), expected, log_lik)


@pytest.mark.parametrize("noise", ["shared", "variances", "none"])
def test_a_shared_projection_matches_the_reference(noise):
    rng = np.random.default_rng(5)
    n, m, d, k = 80, 2, 3, 2
    R = rng.normal(size=(m, d))
    S = {
        "shared": _spd(rng, 1, m, 0.5)[0],
        "variances": rng.uniform(0.1, 1.0, (n, m)),
        "none": None,
    }[noise]
    Y = rng.normal(size=(n, m)) * 2
    start = _start(rng, k, d)
    per_row = {
        "shared": [S] * n,
        "variances": [np.diag(s) for s in S] if noise == "variances" else None,
        "none": [np.zeros((m, m))] * n,
    }[noise]
    expected, log_lik = _reference_step(
        [(y, R, s) for y, s in zip(Y, per_row, strict=True)], start
    )
    # As (m, d) and as (1, m, d).
    _check(*_engine_step(Y, start, S=S, R=R), expected, log_lik)
    _check(*_engine_step(Y, start, S=S, R=R[None]), expected, log_lik)


@pytest.mark.parametrize("noise", ["matrices", "variances", "shared"])
def test_missing_entries_under_noise_are_the_selection_projection(noise):
    rng = np.random.default_rng(11)
    n, d, k = 70, 3, 2
    X = rng.normal(size=(n, d)) * 2
    X[rng.random((n, d)) < 0.3] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    S = {
        "matrices": _spd(rng, n, d, 0.4),
        "variances": rng.uniform(0.1, 1.0, (n, d)),
        "shared": _spd(rng, 1, d, 0.4)[0],
    }[noise]
    if noise == "variances":
        full = np.stack([np.diag(s) for s in S])
    else:
        full = np.broadcast_to(S, (n, d, d))
    rows = []
    for x, s in zip(X, full, strict=True):
        o = ~np.isnan(x)
        rows.append((x[o], np.eye(d)[o], s[np.ix_(o, o)]))
    start = _start(rng, k, d)
    expected, log_lik = _reference_step(rows, start)
    _check(*_engine_step(X, start, S=S, allow_missing=True, chunk=11), expected, log_lik)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "VEV"])
def test_missing_entries_with_zero_noise_are_the_missing_data_em(covariance_type):
    rng = np.random.default_rng(3)
    n, d, k = 400, 3, 2
    X = np.vstack([rng.normal(-2, 1, (n // 2, d)), rng.normal(2, 0.7, (n // 2, d))])
    X[rng.random(X.shape) < 0.25] = np.nan
    X[5] = np.nan  # a row with nothing observed is ignored by both
    weights = rng.uniform(0.5, 2, n)
    start = dict(priors=[0.5, 0.5], means=[[-1.0, 0, 0], [1.0, 0, 0]], covariances=[np.eye(d)] * 2)
    options = dict(
        allow_missing=True,
        n_iter=8,
        tol=None,
        covariance_type=covariance_type,
        sample_weight=weights,
    )
    plain = GMM(k, **start).from_samples(X, **options)
    noisy = GMM(k, **start).from_samples(X, noise_covariances=np.zeros((n, d)), **options)
    assert_allclose(noisy.priors, plain.priors, rtol=1e-10)
    assert_allclose(noisy.means, plain.means, rtol=1e-10, atol=1e-12)
    assert_allclose(noisy.covariances, plain.covariances, rtol=1e-9, atol=1e-12)
    assert noisy.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied", "VEV", "EEI"])
def test_identity_projection_is_the_xd_without_projection(covariance_type):
    rng = np.random.default_rng(8)
    n, d, k = 300, 2, 2
    X = rng.normal(size=(n, d)) + rng.integers(0, 2, n)[:, None] * 4
    S = rng.uniform(0.1, 0.6, (n, d))
    start = dict(priors=[0.5, 0.5], means=[[0.0, 0], [4.0, 4]], covariances=[np.eye(d)] * 2)
    plain = GMM(k, **start).from_samples(
        X, noise_covariances=S, n_iter=10, tol=None, covariance_type=covariance_type
    )
    for R in (np.eye(d), np.broadcast_to(np.eye(d), (n, d, d))):
        projected = GMM(k, **start).from_samples(
            X,
            noise_covariances=S,
            projection=R,
            n_iter=10,
            tol=None,
            covariance_type=covariance_type,
        )
        assert_allclose(projected.covariances, plain.covariances, rtol=1e-9)
        assert_allclose(projected.means, plain.means, rtol=1e-9, atol=1e-12)


def test_recovers_a_known_mixture_from_one_dimensional_projections():
    # Each true 2-D value is seen only along one random direction, with noise.
    rng = np.random.default_rng(0)
    n = 6000
    means = np.array([[-3.0, 0.0], [3.0, 1.0]])
    covs = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, -0.2], [-0.2, 0.8]]])
    labels = rng.random(n) < 0.4
    V = np.where(
        labels[:, None],
        rng.multivariate_normal(means[0], covs[0], n),
        rng.multivariate_normal(means[1], covs[1], n),
    )
    angles = rng.uniform(0, np.pi, n)
    R = np.stack([np.cos(angles), np.sin(angles)], axis=1)[:, None, :]  # (n, 1, 2)
    S = rng.uniform(0.05, 0.3, (n, 1))
    Y = np.einsum("nmd,nd->nm", R, V) + rng.normal(size=(n, 1)) * np.sqrt(S)
    gmm = GMM(2, means=[[-1.0, 0], [1.0, 0]], random_state=0).from_samples(
        Y, projection=R, noise_covariances=S, n_iter=300, tol=1e-9
    )
    order = np.argsort(gmm.means[:, 0])
    # Standard errors of these moments from n/2 rows seen in one direction are
    # ~0.03-0.05; the tolerances are about 4 of them.
    assert_allclose(gmm.priors[order], [0.4, 0.6], atol=0.04)
    assert_allclose(gmm.means[order], means, atol=0.15)
    assert_allclose(gmm.covariances[order], covs, atol=0.25)


def test_the_likelihood_never_decreases_with_projections():
    rng = np.random.default_rng(2)
    n = 500
    R = rng.normal(size=(n, 2, 3))
    Y = rng.normal(size=(n, 2)) * 2 + rng.integers(0, 2, n)[:, None] * 5
    S = rng.uniform(0.1, 0.5, (n, 2))
    history = []
    GMM(3, random_state=1).from_samples(
        Y,
        projection=R,
        noise_covariances=S,
        n_iter=40,
        tol=None,
        callback=lambda it, ll, ch, el: history.append(ll),
    )
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:]))


def test_float32_rows_and_maps_are_accepted_and_computed_in_float64():
    rng = np.random.default_rng(4)
    n = 200
    R = rng.normal(size=(2, 3))
    Y = rng.normal(size=(n, 2))
    start = dict(priors=[1.0], means=[[0.0, 0, 0]], covariances=[np.eye(3)])
    a = GMM(1, **start).from_samples(
        Y, projection=R, noise_covariances=np.full((n, 2), 0.5), n_iter=3, tol=None
    )
    b = GMM(1, **start).from_samples(
        Y.astype(np.float32),
        projection=R.astype(np.float32),
        noise_covariances=np.full((n, 2), 0.5, np.float32),
        n_iter=3,
        tol=None,
    )
    assert b.covariances.dtype == np.float64
    assert_allclose(b.covariances, a.covariances, rtol=1e-5)


@pytest.mark.parametrize(
    "projection, message",
    [
        (np.ones((5, 3)), r"projection has shape \(5, 3\) for X of shape \(40, 2\)"),
        (np.ones((39, 2, 3)), r"projection has shape \(39, 2, 3\)"),
        (np.ones((2, 0)), "zero dimensions"),
        (np.full((2, 3), np.nan), "projection"),
        (np.ones((2, 2, 2, 2)), "projection"),
        ("R", "projection"),
    ],
)
def test_bad_projections_are_refused_with_their_name(projection, message):
    Y = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises((ValueError, TypeError), match=message):
        GMM(2).from_samples(Y, projection=projection)


def test_noise_in_the_measured_space_nan_rows_and_singular_maps_are_refused():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(40, 2))
    R = rng.normal(size=(2, 3))
    with pytest.raises(ValueError, match=r"noise_covariances has shape \(40, 3\)"):
        GMM(2).from_samples(Y, projection=R, noise_covariances=np.ones((40, 3)))
    Y_nan = Y.copy()
    Y_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="missing values together with a projection"):
        GMM(2).from_samples(Y_nan, projection=R, allow_missing=True)
    # Two equal rows of R: R V R^T is singular without noise.
    with pytest.raises(ValueError, match="not positive definite"):
        GMM(1).from_samples(Y, projection=np.ones((2, 3)), n_iter=2, reg_covar=1e-6)


def test_scores_with_a_projection_are_the_projected_convolved_density():
    rng = np.random.default_rng(12)
    n, m, d, k = 40, 2, 3, 2
    start = _start(rng, k, d)
    gmm = GMM(k, priors=start.priors, means=start.means, covariances=start.covariances)
    R = rng.normal(size=(n, m, d))
    S = _spd(rng, n, m, 0.5)
    Y = rng.normal(size=(n, m)) * 2
    expected = np.array(
        [
            np.log(
                sum(
                    p * multivariate_normal(Ri @ mu, Ri @ V @ Ri.T + Si).pdf(y)
                    for p, mu, V in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
                )
            )
            for y, Ri, Si in zip(Y, R, S, strict=True)
        ]
    )
    log_density, log_resp = gmm.convolved_log_density(Y, S, projection=R)
    assert_allclose(log_density, expected, rtol=1e-10)
    assert_allclose(np.exp(log_resp).sum(axis=1), 1.0)
    assert gmm.score(Y, noise_covariances=S, projection=R) == pytest.approx(expected.mean())
    p = (k - 1) + k * d + k * d * (d + 1) // 2  # priors, means, full covariances
    assert gmm.bic(Y, noise_covariances=S, projection=R) == pytest.approx(
        -2 * expected.sum() + p * np.log(n)
    )
    assert gmm.aic(Y, noise_covariances=S, projection=R) == pytest.approx(
        -2 * expected.sum() + 2 * p
    )


def test_select_model_with_projections_scores_the_projected_model():
    from gaussmix import select_model

    rng = np.random.default_rng(13)
    n = 800
    R = rng.normal(size=(n, 2, 3))
    V = rng.normal(size=(n, 3)) + rng.integers(0, 2, n)[:, None] * 5
    S = rng.uniform(0.1, 0.4, (n, 2))
    Y = np.einsum("nmd,nd->nm", R, V) + rng.normal(size=(n, 2)) * np.sqrt(S)
    result = select_model(
        Y,
        noise_covariances=S,
        projection=R,
        n_components=[1, 2],
        covariance_type="full",
        random_state=0,
        n_init=1,
    )
    for row in result.table:
        model = result.models[(row["n_components"], row["covariance_type"])]
        assert model.means.shape[1] == 3
        assert row["bic"] == pytest.approx(
            model.bic(Y, noise_covariances=S, projection=R), rel=1e-10
        )


def test_threads_and_chunks_do_not_change_the_projected_fit():
    rng = np.random.default_rng(14)
    n = 500
    R = rng.normal(size=(n, 2, 3))
    Y = rng.normal(size=(n, 2)) * 2 + rng.integers(0, 2, n)[:, None] * 4
    S = rng.uniform(0.1, 0.5, (n, 2))
    options = dict(projection=R, noise_covariances=S, n_iter=5, tol=None)
    start = dict(priors=[0.5, 0.5], means=[[0.0, 0, 0], [1.0, 1, 1]], covariances=[np.eye(3)] * 2)
    one = GMM(2, **start).from_samples(Y, n_jobs=1, **options)
    many = GMM(2, **start).from_samples(Y, n_jobs=2, chunk_size=17, **options)
    assert_allclose(many.covariances, one.covariances, rtol=1e-10)
    assert_allclose(many.means, one.means, rtol=1e-10, atol=1e-12)
