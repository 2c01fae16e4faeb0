"""Parameters are validated and factorized once per change, never served stale."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from gaussmix import GMM, MVN, _validation


def _gmm():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 2))
    A = rng.normal(size=(3, 2, 2))
    covs = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(2)
    return GMM(3, priors=[0.2, 0.3, 0.5], means=means, covariances=covs)


def _reference(gmm, X):
    density = sum(
        w * multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    )
    return np.log(density)


def test_validation_runs_once_per_change(monkeypatch):
    calls = []
    original = _validation.check_mixture

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr("gaussmix.gmm.check_mixture", counting)
    gmm = _gmm()
    X = np.array([[0.1, 0.2], [1.0, -1.0]])
    for _ in range(5):
        gmm.score_samples(X)
        gmm.to_responsibilities(X)
    assert len(calls) == 1
    gmm.means = gmm.means + 1.0
    gmm.score_samples(X)
    assert len(calls) == 2


@pytest.mark.parametrize("change", ["assign", "in_place", "covariance_in_place", "priors"])
def test_changed_parameters_give_the_new_answer(change):
    gmm = _gmm()
    X = np.array([[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]])
    assert_allclose(gmm.score_samples(X), _reference(gmm, X), rtol=1e-10)
    if change == "assign":
        gmm.means = gmm.means * 2.0 - 1.0
    elif change == "in_place":
        gmm.means[1] += 0.7
    elif change == "covariance_in_place":
        gmm.covariances[2] *= 3.0
    else:
        gmm.priors = np.array([0.5, 0.3, 0.2])
    assert_allclose(gmm.score_samples(X), _reference(gmm, X), rtol=1e-10)


def test_invalid_change_is_refused_after_a_valid_call():
    gmm = _gmm()
    gmm.score_samples([[0.0, 0.0]])
    gmm.covariances[0] = np.array([[1.0, 2.0], [2.0, 1.0]])  # indefinite, in place
    with pytest.raises(ValueError, match=r"covariances\[0\] is not positive semi-definite"):
        gmm.score_samples([[0.0, 0.0]])


def test_mvn_in_place_change_is_seen():
    mvn = MVN(mean=np.zeros(2), covariance=np.eye(2))
    x = np.array([[0.5, -0.5]])
    before = mvn.to_probability_density(x)
    mvn.covariance[0, 0] = 4.0
    after = mvn.to_probability_density(x)
    assert_allclose(after, multivariate_normal(np.zeros(2), np.diag([4.0, 1.0])).pdf(x))
    assert not np.allclose(before, after)


def test_cached_factors_are_read_only():
    gmm = _gmm()
    _, _, chol = gmm._params_chol()
    with pytest.raises(ValueError):
        chol[0, 0, 0] = 2.0


def test_float32_parameters_and_extract_mvn_stay_consistent():
    """Regression (review): with float32 parameters the cache held a float64 copy and
    extract_mvn returned views of it, so editing the MVN changed the GMM's scores."""
    gmm = GMM(
        2,
        priors=np.array([0.5, 0.5], np.float32),
        means=np.array([[0.0, 0.0], [3.0, 3.0]], np.float32),
        covariances=np.stack([np.eye(2)] * 2).astype(np.float32),
    )
    X = np.array([[0.2, -0.1], [2.5, 3.5]])
    gmm.score_samples(X)
    mvn = gmm.extract_mvn(0)
    mvn.mean[:] = 50.0
    assert_allclose(gmm.score_samples(X), _reference(gmm, X), rtol=1e-6)


def test_copies_do_not_share_the_cache_and_pickles_do_not_carry_it():
    import copy
    import pickle

    gmm = _gmm()
    X = np.array([[0.1, 0.2], [1.0, -1.0]])
    size_before = len(pickle.dumps(gmm))
    gmm.score_samples(X)
    assert len(pickle.dumps(gmm)) == size_before
    twin = copy.copy(gmm)
    twin.means = gmm.means + 5.0
    assert_allclose(gmm.score_samples(X), _reference(gmm, X), rtol=1e-10)
    assert_allclose(twin.score_samples(X), _reference(twin, X), rtol=1e-10)
    again = pickle.loads(pickle.dumps(gmm))
    again.means[0] += 1.0
    assert_allclose(again.score_samples(X), _reference(again, X), rtol=1e-10)
    assert_allclose(gmm.score_samples(X), _reference(gmm, X), rtol=1e-10)


def test_two_threads_scoring_two_copies_get_their_own_answers():
    import copy
    from concurrent.futures import ThreadPoolExecutor

    gmm = _gmm()
    X = np.array([[0.1, 0.2]])
    gmm.score_samples(X)
    twin = copy.copy(gmm)
    twin.means = gmm.means + 2.0
    expected = {id(m): _reference(m, X) for m in (gmm, twin)}

    def wrong(model):
        return sum(
            not np.allclose(model.score_samples(X), expected[id(model)]) for _ in range(2000)
        )

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(wrong, [gmm, twin])) == [0, 0]


def test_predict_and_condition_see_parameter_changes():
    """The conditioner (a factorization of the input block) is cached per index set."""

    def closed_form(mean, cov, x):
        return mean[1:] + cov[1:, :1] @ np.linalg.solve(cov[:1, :1], x - mean[:1])

    mean = np.array([0.5, -1.0, 2.0])
    cov = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.5]])
    gmm = GMM(1, priors=[1.0], means=mean[None].copy(), covariances=cov[None].copy())
    mvn = MVN(mean=mean.copy(), covariance=cov.copy())
    x = np.array([1.3])

    def predicted(model):
        out = model.predict([0], x[None])
        return out[0][0] if isinstance(out, tuple) else out[0]  # MVN: (means, covariance)

    for model in (gmm, mvn):
        assert_allclose(predicted(model), closed_form(mean, cov, x))
    gmm.covariances[0, 1, 0] = gmm.covariances[0, 0, 1] = -0.9
    mvn.covariance[1, 0] = mvn.covariance[0, 1] = -0.9
    changed = cov.copy()
    changed[1, 0] = changed[0, 1] = -0.9
    for model in (gmm, mvn):
        assert_allclose(predicted(model), closed_form(mean, changed, x))
    conditional = gmm.condition([0], x)
    conditional.covariances[0] *= 2.0  # the caller's own copy, writable
    assert_allclose(predicted(gmm), closed_form(mean, changed, x))
