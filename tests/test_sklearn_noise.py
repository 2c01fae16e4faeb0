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
