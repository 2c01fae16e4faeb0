"""Stepwise (online) EM: ``partial_fit`` of the estimators and of ``GMM`` (issue 24).

References not written here: scikit-learn's batch EM (its optimum's mean
log-likelihood, and one EM iteration from given parameters), the engine's
statistics computed directly about a point, the closed-form conditional mean
of a known mixture, and repetition of rows for integer weights.
"""

from __future__ import annotations

import doctest
import math
import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import mixture as sk_mixture
from sklearn.base import clone

from gaussmix import GMM, fitting
from gaussmix.em.estep import responsibility_statistics
from gaussmix.em.online import StepwiseEM, step_size
from gaussmix.em.stats import Statistics
from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# A known mixture: three well separated components with anisotropic covariances.
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 6.0, -2.0]])
TRUE_SCALES = np.array([[1.0, 0.5, 0.8], [0.7, 1.2, 0.6], [0.9, 0.9, 1.1]])


def draw(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    return TRUE_MEANS[labels] + rng.normal(size=(n, 3)) * TRUE_SCALES[labels]


@pytest.fixture(scope="module")
def stream() -> np.ndarray:
    return draw(20_000, 0)


# -- the engine ---------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("per_component", [False, True])
def test_recentred_statistics_equal_statistics_taken_about_the_new_point(
    covariance_type, per_component
):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3)) * 3 + 5
    resp = rng.dirichlet(np.ones(2), size=50)
    weights = rng.uniform(0.5, 2.0, size=50)
    old = rng.normal(size=(2, 3)) if per_component else rng.normal(size=3)
    new = np.array([1.0, -2.0, 0.5])
    if per_component:  # the precise path: each component about its own point
        about_old = Statistics.total(
            _component_statistics(X, resp, weights, old[j], covariance_type, j) for j in range(2)
        )
    else:
        about_old = responsibility_statistics(X, resp, old, covariance_type, weights)
    direct = responsibility_statistics(X, resp, new, covariance_type, weights)
    moved = about_old.recentred(old, new)
    np.testing.assert_allclose(moved.moments, direct.moments, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(moved.resp_sum, direct.resp_sum)


def _component_statistics(X, resp, weights, point, covariance_type, j):
    only_j = np.zeros_like(resp)
    only_j[:, j] = resp[:, j]
    return responsibility_statistics(X, only_j, point, covariance_type, weights)


def test_step_size_is_one_then_robbins_monro():
    assert step_size(1, 0.7, 10.0) == 1.0
    assert step_size(5, 0.7, 10.0) == pytest.approx(15.0**-0.7)
    assert step_size(5, 0.0, 10.0) == 1.0  # constant step: the latest batch only


def test_stepwise_em_blends_per_row_averages():
    """s_2 = (1 - eta) s(batch 1)/n_1 + eta s(batch 2)/n_2, scaled to the rows seen."""
    rng = np.random.default_rng(2)
    shift = np.zeros(2)
    a, b = rng.normal(size=(40, 2)), rng.normal(size=(60, 2)) + 1
    ra, rb = rng.dirichlet([1, 1], 40), rng.dirichlet([1, 1], 60)
    sa = responsibility_statistics(a, ra, shift, "full")
    sb = responsibility_statistics(b, rb, shift, "full")
    online = StepwiseEM(shift, learning_decay=0.5, learning_offset=2.0)
    online.blend(sa, shift)
    blended = online.blend(sb, shift)
    eta = 4.0**-0.5
    expected = (sa.moments / 40 * (1 - eta) + sb.moments / 60 * eta) * 100
    np.testing.assert_allclose(blended.moments, expected, rtol=1e-12)
    assert online.n_steps == 2 and online.weight_seen == 100


# -- one pass reaches the batch optimum ----------------------------------------------------
# Margin: one pass of 100 batches of 200 rows, in nats per row of the training data.
MARGIN = 0.005


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_pass_reaches_the_batch_optimum(stream, covariance_type):
    batch = sk_mixture.GaussianMixture(
        3, covariance_type=covariance_type, tol=1e-8, max_iter=1000, n_init=3, random_state=0
    ).fit(stream)
    online = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for rows in np.array_split(stream, 100):
        assert online.partial_fit(rows) is online
    assert online.n_iter_ == 100
    assert online.score(stream) >= batch.score(stream) - MARGIN
    # The running bound estimates the same mean log-likelihood.
    assert abs(online.lower_bound_ - batch.score(stream)) < 0.05


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_one_pass_reaches_the_batch_optimum(stream, covariance_type):
    batch = sk_mixture.BayesianGaussianMixture(
        n_components=3, covariance_type=covariance_type, tol=1e-6, max_iter=1000, random_state=0
    ).fit(stream)
    for total in (None, stream.shape[0]):
        online = BayesianGaussianMixture(
            n_components=3, covariance_type=covariance_type, random_state=0, total_samples=total
        )
        for rows in np.array_split(stream, 100):
            online.partial_fit(rows)
        assert online.score(stream) >= batch.score(stream) - MARGIN
        np.testing.assert_allclose(np.sort(online.weights_), np.sort(batch.weights_), atol=0.02)
        # SVI's posterior counts are the data size's: beta_j = beta_0 + N_j, sum N_j = N.
        expected = stream.shape[0] + 3 * online.mean_precision_prior_
        assert online.mean_precision_.sum() == pytest.approx(expected, rel=1e-9)


# -- scikit-learn's conventions -----------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_first_call_fits_every_attribute(stream, covariance_type):
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    est.partial_fit(stream[:300])
    reference = sk_mixture.GaussianMixture(3, covariance_type=covariance_type).fit(stream[:300])
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(est, name).shape == getattr(reference, name).shape, name
    assert est.n_features_in_ == 3
    assert est.n_iter_ == 1 and est.converged_ is False
    assert est.lower_bounds_ == [est.lower_bound_]
    assert est.predict(stream[:5]).shape == (5,)
    np.testing.assert_allclose(est.predict_proba(stream[:5]).sum(axis=1), 1.0)
    assert np.isfinite(est.score(stream[:100]))
    assert est.sample(4)[0].shape == (4, 3)
    assert est.weights_.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("Estimator", [GaussianMixture, BayesianGaussianMixture])
def test_later_batches_must_match_and_may_be_small(stream, Estimator):
    est = Estimator(n_components=3, random_state=0).partial_fit(stream[:100])
    with pytest.raises(ValueError, match="X has 2 features, but"):
        est.partial_fit(stream[:50, :2])
    est.partial_fit(stream[100:101])  # one row: fine after the first batch
    assert est.n_iter_ == 2


@pytest.mark.parametrize("Estimator", [GaussianMixture, BayesianGaussianMixture])
def test_a_first_batch_smaller_than_k_is_refused(stream, Estimator):
    with pytest.raises(ValueError, match="needs at least n_components=5 rows; got n_samples=4"):
        Estimator(n_components=5).partial_fit(stream[:4])


def test_fit_starts_afresh_and_partial_fit_continues_it(stream):
    est = GaussianMixture(3, random_state=0)
    for rows in np.array_split(stream[:2000], 5):
        est.partial_fit(rows)
    est.fit(stream[:2000])
    fresh = clone(est).fit(stream[:2000])
    np.testing.assert_array_equal(est.means_, fresh.means_)
    assert est.n_iter_ == fresh.n_iter_ and est.lower_bounds_ == fresh.lower_bounds_
    # partial_fit after fit continues from the fitted parameters (new statistics).
    est.partial_fit(stream[2000:2500])
    assert est.n_iter_ == 1
    np.testing.assert_allclose(
        np.sort(est.means_, axis=0), np.sort(fresh.means_, axis=0), atol=0.3
    )


def test_constant_step_of_one_is_one_em_iteration_on_the_batch(stream):
    """learning_decay=0: each later batch is one EM iteration from the current parameters
    (scikit-learn's EM with max_iter=1 from the same parameters)."""
    est = GaussianMixture(3, random_state=0, learning_decay=0.0).partial_fit(stream[:500])
    start = (est.weights_.copy(), est.means_.copy(), est.precisions_.copy())
    est.partial_fit(stream[500:1500])
    reference = sk_mixture.GaussianMixture(
        3, weights_init=start[0], means_init=start[1], precisions_init=start[2], max_iter=1
    )
    with pytest.warns(Warning):  # scikit-learn: did not converge in one iteration
        reference.fit(stream[500:1500])
    np.testing.assert_allclose(est.means_, reference.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(est.covariances_, reference.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.weights_, reference.weights_, rtol=1e-9)


def test_a_constant_step_forgets_a_drifting_stream():
    """The documented recipe: learning_offset >> batches, decay = ln(1/eta) / ln(offset)."""
    offset = 1e8
    est = GaussianMixture(
        1, learning_offset=offset, learning_decay=math.log(10.0) / math.log(offset)
    )
    slow = GaussianMixture(1)  # the default, Robbins-Monro decay
    rng = np.random.default_rng(3)
    for centre in (0.0, 10.0):
        for _ in range(60):
            rows = rng.normal(size=(100, 2)) + centre
            est.partial_fit(rows)
            slow.partial_fit(rows)
    np.testing.assert_allclose(est.means_[0], [10.0, 10.0], atol=0.2)  # eta ~ 0.1
    assert slow.means_[0, 0] < 9.5  # still remembers the first half (about 10%)


def test_integer_weights_equal_repeated_rows(stream):
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 4, size=200)
    weighted = GaussianMixture(3, random_state=0).partial_fit(stream[:300])
    repeated = clone(weighted).partial_fit(stream[:300])
    weighted.partial_fit(stream[300:500], sample_weight=counts)
    repeated.partial_fit(np.repeat(stream[300:500], counts, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-9)
    with pytest.raises(ValueError, match="sample_weight"):
        weighted.partial_fit(stream[:10], sample_weight=np.ones(9))


def test_a_pickled_stream_continues_identically(stream):
    est = GaussianMixture(3, random_state=0)
    for rows in np.array_split(stream[:1000], 4):
        est.partial_fit(rows)
    twin = pickle.loads(pickle.dumps(est))
    est.partial_fit(stream[1000:1200])
    twin.partial_fit(stream[1000:1200])
    np.testing.assert_array_equal(est.means_, twin.means_)
    assert twin.n_iter_ == est.n_iter_ == 5


def test_replaced_parameters_start_new_running_statistics(stream):
    est = GaussianMixture(3, random_state=0).partial_fit(stream[:500]).partial_fit(stream[500:900])
    est.means_ = est.means_ + 0.0  # another object: the running statistics are stale
    est.partial_fit(stream[900:1000])
    assert est.n_iter_ == 1 and len(est.lower_bounds_) == 1


def test_learning_parameters_are_validated():
    with pytest.raises(ValueError, match="learning_decay"):
        GaussianMixture(2, learning_decay=1.5).partial_fit(np.eye(3))
    with pytest.raises(ValueError, match="total_samples"):
        BayesianGaussianMixture(n_components=2, total_samples=0).partial_fit(np.eye(3))


# -- GMM.partial_fit: GMR on a stream ----------------------------------------------------------
# Two known components in (x, y): the conditional mean E[y | x] in closed form.
GMR_WEIGHTS = np.array([0.4, 0.6])
GMR_MEANS = np.array([[-2.0, 1.0], [2.0, -1.0]])
GMR_COVS = np.array([[[1.0, 0.6], [0.6, 0.8]], [[1.5, -0.9], [-0.9, 1.0]]])


def _draw_gmr(n, rng):
    labels = rng.choice(2, size=n, p=GMR_WEIGHTS)
    chol = np.linalg.cholesky(GMR_COVS)
    return GMR_MEANS[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(n, 2)))


def _closed_form_conditional_mean(x):
    var_x = GMR_COVS[:, 0, 0]
    dens = (
        GMR_WEIGHTS
        * np.exp(-0.5 * (x[:, None] - GMR_MEANS[:, 0]) ** 2 / var_x)
        / np.sqrt(2 * np.pi * var_x)
    )
    resp = dens / dens.sum(axis=1, keepdims=True)
    slopes = GMR_COVS[:, 1, 0] / var_x
    cond = GMR_MEANS[:, 1] + slopes * (x[:, None] - GMR_MEANS[:, 0])
    return (resp * cond).sum(axis=1)


def test_gmr_from_a_stream_predicts_the_closed_form_conditional():
    rng = np.random.default_rng(0)
    gmm = GMM(n_components=2, random_state=0)
    for _ in range(100):
        assert gmm.partial_fit(_draw_gmr(200, rng), init_params="kmeans++") is gmm
    x = np.linspace(-3.0, 3.0, 13)
    predicted = gmm.predict([0], x[:, None]).ravel()
    np.testing.assert_allclose(predicted, _closed_form_conditional_mean(x), atol=0.08)
    assert gmm.n_iter_ == 100 and gmm.converged_ is False
    assert isinstance(gmm.online_, fitting.OnlineState)


def test_gmm_partial_fit_conventions():
    rng = np.random.default_rng(6)
    gmm = GMM(n_components=3, random_state=0)
    with pytest.raises(ValueError, match="needs at least n_components=3 rows; got 2"):
        gmm.partial_fit(rng.normal(size=(2, 2)))
    two_observed = np.array([[0.0, 1.0], [np.nan, 2.0], [np.nan, np.nan], [np.nan, np.nan]])
    with pytest.raises(ValueError, match=r"n_components=3 rows; got 2 \(rows with an observed"):
        gmm.partial_fit(two_observed, allow_missing=True)
    gmm.partial_fit(rng.normal(size=(50, 2)), covariance_type="diag")
    gmm.partial_fit(rng.normal(size=(1, 2)))  # the stream keeps "diag"
    assert gmm.covariance_type_ == "diag" and gmm.n_iter_ == 2
    np.testing.assert_array_equal(gmm.covariances[:, 0, 1], 0.0)
    with pytest.raises(ValueError, match="X has 3 features, but the model has 2"):
        gmm.partial_fit(rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match="differs from the stream's 'diag'"):
        gmm.partial_fit(rng.normal(size=(10, 2)), covariance_type="full")
    gmm.means = gmm.means + 1.0  # new parameters: new running statistics from them
    gmm.partial_fit(rng.normal(size=(10, 2)), covariance_type="full")
    assert gmm.n_iter_ == 1 and gmm.covariance_type_ == "full"


def test_gmm_partial_fit_continues_from_samples_and_takes_missing_values():
    rng = np.random.default_rng(7)
    X = _draw_gmr(2000, rng)
    gmm = GMM(n_components=2, random_state=0).from_samples(
        X, init_params="kmeans++", covariance_type="diag"
    )
    before = gmm.means.copy()
    batch = _draw_gmr(500, rng)
    batch[rng.random(batch.shape) < 0.1] = np.nan
    gmm.partial_fit(batch, allow_missing=True)
    assert gmm.covariance_type_ == "diag" and gmm.n_iter_ == 1  # the fit's structure
    np.testing.assert_array_equal(gmm.covariances[:, 0, 1], 0.0)
    assert np.isfinite(gmm.means).all()
    np.testing.assert_allclose(np.sort(gmm.means, axis=0), np.sort(before, axis=0), atol=0.3)


@pytest.mark.parametrize(
    "function",
    [GaussianMixture.partial_fit, fitting.partial_fit_mixture],
    ids=["GaussianMixture.partial_fit", "GMM.partial_fit"],
)
def test_docstring_examples_run(function):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(function, globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_a_stream_far_from_the_origin_is_fitted_as_one_near_it(stream):
    """Moments are taken about the data (each batch's mean), never about the origin."""
    near = GaussianMixture(3, random_state=0)
    far = GaussianMixture(3, random_state=0)
    for rows in np.array_split(stream[:4000], 20):
        near.partial_fit(rows)
        far.partial_fit(rows + 1e8)
    np.testing.assert_allclose(far.means_ - 1e8, near.means_, atol=1e-6)
    np.testing.assert_allclose(far.covariances_, near.covariances_, rtol=1e-6, atol=1e-8)


def test_changed_structure_is_refused_and_bayesian_partial_fit_continues_a_fit(stream):
    est = GaussianMixture(3, random_state=0).partial_fit(stream[:300])
    est.set_params(covariance_type="diag")
    with pytest.raises(ValueError, match="partial_fit continues the fitted model"):
        est.partial_fit(stream[300:400])
    bayes = BayesianGaussianMixture(n_components=3, random_state=0).fit(stream[:3000])
    fitted_means = np.sort(bayes.means_, axis=0)
    bayes.partial_fit(stream[3000:3500])
    assert bayes.n_iter_ == 1 and bayes.converged_ is False
    np.testing.assert_allclose(np.sort(bayes.means_, axis=0), fitted_means, atol=0.3)


def test_memory_mapped_float32_batches(stream, tmp_path):
    np.save(tmp_path / "stream.npy", stream[:4000].astype(np.float32))
    rows = np.load(tmp_path / "stream.npy", mmap_mode="r")
    est = GaussianMixture(3, random_state=0)
    gmm = GMM(n_components=3, random_state=0)
    for start in range(0, 4000, 500):
        est.partial_fit(rows[start : start + 500])
        gmm.partial_fit(rows[start : start + 500], init_params="kmeans++")
    assert est.means_.dtype == np.float32  # as scikit-learn's GaussianMixture keeps it
    expected = np.sort(TRUE_MEANS[:, 0])
    np.testing.assert_allclose(np.sort(est.means_[:, 0]), expected, atol=0.2)
    np.testing.assert_allclose(np.sort(gmm.means[:, 0]), expected, atol=0.2)
