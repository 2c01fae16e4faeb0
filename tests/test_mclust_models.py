"""mclust's 14 covariance models (Celeux & Govaert 1995) against references written here
independently of gaussmix.covariance: a brute-force numerical minimization of the M-step's
objective over each model's parameters, closed forms, Celeux & Govaert's parameter counts,
the structure of fitted covariances, and EM's monotone likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.optimize import minimize

from gaussmix import GMM, covariance

CODES = (
    "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
    "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
)  # fmt: skip


def _scatter(seed: int, k: int = 3, d: int = 3, n: int = 120):
    """Scatter matrices W_k and sums n_k of fixed soft responsibilities of skewed data."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.integers(0, 3, (n, 1)) * 3.0
    resp = rng.dirichlet(np.full(k, 0.7), size=n)
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    dev = X[None] - means[:, None]
    return np.einsum("nk,kni,knj->kij", resp, dev, dev), nk


def _objective(scatter, nk, covs):
    """sum_k n_k ln|Sigma_k| + tr(W_k Sigma_k^-1), written out."""
    logdet = np.linalg.slogdet(covs)[1]
    return float(nk @ logdet + np.trace(np.linalg.solve(covs, scatter), axis1=1, axis2=2).sum())


def _rotation(values, d):
    """The Cayley transform (I - S)^-1 (I + S) of a skew-symmetric S: an orthogonal matrix."""
    S = np.zeros((d, d))
    S[np.triu_indices(d, 1)] = values
    S -= S.T
    return np.linalg.solve(np.eye(d) - S, np.eye(d) + S)


