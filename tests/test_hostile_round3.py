"""The last hostile arguments (issue 26): a result or a ValueError/TypeError naming the argument.

Integers beyond float64, gmr's public helper functions, the plot and data helpers,
random seeds, Dask collections, and scikit-learn's float32 and one-point cases.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

import gaussmix
from gaussmix import GMM, MVN, datasets
from gaussmix import mvn as mvn_module
from gaussmix.utils import check_random_state

HUGE = 10**400


def _gmm():
    return GMM(
        2,
        priors=[0.4, 0.6],
        means=[[0.0, 0.0], [2.0, 1.0]],
        covariances=[np.eye(2), [[1.0, 0.5], [0.5, 2.0]]],
        random_state=0,
    )


def _mvn():
    return MVN(mean=[0.0, 1.0], covariance=[[2.0, 0.6], [0.6, 1.0]], random_state=0)


X_HUGE = [[HUGE, 0]]
DATA = np.random.default_rng(0).normal(size=(30, 2))

# ----------------------------------------------------------------------
# Integers beyond float64
# ----------------------------------------------------------------------
HUGE_CASES = {
    "score_samples": lambda: _gmm().score_samples(X_HUGE),
    "score": lambda: _gmm().score(X_HUGE),
    "bic": lambda: _gmm().bic(X_HUGE),
    "aic": lambda: _gmm().aic(X_HUGE),
    "predict": lambda: _gmm().predict([0], [[HUGE]]),
    "to_responsibilities": lambda: _gmm().to_responsibilities(X_HUGE),
    "to_probability_density": lambda: _gmm().to_probability_density(X_HUGE),
    "is_in_confidence_region": lambda: _gmm().is_in_confidence_region(X_HUGE[0], 0.5),
    "impute": lambda: _gmm().impute([[HUGE, np.nan]]),
    "from_samples": lambda: GMM(1).from_samples([*X_HUGE, [0, 1]]),
    "condition": lambda: _gmm().condition([0], [HUGE]),
    "mvn.to_probability_density": lambda: _mvn().to_probability_density(X_HUGE),
    "mvn.to_norm_factor_and_exponents": lambda: _mvn().to_norm_factor_and_exponents(X_HUGE),
    "mvn.from_samples": lambda: MVN().from_samples([*X_HUGE, [0, 1]]),
    "mvn.squared_mahalanobis_distance": lambda: _mvn().squared_mahalanobis_distance(X_HUGE[0]),
    "kmeansplusplus_initialization": lambda: gaussmix.kmeansplusplus_initialization(
        [*X_HUGE, [0, 1]], 1
    ),
    "covariance_initialization": lambda: gaussmix.covariance_initialization([*X_HUGE, [0, 1]], 1),
    "mvn.condition": lambda: mvn_module.condition([0, 0], np.eye(2), [1], [0], [[HUGE]]),
    "means": lambda: GMM(1, priors=[1], means=[[HUGE, 0]], covariances=[np.eye(2)]).sample(1),
    "mean": lambda: MVN(mean=[HUGE, 0], covariance=np.eye(2)).sample(1),
}


@pytest.mark.parametrize("case", sorted(HUGE_CASES))
def test_integers_beyond_float64_are_value_errors(case):
    """Regression (issue 26): a bare OverflowError 'int too large to convert to float'."""
    with pytest.raises(ValueError, match="integer too large for float64"):
        HUGE_CASES[case]()


def test_huge_integers_in_the_oas_count_name_it():
    with pytest.raises(ValueError, match="n_samples_eff"):
        _gmm().apply_oracle_approximating_shrinkage(HUGE)


@pytest.mark.parametrize("method", ["score_samples", "score", "bic", "aic", "predict"])
def test_scikit_learn_estimators_refuse_huge_integers_naming_x(method):
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture

    estimator = GaussianMixture(2, random_state=0).fit(DATA)
    with pytest.raises(ValueError, match="X contains an integer too large"):
        getattr(estimator, method)(X_HUGE)
    with pytest.raises(ValueError, match="X contains an integer too large"):
        GaussianMixture(1).fit([*X_HUGE, [0, 1]])


def test_regressor_names_x_or_y_for_huge_integers():
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixtureRegressor

    with pytest.raises(ValueError, match=r"^X contains an integer too large"):
        GaussianMixtureRegressor(1).fit([[HUGE], [0]], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"^y contains an integer too large"):
        GaussianMixtureRegressor(1).fit([[1.0], [0.0]], [HUGE, 1])
    fitted = GaussianMixtureRegressor(1, random_state=0).fit(DATA[:, :1], DATA[:, 1])
    with pytest.raises(ValueError, match=r"^X contains an integer too large"):
        fitted.predict([[HUGE]])


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("weights_init", [HUGE, 0]),
        ("means_init", [[HUGE, 0.0], [1.0, 1.0]]),
        ("precisions_init", [HUGE, 1]),
        ("reg_covar", HUGE),
        ("tol", HUGE),
    ],
)
def test_estimator_parameters_beyond_float64_are_named(parameter, value):
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture

    estimator = GaussianMixture(2, covariance_type="spherical", **{parameter: value})
    with pytest.raises(ValueError, match=f"^{parameter} (is|contains) an integer too large"):
        estimator.fit(DATA)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples'"):
        GaussianMixture(1).fit(DATA).sample(HUGE)


def test_integers_within_float64_still_work():
    """Python ints up to 1e308 convert (object arrays of exact integers)."""
    X = np.array([[10**300, 0], [0, 1]], dtype=object)
    assert np.isfinite(_gmm().score_samples(np.array([[3, 4]], dtype=object))).all()
    with pytest.raises(ValueError, match="spans"):  # a finite value, refused as too wide
        GMM(1).from_samples(X)


# ----------------------------------------------------------------------
# gmr's helper functions
# ----------------------------------------------------------------------
COV = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]])


def test_regression_coefficients_match_the_closed_form():
    coef = mvn_module.regression_coefficients(COV, [0], [1, 2])
    expected = COV[np.ix_([0], [1, 2])] @ np.linalg.inv(COV[np.ix_([1, 2], [1, 2])])
    np.testing.assert_allclose(coef, expected, rtol=1e-12, atol=1e-15)
    coef_12 = mvn_module.regression_coefficients(COV, [0], [1, 2], cov_12=COV[np.ix_([0], [1, 2])])
    np.testing.assert_allclose(coef_12, expected, rtol=1e-12, atol=1e-15)


def test_condition_matches_scipy_marginal_of_the_conditional():
    mean = np.array([1.0, -1.0, 0.5])
    x = np.array([[0.3]])
    means, cov = mvn_module.condition(mean, COV, [0], [1], x)
    # p(x0 | x1) with x2 marginalized: the 2-D Gaussian of (x0, x1).
    sub = COV[np.ix_([0, 1], [0, 1])]
    expected_mean = mean[0] + sub[0, 1] / sub[1, 1] * (x[0, 0] - mean[1])
    expected_var = sub[0, 0] - sub[0, 1] ** 2 / sub[1, 1]
    np.testing.assert_allclose(means, [[expected_mean]], rtol=1e-12)
    np.testing.assert_allclose(cov, [[expected_var]], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mvn_module.regression_coefficients(COV, [0, 1], [1]), "disjoint"),
        (lambda: mvn_module.regression_coefficients(COV[:2], [0], [1]), "square"),
        (lambda: mvn_module.regression_coefficients(COV, [], [1]), "i_out must name"),
        (lambda: mvn_module.regression_coefficients(COV, [0], [5]), "i_in must lie"),
        (
            lambda: mvn_module.regression_coefficients(COV, [0], [1], cov_12=np.ones((3, 3))),
            r"cov_12 must have shape \(len\(i_out\), len\(i_in\)\) = \(1, 1\)",
        ),
        (
            lambda: mvn_module.regression_coefficients(
                COV + np.triu(np.ones((3, 3)), 1), [0], [1]
            ),
            "covariance is not symmetric",
        ),
        (lambda: mvn_module.condition(np.zeros(3), COV, [0, 1], [1], [[1.0]]), "disjoint"),
        (lambda: mvn_module.condition(np.zeros(3), COV, [], [1], [[1.0]]), "i_out must name"),
        (lambda: mvn_module.condition(np.zeros(3), COV[:2], [0], [1], [[1.0]]), "covariance"),
        (
            lambda: mvn_module.condition(np.zeros(3), COV, [0], [1], [[1.0, 2.0]]),
            "one per index in i_in",
        ),
        (lambda: mvn_module.condition(np.zeros(3), COV, [0], [1], "abc"), "X must contain"),
    ],
)
def test_gmr_helpers_refuse_bad_blocks_naming_the_argument(call, message):
    """Regression (issue 26): overlapping indices passed; numpy's reshape/solve errors."""
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_covariance_initialization_refuses_an_overflowing_outlier():
    """Regression (issue 26): a 1e200 outlier gave inf covariances."""
    X = np.vstack([DATA, [[1e200, 0.0]]])
    with pytest.raises(ValueError, match="spans 1e\\+200 in column 0"):
        gaussmix.covariance_initialization(X, 2)
    covs = gaussmix.covariance_initialization(DATA * 1e100, 2)
    assert np.isfinite(covs).all()


