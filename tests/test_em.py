"""EM of ``GMM.from_samples`` against references we did not write.

The reference is scikit-learn's ``GaussianMixture`` started from the same
parameters (``weights_init``, ``means_init``, ``precisions_init``) with the
same ``reg_covar`` and a fixed number of iterations: both implement the same
E-step / M-step, so the fits must agree to rounding (rtol 1e-6) for every
covariance type. Densities are checked against ``scipy.stats``.
"""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gaussmix
from gaussmix import GMM

sklearn_mixture = pytest.importorskip("sklearn.mixture")
sklearn_exceptions = pytest.importorskip("sklearn.exceptions")

COVARIANCE_TYPES = ("full", "diag", "spherical", "tied")
RTOL = 1e-6


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def blobs(
    n_per: int = 150,
    d: int = 3,
    k: int = 3,
    seed: int = 0,
    spread: float = 4.0,
    offset: float | np.ndarray = 0.0,
) -> np.ndarray:
    """k Gaussian clusters with correlated unit-scale noise, shuffled."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, (k, d)) + offset
    mixing = np.eye(d) + 0.3 * rng.normal(size=(k, d, d))
    X = np.concatenate([rng.normal(size=(n_per, d)) @ mixing[j].T + centers[j] for j in range(k)])
    return X[rng.permutation(X.shape[0])]


def random_start(X: np.ndarray, k: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Priors, means (data rows) and random SPD covariances to start EM from."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    priors = rng.dirichlet(np.full(k, 5.0))
    means = X[rng.choice(X.shape[0], k, replace=False)].copy()
    A = rng.normal(size=(k, d, d))
    covariances = A @ np.swapaxes(A, 1, 2) + np.eye(d)
    return priors, means, covariances


def projected(covariances: np.ndarray, priors: np.ndarray, covariance_type: str) -> np.ndarray:
    """The starting covariances in scikit-learn's shape for ``covariance_type``.

    gaussmix projects full starting covariances onto the structure: diag keeps
    the diagonal, spherical the mean of the diagonal, tied the prior-weighted
    average.
    """
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.einsum("k,kij->ij", priors, covariances) / priors.sum()
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    if covariance_type == "diag":
        return variances
    return variances.mean(axis=1)


def precisions(covariances_sk: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances_sk)
    return 1.0 / covariances_sk


def as_full(covariances_sk: np.ndarray, covariance_type: str, k: int, d: int) -> np.ndarray:
    """scikit-learn's ``covariances_`` as a (k, d, d) array."""
    if covariance_type == "full":
        return covariances_sk
    if covariance_type == "tied":
        return np.broadcast_to(covariances_sk, (k, d, d))
    if covariance_type == "diag":
        return covariances_sk[:, :, None] * np.eye(d)
    return covariances_sk[:, None, None] * np.eye(d)


def sklearn_fit(
    X: np.ndarray,
    start: tuple[np.ndarray, ...],
    covariance_type: str,
    n_iter: int,
    tol: float = 0.0,
    reg_covar: float = 1e-6,
):
    priors, means, covariances = start
    k = means.shape[0]
    cov_sk = projected(covariances, priors, covariance_type)
    sk = sklearn_mixture.GaussianMixture(
        n_components=k,
        covariance_type=covariance_type,
        max_iter=n_iter,
        tol=tol,
        reg_covar=reg_covar,
        weights_init=priors,
        means_init=means,
        precisions_init=precisions(cov_sk, covariance_type),
        init_params="random_from_data",  # overridden by the *_init arguments
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn_exceptions.ConvergenceWarning)
        sk.fit(X)
    return sk


def gaussmix_fit(
    X: np.ndarray, start: tuple[np.ndarray, ...], covariance_type: str = "full", **kwargs
) -> GMM:
    priors, means, covariances = start
    gmm = GMM(means.shape[0], priors=priors.copy(), means=means.copy(), covariances=covariances)
    kwargs.setdefault("tol", None)
    return gmm.from_samples(X, covariance_type=covariance_type, **kwargs)


def assert_same_fit(gmm: GMM, sk, covariance_type: str, rtol: float = RTOL) -> None:
    """Priors, means, covariances and lower bound agree to ``rtol``.

    Priors, means, variances and the lower bound are compared elementwise.
    An off-diagonal covariance can be tiny next to its variances (a small
    correlation), so it is compared relative to sqrt(Sigma_ii Sigma_jj): the
    covariances agree to rtol as correlations do. Zeros (diag, spherical)
    must be exact.
    """
    k, d = sk.means_.shape
    cov_sk = as_full(sk.covariances_, covariance_type, k, d)
    assert_allclose(gmm.priors, sk.weights_, rtol=rtol, atol=0)
    assert_allclose(gmm.means, sk.means_, rtol=rtol, atol=0)
    std = np.sqrt(np.diagonal(cov_sk, axis1=1, axis2=2))
    scaled_error = np.abs(gmm.covariances - cov_sk) / (std[:, :, None] * std[:, None, :])
    assert scaled_error.max() <= rtol, f"covariances differ by {scaled_error.max():.3g} (scaled)"
    assert_allclose(gmm.covariances[cov_sk == 0], 0.0, atol=0)
    assert_allclose(gmm.lower_bound_, sk.lower_bound_, rtol=rtol, atol=0)


