"""gaussmix.sklearn's mixture estimators on Dask arrays: the in-memory fit, lazy outputs."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("sklearn")

from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture  # noqa: E402


def blobs(n=3000, d=3, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0] * d, [4.0] * d, [0.0, 5.0] + [5.0] * (d - 2)])[:, :d]
    labels = rng.randint(0, 3, n)
    return centers[labels] + rng.randn(n, d)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_fit_on_a_dask_array_equals_the_fit_in_memory(cls, covariance_type):
    X = blobs()
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0, tol=1e-6)
    in_memory = cls(**params).fit(X)
    lazy = cls(**params).fit(da.from_array(X, chunks=(700, 3)))
    assert lazy.n_iter_ == in_memory.n_iter_
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(
            getattr(lazy, name), getattr(in_memory, name), rtol=1e-8, atol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(lazy.lower_bound_, in_memory.lower_bound_, rtol=1e-10)


def test_outputs_on_dask_arrays_are_lazy_and_chunked_like_the_input():
    X = blobs()
    est = GaussianMixture(3, random_state=0).fit(X)
    chunked = da.from_array(X, chunks=(1000, 3))
    scores = est.score_samples(chunked)
    proba = est.predict_proba(chunked)
    labels = est.predict(chunked)
    for lazy in (scores, proba, labels):
        assert isinstance(lazy, da.Array)
        assert lazy.chunks[0] == chunked.chunks[0]
    np.testing.assert_allclose(scores.compute(), est.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(proba.compute(), est.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(labels.compute(), est.predict(X))
    assert labels.dtype == np.int64
    np.testing.assert_allclose(est.score(chunked), est.score(X), rtol=1e-12)
    np.testing.assert_allclose(est.bic(chunked), est.bic(X), rtol=1e-12)
    lazy_labels = GaussianMixture(3, random_state=0).fit_predict(chunked)
    np.testing.assert_array_equal(np.asarray(lazy_labels.compute()), est.predict(X))


def test_large_dask_array_initializes_on_a_bounded_sample():
    X = blobs(n=120_000, d=2, seed=1)
    est = GaussianMixture(3, random_state=0, tol=1e-4).fit(da.from_array(X, chunks=(30_000, 2)))
    ref = GaussianMixture(3, random_state=0, tol=1e-4).fit(X)
    # a different start (k-means on 100,000 of the rows), the same optimum
    order = np.argsort(est.means_[:, 0])
    ref_order = np.argsort(ref.means_[:, 0])
    np.testing.assert_allclose(est.means_[order], ref.means_[ref_order], atol=1e-3)
    np.testing.assert_allclose(est.lower_bound_, ref.lower_bound_, rtol=1e-6)