def test_missing_data_rows_whose_squares_overflow_are_a_value_error():
    """Regression (issue 27 review): three rows at 1e150 among NaN patterns made the
    M-step's covariances infinite, and numpy's eigendecomposition raised a bare
    LinAlgError ("Eigenvalues did not converge"). Whether a fit gets there depends on its
    last bits; the projection it reached is checked directly, the fit for its contract."""
    from gaussmix.covariance import project_psd

    infinite = np.array([[[np.inf, 1.0], [1.0, 2.0]], [[1.0, 0.0], [0.0, -1.0]]])
    with pytest.raises(ValueError, match="overflows float64"):
        project_psd(infinite)
    with pytest.raises(ValueError, match="overflows float64"):
        project_psd(np.where(np.isinf(infinite), np.nan, infinite))
    rng = np.random.default_rng(0)
    for _ in range(3):  # (the third draw is the reviewer's data)
        X = rng.normal(size=(2000, 9))
        X[:1000] += 3.0
        X[rng.random(X.shape) < 0.1] = np.nan
    X[:3] *= 1e150
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            gmm = GMM(n_components=3, random_state=1).from_samples(
                X, allow_missing=True, n_iter=15
            )
        except ValueError as error:  # never numpy's LinAlgError
            assert "overflows float64" in str(error) or "NaN or infinite" in str(error)
        else:
            assert np.isfinite(gmm.covariances).all() and np.isfinite(gmm.means).all()


