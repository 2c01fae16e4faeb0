"""Drop-in compatibility with gmr 2.0.3: names, signatures, defaults, return shapes,
accepted inputs, and results equal to gmr's wherever gmr is correct.

gmr is the reference here; the tests that compare with it are skipped without it.
"""

import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gaussmix
import gaussmix.sklearn

gmr = pytest.importorskip("gmr")
gmr_sklearn = pytest.importorskip("gmr.sklearn")

# --------------------------------------------------------------------------- names, signatures


def test_gmr_public_names_exist():
    for name in gmr.__all__:
        assert hasattr(gaussmix, name) or name == "sklearn", name
    for name in ("MVN", "GMM", "plot_error_ellipse", "plot_error_ellipses"):
        assert callable(getattr(gaussmix, name))
    assert callable(gaussmix.kmeansplusplus_initialization)
    assert callable(gaussmix.covariance_initialization)
    assert callable(gaussmix.utils.check_random_state)
    assert callable(gaussmix.sklearn.GaussianMixtureRegressor)


def _public_methods(cls):
    return [n for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")]


def _assert_signature_compatible(ours, theirs, where):
    """Every gmr parameter exists, in the same position, with the same default;
    anything added is optional."""
    ours_p = list(inspect.signature(ours).parameters.values())
    theirs_p = list(inspect.signature(theirs).parameters.values())
    assert len(ours_p) >= len(theirs_p), where
    for a, b in zip(ours_p, theirs_p, strict=False):
        assert a.name == b.name, (where, a.name, b.name)
        assert a.kind == b.kind, (where, a.name)
        if b.default is inspect.Parameter.empty:
            assert a.default is inspect.Parameter.empty, (where, a.name)
        elif isinstance(b.default, np.ndarray):
            assert_allclose(a.default, b.default, err_msg=f"{where}: {a.name}")
        else:
            assert a.default == b.default, (where, a.name, a.default, b.default)
    for extra in ours_p[len(theirs_p) :]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (
            extra.VAR_POSITIONAL,
            extra.VAR_KEYWORD,
        ), (where, extra.name)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (gaussmix.MVN, gmr.MVN),
        (gaussmix.GMM, gmr.GMM),
        (gaussmix.sklearn.GaussianMixtureRegressor, gmr_sklearn.GaussianMixtureRegressor),
    ],
    ids=["MVN", "GMM", "GaussianMixtureRegressor"],
)
def test_class_signatures(ours, theirs):
    _assert_signature_compatible(ours, theirs, theirs.__name__)
    for name in _public_methods(theirs):
        assert hasattr(ours, name), f"{theirs.__name__}.{name} missing"
        _assert_signature_compatible(
            getattr(ours, name), getattr(theirs, name), f"{theirs.__name__}.{name}"
        )


@pytest.mark.parametrize(
    "name",
    [
        "kmeansplusplus_initialization",
        "covariance_initialization",
        "plot_error_ellipse",
        "plot_error_ellipses",
    ],
)
def test_function_signatures(name):
    _assert_signature_compatible(getattr(gaussmix, name), getattr(gmr, name), name)


def test_check_random_state_like_gmr():
    assert gaussmix.utils.check_random_state(None) is gmr.utils.check_random_state(None)
    a = gaussmix.utils.check_random_state(5).rand(3)
    b = gmr.utils.check_random_state(5).rand(3)
    assert_allclose(a, b)


# --------------------------------------------------------------------------- MVN vs gmr


@pytest.fixture
def mvn_params():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    return rng.normal(size=4), A @ A.T + 0.5 * np.eye(4), rng


