"""Behaviour of gaussmix.sklearn's estimators inside the scikit-learn ecosystem.

(Conformance with ``check_estimator`` is in test_sklearn_estimators.py.) References:
held-out coverage of the predictive std (the fraction of residuals within one std of a
calibrated Gaussian is 0.683), chi-square coverage for two outputs, the noise level that
generated the data, ``sklearn.impute.SimpleImputer`` (mean) as the baseline imputer, and
scikit-learn's own meta-estimators (Pipeline, GridSearchCV, cross_val_score, clone).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import chi2

from gaussmix import GMM

pytest.importorskip("sklearn")
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from gaussmix.sklearn import GaussianMixtureImputer, GaussianMixtureRegressor

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
def heteroscedastic(n, seed):
    """y = sin(x) + (0.1 + 0.15 |x|) eps on x ~ U(-3, 3); returns X, y and the true sd."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (n, 1))
    sd = 0.1 + 0.15 * np.abs(X[:, 0])
    return X, np.sin(X[:, 0]) + sd * rng.normal(size=n), sd


def two_outputs(n, seed):
    """Two correlated outputs whose noise covariance grows with |x|."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 1))
    scale = 0.15 + 0.1 * np.abs(X[:, :1])
    L = np.array([[1.0, 0.0], [0.7, 0.6]])
    noise = (rng.normal(size=(n, 2)) @ L.T) * scale
    Y = np.column_stack([np.sin(X[:, 0]), 0.5 * X[:, 0] ** 2]) + noise
    return X, Y


def correlated_with_missing(n, seed, rate=0.25, d=4):
    """Strongly correlated Gaussian features, a linear target, and an MCAR mask."""
    rng = np.random.default_rng(seed)
    cov = 0.8 * np.ones((d, d)) + 0.2 * np.eye(d)
    X_true = rng.multivariate_normal(np.arange(d, dtype=float), cov, size=n)
    y = X_true @ np.linspace(1.0, -0.5, d) + 0.1 * rng.normal(size=n)
    X = X_true.copy()
    X[rng.random(X.shape) < rate] = np.nan
    return X_true, X, y


@pytest.fixture(scope="module")
def fitted_1d():
    X, y, _ = heteroscedastic(2000, seed=0)
    reg = GaussianMixtureRegressor(8, random_state=0, init_params="kmeans++", tol=1e-5)
    return reg.fit(X, y)


# ---------------------------------------------------------------------------
# predict(return_std / return_cov)
# ---------------------------------------------------------------------------
def test_return_std_is_calibrated_on_held_out_heteroscedastic_data(fitted_1d):
    """2000 held-out points: coverage of +-1 std within [0.62, 0.74] (nominal 0.683),
    of +-2 std within [0.92, 0.98] (nominal 0.954); the std tracks the true noise sd."""
    X, y, sd = heteroscedastic(2000, seed=1)
    mean, std = fitted_1d.predict(X, return_std=True)
    z = np.abs(y - mean) / std
    assert 0.62 <= np.mean(z <= 1.0) <= 0.74
    assert 0.92 <= np.mean(z <= 2.0) <= 0.98
    assert np.corrcoef(std, sd)[0, 1] > 0.9
    assert 0.8 < np.median(std / sd) < 1.25


def test_return_cov_is_calibrated_for_two_outputs():
    """Squared Mahalanobis residuals under the predictive covariance follow chi2(2):
    coverage of the 68.3% region within [0.62, 0.74] on 2000 held-out points."""
    X, Y = two_outputs(2000, seed=2)
    reg = GaussianMixtureRegressor(8, random_state=0, init_params="kmeans++", tol=1e-5)
    reg.fit(X, Y)
    Xt, Yt = two_outputs(2000, seed=3)
    mean, cov = reg.predict(Xt, return_cov=True)
    resid = Yt - mean
    d2 = np.einsum("na,nab,nb->n", resid, np.linalg.inv(cov), resid)
    assert 0.62 <= np.mean(d2 <= chi2.ppf(0.683, 2)) <= 0.74


def test_std_and_cov_shapes_for_1d_target(fitted_1d):
    X = np.linspace(-2, 2, 7)[:, None]
    mean = fitted_1d.predict(X)
    mean_s, std = fitted_1d.predict(X, return_std=True)
    mean_c, cov = fitted_1d.predict(X, return_cov=True)
    assert mean.shape == mean_s.shape == mean_c.shape == std.shape == (7,)
    assert cov.shape == (7, 1, 1)
    # With std or cov the means come from the covariance path (taken about
    # the heaviest component): equal up to the last bits.
    assert_allclose(mean_s, mean, rtol=1e-13, atol=1e-13 * np.abs(mean).max())
    assert_array_equal(mean_s, mean_c)
    assert_allclose(std, np.sqrt(cov[:, 0, 0]), rtol=1e-12)
    assert np.all(std > 0)


def test_std_and_cov_shapes_for_2d_target():
    X, Y = two_outputs(300, seed=4)
    reg = GaussianMixtureRegressor(3, random_state=0).fit(X, Y)
    mean, std = reg.predict(X[:9], return_std=True)
    _, cov = reg.predict(X[:9], return_cov=True)
    assert mean.shape == std.shape == (9, 2)
    assert cov.shape == (9, 2, 2)
    assert_allclose(cov, np.swapaxes(cov, 1, 2), atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > 0
    assert_allclose(std, np.sqrt(np.diagonal(cov, axis1=1, axis2=2)), rtol=1e-12)


def test_column_target_keeps_its_2d_shape():
    X, y, _ = heteroscedastic(200, seed=5)
    reg = GaussianMixtureRegressor(2, random_state=0).fit(X, y[:, None])
    mean, std = reg.predict(X[:4], return_std=True)
    assert mean.shape == std.shape == (4, 1)


def test_predict_spread_equals_the_joint_gmm_conditional(fitted_1d):
    X = np.linspace(-2.5, 2.5, 11)[:, None]
    mean, cov = fitted_1d.predict(X, return_cov=True)
    ref_mean, ref_cov = fitted_1d.gmm_.predict(fitted_1d.indices_, X, return_covariance=True)
    assert_allclose(mean, ref_mean[:, 0], rtol=1e-12)
    assert_allclose(cov, ref_cov, rtol=1e-12)


def test_both_spread_flags_raise(fitted_1d):
    with pytest.raises(ValueError):
        fitted_1d.predict([[0.0]], return_std=True, return_cov=True)


# ---------------------------------------------------------------------------
# Pipelines, grid search, cross-validation, cloning
# ---------------------------------------------------------------------------
def test_regressor_in_pipeline_with_scaler():
    X, y, _ = heteroscedastic(600, seed=6)
    X = X * 100.0 + 50.0  # badly scaled input; the scaler fixes it
    pipe = make_pipeline(StandardScaler(), GaussianMixtureRegressor(6, random_state=0, tol=1e-5))
    pipe.fit(X, y)
    Xt, yt, _ = heteroscedastic(400, seed=7)
    Xt = Xt * 100.0 + 50.0
    assert pipe.score(Xt, yt) > 0.7
    # predict parameters go through the pipeline to the regressor
    mean, std = pipe.predict(Xt[:5], return_std=True)
    assert mean.shape == std.shape == (5,)
    direct = pipe[-1].predict(pipe[0].transform(Xt[:5]), return_std=True)
    assert_allclose(mean, direct[0], rtol=1e-12)
    assert_allclose(std, direct[1], rtol=1e-12)


def test_grid_search_over_n_components_prefers_a_nonlinear_fit():
    X, y, _ = heteroscedastic(400, seed=8)
    search = GridSearchCV(
        GaussianMixtureRegressor(1, random_state=0, init_params="kmeans++", tol=1e-4),
        {"n_components": [1, 6]},
        cv=KFold(3, shuffle=True, random_state=0),
    )
    search.fit(X, y)
    assert search.best_params_ == {"n_components": 6}
    assert search.best_estimator_.gmm_.n_components == 6
    assert search.cv_results_["mean_test_score"][1] > search.cv_results_["mean_test_score"][0]


def test_cross_val_score_of_pipeline():
    X, y, _ = heteroscedastic(500, seed=9)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("gmr", GaussianMixtureRegressor(6, random_state=0, tol=1e-4)),
        ]
    )
    scores = cross_val_score(pipe, X, y, cv=KFold(4, shuffle=True, random_state=0))
    assert scores.shape == (4,)
    assert np.all(np.isfinite(scores))
    assert scores.mean() > 0.7


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_options_reach_the_fit(covariance_type):
    """The regressor's joint GMM equals GMM.from_samples on [X, y] with the same
    options; the covariance structure is the requested one."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(250, 2))
    y = X @ [1.0, -2.0] + np.sin(X[:, 0]) + 0.1 * rng.normal(size=250)
    options = dict(
        covariance_type=covariance_type,
        n_init=2,
        reg_covar=1e-3,
        tol=1e-4,
        init_params="kmeans++",
        n_iter=300,
    )
    reg = GaussianMixtureRegressor(3, random_state=0, **options).fit(X, y)
    ref = GMM(3, random_state=0).from_samples(np.column_stack([X, y]), **options)
    assert_allclose(reg.gmm_.priors, ref.priors, rtol=1e-10)
    assert_allclose(reg.gmm_.means, ref.means, rtol=1e-10, atol=1e-12)
    assert_allclose(reg.gmm_.covariances, ref.covariances, rtol=1e-10, atol=1e-12)
    covs = reg.gmm_.covariances
    off_diagonal = ~np.eye(3, dtype=bool)
    if covariance_type in ("diag", "spherical"):
        assert np.all(covs[:, off_diagonal] == 0.0)
    if covariance_type == "spherical":
        assert_allclose(covs[:, 1, 1], covs[:, 0, 0])
    if covariance_type == "tied":
        assert_allclose(covs, np.broadcast_to(covs[0], covs.shape))
    assert np.linalg.eigvalsh(covs).min() >= 1e-3 * (1 - 1e-9)