# ----------------------------------------------------------------------
# Plot and data helpers, seeds
# ----------------------------------------------------------------------
def test_conditional_density_matches_scipy_and_stays_finite_far_out():
    from gaussmix.plot import conditional_density

    gmm = _gmm()
    xs, ys = np.array([-1.0, 0.5, 2.0]), np.linspace(-3.0, 4.0, 7)
    density = conditional_density(gmm, xs, ys)
    joint = sum(
        w * multivariate_normal(m, c).pdf(np.column_stack([np.repeat(xs, 7), np.tile(ys, 3)]))
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    ).reshape(3, 7)
    marginal = sum(
        w * norm(m[0], np.sqrt(c[0, 0])).pdf(xs)
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    )
    np.testing.assert_allclose(density, (joint / marginal[:, None]).T, rtol=1e-10)
    far = conditional_density(gmm, [1e200, -1e200], ys)
    assert np.isfinite(far).all()


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        ("abc", TypeError, "x must contain real numbers"),
        ([1j], TypeError, "x must contain real numbers"),
        ([np.nan], ValueError, "x contains NaN"),
        ([[HUGE]], ValueError, "x contains an integer too large"),
        (np.ones((2, 2)), ValueError, "x must be 0-D or 1-D"),
    ],
)
def test_conditional_density_refuses_bad_x(x, error, message):
    from gaussmix.plot import conditional_density

    with pytest.raises(error, match=message):
        conditional_density(_gmm(), x, [0.0, 1.0])


