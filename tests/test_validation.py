"""Every misuse raises ValueError or TypeError with a message that names the argument."""

import numpy as np
import pytest

import gaussmix
from gaussmix import GMM, MVN
from gaussmix.utils import check_random_state

ERRORS = (ValueError, TypeError)

X2 = np.random.default_rng(0).normal(size=(20, 2))


def _gmm():
    return GMM(
        2,
        priors=[0.4, 0.6],
        means=[[0.0, 0.0], [2.0, 1.0]],
        covariances=[np.eye(2), [[2.0, 0.3], [0.3, 1.0]]],
        random_state=0,
    )


def _mvn():
    return MVN(mean=[0.0, 1.0], covariance=[[1.0, 0.2], [0.2, 2.0]], random_state=0)


# --------------------------------------------------------------------------- uninitialized


UNINITIALIZED_MVN_CALLS = {
    "sample": lambda m: m.sample(3),
    "sample_confidence_region": lambda m: m.sample_confidence_region(3, 0.5),
    "is_in_confidence_region": lambda m: m.is_in_confidence_region([0.0, 0.0], 0.5),
    "to_norm_factor_and_exponents": lambda m: m.to_norm_factor_and_exponents(X2),
    "to_probability_density": lambda m: m.to_probability_density(X2),
    "marginalize": lambda m: m.marginalize([0]),
    "condition": lambda m: m.condition([0], [1.0]),
    "predict": lambda m: m.predict([0], [[1.0]]),
    "squared_mahalanobis_distance": lambda m: m.squared_mahalanobis_distance([0.0, 0.0]),
    "to_ellipse": lambda m: m.to_ellipse(),
    "sigma_points": lambda m: m.sigma_points(),
}


@pytest.mark.parametrize("call", UNINITIALIZED_MVN_CALLS.values(), ids=UNINITIALIZED_MVN_CALLS)
def test_uninitialized_mvn(call):
    with pytest.raises(ValueError, match=r"(?i)mean|covariance"):
        call(MVN())
    with pytest.raises(ValueError, match=r"(?i)covariance"):
        call(MVN(mean=[0.0, 0.0]))


UNINITIALIZED_GMM_CALLS = {
    "sample": lambda g: g.sample(3),
    "sample_confidence_region": lambda g: g.sample_confidence_region(3, 0.5),
    "is_in_confidence_region": lambda g: g.is_in_confidence_region([0.0, 0.0], 0.5),
    "to_responsibilities": lambda g: g.to_responsibilities(X2),
    "to_probability_density": lambda g: g.to_probability_density(X2),
    "score_samples": lambda g: g.score_samples(X2),
    "condition": lambda g: g.condition([0], [1.0]),
    "predict": lambda g: g.predict([0], [[1.0]]),
    "marginalize": lambda g: g.marginalize([0]),
    "to_ellipses": lambda g: g.to_ellipses(),
    "to_mvn": lambda g: g.to_mvn(),
    "extract_mvn": lambda g: g.extract_mvn(0),
    "apply_oracle_approximating_shrinkage": lambda g: g.apply_oracle_approximating_shrinkage(10),
}


@pytest.mark.parametrize("call", UNINITIALIZED_GMM_CALLS.values(), ids=UNINITIALIZED_GMM_CALLS)
def test_uninitialized_gmm(call):
    with pytest.raises(ValueError, match=r"(?i)priors|means|covariances"):
        call(GMM(2))
    with pytest.raises(ValueError, match=r"(?i)covariances"):
        call(GMM(2, priors=[0.5, 0.5], means=np.zeros((2, 2))))


# --------------------------------------------------------------------------- n_components


@pytest.mark.parametrize("n_components", [0, -1])
def test_n_components_not_positive(n_components):
    with pytest.raises(ValueError, match="n_components"):
        GMM(n_components).from_samples(X2)
    with pytest.raises(ValueError, match="n_components"):
        gaussmix.kmeansplusplus_initialization(X2, n_components)
    with pytest.raises(ValueError, match="n_components"):
        gaussmix.covariance_initialization(X2, n_components)


