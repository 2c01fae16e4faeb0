"""Extreme deconvolution at scale: Dask arrays, memory-mapped files, float32 input.

References: the in-memory fit from the same start (gaussmix's NoisySource, checked
against astroML and a row-by-row reference in tests/test_deconvolution.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GMM

START = dict(priors=[0.5, 0.5], means=[[-1.0, 0], [1.0, 0]], covariances=[np.eye(2)] * 2)


def _data(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    V = np.vstack([rng.normal(-2, 0.5, (n // 2, 2)), rng.normal(2, 0.5, (n - n // 2, 2))])
    S = rng.uniform(0.2, 1.0, (n, 2))
    return V + rng.normal(size=V.shape) * np.sqrt(S), S, rng


def _fit(X, S, **options):
    return GMM(2, **START).from_samples(X, noise_covariances=S, n_iter=8, tol=None, **options)


def _assert_same_fit(a, b, rtol=1e-10):
    assert_allclose(a.priors, b.priors, rtol=rtol)
    assert_allclose(a.means, b.means, rtol=rtol, atol=1e-12)
    assert_allclose(a.covariances, b.covariances, rtol=rtol, atol=1e-12)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)


@pytest.mark.parametrize("noise", ["variances", "matrices", "shared", "numpy variances"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_dask_arrays_with_noise_fit_as_in_memory(noise, covariance_type):
    da = pytest.importorskip("dask.array")
    X, S, rng = _data()
    weights = rng.uniform(0.5, 2.0, len(X))
    if noise == "matrices":
        S = np.einsum("ni,ij->nij", S, np.eye(2)) + 0.05
    if noise == "shared":
        S = np.array([[0.5, 0.1], [0.1, 0.4]])
    lazy_S = (
        da.from_array(S, chunks=(333, *S.shape[1:])) if noise in ("variances", "matrices") else S
    )
    options = dict(sample_weight=weights, covariance_type=covariance_type)
    expected = _fit(X, S, **options)
    fitted = _fit(da.from_array(X, chunks=(250, 2)), lazy_S, **options)
    _assert_same_fit(fitted, expected)


def test_dask_noise_and_maps_are_checked_chunk_by_chunk():
    """Bad noise is named with its chunk; NaN noise is allowed only where X is missing."""
    da = pytest.importorskip("dask.array")
    X, S, _ = _data(n=400)
    bad = S.copy()
    bad[250, 1] = -1.0
    with pytest.raises(ValueError, match=r"non-negative variances.*chunk starting at row 200"):
        _fit(da.from_array(X, chunks=100), da.from_array(bad, chunks=100))
    with pytest.raises(ValueError, match=r"noise_covariances has shape \(400, 3\)"):
        _fit(da.from_array(X, chunks=100), da.from_array(np.ones((400, 3)), chunks=100))
    with pytest.raises(ValueError, match=r"projection has shape \(400, 3, 2\)"):
        GMM(2).from_samples(da.from_array(X, chunks=100), projection=np.ones((400, 3, 2)))
    bad_map = np.ones((400, 2, 2))
    bad_map[310, 0, 1] = np.inf
    with pytest.raises(ValueError, match=r"X spans .* overflow float64"):  # as in memory
        GMM(2).from_samples(da.from_array(X * 1e300, chunks=100), projection=np.eye(2))
    with pytest.raises(ValueError, match=r"projection must contain only finite.*row 300"):
        GMM(2).from_samples(
            da.from_array(X, chunks=100), projection=da.from_array(bad_map, chunks=100)
        )
    X_nan = X.copy()
    X_nan[5, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        _fit(da.from_array(X_nan, chunks=100), S)
    # NaN noise only where X is missing.
    S_nan = S.copy()
    S_nan[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"noise_covariances.*chunk starting at row 0"):
        lazy = da.from_array(S_nan, chunks=100)
        _fit(da.from_array(X_nan, chunks=100), lazy, allow_missing=True)


@pytest.mark.parametrize("noise", ["variances", "matrices", "shared", "numpy variances"])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied"])
def test_dask_arrays_with_missing_entries_under_noise_fit_as_in_memory(noise, covariance_type):
    """NaN entries with noise on a Dask array: the same fit as in memory (the projection
    onto the observed coordinates, checked against closed forms in test_projection.py),
    with chunks of only complete rows, mixed chunks and a chunk with an empty row; the
    noise of missing coordinates may be NaN."""
    da = pytest.importorskip("dask.array")
    X, S, rng = _data()
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:250] = _data(seed=1)[0][:250]  # a first chunk with no NaN
    X[300] = np.nan  # a row with nothing observed
    weights = rng.uniform(0.5, 2.0, len(X))
    if noise == "matrices":
        S = np.einsum("ni,ij->nij", S, np.eye(2)) + 0.05
    if noise == "shared":
        S = np.array([[0.5, 0.1], [0.1, 0.4]])
    elif noise in ("variances", "numpy variances"):
        S = np.where(np.isnan(X), np.nan, S)  # unknown noise of unmeasured entries
    lazy_S = (
        da.from_array(S, chunks=(333, *S.shape[1:])) if noise in ("variances", "matrices") else S
    )
    options = dict(sample_weight=weights, covariance_type=covariance_type, allow_missing=True)
    expected = _fit(X, S, **options)
    fitted = _fit(da.from_array(X, chunks=(250, 2)), lazy_S, **options)
    _assert_same_fit(fitted, expected, rtol=1e-9)


def test_memory_mapped_rows_and_noise_fit_in_place(tmp_path):
    X, S, _ = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "S.npy", S)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    S_map = np.load(tmp_path / "S.npy", mmap_mode="r")
    _assert_same_fit(_fit(X_map, S_map), _fit(X, S))


def test_float32_input_is_computed_in_float64():
    X, S, _ = _data()
    X32, S32 = X.astype(np.float32), S.astype(np.float32)
    fitted = _fit(X32, S32)
    # The float64 fit of the same (rounded) numbers: equal to float64 rounding.
    _assert_same_fit(fitted, _fit(X32.astype(np.float64), S32.astype(np.float64)), rtol=1e-12)
    assert fitted.covariances.dtype == np.float64


@pytest.mark.parametrize("maps", ["per-row dask", "per-row numpy", "shared"])
@pytest.mark.parametrize("noise", ["matrices", "shared", "variances"])
def test_dask_arrays_with_a_projection_fit_as_in_memory(maps, noise):
    """Rows y_i = R_i v_i + e_i of 3 measured entries of 2-D true values, on a Dask array
    (Y, S and R chunked alike): the same fit as in memory (ProjectedSource, checked
    against a row-by-row reference in test_projection.py), weights and two structures."""
    da = pytest.importorskip("dask.array")
    V, _, rng = _data()
    n = len(V)
    R = rng.normal(size=(n, 3, 2)) if maps != "shared" else rng.normal(size=(3, 2))
    Y = np.einsum("nmd,nd->nm", R, V) if R.ndim == 3 else V @ R.T
    S = np.einsum("ni,ij->nij", rng.uniform(0.1, 0.5, (n, 3)), np.eye(3)) + 0.02
    if noise == "shared":
        S = np.diag([0.3, 0.2, 0.4])
    if noise == "variances":
        S = rng.uniform(0.1, 0.5, (n, 3))
    Y = Y + rng.normal(size=Y.shape) * 0.3
    S_used = S
    lazy_S = da.from_array(S, chunks=(250, *S.shape[1:])) if noise != "shared" else S
    lazy_R = da.from_array(R, chunks=(250, 3, 2)) if maps == "per-row dask" else R
    weights = rng.uniform(0.5, 2.0, n)
    for covariance_type in ("full", "diag"):
        options = dict(sample_weight=weights, covariance_type=covariance_type)
        expected = GMM(2, **START).from_samples(
            Y, noise_covariances=S_used, projection=R, n_iter=6, tol=None, **options
        )
        fitted = GMM(2, **START).from_samples(
            da.from_array(Y, chunks=(250, 3)),
            noise_covariances=lazy_S,
            projection=lazy_R,
            n_iter=6,
            tol=None,
            **options,
        )
        _assert_same_fit(fitted, expected, rtol=1e-9)


def test_select_model_on_a_dask_array_with_a_projection():
    """The grid of a Dask array with maps R_i and noise: each candidate's BIC is its
    model's BIC of the in-memory rows (GMM.bic with the projection, checked against
    scipy densities in test_noisy_scores.py), and two components win."""
    da = pytest.importorskip("dask.array")
    from gaussmix import select_model

    V, _, rng = _data(n=800)
    R = np.eye(2) + 0.3 * rng.normal(size=(len(V), 2, 2))  # well-conditioned maps
    S = rng.uniform(0.05, 0.2, (len(V), 2))
    Y = np.einsum("nmd,nd->nm", R, V) + rng.normal(size=(len(V), 2)) * np.sqrt(S)
    result = select_model(
        da.from_array(Y, chunks=300),
        n_components=[1, 2],
        covariance_type=("full",),
        noise_covariances=da.from_array(S, chunks=300),
        projection=da.from_array(R, chunks=(300, 2, 2)),
        random_state=0,
    )
    assert result.best_params["n_components"] == 2
    for row in result.table:
        model = result.models[(row["n_components"], row["covariance_type"])]
        expected = model.bic(Y, noise_covariances=S, projection=R)
        assert row["score"] == pytest.approx(expected, rel=1e-6)


def test_dask_projection_starts_use_the_maps_of_the_sampled_rows(monkeypatch):
    """With more rows than the initialization sample, each start row is R_i^+ y_i of one
    sampled row i with its own map (the maps are sampled at the same rows as Y)."""
    da = pytest.importorskip("dask.array")
    from gaussmix.em import dask_source
    from gaussmix.em.front import SourceRequest, open_source

    monkeypatch.setattr(dask_source, "INIT_SAMPLE_ROWS", 50)
    V, _, rng = _data(n=400)
    R = np.eye(2) + 0.3 * rng.normal(size=(len(V), 2, 2))
    Y = np.einsum("nmd,nd->nm", R, V)
    source = open_source(
        SourceRequest(
            da.from_array(Y, chunks=100),
            None,
            "full",
            n_components=2,
            noise_covariances=np.eye(2) * 0.1,
            projection=da.from_array(R, chunks=(100, 2, 2)),
            random_state=np.random.RandomState(0),
        )
    )
    starts = source.initialization_data()
    assert starts.shape == (50, 2)
    # R_i^+ y_i = v_i exactly here (square, invertible maps, no noise added)
    distance = np.abs(starts[:, None, :] - V[None, :, :]).max(axis=2).min(axis=1)
    assert distance.max() < 1e-8