def mixture_logpdf(X: np.ndarray, priors, means, covariances) -> np.ndarray:
    """log sum_j pi_j N(x | mu_j, Sigma_j) with scipy, the slow obvious way."""
    logs = np.stack(
        [
            np.log(p) + multivariate_normal(m, c).logpdf(X)
            for p, m, c in zip(priors, means, covariances, strict=True)
        ],
        axis=1,
    )
    return logsumexp(logs, axis=1)


# ---------------------------------------------------------------------------
# Equality with scikit-learn from the same start
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_iter", [1, 15])
def test_fit_equals_sklearn_from_same_start(covariance_type, n_iter):
    X = blobs()
    start = random_start(X, 3)
    gmm = gaussmix_fit(X, start, covariance_type, n_iter=n_iter)
    sk = sklearn_fit(X, start, covariance_type, n_iter)
    assert gmm.n_iter_ == sk.n_iter_ == n_iter
    assert gmm.covariances.shape == (3, 3, 3)
    assert_same_fit(gmm, sk, covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_equals_sklearn_with_larger_reg_covar_and_k(covariance_type):
    X = blobs(n_per=80, d=5, k=5, seed=3)
    start = random_start(X, 5, seed=4)
    gmm = gaussmix_fit(X, start, covariance_type, n_iter=10, reg_covar=1e-2)
    sk = sklearn_fit(X, start, covariance_type, 10, reg_covar=1e-2)
    assert_same_fit(gmm, sk, covariance_type)


def far_clusters(scale: float, seed: int = 7) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Three unit-spread clusters whose centres lie 1*scale to 10*scale from the data's centre.

    The EM's uncentred second moments sum(r x x^T) are then ~(10 scale)^2
    and must cancel down to ~1.
    """
    rng = np.random.default_rng(seed)
    d, k = 3, 3
    offsets = np.array([[1.0, -5.0, 10.0], [-10.0, 2.0, 5.0], [4.0, 10.0, -7.0]]) * scale
    X = np.concatenate([rng.normal(size=(200, d)) + offsets[j] for j in range(k)])
    start = (
        np.full(k, 1.0 / k),
        offsets + rng.normal(size=(k, d)),
        np.broadcast_to(np.eye(d) * 2.0, (k, d, d)).copy(),
    )
    return X, start


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("scale", [1e2, 1e3])
def test_fit_equals_sklearn_far_from_centre(covariance_type, scale):
    # Cluster centres 1e2-1e3 and 1e3-1e4 away from the data's centre.
    X, start = far_clusters(scale)
    gmm = gaussmix_fit(X, start, covariance_type, n_iter=5)
    sk = sklearn_fit(X, start, covariance_type, 5)
    assert_same_fit(gmm, sk, covariance_type)


def test_fit_equals_sklearn_very_far_from_centre_full():
    # scikit-learn's full M-step centres on each component's mean, so it is
    # exact here (it changes by ~1e-13 under a translation of the data); its
    # diag/spherical/tied M-steps use uncentred moments and are no reference.
    X, start = far_clusters(1e4)
    gmm = gaussmix_fit(X, start, "full", n_iter=5)
    sk = sklearn_fit(X, start, "full", 5)
    assert_same_fit(gmm, sk, "full")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_equals_sklearn_whole_data_far_from_origin(covariance_type):
    # EM is translation equivariant. scikit-learn's diag/spherical/tied
    # M-steps use uncentred moments, so its reference fit is computed on the
    # translated data (near the origin) and translated back.
    offset = np.array([1e4, -3e4, 5e3])
    X = blobs(seed=5, offset=offset)
    priors, means, covariances = random_start(X, 3, seed=6)
    gmm = gaussmix_fit(X, (priors, means, covariances), covariance_type, n_iter=8)
    sk = sklearn_fit(X - offset, (priors, means - offset, covariances), covariance_type, 8)
    sk.means_ = sk.means_ + offset
    assert_same_fit(gmm, sk, covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_fit_equals_single_chunk(covariance_type):
    X = blobs(n_per=200, seed=8)
    start = random_start(X, 3, seed=9)
    whole = gaussmix_fit(X, start, covariance_type, n_iter=6)
    chunked = gaussmix_fit(X, start, covariance_type, n_iter=6, chunk_size=37)
    assert_allclose(chunked.means, whole.means, rtol=1e-10, atol=1e-12)
    assert_allclose(chunked.covariances, whole.covariances, rtol=1e-10, atol=1e-12)
    assert_allclose(chunked.priors, whole.priors, rtol=1e-10)
    assert_allclose(chunked.lower_bound_, whole.lower_bound_, rtol=1e-12)


# ---------------------------------------------------------------------------
# Monotone likelihood, verbose output, warm start
# ---------------------------------------------------------------------------
VERBOSE_LINE = re.compile(r"iteration\s+(\d+)\s+mean log-likelihood\s+(\S+)")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases_verbose(covariance_type, capsys):
    # Overlapping clusters and a poor start: many iterations of real progress.
    X = blobs(n_per=150, d=2, k=4, seed=11, spread=1.5)
    gmm = GMM(4, verbose=1, random_state=0)
    gmm.from_samples(X, n_iter=60, tol=None, covariance_type=covariance_type)
    out = capsys.readouterr().out
    matches = VERBOSE_LINE.findall(out)
    assert [int(i) for i, _ in matches] == list(range(1, 61)), out[:500]
    log_lik = np.array([float(v) for _, v in matches])
    assert np.isfinite(log_lik).all()
    assert log_lik[-1] > log_lik[0]
    # The printed values have 8 significant digits.
    assert (np.diff(log_lik) >= -1e-7 * np.abs(log_lik[1:])).all(), log_lik
    assert_allclose(gmm.lower_bound_, log_lik[-1], rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_likelihood_never_decreases_warm_start(covariance_type):
    # Each from_samples call on a fitted GMM continues from its parameters;
    # lower_bound_ is the mean log-likelihood at that call's E-step.
    X = blobs(n_per=120, d=3, k=4, seed=12, spread=2.0)
    gmm = GMM(4, random_state=1)
    bounds = []
    for _ in range(25):
        gmm.from_samples(X, n_iter=1, tol=None, covariance_type=covariance_type)
        bounds.append(gmm.lower_bound_)
    bounds = np.array(bounds)
    assert (np.diff(bounds) >= -1e-10 * np.abs(bounds[1:])).all(), bounds
    assert bounds[-1] > bounds[0]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_the_same_fit(covariance_type):
    X = blobs(seed=13)
    start = random_start(X, 3, seed=14)
    straight = gaussmix_fit(X, start, covariance_type, n_iter=7)
    resumed = gaussmix_fit(X, start, covariance_type, n_iter=3)
    resumed.from_samples(X, n_iter=4, tol=None, covariance_type=covariance_type)
    assert_allclose(resumed.means, straight.means, rtol=1e-9)
    assert_allclose(resumed.covariances, straight.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(resumed.priors, straight.priors, rtol=1e-9)
    assert_allclose(resumed.lower_bound_, straight.lower_bound_, rtol=1e-12)


def test_verbose_zero_prints_nothing(capsys):
    GMM(2, random_state=0).from_samples(blobs(k=2), n_iter=3, tol=None)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# Sample weights
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type):
    X = blobs(n_per=60, seed=15)
    counts = np.random.default_rng(16).integers(1, 4, X.shape[0])
    start = random_start(X, 3, seed=17)
    weighted = gaussmix_fit(X, start, covariance_type, n_iter=8, sample_weight=counts)
    repeated = gaussmix_fit(np.repeat(X, counts, axis=0), start, covariance_type, n_iter=8)
    assert_allclose(weighted.means, repeated.means, rtol=1e-9)
    assert_allclose(weighted.covariances, repeated.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(weighted.priors, repeated.priors, rtol=1e-9)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_dropped_rows(covariance_type):
    X = blobs(n_per=60, seed=18)
    weights = np.ones(X.shape[0])
    weights[::3] = 0.0
    start = random_start(X, 3, seed=19)
    weighted = gaussmix_fit(X, start, covariance_type, n_iter=8, sample_weight=weights)
    dropped = gaussmix_fit(X[weights > 0], start, covariance_type, n_iter=8)
    assert_allclose(weighted.means, dropped.means, rtol=1e-9)
    assert_allclose(weighted.covariances, dropped.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(weighted.priors, dropped.priors, rtol=1e-9)
    assert_allclose(weighted.lower_bound_, dropped.lower_bound_, rtol=1e-10)


def test_uniform_weights_change_nothing():
    X = blobs(seed=20)
    start = random_start(X, 3, seed=21)
    plain = gaussmix_fit(X, start, n_iter=5)
    weighted = gaussmix_fit(X, start, n_iter=5, sample_weight=np.full(X.shape[0], 2.5))
    assert_allclose(weighted.means, plain.means, rtol=1e-10)
    assert_allclose(weighted.covariances, plain.covariances, rtol=1e-10, atol=1e-13)
    assert_allclose(weighted.lower_bound_, plain.lower_bound_, rtol=1e-12)


@pytest.mark.parametrize(
    "make_weights",
    [
        lambda n: np.r_[-1.0, np.ones(n - 1)],
        lambda n: np.ones(n - 1),
        lambda n: np.ones(n + 1),
        lambda n: np.r_[np.nan, np.ones(n - 1)],
        lambda n: np.r_[np.inf, np.ones(n - 1)],
        lambda n: np.ones((n, 1)),
        lambda n: np.zeros(n),
    ],
    ids=["negative", "short", "long", "nan", "inf", "2d", "all-zero"],
)
def test_bad_sample_weight_raises(make_weights):
    X = blobs(n_per=20)
    with pytest.raises(ValueError, match="sample_weight"):
        GMM(2, random_state=0).from_samples(X, sample_weight=make_weights(X.shape[0]))


# ---------------------------------------------------------------------------
# Restarts, convergence flags and warnings
# ---------------------------------------------------------------------------
def test_n_init_keeps_the_best_of_the_same_seeds():
    X = blobs(n_per=100, d=2, k=5, seed=22, spread=2.0)
    # The restarts of n_init=4 draw their starts from the model's random
    # state one after the other, as do four single fits sharing one state.
    shared = np.random.RandomState(3)
    singles = [
        GMM(5, random_state=shared).from_samples(X, n_iter=20, tol=None).lower_bound_
        for _ in range(4)
    ]
    best = GMM(5, random_state=np.random.RandomState(3))
    best.from_samples(X, n_iter=20, tol=None, n_init=4)
    assert best.lower_bound_ >= max(singles) - 1e-12 * abs(max(singles))
    assert_allclose(best.lower_bound_, max(singles), rtol=1e-12)
    assert len(set(np.round(singles, 8))) > 1, "the restarts should differ"
    assert best.n_iter_ == 20
    assert best.converged_ is False or best.converged_ == np.False_


def test_n_init_scores_match_its_parameters():
    X = blobs(n_per=100, d=2, k=3, seed=23)
    gmm = GMM(3, random_state=0).from_samples(X, n_init=3, tol=1e-8, n_iter=300)
    # lower_bound_ is from the last E-step; after convergence it is the
    # score of the final parameters up to tol.
    assert gmm.converged_
    assert abs(gmm.score(X) - gmm.lower_bound_) < 1e-6


def test_fitted_attributes_after_convergence():
    X = blobs(n_per=100, seed=24)
    gmm = GMM(3, random_state=0).from_samples(X, n_iter=500, tol=1e-6)
    assert gmm.converged_ is True or gmm.converged_ == np.True_
    assert 1 <= gmm.n_iter_ < 500
    assert isinstance(gmm.n_iter_, int | np.integer)
    assert np.isfinite(gmm.lower_bound_)


def test_convergence_warning_with_r_diff_criterion():
    X = blobs(n_per=100, d=2, k=4, seed=25, spread=1.5)
    with pytest.warns(gaussmix.ConvergenceWarning, match="n_iter"):
        gmm = GMM(4, random_state=0).from_samples(X, n_iter=2)
    assert not gmm.converged_
    assert gmm.n_iter_ == 2


def test_convergence_warning_with_tol():
    X = blobs(n_per=100, d=2, k=4, seed=25, spread=1.5)
    with pytest.warns(gaussmix.ConvergenceWarning, match="tol"):
        gmm = GMM(4, random_state=0).from_samples(X, n_iter=3, tol=1e-10)
    assert not gmm.converged_
    assert gmm.n_iter_ == 3


def test_no_convergence_warning_without_criterion():
    X = blobs(n_per=100, d=2, k=4, seed=25, spread=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gmm = GMM(4, random_state=0).from_samples(X, n_iter=3, tol=None)
    assert not gmm.converged_
    assert gmm.n_iter_ == 3


def test_convergence_warning_is_a_user_warning():
    assert issubclass(gaussmix.ConvergenceWarning, Warning)


def test_r_diff_converges_on_easy_data():
    X = blobs(n_per=100, d=2, k=2, seed=26, spread=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gaussmix.ConvergenceWarning)
        gmm = GMM(2, random_state=0).from_samples(X, R_diff=1e-2, n_iter=200)
    assert gmm.converged_
    assert gmm.n_iter_ < 200


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("tol", [1e-2, 1e-4])
def test_tol_stops_like_sklearn(covariance_type, tol):
    X = blobs(n_per=100, d=2, k=3, seed=27, spread=2.5)
    start = random_start(X, 3, seed=28)
    gmm = gaussmix_fit(X, start, covariance_type, n_iter=500, tol=tol)
    sk = sklearn_fit(X, start, covariance_type, 500, tol=tol)
    assert sk.converged_
    assert gmm.converged_
    assert gmm.n_iter_ == sk.n_iter_
    assert_same_fit(gmm, sk, covariance_type)


# ---------------------------------------------------------------------------
# Scores and information criteria
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_score_samples_equals_scipy_mixture(covariance_type):
    X = blobs(seed=29)
    gmm = GMM(3, random_state=0).from_samples(
        X, n_iter=10, tol=None, covariance_type=covariance_type
    )
    queries = np.vstack([X[:50], np.random.default_rng(30).normal(0, 20, (20, 3))])
    expected = mixture_logpdf(queries, gmm.priors, gmm.means, gmm.covariances)
    assert_allclose(gmm.score_samples(queries), expected, rtol=1e-9)
    assert_allclose(gmm.score(queries), expected.mean(), rtol=1e-9)
    assert_allclose(gmm.to_probability_density(queries), np.exp(expected), rtol=1e-8)


def test_score_samples_far_outliers_are_finite():
    X = blobs(seed=31)
    gmm = GMM(3, random_state=0).from_samples(X, n_iter=5, tol=None)
    far = np.array([[1e6, -1e6, 1e6], [1e8, 0.0, 0.0]])
    log_p = gmm.score_samples(far)
    assert np.isfinite(log_p).all()
    assert (log_p < -1e6).all()


def test_weighted_score_is_weighted_mean():
    X = blobs(seed=32)
    gmm = GMM(3, random_state=0).from_samples(X, n_iter=5, tol=None)
    w = np.random.default_rng(33).uniform(0, 2, X.shape[0])
    assert_allclose(gmm.score(X, sample_weight=w), np.average(gmm.score_samples(X), weights=w))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bic_aic_equal_sklearn(covariance_type):
    X = blobs(n_per=80, d=4, k=3, seed=34)
    start = random_start(X, 3, seed=35)
    gmm = gaussmix_fit(X, start, covariance_type, n_iter=6)
    sk = sklearn_fit(X, start, covariance_type, 6)
    assert_allclose(gmm.score_samples(X), sk.score_samples(X), rtol=1e-7)
    assert_allclose(gmm.score(X), sk.score(X), rtol=1e-7)
    assert_allclose(gmm.bic(X), sk.bic(X), rtol=1e-7)
    assert_allclose(gmm.aic(X), sk.aic(X), rtol=1e-7)
    # The difference between the criteria pins the parameter count.
    n = X.shape[0]
    p = sk._n_parameters()
    assert_allclose(gmm.bic(X) - gmm.aic(X), p * (np.log(n) - 2.0), rtol=1e-9)


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------
def test_float32_input_is_fitted_in_float64():
    X32 = blobs(seed=36).astype(np.float32)
    start = random_start(X32.astype(np.float64), 3, seed=37)
    before = X32.copy()
    from32 = gaussmix_fit(X32, start, n_iter=10)
    from64 = gaussmix_fit(X32.astype(np.float64), start, n_iter=10)
    np.testing.assert_array_equal(X32, before)
    assert from32.means.dtype == np.float64
    assert from32.covariances.dtype == np.float64
    # Same numbers, computed in float64: agreement to float64 rounding.
    assert_allclose(from32.means, from64.means, rtol=1e-9)
    assert_allclose(from32.covariances, from64.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(from32.lower_bound_, from64.lower_bound_, rtol=1e-12)


def test_float32_input_close_to_float64_data():
    X = blobs(seed=38)
    start = random_start(X, 3, seed=39)
    from32 = gaussmix_fit(X.astype(np.float32), start, n_iter=10)
    from64 = gaussmix_fit(X, start, n_iter=10)
    # The data differ by float32 rounding (~6e-8 relative).
    assert_allclose(from32.means, from64.means, rtol=1e-4, atol=1e-5)
    assert_allclose(from32.covariances, from64.covariances, rtol=1e-4, atol=1e-5)
    assert_allclose(from32.lower_bound_, from64.lower_bound_, rtol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_compute_dtype_close_to_float64(covariance_type):
    X = blobs(n_per=200, seed=40, offset=50.0)
    start = random_start(X, 3, seed=41)
    fast = gaussmix_fit(X, start, covariance_type, n_iter=10, dtype=np.float32)
    exact = gaussmix_fit(X, start, covariance_type, n_iter=10)
    for name in ("means", "covariances", "priors"):
        value = getattr(fast, name)
        assert value.dtype == np.float64
        assert np.isfinite(value).all()
    scale = np.abs(exact.covariances).max()
    assert_allclose(fast.means, exact.means, rtol=1e-3, atol=1e-3)
    assert_allclose(fast.covariances, exact.covariances, rtol=1e-3, atol=1e-4 * scale)
    assert_allclose(fast.priors, exact.priors, rtol=1e-3)
    assert_allclose(fast.lower_bound_, exact.lower_bound_, rtol=1e-5)


def test_unknown_compute_dtype_raises():
    with pytest.raises((ValueError, TypeError), match="dtype"):
        GMM(2, random_state=0).from_samples(blobs(k=2), dtype=np.int32)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
def _X() -> np.ndarray:
    return blobs(n_per=10, d=2, k=2)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_X_raises(bad):
    X = _X()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="X"):
        GMM(2, random_state=0).from_samples(X)


@pytest.mark.parametrize("shape", [(20,), (2, 5, 2)])
def test_X_of_wrong_dimension_raises(shape):
    with pytest.raises(ValueError, match="X"):
        GMM(2, random_state=0).from_samples(np.ones(shape))


def test_more_components_than_samples_raises():
    with pytest.raises(ValueError, match="n_components"):
        GMM(5, random_state=0).from_samples(np.random.default_rng(0).normal(size=(4, 2)))


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"covariance_type": "banded"}, ValueError, "covariance_type"),
        ({"covariance_type": None}, ValueError, "covariance_type"),
        ({"init_params": "kmeans"}, ValueError, "init_params"),
        ({"n_iter": -3}, ValueError, "n_iter"),
        ({"n_iter": 2.5}, TypeError, "n_iter"),
        ({"n_init": 0}, ValueError, "n_init"),
        ({"n_init": "2"}, TypeError, "n_init"),
        ({"reg_covar": -1e-3}, ValueError, "reg_covar"),
        ({"reg_covar": np.nan}, ValueError, "reg_covar"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"tol": "small"}, TypeError, "tol"),
        ({"R_diff": -1.0}, ValueError, "R_diff"),
    ],
)
def test_bad_options_raise_naming_the_argument(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        GMM(2, random_state=0).from_samples(_X(), **kwargs)


def test_wrong_shape_of_starting_means_raises():
    gmm = GMM(2, means=np.zeros((2, 3)), random_state=0)
    with pytest.raises(ValueError, match="means"):
        gmm.from_samples(_X())


def test_bad_input_leaves_a_fitted_model_unchanged():
    gmm = GMM(2, random_state=0).from_samples(_X(), n_iter=5, tol=None)
    means = gmm.means.copy()
    with pytest.raises(ValueError):
        gmm.from_samples(_X(), covariance_type="banded")
    np.testing.assert_array_equal(gmm.means, means)


# ---------------------------------------------------------------------------
# Initialization and degenerate data
# ---------------------------------------------------------------------------
@pytest.fixture
def captured_start(monkeypatch):
    """Record the starting parameters that from_samples hands to the EM driver."""
    from gaussmix.em import driver

    calls = []
    original = driver.run_em
    signature = inspect.signature(original)

    def spy(*args, **kwargs):
        given = signature.bind(*args, **kwargs).arguments
        calls.append(tuple(array.copy() for array in given["state"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(driver, "run_em", spy)
    return calls


def test_random_init_draws_means_from_rows(captured_start):
    X = blobs(n_per=50, d=3, k=4, seed=42)
    GMM(4, random_state=0).from_samples(X, n_iter=1, tol=None, n_init=3)
    assert len(captured_start) == 3
    for priors, means, covariances in captured_start:
        assert_allclose(priors, np.full(4, 0.25))
        matches = (means[:, None, :] == X[None, :, :]).all(axis=2)
        assert matches.any(axis=1).all(), "every initial mean is a data row"
        assert np.unique(matches.argmax(axis=1)).size == 4, "rows are drawn without replacement"
        assert_allclose(covariances, np.broadcast_to(np.eye(3), (4, 3, 3)))


def test_kmeansplusplus_init_uses_data_rows_and_diagonal_covariances(captured_start):
    X = blobs(n_per=50, d=3, k=4, seed=43, spread=8.0)
    gmm = GMM(4, random_state=0).from_samples(X, init_params="kmeans++", n_iter=30, tol=1e-6)
    (_, means, covariances) = captured_start[0]
    assert (means[:, None, :] == X[None, :, :]).all(axis=2).any(axis=1).all()
    off_diagonal = covariances * (1 - np.eye(3))
    assert (off_diagonal == 0).all()
    assert (np.diagonal(covariances, axis1=1, axis2=2) > 0).all()
    assert np.isfinite(gmm.lower_bound_)


def test_kmeansplusplus_fit_finds_separated_clusters():
    rng = np.random.default_rng(44)
    centers = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    X = np.concatenate([rng.normal(c, 0.5, (100, 2)) for c in centers])
    gmm = GMM(3, random_state=0).from_samples(X, init_params="kmeans++", n_iter=100, tol=1e-6)
    distances = np.linalg.norm(gmm.means[:, None, :] - centers[None, :, :], axis=2)
    assert sorted(distances.argmin(axis=1)) == [0, 1, 2], "one component per cluster"
    assert distances.min(axis=1).max() < 0.2
    assert_allclose(gmm.priors, np.full(3, 1 / 3), atol=0.02)


def test_given_parameters_are_the_starting_point(captured_start):
    X = blobs(seed=45)
    start = random_start(X, 3, seed=46)
    gaussmix_fit(X, start, n_iter=1)
    priors, means, covariances = captured_start[0]
    assert_allclose(priors, start[0])
    assert_allclose(means, start[1])
    assert_allclose(covariances, start[2])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random", "kmeans++"])
def test_constant_column_fits_without_nan(covariance_type, init_params):
    X = blobs(n_per=50, seed=47)
    X[:, 1] = 3.0
    gmm = GMM(3, random_state=0).from_samples(
        X, n_iter=20, tol=None, covariance_type=covariance_type, init_params=init_params
    )
    for value in (gmm.priors, gmm.means, gmm.covariances):
        assert np.isfinite(value).all()
    assert np.isfinite(gmm.lower_bound_)
    assert np.isfinite(gmm.score_samples(X)).all()
    assert_allclose(gmm.means[:, 1], 3.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["random", "kmeans++"])
def test_duplicated_rows_fit_without_nan(covariance_type, init_params):
    # Fewer distinct points than components: some components end up empty or
    # collapse onto a single point; reg_covar keeps everything finite.
    points = np.array([[0.0, 1.0], [5.0, -2.0]])
    X = np.repeat(points, 30, axis=0)
    gmm = GMM(3, random_state=0).from_samples(
        X, n_iter=15, tol=None, covariance_type=covariance_type, init_params=init_params
    )
    for value in (gmm.priors, gmm.means, gmm.covariances):
        assert np.isfinite(value).all()
    assert np.isfinite(gmm.lower_bound_)
    assert np.isfinite(gmm.score_samples(X)).all()
    assert_allclose(gmm.priors.sum(), 1.0)


def test_single_component_is_the_sample_moments():
    X = blobs(n_per=100, k=1, seed=48)
    gmm = GMM(1, random_state=0).from_samples(X, n_iter=2, tol=None, reg_covar=0.0)
    assert_allclose(gmm.means[0], X.mean(axis=0), rtol=1e-10)
    assert_allclose(gmm.covariances[0], np.cov(X.T, bias=True), rtol=1e-9)


# ---------------------------------------------------------------------------
# gmr 2.0.3 compatibility of the default criterion
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("R_diff", "n_iter"), [(0.0, 6), (1e-2, 200)])
def test_full_fit_equals_gmr_from_same_start(R_diff, n_iter):
    # gmr has no reg_covar; with reg_covar=0 the full-covariance EM and gmr's
    # R_diff rule (stop before the M-step once ||R - R_prev||_F < R_diff)
    # must give gmr's parameters.
    gmr = pytest.importorskip("gmr")
    X = blobs(n_per=100, d=2, k=3, seed=49)
    priors, means, covariances = random_start(X, 3, seed=50)
    ref = gmr.GMM(3, priors=priors.copy(), means=means.copy(), covariances=covariances.copy())
    ref.from_samples(X, R_diff=R_diff, n_iter=n_iter)
    gmm = GMM(3, priors=priors, means=means, covariances=covariances)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gaussmix.ConvergenceWarning)
        gmm.from_samples(X, R_diff=R_diff, n_iter=n_iter, reg_covar=0.0)
    assert_allclose(gmm.priors, ref.priors, rtol=1e-6)
    assert_allclose(gmm.means, ref.means, rtol=1e-6)
    assert_allclose(gmm.covariances, ref.covariances, rtol=1e-6, atol=1e-9)
    if R_diff > 0:
        assert gmm.converged_
        assert gmm.n_iter_ < n_iter


def test_threads_give_the_same_fit_as_one_thread():
    """n_jobs splits the row chunks over threads; only summation order may differ."""
    pytest.importorskip("threadpoolctl")
    X = blobs(n_per=3000, d=3, k=3, seed=5)
    start = dict(
        priors=np.full(3, 1 / 3),
        means=X[[0, 3000, 6000]] + 0.1,
        covariances=np.broadcast_to(np.eye(3), (3, 3, 3)).copy(),
    )
    one = GMM(3, **start).from_samples(X, n_iter=15, tol=None, chunk_size=512, n_jobs=1)
    two = GMM(3, **start).from_samples(X, n_iter=15, tol=None, chunk_size=512, n_jobs=2)
    assert_allclose(two.means, one.means, rtol=1e-10)
    assert_allclose(two.covariances, one.covariances, rtol=1e-9, atol=1e-12)
    assert_allclose(two.lower_bound_, one.lower_bound_, rtol=1e-12)
    again = GMM(3, **start).from_samples(X, n_iter=15, tol=None, chunk_size=512, n_jobs=2)
    assert_array_equal(again.means, two.means)


@pytest.mark.parametrize("bad", [0, 1.5, "2"])
def test_n_jobs_must_be_a_nonzero_integer(bad):
    X = blobs(n_per=20, d=2, k=2, seed=1)
    with pytest.raises((ValueError, TypeError), match="n_jobs"):
        GMM(2).from_samples(X, n_jobs=bad)


def test_parallel_sections_from_several_user_threads_are_safe():
    """Regression: concurrent fits with different n_jobs shut down the shared pool
    ('cannot schedule new futures after shutdown') and left BLAS single-threaded."""
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [info["num_threads"] for info in threadpoolctl.threadpool_info()]
    X = blobs(n_per=4000, d=3, k=3, seed=9)
    errors = []

    def fit(n_jobs):
        try:
            for _ in range(3):
                GMM(3, random_state=0).from_samples(
                    X, n_iter=2, tol=None, n_jobs=n_jobs, chunk_size=500
                )
        except Exception as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=fit, args=(n,)) for n in (2, 3, 4, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [info["num_threads"] for info in threadpoolctl.threadpool_info()] == before


def test_fit_after_fork_does_not_hang():
    """Regression: a forked child inherited the thread pool object without its threads."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    X = blobs(n_per=4000, d=3, k=3, seed=9)
    GMM(3, random_state=0).from_samples(X, n_iter=2, tol=None, n_jobs=2, chunk_size=500)
    with mp.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_fit_lower_bound, (X,)).get(timeout=60)
    assert np.isfinite(result)