def test_reg_covar_and_tol_have_observable_effects():
    X, y, _ = heteroscedastic(300, seed=11)
    big = GaussianMixtureRegressor(3, random_state=0, reg_covar=0.5, tol=1e-4).fit(X, y)
    assert np.linalg.eigvalsh(big.gmm_.covariances).min() >= 0.5 * (1 - 1e-9)
    loose = GaussianMixtureRegressor(4, random_state=0, tol=1e-1, n_iter=500).fit(X, y)
    tight = GaussianMixtureRegressor(4, random_state=0, tol=1e-9, n_iter=500).fit(X, y)
    assert loose.gmm_.n_iter_ < tight.gmm_.n_iter_


def test_start_parameters_are_used_and_not_modified():
    X, y, _ = heteroscedastic(300, seed=12)
    Z = np.column_stack([X, y])
    priors = np.array([0.5, 0.5])
    means = np.array([[-1.5, -0.8], [1.5, 0.8]])
    covariances = np.array([np.eye(2), np.eye(2)])
    saved = (priors.copy(), means.copy(), covariances.copy())
    reg = GaussianMixtureRegressor(
        2, priors=priors, means=means, covariances=covariances, n_iter=3, R_diff=0.0
    ).fit(X, y)
    ref = GMM(2, priors=saved[0], means=saved[1], covariances=saved[2]).from_samples(
        Z, n_iter=3, R_diff=0.0
    )
    assert_allclose(reg.gmm_.means, ref.means, rtol=1e-10)
    for given_, kept in zip((priors, means, covariances), saved, strict=True):
        assert_array_equal(given_, kept)
    assert reg.get_params()["means"] is means