@pytest.mark.parametrize("init", ["random", "kmeans++"])
def test_n_components_larger_than_n_samples(init):
    with pytest.raises(ValueError, match="n_components") as info:
        GMM(5, random_state=0).from_samples(X2[:3], init_params=init)
    # The message says what is allowed.
    assert "3" in str(info.value)
    with pytest.raises(ValueError, match="n_components"):
        gaussmix.kmeansplusplus_initialization(X2[:3], 4, random_state=0)


@pytest.mark.parametrize("n_components", [2.5, "2", None])
def test_n_components_wrong_type(n_components):
    with pytest.raises(ERRORS, match="n_components"):
        GMM(n_components).from_samples(X2)


def test_n_components_disagrees_with_parameters():
    # Arrays that agree with each other win over n_components, with a warning
    # (gmr uses the arrays it is given); arrays that disagree are refused.
    with pytest.warns(UserWarning, match="n_components=3.*describe 2 components"):
        gmm = GMM(
            3, priors=[0.5, 0.5], means=np.zeros((2, 2)), covariances=np.stack([np.eye(2)] * 2)
        )
    assert gmm.n_components == 2
    assert gmm.sample(2).shape == (2, 2)
    with pytest.raises(ValueError, match=r"(?i)means|n_components"):
        GMM(
            2, priors=[0.5, 0.5], means=np.zeros((3, 2)), covariances=np.stack([np.eye(2)] * 2)
        ).sample(2)


# --------------------------------------------------------------------------- fit options


@pytest.mark.parametrize("init", ["kmeans", "Random", "", None])
def test_unknown_init_params(init):
    with pytest.raises(ERRORS, match="init_params") as info:
        GMM(2, random_state=0).from_samples(X2, init_params=init)
    message = str(info.value)
    assert "random" in message and "kmeans++" in message


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_iter": -1}, "n_iter"),
        ({"n_iter": 2.5}, "n_iter"),
        ({"R_diff": "small"}, "R_diff"),
        ({"R_diff": np.nan}, "R_diff"),
    ],
)
def test_bad_em_options(kwargs, name):
    with pytest.raises(ERRORS, match=name):
        GMM(2, random_state=0).from_samples(X2, **kwargs)


@pytest.mark.parametrize(
    ("X", "name"),
    [
        (np.zeros(10), "X"),
        (np.zeros((2, 3, 4)), "X"),
        (np.zeros((0, 2)), "X"),
        (np.array([[0.0, np.nan]] + [[1.0, 2.0]] * 5), "X"),
        (np.array([[0.0, np.inf]] + [[1.0, 2.0]] * 5), "X"),
        ([["a", "b"], ["c", "d"]], "X"),
    ],
    ids=["1d", "3d", "empty", "nan", "inf", "strings"],
)
def test_bad_training_data(X, name):
    with pytest.raises(ERRORS, match=name):
        GMM(1, random_state=0).from_samples(X)
    with pytest.raises(ERRORS, match=name):
        MVN().from_samples(X)


def test_bad_data_for_initializers():
    with pytest.raises(ERRORS, match="X"):
        gaussmix.kmeansplusplus_initialization(np.array([[np.nan, 0.0], [1.0, 1.0]]), 1)
    with pytest.raises(ERRORS, match="X"):
        gaussmix.covariance_initialization(np.zeros(5), 1)