def test_mvn_methods_equal_gmr(mvn_params):
    mean, cov, rng = mvn_params
    ours = gaussmix.MVN(mean=mean, covariance=cov)
    theirs = gmr.MVN(mean=mean, covariance=cov)
    X = rng.normal(size=(10, 4))
    assert_allclose(ours.to_probability_density(X), theirs.to_probability_density(X), rtol=1e-9)
    f1, e1 = ours.to_norm_factor_and_exponents(X)
    f2, e2 = theirs.to_norm_factor_and_exponents(X)
    assert_allclose(f1, f2, rtol=1e-9)
    assert_allclose(e1, e2, rtol=1e-9)
    assert float(ours.squared_mahalanobis_distance(X[0])) == pytest.approx(
        theirs.squared_mahalanobis_distance(X[0]), rel=1e-9
    )
    for idx in ([0], [1, 3], [3, 0, 2]):
        m1, m2 = ours.marginalize(idx), theirs.marginalize(idx)
        assert_allclose(m1.mean, m2.mean)
        assert_allclose(m1.covariance, m2.covariance)
    for idx in ([0], [1, 3], [0, 2, 3]):
        x = rng.normal(size=len(idx))
        c1, c2 = ours.condition(idx, x), theirs.condition(idx, x)
        assert isinstance(c1, gaussmix.MVN)
        assert_allclose(c1.mean, c2.mean, rtol=1e-8, atol=1e-12)
        assert_allclose(c1.covariance, c2.covariance, rtol=1e-8, atol=1e-12)
        Xq = rng.normal(size=(5, len(idx)))
        (y1, s1), (y2, s2) = ours.predict(idx, Xq), theirs.predict(idx, Xq)
        assert y1.shape == y2.shape == (5, 4 - len(idx))
        assert_allclose(y1, y2, rtol=1e-8, atol=1e-12)
        assert_allclose(s1, s2, rtol=1e-8, atol=1e-12)
    for alpha, kappa in ((1e-3, 0.0), (0.5, 1.0)):
        p1, p2 = ours.sigma_points(alpha, kappa), theirs.sigma_points(alpha, kappa)
        assert p1.shape == p2.shape
        # gmr offsets by the symmetric square root; compare the spread they encode.
        assert_allclose(p1[0], p2[0])
        o1, o2 = p1[1:5] - mean, p2[1:5] - mean
        assert_allclose(o1.T @ o1, o2.T @ o2, rtol=1e-7, atol=1e-9)
        Y = np.sin(p2)  # a nonlinear map of gmr's points
        e1 = ours.estimate_from_sigma_points(Y, alpha=alpha, kappa=kappa)
        e2 = theirs.estimate_from_sigma_points(Y, alpha=alpha, kappa=kappa)
        # The unscented weights cancel (|w| sums to ~2e6 at alpha=1e-3), so two correct
        # summation orders differ by about eps * sum|w| * max|Y| (seen: 4e-11 on AVX-512).
        d = len(mean)
        lam = alpha**2 * (d + kappa) - d
        abs_weights = abs(lam / (d + lam)) + 2 * d / (2 * (d + lam))
        atol = 16 * np.finfo(float).eps * abs_weights * np.abs(Y).max()
        assert_allclose(e1.mean, e2.mean, rtol=1e-9, atol=max(atol, 1e-12))
        assert_allclose(e1.covariance, e2.covariance, rtol=1e-7, atol=max(atol, 1e-9))


@pytest.mark.parametrize("bessel", [True, False])
def test_mvn_from_samples_equals_gmr(bessel, mvn_params):
    _, _, rng = mvn_params
    X = rng.normal(size=(30, 3))
    ours = gaussmix.MVN().from_samples(X, bessel)
    theirs = gmr.MVN().from_samples(X, bessel)
    assert_allclose(ours.mean, theirs.mean)
    assert_allclose(ours.covariance, theirs.covariance)


def test_mvn_to_ellipse_equals_gmr():
    cov = np.array([[2.0, 0.7], [0.7, 1.0]])
    a1, w1, h1 = gaussmix.MVN(mean=[1.0, 2.0], covariance=cov).to_ellipse(1.7)
    a2, w2, h2 = gmr.MVN(mean=[1.0, 2.0], covariance=cov).to_ellipse(1.7)
    assert (w1, h1) == pytest.approx((w2, h2), rel=1e-12)
    # Eigenvector signs are arbitrary: the angle is defined modulo pi.
    assert np.sin(a1 - a2) == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------- GMM vs gmr


