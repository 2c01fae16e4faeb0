"""GaussianMixtureRegressor: fit/predict, fitted attributes, clone and parameters.

Full scikit-learn estimator-check conformance is tested elsewhere.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("sklearn")
from sklearn.base import clone
from sklearn.metrics import r2_score

from gaussmix import GMM
from gaussmix.sklearn import GaussianMixtureRegressor

PARAMS = {
    "n_components": 3,
    "priors": None,
    "means": None,
    "covariances": None,
    "verbose": 0,
    "random_state": None,
    "R_diff": 1e-4,
    "n_iter": 500,
    "init_params": "random",
}


@pytest.fixture
def sine():
    rng = np.random.RandomState(0)
    X = np.linspace(-3, 3, 300)[:, None]
    y = np.sin(X[:, 0]) + 0.05 * rng.randn(300)
    return X, y


def test_fit_predict_1d_target(sine):
    X, y = sine
    reg = GaussianMixtureRegressor(n_components=5, random_state=0, init_params="kmeans++")
    assert reg.fit(X, y) is reg
    pred = reg.predict(X)
    assert pred.shape == (300,)
    assert r2_score(np.sin(X[:, 0]), pred) > 0.95
    assert reg.score(X, y) == pytest.approx(r2_score(y, pred))


def test_fitted_attributes(sine):
    X, y = sine
    reg = GaussianMixtureRegressor(n_components=4, random_state=0).fit(X, y)
    assert isinstance(reg.gmm_, GMM)
    assert reg.gmm_.n_components == 4
    assert reg.gmm_.means.shape == (4, 2)
    assert reg.gmm_.covariances.shape == (4, 2, 2)
    assert_allclose(reg.gmm_.priors.sum(), 1.0)
    assert_allclose(reg.indices_, [0])
    assert reg.n_features_in_ == 1
    # predict is the conditional mean of the joint mixture.
    assert_allclose(reg.predict(X[:20]), reg.gmm_.predict(reg.indices_, X[:20]).ravel())


def test_fit_predict_2d_target():
    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, size=(400, 2))
    Y = np.column_stack([X[:, 0] + 0.5 * X[:, 1], X[:, 0] - X[:, 1]]) + 0.05 * rng.randn(400, 2)
    reg = GaussianMixtureRegressor(n_components=2, random_state=0).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (400, 2)
    assert_allclose(reg.indices_, [0, 1])
    assert reg.gmm_.means.shape == (2, 4)
    # A linear-Gaussian relation: the fit is close to exact.
    assert np.sqrt(np.mean((pred - Y) ** 2)) < 0.1


def test_2d_target_with_one_column_keeps_2d_shape(sine):
    X, y = sine
    reg = GaussianMixtureRegressor(n_components=3, random_state=0).fit(X, y[:, None])
    assert reg.predict(X).shape == (300, 1)


def test_lists_are_accepted(sine):
    X, y = sine
    reg = GaussianMixtureRegressor(n_components=3, random_state=0).fit(X.tolist(), y.tolist())
    assert reg.predict(X[:5].tolist()).shape == (5,)


def test_get_params_has_gmr_parameters_and_defaults():
    params = GaussianMixtureRegressor(3).get_params()
    assert {key: params[key] for key in PARAMS} == PARAMS


@pytest.mark.filterwarnings("ignore::gaussmix.ConvergenceWarning")
def test_set_params_and_clone(sine):
    X, y = sine
    reg = GaussianMixtureRegressor(3)
    assert reg.set_params(n_components=4, random_state=7, n_iter=50) is reg
    assert reg.n_components == 4 and reg.random_state == 7 and reg.n_iter == 50
    reg.fit(X, y)
    twin = clone(reg)
    assert twin.get_params() == reg.get_params()
    assert not hasattr(twin, "gmm_")
    assert_allclose(twin.fit(X, y).predict(X), reg.predict(X))


def test_initial_parameters_are_used_and_not_mutated(sine):
    X, y = sine
    means = np.array([[-2.0, -0.9], [0.0, 0.0], [2.0, 0.9]])
    covs = np.stack([np.eye(2) * 0.3] * 3)
    priors = np.full(3, 1 / 3)
    originals = (means.copy(), covs.copy(), priors.copy())
    reg = GaussianMixtureRegressor(3, priors=priors, means=means, covariances=covs, n_iter=100)
    reg.fit(X, y)
    for given, original in zip((means, covs, priors), originals, strict=True):
        assert_allclose(given, original)
    # Starting from ordered means, the fitted components keep their order along x.
    assert np.all(np.diff(reg.gmm_.means[:, 0]) > 0)


def test_random_state_makes_fits_reproducible(sine):
    X, y = sine
    a = GaussianMixtureRegressor(4, random_state=3).fit(X, y).predict(X)
    b = GaussianMixtureRegressor(4, random_state=3).fit(X, y).predict(X)
    assert_allclose(a, b)


def test_multimodal_conditional_mean():
    """Two symmetric branches y = +-x: the conditional mean is 0, the GMR's correct answer,
    and the conditional mixture has one component near each branch."""
    x = np.repeat(np.linspace(1, 3, 200), 2)
    y = np.tile([1.0, -1.0], 200) * x
    means = np.array([[2.0, 2.0], [2.0, -2.0]])
    covs = np.stack([[[0.3, 0.3], [0.3, 0.31]], [[0.3, -0.3], [-0.3, 0.31]]])
    reg = GaussianMixtureRegressor(2, means=means, covariances=covs, random_state=0)
    queries = np.array([[1.5], [2.0], [2.5]])
    assert_allclose(reg.fit(x[:, None], y).predict(queries), 0.0, atol=0.05)
    cond = reg.gmm_.condition([0], [2.0])
    assert_allclose(cond.priors, 0.5, atol=0.05)
    assert_allclose(np.sort(cond.means[:, 0]), [-2.0, 2.0], atol=0.05)
