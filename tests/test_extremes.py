"""Extreme data, weights and starts: a finite fit or a clear ValueError, never NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix import GMM

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def data(n=400, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[: n // 2] += 5.0
    return X


def fit(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GMM(2, random_state=0).from_samples(X, **kwargs)


def assert_finite(gmm):
    for array in (gmm.priors, gmm.means, gmm.covariances):
        assert np.isfinite(array).all()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random", "kmeans++"])
@pytest.mark.parametrize("missing", [False, True])
def test_far_outlier_is_refused_clearly(covariance_type, init_params, missing):
    X = data()
    X[7, 1] = 1e200
    if missing:
        X[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"X spans 1e\+200 in column 1 \(row 7 holds 1e\+200\)"):
        fit(X, covariance_type=covariance_type, init_params=init_params, allow_missing=missing)


@pytest.mark.parametrize("scale", [1e-150, 1e-30, 1e30, 1e150])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_extreme_scales_fit_like_unit_scale(scale, covariance_type):
    # k-means++ starts from the data's own spread, so the fit is scale-equivariant
    # (the "random" start uses gmr's identity covariances, an absolute scale).
    X = data()
    options = dict(covariance_type=covariance_type, init_params="kmeans++", tol=1e-8)
    base = fit(X, **options)
    scaled = fit(X * scale, reg_covar=1e-6 * scale**2, **options)
    assert_finite(scaled)
    # EM is equivariant under scaling (reg_covar scaled along)
    np.testing.assert_allclose(scaled.means / scale, base.means, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(scaled.priors, base.priors, rtol=1e-6)


def test_float32_data_at_extreme_scales_fit():
    X = data()
    for scale in (1e-30, 1e30):
        gmm = fit((X * scale).astype(np.float32), init_params="kmeans++", reg_covar=0.0)
        assert_finite(gmm)


@pytest.mark.parametrize("top", [1e-308, 1e-200, 1e200, 1e308])
def test_sample_weight_scale_does_not_matter(top):
    X = data()
    w = np.random.default_rng(1).uniform(0.5, 1.0, X.shape[0])
    reference = fit(X, sample_weight=w)
    scaled = fit(X, sample_weight=w / w.max() * top)
    assert_finite(scaled)
    np.testing.assert_allclose(scaled.means, reference.means, rtol=1e-9)
    np.testing.assert_allclose(scaled.covariances, reference.covariances, rtol=1e-9)


def test_warm_start_far_from_the_data_is_refused():
    X = data()
    start = GMM(
        2,
        priors=[0.5, 0.5],
        means=[[1e300, 0, 0], [0, 0, 0]],
        covariances=[np.eye(3), np.eye(3)],
    )
    with pytest.raises(ValueError, match=r"means\[0\] of the starting point lies too far"):
        start.from_samples(X)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_warm_start_with_extreme_covariances_fits(scale):
    X = data()
    start = GMM(
        2,
        priors=[0.5, 0.5],
        means=[[5, 5, 5], [0, 0, 0]],
        covariances=[np.eye(3) * scale, np.eye(3) * scale],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.from_samples(X)
    assert_finite(start)
    assert np.isfinite(start.score_samples(X)).all()


def test_identical_starting_components_warn_that_they_coincide():
    X = data()
    start = GMM(3, priors=np.ones(3) / 3, means=np.zeros((3, 3)), covariances=[np.eye(3)] * 3)
    with pytest.warns(UserWarning, match="components 0 and 1, 0 and 2, 1 and 2 coincide"):
        start.from_samples(X, tol=1e-3)


def test_separate_components_do_not_warn():
    X = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        GMM(2, random_state=0).from_samples(X, init_params="kmeans++", tol=1e-4, n_iter=500)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_regression_without_input_output_correlation_warns(covariance_type):
    x = np.linspace(-3, 3, 300)
    X = np.column_stack([x, 2 * x + np.random.default_rng(0).normal(0, 0.1, 300)])
    gmm = fit(X, covariance_type=covariance_type)
    with pytest.warns(UserWarning, match="no correlation between inputs and outputs"):
        gmm.predict([0], [[0.5]])
    full = fit(X, covariance_type="full")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        full.predict([0], [[0.5]])


@settings(max_examples=30, deadline=None)
@given(
    exponent=st.integers(-140, 140),
    outlier=st.floats(-1e300, 1e300, allow_nan=False),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
)
def test_any_scale_and_outlier_gives_finite_fit_or_clear_error(exponent, outlier, covariance_type):
    X = data(n=60) * 10.0**exponent
    X[0, 0] = outlier
    try:
        gmm = fit(X, covariance_type=covariance_type, n_iter=20)
    except ValueError as exc:
        assert "spans" in str(exc) or "n_components" in str(exc), str(exc)
        return
    assert_finite(gmm)
    assert np.isfinite(gmm.score_samples(X)).all()


@pytest.mark.parametrize(
    ("mean", "variance", "message"),
    [
        (1e308, 1.0, "field 'means' has entries of magnitude up to 1e\\+308"),
        (0.0, 1e308, "field 'covariances' has an entry of 1e\\+308"),
        (0.0, 1e-320, "field 'covariances' has an entry of 1e-320"),
    ],
)
def test_model_files_with_parameters_that_would_overflow_are_refused(
    tmp_path, mean, variance, message
):
    import json

    path = tmp_path / "model.json"
    GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[np.eye(2)]).save(path)
    data = json.loads(path.read_text())
    data["means"] = [[mean, 0.0]]
    data["covariances"] = [[[variance, 0.0], [0.0, 1.0]]]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        GMM.load(path)


def test_fit_of_data_scaled_by_1e150_saves_and_loads(tmp_path):
    X = data() * 1e150
    gmm = fit(X, init_params="kmeans++", reg_covar=1e-6 * 1e300)
    gmm.save(tmp_path / "scaled.npz")
    loaded = GMM.load(tmp_path / "scaled.npz")
    np.testing.assert_allclose(loaded.score_samples(X), gmm.score_samples(X), rtol=1e-12)