@pytest.fixture
def gmm_params():
    rng = np.random.default_rng(2)
    k, d = 3, 3
    priors = np.array([0.2, 0.45, 0.35])
    means = rng.normal(0, 2, size=(k, d))
    covs = []
    for _ in range(k):
        A = rng.normal(size=(d, d))
        covs.append(A @ A.T + 0.3 * np.eye(d))
    return priors, means, np.array(covs), rng


def _both(priors, means, covs, **kw):
    return (
        gaussmix.GMM(len(priors), priors=priors, means=means, covariances=covs, **kw),
        gmr.GMM(len(priors), priors=priors, means=means, covariances=covs.copy(), **kw),
    )


def test_gmm_methods_equal_gmr(gmm_params):
    priors, means, covs, rng = gmm_params
    ours, theirs = _both(priors, means, covs)
    X = rng.normal(0, 2, size=(12, 3))
    assert_allclose(ours.to_probability_density(X), theirs.to_probability_density(X), rtol=1e-9)
    assert_allclose(
        ours.to_responsibilities(X), theirs.to_responsibilities(X), rtol=1e-8, atol=1e-14
    )
    for idx in ([0], [2], [0, 2], [2, 1]):
        x = rng.normal(size=len(idx))
        c1, c2 = ours.condition(idx, x), theirs.condition(idx, x)
        assert isinstance(c1, gaussmix.GMM)
        assert_allclose(c1.priors, c2.priors, rtol=1e-8, atol=1e-14)
        assert_allclose(c1.means, c2.means, rtol=1e-8, atol=1e-12)
        assert_allclose(c1.covariances, c2.covariances, rtol=1e-8, atol=1e-12)
        Xq = rng.normal(size=(6, len(idx)))
        y1, y2 = ours.predict(idx, Xq), theirs.predict(idx, Xq)
        assert y1.shape == y2.shape == (6, 3 - len(idx))
        assert_allclose(y1, y2, rtol=1e-8, atol=1e-12)
    m1, m2 = ours.to_mvn(), theirs.to_mvn()
    assert isinstance(m1, gaussmix.MVN)
    assert_allclose(m1.mean, m2.mean, rtol=1e-12)
    assert_allclose(m1.covariance, m2.covariance, rtol=1e-9, atol=1e-12)
    for j in range(3):
        e1, e2 = ours.extract_mvn(j), theirs.extract_mvn(j)
        assert_allclose(e1.mean, e2.mean)
        assert_allclose(e1.covariance, e2.covariance)


def test_gmm_to_ellipses_equal_gmr(gmm_params):
    priors, means, covs, _ = gmm_params
    ours, theirs = _both(priors, means[:, :2], covs[:, :2, :2].copy())
    e1, e2 = ours.to_ellipses(2.0), theirs.to_ellipses(2.0)
    assert isinstance(e1, list)
    assert len(e1) == len(e2) == 3
    for (mu1, (a1, w1, h1)), (mu2, (a2, w2, h2)) in zip(e1, e2, strict=True):
        assert_allclose(mu1, mu2)
        assert (w1, h1) == pytest.approx((w2, h2), rel=1e-12)
        assert np.sin(a1 - a2) == pytest.approx(0.0, abs=1e-9)


def test_oas_equals_gmr(gmm_params):
    priors, means, covs, _ = gmm_params
    ours, theirs = _both(priors, means, covs)
    ours.apply_oracle_approximating_shrinkage([10.0, 20.0, 5.0])
    theirs.apply_oracle_approximating_shrinkage([10.0, 20.0, 5.0])
    assert_allclose(ours.covariances, theirs.covariances, rtol=1e-10)


