"""Shared fixtures and hypothesis settings for the gaussmix test suite."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from helpers import random_spd

# Property tests: modest example counts, no per-example deadline (the first
# call of a test may pay for imports and BLAS warm-up).
settings.register_profile(
    "gaussmix",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("gaussmix-thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("GAUSSMIX_HYPOTHESIS_PROFILE", "gaussmix"))

# gmr's own tests, shipped unchanged for tests/test_gmr_suite.py, run only there
# (with the import changed), never against gmr itself.
collect_ignore_glob = ["third_party/*"]

# Plot tests need a backend that works without a display.
os.environ.setdefault("MPLBACKEND", "Agg")


def _random_spd(rng, d, min_eig=0.1, max_eig=4.0):
    return random_spd(rng, d, min_eig, max_eig)


@pytest.fixture
def rng():
    """A seeded numpy Generator (independent per test)."""
    return np.random.default_rng(12345)


@pytest.fixture
def mixture_params():
    """A fixed, well-conditioned 3-component mixture in 3-D (priors, means, covariances)."""
    rng = np.random.default_rng(7)
    priors = np.array([0.2, 0.5, 0.3])
    means = np.array([[0.0, 1.0, -1.0], [3.0, -2.0, 0.5], [-2.5, 0.5, 2.0]])
    covariances = np.array([_random_spd(rng, 3, 0.3, 2.0) for _ in range(3)])
    return priors, means, covariances


@pytest.fixture
def two_blobs():
    """400 rows of two well separated 2-D Gaussian blobs and their true means."""
    rng = np.random.default_rng(3)
    true_means = np.array([[-4.0, 0.0], [4.0, 1.0]])
    X = np.vstack(
        [
            rng.normal(true_means[0], 0.7, size=(200, 2)),
            rng.normal(true_means[1], 0.7, size=(200, 2)),
        ]
    )
    return X, true_means