def test_plot_regression_validates_its_arguments():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gaussmix.plot import plot_regression

    figure, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match="n_points must be >= 2; got -5"):
            plot_regression(ax, _gmm(), n_points=-5)
        with pytest.raises(TypeError, match="x must contain real numbers"):
            plot_regression(ax, _gmm(), x="abc")
        with pytest.raises(TypeError, match="n_std must be a real number"):
            plot_regression(ax, _gmm(), n_std="abc")
        with pytest.raises(TypeError, match="n_points must be an integer"):
            plot_regression(ax, _gmm(), n_points=2.5)
    finally:
        plt.close(figure)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"noise": np.nan}, ValueError, "noise must be finite"),
        ({"noise": -1}, ValueError, r"noise must be in \[0.0, 1e\+300\]"),
        ({"noise": 1e308}, ValueError, r"noise must be in \[0.0, 1e\+300\]"),
        ({"noise": "x"}, TypeError, "noise must be a real number"),
        ({"random_state": "x"}, TypeError, "random_state must be None, a non-negative"),
        ({"random_state": -1}, ValueError, "random_state must be a non-negative"),
        ({"n_samples": "x"}, TypeError, "n_samples must be an integer"),
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
    ],
)
def test_make_inverse_sine_validates_its_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        datasets.make_inverse_sine(**kwargs)


def test_make_inverse_sine_is_unchanged_for_valid_arguments():
    X = datasets.make_inverse_sine(50, noise=0.0, random_state=1)
    # noise 0: x is the forward map of y exactly.
    np.testing.assert_allclose(X[:, 0], X[:, 1] + 0.3 * np.sin(2 * np.pi * X[:, 1]))
    assert np.all(np.diff(X[:, 0]) >= 0)


def test_check_random_state_names_random_state():
    """Regression (issue 26): "'a' cannot be used to seed ..." did not say which argument."""
    with pytest.raises(ValueError, match="random_state='a' cannot be used"):
        check_random_state("a")
    with pytest.raises(ValueError, match="random_state='a'"):
        GMM(1, random_state="a")
    with pytest.raises(ValueError, match="random_state='a'"):
        gaussmix.kmeansplusplus_initialization(DATA, 2, random_state="a")


# ----------------------------------------------------------------------
# Dask collections
# ----------------------------------------------------------------------
def test_no_dask_import_to_answer_for_plain_arrays():
    from gaussmix._validation import is_dask_collection

    assert not is_dask_collection(np.ones(3))
    assert not is_dask_collection([[1.0]])


def test_a_dask_array_subclass_defined_elsewhere_stays_lazy():
    """Regression (issue 26): only dask's own module name was recognised."""
    da = pytest.importorskip("dask.array")
    import dask

    from gaussmix._validation import is_dask_collection

    class NeverMaterialised(da.Array):
        def __array__(self, *args, **kwargs):
            raise AssertionError("materialised with np.asarray")

    base = da.from_array(DATA, chunks=(10, 2))
    X = NeverMaterialised(base.dask, base.name, base.chunks, dtype=base.dtype)
    assert type(X).__module__ == __name__ and is_dask_collection(X)
    assert dask.is_dask_collection(X)
    with dask.config.set(scheduler="synchronous"):
        gmm = GMM(2, random_state=0).from_samples(X)
        scores = gmm.score_samples(X)
    assert isinstance(scores, da.Array)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = GMM(2, random_state=0).from_samples(DATA)
    np.testing.assert_allclose(gmm.means, expected.means, rtol=1e-6, atol=1e-8)


def test_another_dask_collection_is_refused_without_computing_it():
    pytest.importorskip("dask.array")
    import dask.bag as db

    with pytest.raises(TypeError, match=r"dask\.bag\.core\.Bag"):
        GMM(1).from_samples(db.from_sequence([1.0, 2.0]))