def _model(code: str, k: int, d: int):
    """Number of free values and a map values -> (k, d, d) covariances lambda_k D_k A_k D_k^T."""
    volume, shape, orientation = code
    n_vol = 1 if volume == "E" else k
    n_shape = {"I": 0, "E": d - 1, "V": k * (d - 1)}[shape]
    n_rot = {"I": 0, "E": d * (d - 1) // 2, "V": k * d * (d - 1) // 2}[orientation]

    def covariances(theta):
        log_vol = np.broadcast_to(theta[:n_vol], (k,))
        rest = theta[n_vol:]
        if shape == "I":
            log_shape = np.zeros((k, d))
        else:
            free = rest[:n_shape].reshape(-1, d - 1)
            log_shape = np.broadcast_to(
                np.hstack([free, -free.sum(axis=1, keepdims=True)]), (k, d)
            )
        rot = rest[n_shape:].reshape(-1, d * (d - 1) // 2) if orientation != "I" else None
        covs = np.empty((k, d, d))
        for j in range(k):
            D = np.eye(d) if rot is None else _rotation(rot[j % len(rot)], d)
            covs[j] = np.exp(log_vol[j]) * (D * np.exp(log_shape[j])) @ D.T
        return covs

    return n_vol + n_shape + n_rot, covariances


def _brute_force(code, scatter, nk, starts=3, seed=0):
    """The smallest objective BFGS finds over the model's parameters, from several starts."""
    k, d, _ = scatter.shape
    size, covariances = _model(code, k, d)
    rng = np.random.default_rng(seed)
    best = np.inf
    for _ in range(starts):
        theta = rng.normal(scale=0.5, size=size)
        theta[: (1 if code[0] == "E" else k)] += np.log(np.trace(scatter.sum(0)) / nk.sum() / d)
        result = minimize(
            lambda t: _objective(scatter, nk, covariances(t)),
            theta,
            method="BFGS",
            options={"gtol": 1e-7, "maxiter": 5000},
        )
        best = min(best, result.fun)
    return best


def _estimate(code, scatter, nk, reg_covar=0.0):
    structure = covariance.get(code)
    given_scatter = scatter if structure.quadratic else np.einsum("kii->ki", scatter)
    return structure.estimate(given_scatter, nk, reg_covar)


@pytest.mark.parametrize("code", CODES)
def test_m_step_reaches_the_brute_force_minimum(code):
    scatter, nk = _scatter(1)
    ours = _objective(scatter, nk, _estimate(code, scatter, nk))
    reference = _brute_force(code, scatter, nk)
    # Never worse than the optimizer, and the optimizer finds no better point.
    assert ours <= reference + 1e-6 * abs(reference)
    assert ours == pytest.approx(reference, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("code", ["VEI", "VEE", "EVE", "VVE", "VEV"])
def test_iterative_m_steps_at_a_stationary_point(code):
    # A second problem, four components in four dimensions: no direction of
    # the model's own parameters lowers the objective at the M-step's result.
    scatter, nk = _scatter(7, k=4, d=4, n=200)
    ours = _objective(scatter, nk, _estimate(code, scatter, nk))
    assert ours <= _brute_force(code, scatter, nk, starts=2, seed=1) + 1e-6 * abs(ours)


def test_closed_forms():
    scatter, nk = _scatter(2)
    k, d, _ = scatter.shape
    n = nk.sum()
    diag = np.einsum("kii->ki", scatter)
    # EII: tr(W) / (n d) I; EEI: diag(W) / n.
    assert_allclose(
        _estimate("EII", scatter, nk),
        np.trace(scatter.sum(0)) / (n * d) * np.eye(d)[None].repeat(k, 0),
    )
    assert_allclose(_estimate("EEI", scatter, nk), np.diag(diag.sum(0) / n)[None].repeat(k, 0))
    # EVI: A_k = diag(W_k) / |diag(W_k)|^(1/d), lambda = sum_k |diag(W_k)|^(1/d) / n.
    g = np.prod(diag, axis=1) ** (1 / d)
    evi = np.array([np.diag(g.sum() / n * w / gk) for w, gk in zip(diag, g, strict=True)])
    assert_allclose(_estimate("EVI", scatter, nk), evi, rtol=1e-12)
    # EVV: lambda W_k / |W_k|^(1/d), lambda = sum_k |W_k|^(1/d) / n.
    g = np.linalg.det(scatter) ** (1 / d)
    assert_allclose(
        _estimate("EVV", scatter, nk), g.sum() / n * scatter / g[:, None, None], rtol=1e-10
    )
    # EEV: W_k's eigenvectors with the pooled eigenvalues sum_k Omega_k / n.
    values, vectors = np.linalg.eigh(scatter)
    pooled = values.sum(0) / n
    eev = np.array([(V * pooled) @ V.T for V in vectors])
    assert_allclose(_estimate("EEV", scatter, nk), eev, rtol=1e-10)


# Celeux & Govaert (1995), Table 1 (and section 3.2-3.3): free parameters
# of the covariances, beta = d (d + 1) / 2, for K components in d dimensions.
def _celeux_govaert(code, K, d):
    beta = d * (d + 1) // 2
    return {
        "EII": 1, "VII": K, "EEI": d, "VEI": d + K - 1, "EVI": K * d - K + 1, "VVI": K * d,
        "EEE": beta, "VEE": beta + K - 1, "EVE": beta + (K - 1) * (d - 1),
        "VVE": beta + (K - 1) * d, "EEV": K * beta - (K - 1) * d,
        "VEV": K * beta - (K - 1) * (d - 1), "EVV": K * beta - (K - 1), "VVV": K * beta,
    }[code]  # fmt: skip


@pytest.mark.parametrize("code", CODES)
def test_parameter_counts(code):
    for K in range(1, 10):
        for d in range(1, 7):
            structure = covariance.get(code)
            assert structure.n_parameters(K, d) == _celeux_govaert(code, K, d), (K, d)
            assert (
                structure.n_mixture_parameters(K, d) == _celeux_govaert(code, K, d) + K * d + K - 1
            )


def test_mclust_published_count_iris_vev_two():
    # mclust's summary of iris, VEV with 2 components: df = 26 (d = 4).
    assert covariance.get("VEV").n_mixture_parameters(2, 4) == 26
    assert covariance.get("VVV").n_mixture_parameters(2, 4) == 29


def _volumes(covs):
    return np.exp(np.linalg.slogdet(covs)[1] / covs.shape[-1])


def _shapes_and_axes(covs):
    values, vectors = np.linalg.eigh(covs)
    return values[:, ::-1] / _volumes(covs)[:, None], vectors[:, :, ::-1]


def _same_axes(a, b):
    # Orientations agree up to the sign of each axis.
    return np.allclose(np.abs(np.sum(a * b, axis=0)), 1.0, atol=1e-6)


def _check_structure(code, covs):
    volume, shape, orientation = code
    d = covs.shape[-1]
    assert_allclose(covs, np.swapaxes(covs, 1, 2), atol=1e-12)
    assert (np.linalg.eigvalsh(covs) > 0).all()
    vols = _volumes(covs)
    shapes, axes = _shapes_and_axes(covs)
    if volume == "E":
        assert_allclose(vols, vols[0], rtol=1e-8)
    if shape == "I":
        assert_allclose(shapes, 1.0, rtol=1e-8)
    if shape == "E":
        assert_allclose(shapes, shapes[0][None].repeat(len(covs), 0), rtol=1e-6)
    if orientation == "I":
        assert_allclose(covs * (1 - np.eye(d)), 0.0, atol=1e-14)
    if orientation == "E" and shape != "I":
        # Shared axes: every covariance is diagonal in the first one's eigenbasis.
        basis = axes[0]
        rotated = np.swapaxes(basis, 0, 1) @ covs @ basis
        off = rotated * (1 - np.eye(d))
        assert np.abs(off).max() <= 1e-8 * np.abs(rotated).max()


@pytest.fixture(scope="module")
def four_clusters():
    rng = np.random.default_rng(5)
    centres = np.array([[0, 0, 0], [6, 0, 1], [0, 7, -2], [5, 6, 4]], dtype=float)
    parts = [
        rng.multivariate_normal(c, np.diag([1.0, 0.3, 2.0]) * s + 0.2, size=120)
        for c, s in zip(centres, (0.5, 1.0, 1.5, 2.0), strict=True)
    ]
    return np.vstack(parts)


@pytest.mark.parametrize("code", CODES)
def test_fits_keep_the_structure_and_em_is_monotone(code, four_clusters):
    trace = []
    gmm = GMM(4, random_state=0).from_samples(
        four_clusters,
        covariance_type=code,
        init_params="kmeans++",
        reg_covar=1e-4,
        tol=1e-10,
        n_iter=200,
        callback=lambda i, ll, change, t: trace.append(ll),
    )
    _check_structure(code, gmm.covariances)
    # EM never lowers the likelihood (reg_covar penalizes it a little; the
    # penalty is tiny here, so allow a rounding-sized slack).
    steps = np.diff(trace)
    assert (steps >= -1e-9 * np.abs(trace[1:])).all(), steps.min()
    assert covariance.canonical(code) == gmm.covariance_type_


@pytest.mark.parametrize("code", CODES)
def test_reg_covar_keeps_the_structure(code):
    scatter, nk = _scatter(3)
    # A collapsed component: its scatter is rank one.
    v = np.array([1.0, 2.0, -1.0])
    scatter[1] = np.outer(v, v) * 1e-3
    covs = _estimate(code, scatter, nk, reg_covar=1e-2)
    _check_structure(code, covs)
    assert np.linalg.eigvalsh(covs).min() > 1e-3


@pytest.mark.parametrize("code", CODES)
def test_reg_covar_zero_works(code, four_clusters):
    gmm = GMM(4, random_state=1).from_samples(
        four_clusters, covariance_type=code, init_params="kmeans++", reg_covar=0.0, n_iter=30
    )
    assert np.isfinite(gmm.covariances).all()
    _check_structure(code, gmm.covariances)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), d=st.integers(1, 4))
def test_m_steps_and_projections_are_spd_and_idempotent(seed, k, d):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, d, d + 2))
    scatter = A @ np.swapaxes(A, 1, 2)
    nk = rng.uniform(3.0, 20.0, size=k)
    priors = nk / nk.sum()
    for code in CODES:
        structure = covariance.get(code)
        covs = _estimate(code, scatter, nk, reg_covar=1e-6)
        assert covs.shape == (k, d, d)
        assert_allclose(covs, np.swapaxes(covs, 1, 2), atol=1e-12 * np.abs(covs).max())
        assert (np.linalg.eigvalsh(covs) > 0).all()
        projected = structure.project(covs, priors)
        assert_allclose(projected, covs, rtol=1e-5, atol=1e-9 * np.abs(covs).max())
        compact = structure.to_compact(projected)
        assert compact.shape == structure.compact_shape(k, d)
        assert_allclose(structure.from_compact(compact, k, d), projected)


