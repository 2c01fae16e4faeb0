"""Known noise in scikit-learn's GaussianMixture: a fit parameter (extreme deconvolution).

Reference: GMM.from_samples(noise_covariances=S) from the same start (itself checked
against astroML and a row-by-row reference in tests/test_deconvolution.py), and the
convolved densities of scipy.stats through GMM.score_samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("sklearn")

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from gaussmix import GMM
from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    V = np.vstack([rng.normal(-2, 0.4, (n // 2, 2)), rng.normal(2, 0.4, (n - n // 2, 2))])
    S = rng.uniform(0.2, 1.0, (n, 2))
    return V + rng.normal(size=V.shape) * np.sqrt(S), S


START = dict(weights_init=[0.5, 0.5], means_init=[[-1.0, 0.0], [1.0, 0.0]])


@pytest.mark.filterwarnings("ignore:Best performing initialization did not converge")
@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_fit_with_noise_is_the_deconvolution_of_from_samples(covariance_type):
    X, S = _data()
    # Unit precisions in each structure's shape: the identity covariances of the reference.
    precision = {
        "full": np.stack([np.eye(2)] * 2),
        "tied": np.eye(2),
        "diag": np.ones((2, 2)),
        "spherical": np.ones(2),
    }[covariance_type]
    estimator = GaussianMixture(
        2,
        covariance_type=covariance_type,
        max_iter=15,
        tol=0.0,
        reg_covar=1e-6,
        precisions_init=precision,
        **START,
    ).fit(X, noise_covariances=S)
    reference = GMM(
        2, priors=[0.5, 0.5], means=START["means_init"], covariances=[np.eye(2)] * 2
    ).from_samples(X, noise_covariances=S, n_iter=15, tol=None, covariance_type=covariance_type)
    gmm = estimator.to_gmm()
    assert_allclose(gmm.priors, reference.priors, rtol=1e-9)
    assert_allclose(gmm.means, reference.means, rtol=1e-9, atol=1e-12)
    assert_allclose(gmm.covariances, reference.covariances, rtol=1e-8, atol=1e-12)
    assert_allclose(
        estimator.score_samples(X, noise_covariances=S),
        reference.score_samples(X, noise_covariances=S),
        rtol=1e-9,
    )
    assert estimator.score(X, noise_covariances=S) == pytest.approx(
        reference.score(X, noise_covariances=S), rel=1e-9
    )
    assert estimator.bic(X, noise_covariances=S) == pytest.approx(
        reference.bic(X, noise_covariances=S), rel=1e-9
    )
    assert_allclose(
        estimator.predict_proba(X, noise_covariances=S),
        reference.to_responsibilities(X, noise_covariances=S),
        atol=1e-9,
    )
    # The deconvolved components are narrower than a plain fit's.
    plain = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert estimator.to_gmm().covariances.trace(axis1=1, axis2=2).max() < (
        plain.to_gmm().covariances.trace(axis1=1, axis2=2).min()
    )


def test_noise_as_a_pipeline_fit_parameter():
    X, S = _data(seed=1)
    pipe = make_pipeline(FunctionTransformer(), GaussianMixture(2, random_state=0))
    pipe.fit(X, gaussianmixture__noise_covariances=S)
    direct = GaussianMixture(2, random_state=0).fit(X, noise_covariances=S)
    assert_allclose(pipe[-1].means_, direct.means_, rtol=1e-12)


def test_noise_is_refused_where_it_does_not_deconvolve():
    X, S = _data(n=100)
    with pytest.raises(ValueError, match="noise_covariances is supported by GaussianMixture"):
        BayesianGaussianMixture(n_components=2).fit(X, noise_covariances=S)
    with pytest.raises(ValueError, match="noise_covariances has shape"):
        GaussianMixture(2).fit(X, noise_covariances=S[:50])


def test_partial_fit_with_per_row_noise_recovers_the_noise_free_mixture():
    """A stream of noisy batches (per-row variances) learns the deconvolved mixture.

    Truth: two components N(-+3, V) with V = I, observed with row variances
    S_i ~ U(0.2, 1.0) per coordinate; 300 batches of 1,000 rows. A stream that
    ignored the noise would learn about V + E[S] = 1.6 I. The tolerance (0.08) is
    several times the error of stepwise EM's last steps here (eta ~ 0.03 of
    1,000-row batches: about 0.02). (With noise much larger than V, EM itself
    converges slowly and a stream needs many more batches.)
    """
    rng = np.random.default_rng(3)
    gm = GaussianMixture(2, random_state=0, learning_decay=0.6)
    for _ in range(300):
        centres = rng.choice([-3.0, 3.0], size=(1000, 1))
        S = rng.uniform(0.2, 1.0, (1000, 2))
        X = centres + rng.normal(size=(1000, 2)) + rng.normal(size=(1000, 2)) * np.sqrt(S)
        gm.partial_fit(X, noise_covariances=S)
    order = np.argsort(gm.means_[:, 0])
    assert_allclose(gm.means_[order], [[-3.0, -3.0], [3.0, 3.0]], atol=0.05)
    for covariance in gm.covariances_[order]:
        assert_allclose(covariance, np.eye(2), atol=0.08)
    # The same batch without its noise: the convolved covariance.
    plain = GaussianMixture(2, random_state=0).partial_fit(X)
    assert plain.covariances_[0, 0, 0] > 1.3


def test_partial_fit_noise_is_refused_by_the_bayesian_mixture():
    X, S = _data(200)
    with pytest.raises(ValueError, match="noise_covariances is supported by GaussianMixture"):
        BayesianGaussianMixture(n_components=2).partial_fit(X, noise_covariances=S)
    # and bad noise is named
    with pytest.raises(ValueError, match="noise_covariances"):
        GaussianMixture(2).partial_fit(X, noise_covariances=S[:10])


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_fit_with_noise_on_a_dask_array_is_the_in_memory_fit(covariance_type):
    """A Dask X with its noise chunked alike: the estimator's fit equals its in-memory
    fit from the same start (itself the deconvolution of from_samples, above)."""
    da = pytest.importorskip("dask.array")
    X, S = _data(900)
    precision = np.stack([np.eye(2)] * 2) if covariance_type == "full" else np.ones((2, 2))
    options = dict(
        covariance_type=covariance_type, max_iter=10, tol=0.0, precisions_init=precision, **START
    )
    expected = GaussianMixture(2, **options).fit(X, noise_covariances=S)
    fitted = GaussianMixture(2, **options).fit(
        da.from_array(X, chunks=300), noise_covariances=da.from_array(S, chunks=300)
    )
    assert_allclose(fitted.means_, expected.means_, rtol=1e-9, atol=1e-12)
    assert_allclose(fitted.covariances_, expected.covariances_, rtol=1e-8, atol=1e-12)
    assert fitted.lower_bound_ == pytest.approx(expected.lower_bound_, rel=1e-9)
    # noise for the Bayesian mixture stays refused, Dask or not
    with pytest.raises(ValueError, match="noise_covariances is supported by GaussianMixture"):
        BayesianGaussianMixture(n_components=2).fit(
            da.from_array(X, chunks=300), noise_covariances=S
        )