def test_mvn_from_single_row_with_bessel_correction():
    with pytest.raises(ValueError, match=r"(?i)X|bessels_correction|sample"):
        MVN().from_samples(np.zeros((1, 2)))


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"mean": [[0.0, 1.0]]}, "mean"),
        ({"mean": [0.0, np.nan]}, "mean"),
        ({"covariance": np.eye(3)}, "covariance"),
        ({"covariance": [1.0, 2.0]}, "covariance"),
        ({"covariance": [[1.0, np.inf], [np.inf, 1.0]]}, "covariance"),
        ({"covariance": [[1.0, 0.5], [-0.5, 1.0]]}, "covariance"),
        ({"covariance": [[-1.0, 0.0], [0.0, 1.0]]}, "covariance"),
    ],
    ids=["mean-2d", "mean-nan", "cov-size", "cov-1d", "cov-inf", "cov-asym", "cov-negvar"],
)
def test_bad_mvn_parameters(kwargs, name):
    params = {"mean": [0.0, 1.0], "covariance": np.eye(2)} | kwargs
    with pytest.raises(ERRORS, match=name):
        MVN(**params).to_probability_density([[0.0, 0.0]])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"priors": [0.5, 0.3, 0.2]}, "priors"),
        ({"priors": [1.5, -0.5]}, "priors"),
        ({"priors": [np.nan, 0.5]}, "priors"),
        ({"means": np.zeros(2)}, "means"),
        ({"means": np.zeros((2, 3))}, r"means|covariances"),
        ({"covariances": np.stack([np.eye(3)] * 2)}, r"means|covariances"),
        ({"covariances": np.eye(2)}, "covariances"),
        ({"covariances": np.full((2, 2, 2), np.nan)}, "covariances"),
    ],
    ids=[
        "priors-len",
        "priors-neg",
        "priors-nan",
        "means-1d",
        "means-d",
        "cov-d",
        "cov-2d",
        "cov-nan",
    ],
)
def test_bad_gmm_parameters(kwargs, name):
    params = {
        "priors": [0.5, 0.5],
        "means": np.zeros((2, 2)),
        "covariances": np.stack([np.eye(2)] * 2),
    } | kwargs
    with pytest.raises(ERRORS, match=name):
        GMM(2, **params).to_probability_density([[0.0, 0.0]])


# --------------------------------------------------------------------------- method arguments


@pytest.mark.parametrize("idx", [-1, 2, 10, 1.0])
def test_extract_mvn_out_of_range(idx):
    with pytest.raises(ERRORS, match="component_idx") as info:
        _gmm().extract_mvn(idx)
    if isinstance(info.value, ValueError):
        assert "2" in str(info.value)  # says what is allowed: [0, 2)