@pytest.mark.parametrize("code", ["VEI", "VEE", "EVE", "VVE", "VEV"])
def test_warm_started_m_step_never_worse_than_the_previous_parameters(code):
    # A generalized M-step: from any covariances of the model's form, the
    # (capped) iterations only lower the objective.
    structure = covariance.get(code)
    for seed in range(5):
        scatter, nk = _scatter(10 + seed, k=4, d=4, n=200)
        rng = np.random.default_rng(seed)
        A = rng.normal(size=(4, 4, 4))
        previous = structure.project(A @ np.swapaxes(A, 1, 2) + np.eye(4), nk / nk.sum())
        given = scatter if structure.quadratic else np.einsum("kii->ki", scatter)
        warm = structure.estimate(given, nk, 0.0, previous=previous)
        assert _objective(scatter, nk, warm) <= _objective(scatter, nk, previous) + 1e-9
        cold = structure.estimate(given, nk, 0.0)
        assert _objective(scatter, nk, warm) <= _objective(scatter, nk, cold) + 1e-3 * abs(
            _objective(scatter, nk, cold)
        )


@pytest.mark.parametrize("code", CODES)
def test_reg_covar_zero_with_collapsed_components_stays_finite(code):
    # Regression: with reg_covar=0, VEE and EVV divided a collapsed component's
    # scatter by its zero volume, and EM died in LinAlgError on inf entries.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(50, 3)), np.repeat([[5.0, 5, 5]], 10, 0), [[9.0, 0, 0]] * 3])
    for seed in range(3):
        gmm = GMM(4, random_state=seed).from_samples(
            X, covariance_type=code, reg_covar=0.0, init_params="kmeans++", n_iter=50
        )
        assert np.isfinite(gmm.covariances).all()