def _fit_lower_bound(X):
    return (
        GMM(3, random_state=0)
        .from_samples(X, n_iter=2, tol=None, n_jobs=2, chunk_size=500)
        .lower_bound_
    )


@pytest.mark.parametrize("allow_missing", [False, True])
def test_collapsed_component_without_reg_covar_gives_a_usable_model(allow_missing):
    """Regression: with reg_covar=0 a component on duplicated rows had variances of
    -1e-21, and every later call refused the model."""
    rng = np.random.default_rng(0)
    X = np.vstack([np.repeat(rng.normal(size=(1, 3)) * 3, 50, axis=0), rng.normal(size=(50, 3))])
    if allow_missing:
        X[::5, 0] = np.nan
    for covariance_type in ("full", "diag", "tied"):
        gmm = GMM(2, random_state=0).from_samples(
            X, reg_covar=0, n_iter=50, covariance_type=covariance_type, allow_missing=allow_missing
        )
        assert np.linalg.eigvalsh(gmm.covariances).min() >= -1e-12
        filled = gmm.impute(X)
        assert np.isfinite(filled).all()
        assert np.isfinite(gmm.predict([0], filled[:5, :1])).all()


# ---------------------------------------------------------------------------
# k-means++ in bounded memory
# ---------------------------------------------------------------------------
def _reference_kmeans_plus_plus(X, k, rng, weights=None):
    """The textbook algorithm with numpy's own weighted draw (rng.choice with p).

    The uniform first center of an unweighted RandomState draw is gmr's, rng.choice(n).
    """
    n = X.shape[0]
    base = np.ones(n) if weights is None else weights
    if weights is None and isinstance(rng, np.random.RandomState):
        chosen = [rng.choice(n)]
    else:
        chosen = [rng.choice(n, p=base / base.sum())]
    closest = ((X - X[chosen[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        prob = closest * base
        prob[chosen] = 0.0
        chosen.append(rng.choice(n, p=prob / prob.sum()))
        closest = np.minimum(closest, ((X - X[chosen[-1]]) ** 2).sum(axis=1))
    return np.array(chosen)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("generator", [False, True])
def test_chunked_kmeans_plus_plus_draws_as_rng_choice_does(monkeypatch, weighted, generator):
    from gaussmix.em import init

    monkeypatch.setattr(init, "_CHUNK_ROWS", 37)  # many chunks, odd boundaries
    X = blobs(n_per=60, d=3, k=4, seed=5)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    for seed in range(5):
        make = np.random.default_rng if generator else np.random.RandomState
        got = init.kmeans_plus_plus(X, 6, make(seed), weights)
        expected = _reference_kmeans_plus_plus(X, 6, make(seed), weights)
        np.testing.assert_array_equal(got, expected)


def test_kmeans_plus_plus_on_coincident_points_picks_distinct_rows():
    from gaussmix.em import init

    X = np.zeros((5, 2))
    seeds = init.kmeans_plus_plus(X, 5, np.random.RandomState(0))
    assert sorted(seeds.tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n", [150, 5000])
def test_subsample_rows_is_a_distinct_random_subset(n):
    """A uniform subset without repeats, the stream of rng.choice (as before the engine)."""
    from gaussmix.em import init

    X = np.arange(n, dtype=float)[:, None]
    sub = init.subsample_rows(X, np.random.RandomState(0), limit=100)
    assert sub.shape == (100, 1)
    assert np.unique(sub).size == 100 and (np.diff(sub[:, 0]) > 0).all()
    # Every row can be drawn: over many draws the mean index is the middle.
    means = [init.subsample_rows(X, np.random.RandomState(s), 100).mean() for s in range(200)]
    assert abs(np.mean(means) - (n - 1) / 2) < 5 * np.std(means) / np.sqrt(200) + 1e-9


# ---------------------------------------------------------------------------
# The engine takes a new statistics source without changes to the driver
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_block_list_source_through_the_driver_equals_from_samples(covariance_type):
    from gaussmix.em import driver
    from gaussmix.em.estep import e_step, make_e_step_parameters
    from gaussmix.em.families import MaximumLikelihood
    from gaussmix.em.sources import StatisticsSource
    from gaussmix.em.stats import Statistics

    class BlockListSource(StatisticsSource):
        """Rows held as separate blocks, results travelling as packed vectors."""

        def __init__(self, blocks, covariance_type):
            self.blocks, self.covariance_type = blocks, covariance_type
            self.n_samples = sum(b.shape[0] for b in blocks)
            self.n_features = blocks[0].shape[1]
            self.shift = sum(b.sum(axis=0) for b in blocks) / self.n_samples

        def initialization_data(self):
            return np.vstack(self.blocks)

        def statistics(self, gaussians, previous, need_resp_sq):
            params = make_e_step_parameters(
                self.covariance_type, gaussians, previous, self.shift, need_resp_sq=need_resp_sq
            )
            k = gaussians.means.shape[0]
            n_phi = Statistics.n_columns(self.n_features, self.covariance_type)
            flat = sum(e_step(block, None, params).pack() for block in self.blocks)
            return Statistics.unpack(flat, k, n_phi), params.shift

    X = blobs(n_per=120, d=3, k=3, seed=9)
    start = GMM(3, random_state=0).from_samples(X, n_iter=1, tol=None)
    initial = (start.priors, start.means, start.covariances)
    reference = GMM(3, *initial).from_samples(
        X, n_iter=12, tol=None, covariance_type=covariance_type
    )
    family = MaximumLikelihood(covariance_type, 1e-6)
    source = BlockListSource(np.array_split(X, 5), covariance_type)
    result = driver.fit(
        source,
        family,
        lambda run: family.start(*initial),
        n_iter=12,
        rule=driver.ConvergenceRule(None, None),
    )
    for ours, theirs in zip(
        result.state, (reference.priors, reference.means, reference.covariances), strict=True
    ):
        assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert result.n_iter == reference.n_iter_ == 12