def test_covariance_initialization_equals_gmr(gmm_params):
    *_, rng = gmm_params
    X = rng.normal(size=(40, 3)) * [1.0, 3.0, 0.5]
    assert_allclose(
        gaussmix.covariance_initialization(X, 4), gmr.covariance_initialization(X, 4), rtol=1e-10
    )


def test_em_equals_gmr_from_the_same_start(two_blobs):
    """gmr's EM M-step is correct; from identical parameters, with no covariance
    regularization, both run the same iterations."""
    X, true_means = two_blobs
    start = true_means + np.array([[1.0, 1.0], [-1.0, 0.5]])
    covs = np.stack([np.eye(2)] * 2)
    priors = np.array([0.5, 0.5])
    n_iter = 5
    ours = gaussmix.GMM(2, priors=priors, means=start, covariances=covs.copy())
    ours.from_samples(X, n_iter=n_iter, reg_covar=0.0, tol=None)
    theirs = gmr.GMM(2, priors=priors.copy(), means=start.copy(), covariances=covs.copy())
    theirs.from_samples(X, R_diff=0.0, n_iter=n_iter)
    assert_allclose(ours.priors, theirs.priors, rtol=1e-8)
    assert_allclose(ours.means, theirs.means, rtol=1e-8, atol=1e-10)
    assert_allclose(ours.covariances, theirs.covariances, rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------- a gmr user's script


def _gmr_user_script(lib):
    """A typical gmr script (README-style); only ``lib`` changes."""
    GMM = lib.GMM
    MVN = lib.MVN
    rng = np.random.RandomState(0)
    n = 200
    x = np.linspace(-3, 3, n)
    X = np.column_stack([x, np.sin(x) + 0.1 * rng.randn(n)])
    priors = [0.25, 0.25, 0.25, 0.25]
    means = [[-2.5, -0.6], [-0.8, -0.7], [0.8, 0.7], [2.5, 0.6]]
    covariances = [np.eye(2).tolist() for _ in range(4)]
    gmm = GMM(n_components=4, priors=priors, means=means, covariances=covariances, random_state=0)
    out = {}
    out["cond_scalar"] = gmm.condition([0], 1.0)
    out["cond_list"] = gmm.condition([0], [1.0])
    out["cond_array"] = gmm.condition(np.array([0]), np.array([1.0]))
    out["cond_row"] = gmm.condition([0], np.array([[1.0]]))
    out["predict"] = gmm.predict(np.array([0]), x[:, np.newaxis])
    out["density"] = gmm.to_probability_density(X[:10])
    out["resp"] = gmm.to_responsibilities(X[:10])
    out["ellipses"] = gmm.to_ellipses(factor=2.0)
    mvn = MVN(mean=[0.0, 0.0], covariance=[[1.0, 0.5], [0.5, 1.0]], random_state=0)
    out["mvn_cond"] = mvn.condition([1], [0.3])
    out["mvn_predict"] = mvn.predict([1], X[:5, 1:])
    out["samples"] = gmm.sample(7)
    return out


def test_gmr_user_script_runs_unchanged():
    ours = _gmr_user_script(gaussmix)
    theirs = _gmr_user_script(gmr)
    for key in ("cond_scalar", "cond_list", "cond_array", "cond_row"):
        assert_allclose(ours[key].priors, theirs["cond_array"].priors, rtol=1e-8)
        assert_allclose(ours[key].means, theirs["cond_array"].means, rtol=1e-8)
        assert_allclose(ours[key].covariances, theirs["cond_array"].covariances, rtol=1e-8)
    assert ours["predict"].shape == theirs["predict"].shape == (200, 1)
    assert_allclose(ours["predict"], theirs["predict"], rtol=1e-8, atol=1e-12)
    assert_allclose(ours["density"], theirs["density"], rtol=1e-9)
    assert_allclose(ours["resp"], theirs["resp"], rtol=1e-8, atol=1e-14)
    assert len(ours["ellipses"]) == 4
    assert_allclose(ours["mvn_cond"].mean, theirs["mvn_cond"].mean)
    assert_allclose(ours["mvn_cond"].covariance, theirs["mvn_cond"].covariance)
    for a, b in zip(ours["mvn_predict"], theirs["mvn_predict"], strict=True):
        assert_allclose(a, b)
    assert ours["samples"].shape == (7, 2)


def test_attributes_like_gmr(gmm_params):
    priors, means, covs, _ = gmm_params
    gmm = gaussmix.GMM(3, priors=list(priors), means=means.tolist(), covariances=covs.tolist())
    assert gmm.n_components == 3
    for attr, value in (("priors", priors), ("means", means), ("covariances", covs)):
        assert isinstance(getattr(gmm, attr), np.ndarray)
        assert_allclose(getattr(gmm, attr), value)
    assert hasattr(gmm, "random_state") and hasattr(gmm, "verbose")
    mvn = gaussmix.MVN(mean=[0.0, 1.0], covariance=[[1.0, 0.0], [0.0, 1.0]])
    assert isinstance(mvn.mean, np.ndarray) and isinstance(mvn.covariance, np.ndarray)


@pytest.mark.parametrize(
    "random_state", [0, np.random.RandomState(0), np.random.default_rng(0), None]
)
def test_random_state_forms(random_state):
    gmm = gaussmix.GMM(
        2,
        priors=[0.5, 0.5],
        means=[[0.0], [3.0]],
        covariances=[[[1.0]], [[1.0]]],
        random_state=random_state,
    )
    assert gmm.sample(4).shape == (4, 1)
    mvn = gaussmix.MVN(mean=[0.0], covariance=[[1.0]], random_state=random_state)
    assert mvn.sample(4).shape == (4, 1)


@pytest.mark.filterwarnings("ignore::gaussmix.ConvergenceWarning")
def test_regressor_equals_gmr_from_same_start():
    rng = np.random.RandomState(0)
    x = np.linspace(-3, 3, 150)[:, None]
    y = np.sin(x[:, 0]) + 0.05 * rng.randn(150)
    means = np.column_stack([np.linspace(-2.5, 2.5, 4), np.sin(np.linspace(-2.5, 2.5, 4))])
    covs = np.stack([np.eye(2) * 0.5] * 4)
    kw = {"priors": np.full(4, 0.25), "means": means, "random_state": 0, "n_iter": 5}
    ours = gaussmix.sklearn.GaussianMixtureRegressor(4, covariances=covs.copy(), **kw)
    theirs = gmr_sklearn.GaussianMixtureRegressor(4, covariances=covs.copy(), **kw)
    ours.fit(x, y)
    theirs.fit(x, y)
    # gmr's regressor leaves R_diff active: both stop after <= 5 iterations; the
    # difference is gaussmix's reg_covar = 1e-6 only.
    assert_allclose(ours.predict(x).ravel(), theirs.predict(x).ravel(), atol=1e-4)


def test_module_level_conditioning_functions_match_gmr():
    """gmr.mvn exposes regression_coefficients and condition; so does gaussmix.mvn."""
    import gmr.mvn

    import gaussmix.mvn

    rng = np.random.default_rng(11)
    A = rng.normal(size=(4, 4))
    cov = A @ A.T + np.eye(4)
    mean = rng.normal(size=4)
    X = rng.normal(size=(6, 2))
    out, inp = [0, 3], [1, 2]
    np.testing.assert_allclose(
        gaussmix.mvn.regression_coefficients(cov, out, inp),
        gmr.mvn.regression_coefficients(cov, out, inp),
        rtol=1e-12,
    )
    ours, theirs = (
        gaussmix.mvn.condition(mean, cov, out, inp, X),
        gmr.mvn.condition(mean, cov, out, inp, X),
    )
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)


def test_conditional_gmm_is_importable_from_the_top_level():
    import gaussmix

    assert gaussmix.ConditionalGMM is gaussmix.gmm.ConditionalGMM