def test_clone_get_set_params_round_trip(fitted_1d):
    params = fitted_1d.get_params()
    twin = clone(fitted_1d)
    assert twin.get_params() == params
    assert not hasattr(twin, "gmm_")
    assert twin.set_params(n_components=4, covariance_type="diag", tol=1e-3) is twin
    changed = twin.get_params()
    assert (changed["n_components"], changed["covariance_type"], changed["tol"]) == (
        4,
        "diag",
        1e-3,
    )
    assert fitted_1d.get_params() == params  # the original is untouched
    twin.fit(*heteroscedastic(200, seed=13)[:2])
    assert twin.gmm_.n_components == 4
    assert np.all(twin.gmm_.covariances[:, 0, 1] == 0.0)
    pipe = make_pipeline(StandardScaler(), clone(twin))
    pipe.set_params(gaussianmixtureregressor__n_components=2)
    assert pipe.get_params()["gaussianmixtureregressor__n_components"] == 2


def test_fit_is_reproducible_with_random_state():
    X, y, _ = heteroscedastic(300, seed=14)
    a = GaussianMixtureRegressor(4, random_state=3).fit(X, y).predict(X[:20], return_std=True)
    b = GaussianMixtureRegressor(4, random_state=3).fit(X, y).predict(X[:20], return_std=True)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])


