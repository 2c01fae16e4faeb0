"""gaussmix.sklearn.GaussianMixture / BayesianGaussianMixture against scikit-learn itself.

The reference is scikit-learn's own estimators, run on the same data from the
same random state: same initializations, same iterations, same parameters.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

sklearn = pytest.importorskip("sklearn")
from sklearn import mixture as skm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from gaussmix import GMM  # noqa: E402
from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture  # noqa: E402

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INITS = ("kmeans", "k-means++", "random", "random_from_data")
PRIORS = ("dirichlet_process", "dirichlet_distribution")


def blobs(n=600, d=3, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0] * d, [4.0] * d, [0.0, 5.0] + [5.0] * (d - 2)])[:, :d]
    scales = np.array([1.0, 0.5, 1.5])
    labels = rng.randint(0, 3, n)
    X = centers[labels] + rng.randn(n, d) * scales[labels, None]
    return X.astype(dtype), labels


def fit_both(ours_cls, ref_cls, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(**params).fit(X)
        ref = ref_cls(**params).fit(X)
    return ours, ref


def assert_same_fit(ours, ref, rtol=1e-6, atol=1e-9):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(ref, name), rtol=rtol, atol=atol, err_msg=name
        )
    assert ours.n_iter_ == ref.n_iter_
    assert ours.converged_ == ref.converged_
    np.testing.assert_allclose(ours.lower_bound_, np.squeeze(ref.lower_bound_), rtol=rtol)
    np.testing.assert_allclose(
        ours.lower_bounds_, np.ravel(np.asarray(ref.lower_bounds_, dtype=float)), rtol=rtol
    )


# --------------------------------------------------------------------------
# Same start, same iterations, same parameters
# --------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INITS)
def test_gaussian_mixture_equals_sklearn(covariance_type, init_params):
    X, _ = blobs()
    ours, ref = fit_both(
        GaussianMixture,
        skm.GaussianMixture,
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=3,
        max_iter=8,
        tol=0.0,
    )
    assert ours.n_iter_ == 8
    assert_same_fit(ours, ref)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_mixture_converges_like_sklearn(covariance_type):
    X, _ = blobs(seed=1)
    ours, ref = fit_both(
        GaussianMixture,
        skm.GaussianMixture,
        X,
        n_components=3,
        covariance_type=covariance_type,
        random_state=0,
        tol=1e-6,
    )
    assert ours.converged_
    assert_same_fit(ours, ref)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_allclose(ours.bic(X), ref.bic(X), rtol=1e-9)
    np.testing.assert_allclose(ours.aic(X), ref.aic(X), rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIORS)
@pytest.mark.parametrize("init_params", ["kmeans", "random_from_data"])
def test_bayesian_mixture_equals_sklearn(covariance_type, prior_type, init_params):
    X, _ = blobs()
    ours, ref = fit_both(
        BayesianGaussianMixture,
        skm.BayesianGaussianMixture,
        X,
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        random_state=2,
        max_iter=12,
        tol=0.0,
    )
    assert_same_fit(ours, ref)
    for name in ("mean_precision_", "degrees_of_freedom_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(ours.weight_concentration_), np.asarray(ref.weight_concentration_), rtol=1e-6
    )
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)


def test_bayesian_mixture_user_priors_equal_sklearn():
    X, _ = blobs(d=2)
    params = dict(
        n_components=4,
        weight_concentration_prior=0.01,
        mean_precision_prior=0.5,
        mean_prior=[1.0, -1.0],
        degrees_of_freedom_prior=3.5,
        covariance_prior=np.array([[2.0, 0.3], [0.3, 1.0]]),
        random_state=0,
        max_iter=10,
        tol=0.0,
    )
    ours, ref = fit_both(BayesianGaussianMixture, skm.BayesianGaussianMixture, X, **params)
    assert_same_fit(ours, ref)
    for name in (
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "mean_prior_",
        "degrees_of_freedom_prior_",
        "covariance_prior_",
    ):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name))


def test_partial_initial_values_equal_sklearn():
    X, _ = blobs()
    ref0 = skm.GaussianMixture(3, random_state=0).fit(X)
    for initial in (
        {"weights_init": ref0.weights_},
        {"means_init": ref0.means_ + 0.3},
        {"precisions_init": ref0.precisions_},
        {
            "weights_init": ref0.weights_,
            "means_init": ref0.means_,
            "precisions_init": ref0.precisions_,
        },
    ):
        ours, ref = fit_both(
            GaussianMixture,
            skm.GaussianMixture,
            X,
            n_components=3,
            max_iter=3,
            tol=0,
            random_state=1,
            **initial,
        )
        assert_same_fit(ours, ref)


# --------------------------------------------------------------------------
# Behaviour scikit-learn users rely on
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_dtypes_follow_sklearn_for_float32_data(cls):
    # GaussianMixture keeps float32; scikit-learn's BayesianGaussianMixture returns float64
    X, _ = blobs(dtype=np.float32)
    est = cls(n_components=3, random_state=0).fit(X)
    ref = getattr(skm, cls.__name__)(n_components=3, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(est, name).dtype == getattr(ref, name).dtype, name
    for data in (X, X.astype(np.float64)):
        assert est.score_samples(data).dtype == ref.score_samples(data).dtype
        assert est.predict_proba(data).dtype == ref.predict_proba(data).dtype
    np.testing.assert_allclose(
        np.sort(est.means_, 0), np.sort(ref.means_, 0), rtol=1e-3, atol=1e-3
    )


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_steps_equal_one_cold_fit(cls, covariance_type):
    X, _ = blobs()
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0, tol=0.0)
    warm = cls(max_iter=1, warm_start=True, **params)
    bounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(4):
            warm.fit(X)
            bounds.append(warm.lower_bound_)
        cold = cls(max_iter=4, **params).fit(X)
    np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-10)
    np.testing.assert_allclose(warm.covariances_, cold.covariances_, rtol=1e-10)
    # the objective never decreases (log-likelihood, or the variational bound)
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[:-1]))


def test_warm_start_change_is_measured_against_previous_bound():
    X, _ = blobs()
    est = GaussianMixture(3, random_state=0, tol=1e-3, warm_start=True).fit(X)
    assert est.converged_
    est.fit(X)  # already converged: one iteration, change below tol
    assert est.n_iter_ == 1 and est.converged_


def test_n_init_keeps_best_and_first_run_equals_single_run():
    X, _ = blobs(seed=4)
    single = GaussianMixture(3, init_params="random", random_state=7, max_iter=5, tol=0)
    multi = GaussianMixture(3, init_params="random", random_state=7, max_iter=5, tol=0, n_init=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single.fit(X)
        multi.fit(X)
    assert multi.lower_bound_ >= single.lower_bound_
    ref = skm.GaussianMixture(3, init_params="random", random_state=7, max_iter=5, tol=0, n_init=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X)
    assert_same_fit(multi, ref)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_fit_predict_equals_fit_then_predict_when_not_converged(cls):
    X, _ = blobs()
    est = cls(n_components=3, random_state=0, max_iter=2, n_init=2)
    with pytest.warns(ConvergenceWarning, match="Best performing initialization did not"):
        labels = est.fit_predict(X)
    np.testing.assert_array_equal(labels, est.predict(X))


def test_max_iter_zero_returns_initialization_without_warning():
    X, _ = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = GaussianMixture(3, max_iter=0, random_state=0, init_params="k-means++").fit(X)
    ref = skm.GaussianMixture(3, max_iter=0, random_state=0, init_params="k-means++").fit(X)
    np.testing.assert_allclose(ours.means_, ref.means_)
    np.testing.assert_allclose(ours.weights_, ref.weights_)
    assert ours.n_iter_ == 0
    assert len(np.unique(ours.means_, axis=0)) == 3


def test_bayesian_mixture_prunes_surplus_components():
    X, labels = blobs(n=900)
    est = BayesianGaussianMixture(n_components=10, random_state=0, max_iter=500).fit(X)
    assert (est.weights_ > 0.02).sum() == 3
    assert adjusted_rand_score(labels, est.predict(X)) > 0.95
    gmm = est.to_gmm()
    np.testing.assert_allclose(gmm.priors, est.weights_, rtol=1e-12)


def test_bayesian_mixture_shift_invariance():
    X, _ = blobs()
    a = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    b = BayesianGaussianMixture(n_components=3, random_state=0).fit(X + 100)
    np.testing.assert_allclose(b.means_, a.means_ + 100, rtol=1e-6)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-6)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-5)


def test_sample_shapes_labels_and_moments():
    X, _ = blobs(n=2000)
    est = GaussianMixture(3, random_state=0).fit(X)
    S, y = est.sample(30000)
    assert S.shape == (30000, 3) and y.shape == (30000,)
    assert np.all(np.diff(y) >= 0)
    for j in range(3):
        rows = S[y == j]
        # Monte Carlo: the component's mean within 5 standard errors
        se = np.sqrt(np.diag(est.covariances_[j]) / len(rows))
        assert np.all(np.abs(rows.mean(0) - est.means_[j]) < 5 * se)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        est.sample(0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_to_gmm_density_equals_score_samples(covariance_type):
    X, _ = blobs()
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    gmm = est.to_gmm()
    assert isinstance(gmm, GMM)
    assert gmm.covariance_type_ == covariance_type
    np.testing.assert_allclose(gmm.score_samples(X), est.score_samples(X), rtol=1e-10)
    # and both are the scipy mixture density
    dens = sum(
        w * multivariate_normal(m, c).pdf(X[:20])
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    )
    np.testing.assert_allclose(np.exp(est.score_samples(X[:20])), dens, rtol=1e-10)


# --------------------------------------------------------------------------
# Errors and warnings, in scikit-learn's words
# --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_not_fitted(cls):
    X, _ = blobs(n=20)
    est = cls()
    msg = f"This {cls.__name__} instance is not fitted yet"
    for method in ("predict", "predict_proba", "score", "score_samples"):
        with pytest.raises(NotFittedError, match=msg):
            getattr(est, method)(X)
    with pytest.raises(NotFittedError, match=msg):
        est.sample(0)


def test_error_messages_match_sklearn():
    X, _ = blobs(n=10, d=2)
    cases = [
        (dict(n_components=12), "Expected n_samples >= n_components but got n_components = 12, "),
        (
            dict(n_components=2, weights_init=[[0.5], [0.5]]),
            "The parameter 'weights' should have the shape of (2,), but got (2, 1)",
        ),
        (
            dict(n_components=2, weights_init=[-0.2, 1.2]),
            "The parameter 'weights' should be in the range [0, 1], but got max value -0.20000, "
            "min value 1.20000",
        ),
        (
            dict(n_components=2, weights_init=[0.2, 0.2]),
            "The parameter 'weights' should be normalized, but got sum(weights) = 0.40000",
        ),
        (dict(n_components=2, means_init=[[0.0, 1.0]]), "The parameter 'means' should have the"),
        (
            dict(n_components=2, precisions_init=np.ones((2, 2, 2))),
            "'full precision' should be symmetric, positive-definite",
        ),
        (
            dict(n_components=2, covariance_type="diag", precisions_init=-np.ones((2, 2))),
            "'diag precision' should be positive",
        ),
        (
            dict(n_components=2, covariance_type="spherical", precisions_init=np.ones(3)),
            "The parameter 'spherical precision' should have the shape of",
        ),
    ]
    for params, message in cases:
        for cls in (GaussianMixture, skm.GaussianMixture):
            with pytest.raises(ValueError, match=re.escape(message)):
                cls(**params).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_samples_without_regularization(covariance_type):
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    est = GaussianMixture(10, reg_covar=0, covariance_type=covariance_type, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            est.fit(X)
        est.set_params(reg_covar=1e-6).fit(X)
    assert np.isfinite(est.lower_bound_)


def test_bayesian_prior_errors():
    X, _ = blobs(n=20, d=3)
    with pytest.raises(ValueError, match=re.escape("should be greater than 2, but got 1.000")):
        BayesianGaussianMixture(degrees_of_freedom_prior=1.0).fit(X)
    with pytest.raises(ValueError, match="'full covariance_prior' should have the shape"):
        BayesianGaussianMixture(covariance_prior=np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="'diag precision' should be positive"):
        BayesianGaussianMixture(covariance_type="diag", covariance_prior=-np.ones(3)).fit(X)
    with pytest.raises(ValueError):  # scikit-learn's InvalidParameterError
        BayesianGaussianMixture(weight_concentration_prior_type="x").fit(X)
    with pytest.raises(ValueError):
        GaussianMixture(n_components=0).fit(X)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_verbose_prints_sklearn_lines(cls, capsys):
    X, _ = blobs(n=200)
    cls(n_components=2, verbose=2, verbose_interval=1, random_state=0, max_iter=3).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1\t time lapse" in out
    assert "lower bound" in out


def test_clone_and_refit_with_changed_parameters():
    X, _ = blobs()
    est = GaussianMixture(3, random_state=0).fit(X)
    other = clone(est).set_params(covariance_type="diag").fit(X)
    assert other.covariances_.shape == (3, 3)
    assert est.covariances_.shape == (3, 3, 3)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 4),
    d=st.integers(1, 4),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    bayesian=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fitted_shapes_and_normalization(k, d, covariance_type, bayesian, seed):
    X = np.random.RandomState(seed).randn(40, d)
    cls = BayesianGaussianMixture if bayesian else GaussianMixture
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = cls(n_components=k, covariance_type=covariance_type, random_state=seed).fit(X)
    shapes = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
    assert est.covariances_.shape == shapes[covariance_type]
    assert est.precisions_cholesky_.shape == shapes[covariance_type]
    np.testing.assert_allclose(est.weights_.sum(), 1.0, rtol=1e-12)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-10)
    if covariance_type in ("full", "tied"):
        cov = est.covariances_.reshape(-1, d, d)
        prec = est.precisions_.reshape(-1, d, d)
        np.testing.assert_allclose(cov, np.swapaxes(cov, 1, 2))
        assert (np.linalg.eigvalsh(cov) > 0).all()
        np.testing.assert_allclose(cov @ prec, np.broadcast_to(np.eye(d), cov.shape), atol=1e-8)
    else:
        np.testing.assert_allclose(est.covariances_ * est.precisions_, 1.0, rtol=1e-10)


@parametrize_with_checks([GaussianMixture(), BayesianGaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------
# Bayesian GMR
# --------------------------------------------------------------------------
def test_bayesian_regressor_prunes_and_predicts_like_gmr_of_its_mixture():
    from gaussmix.sklearn import BayesianGaussianMixtureRegressor

    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, (1500, 1))
    y = np.sin(X[:, 0]) + 0.1 * rng.randn(1500)
    reg = BayesianGaussianMixtureRegressor(n_components=20, random_state=0).fit(X, y)
    counts = reg._expected_counts()
    assert 1 <= reg.n_components_ < 20
    assert reg.n_components_ == int((counts >= 1.0).sum())
    # the pruned components carried almost no mass: predictions stay those of
    # the full posterior-mean mixture to within a small fraction of the noise
    assert reg.mixture_.weights_[counts < 1.0].sum() < 0.01
    full = reg.mixture_.to_gmm()
    grid = np.linspace(-2.5, 2.5, 50)[:, None]
    np.testing.assert_allclose(reg.predict(grid), full.predict([0], grid)[:, 0], atol=0.01)
    # closed form: the noise-free curve within a few noise levels
    assert np.max(np.abs(reg.predict(grid) - np.sin(grid[:, 0]))) < 0.15
    mean, std = reg.predict(grid, return_std=True)
    assert mean.shape == std.shape == (50,)
    assert np.all((std > 0.05) & (std < 0.3))


def test_bayesian_regressor_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    from gaussmix.sklearn import BayesianGaussianMixtureRegressor

    results = check_estimator(
        BayesianGaussianMixtureRegressor(n_components=3, random_state=0, max_iter=50),
        on_fail=None,
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []


# --------------------------------------------------------------------------
# Safe files
# --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".npz"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda ct: GaussianMixture(3, covariance_type=ct, random_state=0),
        lambda ct: BayesianGaussianMixture(n_components=4, covariance_type=ct, random_state=0),
        lambda ct: BayesianGaussianMixture(
            n_components=4,
            covariance_type=ct,
            weight_concentration_prior_type="dirichlet_distribution",
            random_state=0,
        ),
    ],
)
def test_save_load_round_trip(tmp_path, suffix, covariance_type, make):
    X, _ = blobs()
    est = make(covariance_type).fit(X)
    path = tmp_path / f"model{suffix}"
    est.save(path)
    loaded = type(est).load(path)
    assert loaded.get_params() == est.get_params()
    np.testing.assert_allclose(loaded.score_samples(X), est.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(loaded, name), getattr(est, name), rtol=1e-12)
    assert loaded.n_iter_ == est.n_iter_ and loaded.converged_ == est.converged_
    # the same file is a plain gaussmix GMM file of the fitted mixture
    gmm = GMM.load(path)
    np.testing.assert_allclose(gmm.score_samples(X), est.to_gmm().score_samples(X), rtol=1e-12)


def test_saved_estimator_file_is_validated(tmp_path):
    import json

    X, _ = blobs()
    path = tmp_path / "model.json"
    GaussianMixture(2, random_state=0).fit(X).save(path)
    data = json.loads(path.read_text())

    def write(record):
        bad = dict(data, estimator=json.dumps(record))
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        return tmp_path / "bad.json"

    good = json.loads(data["estimator"])
    with pytest.raises(ValueError, match="BayesianGaussianMixture"):
        GaussianMixture.load(write(dict(good, **{"class": "BayesianGaussianMixture"})))
    with pytest.raises(ValueError, match="unknown estimator class"):
        GaussianMixture.load(write(dict(good, **{"class": "os.system"})))
    with pytest.raises(ValueError, match="unknown estimator parameter"):
        GaussianMixture.load(write(dict(good, params=dict(good["params"], evil=1))))
    with pytest.raises(ValueError):  # scikit-learn's parameter validation
        GaussianMixture.load(write(dict(good, params=dict(good["params"], n_components=-1))))
    bad_cov = dict(good["fitted"], covariances_=(-np.ones((2, 3, 3))).tolist())
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture.load(write(dict(good, fitted=bad_cov)))
    with pytest.raises(ValueError, match="shape"):
        GaussianMixture.load(write(dict(good, fitted=dict(good["fitted"], means_=[[1.0]]))))
    with pytest.raises(ValueError, match="only numbers"):
        GaussianMixture.load(write(dict(good, fitted=dict(good["fitted"], weights_=["a", 1]))))
    plain = tmp_path / "plain.json"
    GaussianMixture(2, random_state=0).fit(X).to_gmm().save(plain)
    with pytest.raises(ValueError, match="holds no scikit-learn estimator"):
        GaussianMixture.load(plain)


# --------------------------------------------------------------------------
# Review findings (independent review of this issue)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data", "kmeans"])
@pytest.mark.parametrize("scale", [1e4, 1e6])
def test_starts_on_unscaled_data_equal_sklearn(init_params, scale):
    # moments of the initial responsibilities about each component's own centre:
    # about the data's mean, one-row starts at 1e4 were 1 % off scikit-learn's
    # reg_covar * I and converged fits ended elsewhere
    X, _ = blobs(n=900, d=2, seed=5)
    X = X * scale
    for max_iter in (0, 1, 30):
        ours, ref = fit_both(
            GaussianMixture,
            skm.GaussianMixture,
            X,
            n_components=3,
            init_params=init_params,
            random_state=0,
            max_iter=max_iter,
            reg_covar=1e-6,
        )
        np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-9)
        np.testing.assert_allclose(ours.weights_, ref.weights_, rtol=1e-9)
        assert ours.n_iter_ == ref.n_iter_


def test_tight_far_cluster_start_equals_sklearn():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (300, 2)), [[1e5, 1e5]], [[1e5, -1e5]]])
    ours, ref = fit_both(
        GaussianMixture, skm.GaussianMixture, X, n_components=3, max_iter=0, random_state=0
    )
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-6, atol=1e-15)


def test_warm_start_with_another_structure_is_refused():
    X, _ = blobs()
    est = GaussianMixture(2, random_state=0, warm_start=True).fit(X)
    with pytest.raises(ValueError, match="warm_start=True continues the previous fit"):
        est.set_params(covariance_type="tied").fit(X)
    with pytest.raises(ValueError, match="n_components=2"):
        est.set_params(covariance_type="full", n_components=4).fit(X)
    est.set_params(n_components=2).fit(X)  # the same structure continues


def test_spherical_prior_given_as_a_list_saves_and_loads(tmp_path):
    X, _ = blobs()
    est = BayesianGaussianMixture(
        n_components=2, covariance_type="spherical", covariance_prior=[2.5], random_state=0
    ).fit(X)
    est.save(tmp_path / "m.json")
    loaded = BayesianGaussianMixture.load(tmp_path / "m.json")
    np.testing.assert_allclose(loaded.score_samples(X), est.score_samples(X), rtol=1e-12)


def test_hostile_estimator_fields_that_would_give_a_wrong_model_are_refused(tmp_path):
    import json

    X, _ = blobs()
    path = tmp_path / "model.json"
    BayesianGaussianMixture(n_components=2, random_state=0).fit(X).save(path)
    GaussianMixture(2, random_state=0).fit(X).save(tmp_path / "gm.json")
    cases = [
        ("gm.json", "weights_", [5.0, 5.0], "must sum to 1"),
        ("gm.json", "covariances_", None, "symmetric"),
        ("model.json", "weight_concentration_", [[1e308, 1e308], [1e308, 1e308]], "non-finite"),
    ]
    for name, field, value, message in cases:
        data = json.loads((tmp_path / name).read_text())
        record = json.loads(data["estimator"])
        if value is None:  # a non-symmetric covariance
            value = record["fitted"][field]
            value[0][0][1] += 0.5
        record["fitted"][field] = value
        data["estimator"] = json.dumps(record)
        (tmp_path / "bad.json").write_text(json.dumps(data))
        cls = GaussianMixture if name == "gm.json" else BayesianGaussianMixture
        with pytest.raises(ValueError, match=message):
            cls.load(tmp_path / "bad.json")
    data = json.loads((tmp_path / "gm.json").read_text())
    data["estimator"] = "{not json"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json: the estimator field is not a JSON object"):
        GaussianMixture.load(tmp_path / "bad.json")