@pytest.mark.parametrize("obj", [_mvn, _gmm], ids=["mvn", "gmm"])
def test_wrong_number_of_features(obj):
    model = obj()
    densities = model.to_probability_density
    with pytest.raises(ValueError, match="X"):
        densities(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X"):
        densities(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="X"):
        densities(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="x"):
        model.is_in_confidence_region([0.0, 0.0, 0.0], 0.5)


@pytest.mark.parametrize("obj", [_mvn, _gmm], ids=["mvn", "gmm"])
def test_bad_conditioning_arguments(obj):
    model = obj()
    with pytest.raises(ERRORS, match="indices"):
        model.condition([2], [1.0])  # out of range
    with pytest.raises(ERRORS, match="indices"):
        model.condition([-3], [1.0])
    with pytest.raises(ERRORS, match="indices"):
        model.condition([0, 1], [1.0, 2.0])  # nothing left to condition
    with pytest.raises(ERRORS, match="indices"):
        model.condition([0, 0], [1.0, 1.0])  # duplicates
    with pytest.raises(ERRORS, match="indices"):
        model.condition([0.5], [1.0])
    with pytest.raises(ValueError, match="x"):
        model.condition([0], [1.0, 2.0])  # length mismatch
    with pytest.raises(ValueError, match="x"):
        model.condition([0], [np.nan])
    with pytest.raises(ValueError, match="X"):
        model.predict([0], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X"):
        model.predict([0], np.array([[np.inf]]))
    with pytest.raises(ERRORS, match="indices"):
        model.predict([5], np.zeros((3, 1)))
    with pytest.raises(ERRORS, match="indices"):
        model.marginalize([2])


@pytest.mark.parametrize("obj", [_mvn, _gmm], ids=["mvn", "gmm"])
@pytest.mark.parametrize("alpha", [-0.1, 1.5, np.nan, -1e-300, 1.0 + 1e-15])
def test_alpha_out_of_range(obj, alpha):
    model = obj()
    with pytest.raises(ValueError, match="alpha"):
        model.is_in_confidence_region([0.0, 0.0], alpha)
    with pytest.raises(ValueError, match="alpha"):
        model.sample_confidence_region(3, alpha)


@pytest.mark.parametrize("obj", [_mvn, _gmm], ids=["mvn", "gmm"])
@pytest.mark.parametrize("n", [-1, 2.5, "3"])
def test_bad_n_samples(obj, n):
    model = obj()
    with pytest.raises(ERRORS, match="n_samples"):
        model.sample(n)
    with pytest.raises(ERRORS, match="n_samples"):
        model.sample_confidence_region(n, 0.5)


def test_to_ellipse_needs_two_dimensions():
    mvn = MVN(mean=np.zeros(3), covariance=np.eye(3))
    with pytest.raises(ValueError, match=r"2"):
        mvn.to_ellipse()
    gmm = GMM(1, priors=[1.0], means=np.zeros((1, 3)), covariances=np.eye(3)[None])
    with pytest.raises(ValueError, match=r"2"):
        gmm.to_ellipses()


def test_bad_sigma_points():
    mvn = _mvn()
    with pytest.raises(ValueError, match="transformed_sigma_points"):
        mvn.estimate_from_sigma_points(np.zeros((4, 2)))  # needs 2 * 2 + 1 rows


def test_bad_oas_sample_sizes():
    with pytest.raises(ValueError, match="n_samples_eff"):
        _gmm().apply_oracle_approximating_shrinkage([10.0, 10.0, 10.0])


@pytest.mark.parametrize("seed", ["abc", 1.5, [1, 2, 3], object()])
def test_check_random_state_rejects(seed):
    with pytest.raises(ValueError, match=r"seed|random_state|RandomState"):
        check_random_state(seed)


@pytest.mark.parametrize("seed", ["abc", 1.5])
def test_bad_random_state_in_models(seed):
    with pytest.raises(ERRORS):
        MVN(mean=[0.0], covariance=[[1.0]], random_state=seed).sample(2)
    with pytest.raises(ERRORS):
        GMM(1, random_state=seed).from_samples(X2)


def test_check_random_state_accepts():
    rs = np.random.RandomState(0)
    gen = np.random.default_rng(0)
    assert check_random_state(rs) is rs
    assert check_random_state(gen) is gen
    assert check_random_state(None) is np.random.mtrand._rand
    a = check_random_state(3).standard_normal(4)
    b = np.random.RandomState(3).standard_normal(4)
    np.testing.assert_array_equal(a, b)


def test_sklearn_regressor_misuse():
    from sklearn.exceptions import NotFittedError

    from gaussmix.sklearn import GaussianMixtureRegressor

    with pytest.raises(NotFittedError):
        GaussianMixtureRegressor(2).predict(X2)
    with pytest.raises(ValueError):
        GaussianMixtureRegressor(2).fit(X2, np.zeros(5))
    with pytest.raises(ValueError, match="init_params"):
        GaussianMixtureRegressor(2, init_params="bad").fit(X2, X2[:, 0])
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixtureRegressor(50).fit(X2, X2[:, 0])
    reg = GaussianMixtureRegressor(2, random_state=0).fit(X2, X2[:, 0])
    with pytest.raises(ValueError):
        reg.predict(np.zeros((3, 5)))


@pytest.mark.parametrize("model", ["gmm", "mvn"])
def test_indefinite_covariance_is_refused(model):
    indefinite = [[1.0, 2.0], [2.0, 1.0]]  # eigenvalues 3 and -1
    obj = (
        GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[indefinite])
        if model == "gmm"
        else MVN(mean=[0.0, 0.0], covariance=indefinite)
    )
    with pytest.raises(ValueError, match="not positive semi-definite"):
        obj.to_probability_density([[0.0, 0.0]])


def test_degenerate_unscented_transform_names_kappa():
    mvn = MVN(mean=np.zeros(3), covariance=np.eye(3))
    with pytest.raises(ValueError, match="kappa"):
        mvn.sigma_points(kappa=-3.0)
    with pytest.raises(ValueError, match="kappa"):
        mvn.estimate_from_sigma_points(np.zeros((7, 3)), kappa=-5.0)


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range_seed_names_random_state(seed):
    with pytest.raises(ValueError, match="random_state"):
        GMM(2, random_state=seed)


def test_non_numeric_parameters_name_the_argument():
    with pytest.raises(TypeError, match="priors"):
        GMM(1, priors=["a"])
    with pytest.raises(TypeError, match="mean"):
        MVN(mean=["x", "y"])


def test_warm_start_from_an_indefinite_covariance_is_refused():
    X = np.random.default_rng(0).normal(size=(50, 2))
    gmm = GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="not positive semi-definite"):
        gmm.from_samples(X)