# ---------------------------------------------------------------------------
# GaussianMixtureImputer
# ---------------------------------------------------------------------------
def test_imputer_transform_fills_only_nan_and_leaves_input_alone():
    _, X, _ = correlated_with_missing(300, seed=20)
    before = X.copy()
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X)
    filled = imputer.transform(X)
    assert_array_equal(X, before)
    observed = ~np.isnan(X)
    assert_array_equal(filled[observed], X[observed])
    assert not np.isnan(filled).any()
    assert_allclose(filled, imputer.gmm_.impute(X), rtol=1e-12)
    assert_array_equal(imputer.fit_transform(X), filled)


def test_imputer_beats_mean_imputation_on_correlated_data():
    X_true, X, _ = correlated_with_missing(1000, seed=21)
    missing = np.isnan(X)
    ours = GaussianMixtureImputer(1, random_state=0).fit_transform(X)
    mean = SimpleImputer(strategy="mean").fit_transform(X)

    def rmse(filled):
        return np.sqrt(np.mean((filled[missing] - X_true[missing]) ** 2))

    # Correlation 0.8 between features: the conditional mean explains most of the variance.
    assert rmse(ours) < 0.7 * rmse(mean), (rmse(ours), rmse(mean))


def test_imputer_on_new_data_and_unseen_missing_patterns():
    X_true, _, _ = correlated_with_missing(400, seed=22)
    imputer = GaussianMixtureImputer(1, random_state=0).fit(X_true)  # fit on complete data
    X_new = X_true[:5].copy()
    X_new[0, :3] = np.nan
    X_new[1, :] = np.nan
    filled = imputer.transform(X_new)
    assert not np.isnan(filled).any()
    assert_allclose(filled[1], imputer.gmm_.priors @ imputer.gmm_.means, rtol=1e-12)
    assert_array_equal(filled[2:], X_true[2:5])


def test_imputer_options_reach_the_fit():
    _, X, _ = correlated_with_missing(300, seed=23)
    imputer = GaussianMixtureImputer(2, covariance_type="diag", random_state=0, reg_covar=0.2)
    covs = imputer.fit(X).gmm_.covariances
    assert np.all(covs[:, ~np.eye(4, dtype=bool)] == 0.0)
    assert np.min(np.diagonal(covs, axis1=1, axis2=2)) >= 0.2 * (1 - 1e-9)
    assert_array_equal(imputer.get_feature_names_out(), ["x0", "x1", "x2", "x3"])


@pytest.mark.slow
def test_imputer_in_pipeline_before_regressor_beats_mean_imputation():
    _, X, y = correlated_with_missing(1200, seed=24, rate=0.3)
    train, test = slice(0, 800), slice(800, None)

    def held_out_mse(imputer):
        pipe = make_pipeline(imputer, LinearRegression()).fit(X[train], y[train])
        return np.mean((pipe.predict(X[test]) - y[test]) ** 2)

    ours = held_out_mse(GaussianMixtureImputer(1, random_state=0))
    mean = held_out_mse(SimpleImputer(strategy="mean"))
    assert ours < 0.8 * mean, (ours, mean)

    scores = cross_val_score(
        make_pipeline(GaussianMixtureImputer(1, random_state=0), LinearRegression()),
        X,
        y,
        cv=KFold(3, shuffle=True, random_state=0),
    )
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.5


def test_imputer_then_gaussian_mixture_regressor_pipeline():
    _, X, y = correlated_with_missing(600, seed=25)
    pipe = make_pipeline(
        GaussianMixtureImputer(1, random_state=0),
        GaussianMixtureRegressor(2, random_state=0, tol=1e-4),
    )
    pipe.fit(X, y)
    mean, std = pipe.predict(X[:10], return_std=True)
    assert mean.shape == std.shape == (10,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    assert pipe.score(X, y) > 0.5


def test_imputer_keeps_float32():
    from gaussmix.sklearn import GaussianMixtureImputer

    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan
    filled = GaussianMixtureImputer(random_state=0).fit(X).transform(X)
    assert filled.dtype == np.float32
    assert not np.isnan(filled).any()