@pytest.fixture(params=["compiled", "numpy"])
def sweep_path(request, monkeypatch):
    """The orientation sweep in the compiled kernel (where built) and in numpy."""
    from gaussmix.covariance import ellipsoidal

    if request.param == "numpy":
        monkeypatch.setattr(ellipsoidal, "plane_rotation_sweep", lambda *args: None)
    return request.param


@pytest.mark.parametrize("B, k, d", [(1, 1, 2), (3, 4, 3), (2, 5, 8), (4, 2, 9)])
def test_the_compiled_orientation_sweep_is_numpys(B, k, d):
    # The same rotations, pair by pair (numpy takes each round of disjoint pairs at
    # once); zero gaps (equal diagonals) included, where atan2(-0, -0) turns by -90 deg.
    from gaussmix import _linalg
    from gaussmix.covariance import ellipsoidal

    rng = np.random.default_rng(B + k + d)
    A = rng.normal(size=(B, k, d, d + 1))
    W = A @ np.swapaxes(A, -1, -2)
    M = rng.uniform(0.2, 3.0, size=(B, k, d))
    M[0] = 1.0  # no gap: every plane's objective is flat
    D = np.linalg.qr(rng.normal(size=(B, d, d)))[0]
    first, second = ellipsoidal._sweep_pairs(d)
    compiled = _linalg.plane_rotation_sweep(W, M, D, first, second)
    if compiled is None:
        pytest.skip("compiled kernel not built")
    original = ellipsoidal.plane_rotation_sweep
    try:
        ellipsoidal.plane_rotation_sweep = lambda *args: None
        numpys = ellipsoidal.orientation_sweep(W, M, D)
    finally:
        ellipsoidal.plane_rotation_sweep = original
    assert_allclose(compiled, numpys, rtol=1e-10, atol=1e-12)
    assert_allclose(ellipsoidal.orientation_sweep(W, M, D), compiled)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_orientation_sweeps_reach_the_best_rotation(sweep_path, d):
    # EVE and VVE's orientation update for fixed diagonals: g(D) = sum_k tr(W_k D M_k D^T)
    # over orthogonal D. Every sweep of plane rotations lowers g, and repeated sweeps
    # reach the minimum BFGS finds over rotations (Cayley parameters, several starts).
    from gaussmix.covariance.ellipsoidal import orientation_sweep

    rng = np.random.default_rng(d)
    k = 3
    A = rng.normal(size=(k, d, d + 1))
    W = A @ np.swapaxes(A, 1, 2)
    M = rng.uniform(0.2, 3.0, size=(k, d))

    def g(D):
        return float(np.einsum("kij,jl,kl,il->", W, D, M, D))

    D = np.linalg.qr(rng.normal(size=(d, d)))[0]
    values = [g(D)]
    for _ in range(60):
        D = orientation_sweep(W[None], M[None], D[None])[0]
        values.append(g(D))
    assert np.all(np.diff(values) <= 1e-10 * abs(values[0]))
    assert_allclose(D.T @ D, np.eye(d), atol=1e-12)
    best = min(
        minimize(lambda t: g(_rotation(t, d)), rng.normal(size=d * (d - 1) // 2)).fun
        for _ in range(8)
    )
    # Rotations with det -1 (reflections) give the same g: the minimum is over both.
    assert values[-1] == pytest.approx(best, rel=1e-7)


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("B, k, d", [(1, 1, 1), (3, 4, 3), (2, 9, 8), (4, 2, 5)])
def test_the_compiled_volume_shape_iterations_are_numpys(warm, B, k, d):
    # VEI and VEV's alternating updates of volumes and one shape, each problem to its
    # own convergence: the compiled loop against numpy's, including a collapsed
    # component (zero values: its volume floored) and iteration caps that stop early.
    from gaussmix import _linalg
    from gaussmix.covariance import axis_aligned, decomposed

    rng = np.random.default_rng(B * k + d)
    values = rng.gamma(2.0, 1.0, size=(B, k, d)) * rng.uniform(0.1, 10.0, size=(B, k, 1))
    if k > 1:
        values[0, 0] = 0.0
    nk = rng.uniform(1.0, 50.0, size=(B, k))
    start = rng.uniform(0.5, 2.0, size=(B, d)) if warm else None
    for max_iter in (1, 3, 100):
        compiled = _linalg.volume_shape_iterations(
            values, nk, 1e-10, max_iter, start, decomposed.FLOOR
        )
        if compiled is None:
            pytest.skip("compiled kernel not built")
        original = axis_aligned.volume_shape_iterations
        try:
            axis_aligned.volume_shape_iterations = lambda *args: None
            numpys = axis_aligned.variable_volume_equal_shape(values, nk, 1e-10, max_iter, start)
        finally:
            axis_aligned.volume_shape_iterations = original
        for got, expected in zip(compiled, numpys, strict=True):
            assert_allclose(got, expected, rtol=1e-9)
        assert_allclose(np.prod(compiled[1], axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("B, k, d", [(1, 1, 1), (3, 4, 3), (2, 9, 8), (4, 2, 5)])
def test_the_compiled_equal_shape_iterations_are_numpys(warm, B, k, d):
    # VEE's alternating updates of the volumes and the one shape matrix, each problem to
    # its own convergence: the compiled loop against numpy's (the same M-step with the
    # kernel hidden), including a collapsed component and caps that stop early; and
    # where a start is not positive definite numpy's loop runs.
    from gaussmix.covariance import ellipsoidal

    vee = covariance.get("VEE")
    rng = np.random.default_rng(B * k + d)
    A = rng.normal(size=(B, k, d, d + 2))
    scatter = A @ np.swapaxes(A, -1, -2) * rng.uniform(0.1, 10.0, size=(B, k, 1, 1))
    nk = rng.uniform(1.0, 50.0, size=(B, k))
    if k > 1:
        scatter[0, 0] *= 1e-12
        nk[0, 0] = 1e-3
    previous = None
    if warm:
        previous = np.broadcast_to(np.eye(d) * rng.uniform(0.5, 2.0), (B, k, d, d)).copy()
    original = ellipsoidal.equal_shape_iterations
    for max_iter in (1, 3, None):
        compiled = vee.maximize_batch(scatter, nk, previous=previous, max_iter=max_iter)
        try:
            ellipsoidal.equal_shape_iterations = lambda *args: None
            numpys = vee.maximize_batch(scatter, nk, previous=previous, max_iter=max_iter)
        finally:
            ellipsoidal.equal_shape_iterations = original
        assert_allclose(compiled, numpys, rtol=1e-9, atol=1e-12 * np.abs(numpys).max())
        shapes = compiled / np.linalg.det(compiled)[..., None, None] ** (1 / d)
        assert_allclose(shapes, np.repeat(shapes[:, :1], k, axis=1), rtol=1e-8, atol=1e-12)
    # Ill-conditioned problems (pivots 1e16 apart: a component 1e8 from the rest) go to
    # numpy's loop, bit for bit (the compiled inverse and LAPACK's rounded apart there).
    far = np.array([[1e16, 0.0], [0.0, 1.0]])[None, None] * np.ones((B, 1, 1, 1))
    far_nk = np.full((B, 1), 45.0)
    try:
        ellipsoidal.equal_shape_iterations = lambda *args: None
        numpys = vee.maximize_batch(far, far_nk)
    finally:
        ellipsoidal.equal_shape_iterations = original
    np.testing.assert_array_equal(vee.maximize_batch(far, far_nk), numpys)
    singular = scatter.copy()
    singular[..., 0, :] = singular[..., :, 0] = 0.0  # no start or scatter is definite
    try:
        ellipsoidal.equal_shape_iterations = lambda *args: None
        with pytest.raises(np.linalg.LinAlgError) as numpys:
            vee.maximize_batch(singular, nk)
    finally:
        ellipsoidal.equal_shape_iterations = original
    with pytest.raises(np.linalg.LinAlgError) as compiled_error:
        vee.maximize_batch(singular, nk)
    assert str(compiled_error.value) == str(numpys.value)
