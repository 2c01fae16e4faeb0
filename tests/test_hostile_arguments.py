"""Hostile arguments (part of issue 13): ValueError/TypeError naming the argument, never a
bare numpy/Python error, and never a silently wrapped index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussmix import GMM, MVN


def _gmm():
    return GMM(2, priors=[0.5, 0.5], means=[[0.0, 0.0], [1.0, 1.0]], covariances=[np.eye(2)] * 2)


def test_uint64_index_does_not_wrap_to_the_last_dimension():
    with pytest.raises(ValueError, match="indices must lie in"):
        _gmm().predict(np.array([2**64 - 1], dtype=np.uint64), [[0.0]])


@given(st.integers(min_value=2**63, max_value=10**500))
@settings(max_examples=30, deadline=None)
def test_integers_beyond_int64_are_value_errors_naming_the_argument(huge):
    gmm = _gmm()
    X = np.random.default_rng(0).normal(size=(20, 2))
    cases = [
        ("n_components", lambda: GMM(huge)),
        ("n_iter", lambda: GMM(2, random_state=0).from_samples(X, n_iter=huge)),
        ("n_init", lambda: GMM(2, random_state=0).from_samples(X, n_init=huge)),
        ("n_samples", lambda: gmm.sample(huge)),
        ("n_samples", lambda: MVN(mean=[0.0], covariance=[[1.0]]).sample(huge)),
        ("indices", lambda: gmm.predict([huge], [[0.0]])),
        ("alpha", lambda: gmm.is_in_confidence_region([0.0, 0.0], alpha=huge)),
    ]
    for name, call in cases:
        with pytest.raises(ValueError, match=name):
            call()


def test_n_samples_whose_array_cannot_be_addressed_is_refused():
    with pytest.raises(ValueError, match=r"n_samples=.* is too large"):
        _gmm().sample(2**61)


def test_ragged_indices_name_the_argument():
    with pytest.raises(ValueError, match="indices must be a 1-D sequence"):
        _gmm().predict([[0], [0, 1]], [[0.0]])


@pytest.mark.parametrize("method", ["score", "bic", "aic"])
def test_summaries_of_no_samples_are_refused(method):
    with pytest.raises(ValueError, match=f"X has no samples; {method}"):
        getattr(_gmm(), method)(np.empty((0, 2)))


def test_all_nan_data_with_allow_missing_says_so():
    with pytest.raises(ValueError, match="every entry is NaN"):
        GMM(2).from_samples(np.full((5, 2), np.nan), allow_missing=True)


def test_an_empty_mvn_is_refused():
    with pytest.raises(ValueError, match="mean must have at least one entry"):
        MVN(mean=[], covariance=np.zeros((0, 0))).to_probability_density([[]])


@pytest.mark.parametrize("alpha", [1e300, 1e-300, 10**400])
def test_unscented_alpha_outside_the_representable_spread_is_refused(alpha):
    """Regression (issue 13): alpha 1e300 raised OverflowError, 1e-300 returned zeros."""
    mvn = MVN(mean=[0.0, 1.0], covariance=np.eye(2))
    with pytest.raises(ValueError, match="alpha"):
        mvn.sigma_points(alpha=alpha)


def test_unscented_transform_at_usual_alphas_is_unchanged():
    mvn = MVN(mean=[0.0, 1.0], covariance=np.diag([1.0, 4.0]))
    points = mvn.sigma_points(alpha=1.0)
    np.testing.assert_allclose(points.mean(axis=0), [0.0, 1.0])