def test_an_object_claiming_a_dask_graph_but_not_a_collection_is_an_array():
    """dask.is_dask_collection's rule: __dask_graph__() must return a graph."""
    pytest.importorskip("dask")
    from gaussmix._validation import is_dask_collection

    class Pretender(np.ndarray):
        def __dask_graph__(self):
            return None

    assert "dask" in sys.modules
    assert not is_dask_collection(np.ones(2).view(Pretender))


# ----------------------------------------------------------------------
# scikit-learn's float32 weights and a component on one point
# ----------------------------------------------------------------------
def test_float32_weights_normalised_in_float32_are_accepted_as_by_scikit_learn():
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    from gaussmix.sklearn import GaussianMixture

    X = DATA.astype(np.float32)
    weights = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    weights = weights / weights.sum()  # sums to 1 +- 1e-7 in float32
    for cls in (sklearn_mixture.GaussianMixture, GaussianMixture):
        cls(3, weights_init=weights, random_state=0, max_iter=5).fit(X)
    bad = np.array([0.1, 0.2, 0.69], dtype=np.float32)
    for cls in (sklearn_mixture.GaussianMixture, GaussianMixture):
        with pytest.raises(ValueError, match="should be normalized"):
            cls(3, weights_init=bad).fit(X)


@pytest.mark.parametrize("covariance_type", ["spherical", "diag"])
def test_a_component_on_one_point_carries_on_as_in_scikit_learn(covariance_type):
    """Regression (issue 26): scikit-learn's test_gaussian_mixture_setting_best_params."""
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    from gaussmix.sklearn import GaussianMixture

    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 3))
    means = np.vstack([X[3], X[7], [0.5, 0.5, 0.5]])
    precisions = np.array([1e6, 1e6, 10.0])
    if covariance_type == "diag":
        precisions = np.repeat(precisions[:, None], 3, axis=1)
    options = {
        "covariance_type": covariance_type,
        "reg_covar": 0,
        "means_init": means,
        "precisions_init": precisions,
        "max_iter": 1,
        "random_state": 0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = GaussianMixture(3, **options).fit(X)
        theirs = sklearn_mixture.GaussianMixture(3, **options).fit(X)
    assert not ours.converged_
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-6)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-6)
    # the lone points' variances: rounding residues, tiny and positive in both
    lone = ours.covariances_[:2]
    assert np.all(lone > 0) and np.all(lone < 1e-12)
    assert np.isfinite(ours.lower_bound_)


def test_collapsed_samples_are_still_refused_as_by_scikit_learn():
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture

    X = np.vstack([np.ones((5, 3)), np.zeros((5, 3))])
    for covariance_type in ("full", "tied", "diag", "spherical"):
        with warnings.catch_warnings(), pytest.raises(ValueError, match="ill-defined"):
            warnings.simplefilter("ignore")
            GaussianMixture(10, reg_covar=0, covariance_type=covariance_type).fit(X)


def test_float32_data_whose_covariances_overflow_float32_are_refused():
    """scikit-learn's estimators keep float32 data's parameters in float32: a spread
    whose square exceeds float32's range (about 3.4e38) is refused by name (it gave
    infinite covariances_ silently), in fit and in partial_fit; 1e17 still fits."""
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture

    rng = np.random.default_rng(0)
    huge = (rng.normal(size=(3000, 4)) * 1e20).astype(np.float32)
    with pytest.raises(ValueError, match=r"X spans .* overflow float32"):
        GaussianMixture(3, random_state=0).fit(huge)
    with pytest.raises(ValueError, match=r"X spans .* overflow float32"):
        GaussianMixture(3, random_state=0).partial_fit(huge)
    large = (rng.normal(size=(3000, 4)) * 1e17).astype(np.float32)
    fitted = GaussianMixture(3, random_state=0).fit(large)
    assert fitted.covariances_.dtype == np.float32
    assert np.isfinite(fitted.covariances_).all()
