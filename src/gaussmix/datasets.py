"""Small deterministic toy data sets for examples, the ``gaussmix demo`` and tests.

Every generator is pure NumPy, downloads nothing and returns the same data
for the same ``random_state`` (default 0).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._validation import check_float, check_int

__all__ = [
    "make_clusters",
    "make_demonstrations",
    "make_heteroscedastic_sine",
    "make_inverse_sine",
]


def _rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer; got {random_state}")
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, a non-negative integer or a numpy.random.Generator; "
        f"got {random_state!r}"
    )


def _check_positive(value: Any, name: str) -> int:
    return check_int(value, name, minimum=1)


def _check_noise(noise: Any) -> float:
    # Bounded so that the width of the noise's range stays a float64 (2 * 1e300).
    return check_float(noise, "noise", minimum=0.0, maximum=1e300)


def make_inverse_sine(
    n_samples: int = 500, noise: float = 0.1, random_state: Any = 0
) -> np.ndarray:
    """Bishop's inverse problem: y given x has up to three branches.

    The forward map ``x = y + 0.3 sin(2 pi y) + u`` with y ~ U(0, 1) and u ~
    U(-noise, noise) is single-valued; its inverse, predicting y from x, is
    multimodal for x in about (0.3, 0.7), where a least-squares regressor
    averages the branches (Bishop, "Mixture Density Networks", 1994).

    Parameters
    ----------
    n_samples : int, default=500
    noise : float, default=0.1
        Half-width of the uniform noise on x.
    random_state : None, int or numpy.random.Generator, default=0

    Returns
    -------
    X : ndarray, shape (n_samples, 2)
        Columns [x, y], sorted by x: column 0 is the input, column 1 the output.
    """
    n = _check_positive(n_samples, "n_samples")
    noise = _check_noise(noise)
    rng = _rng(random_state)
    y = rng.uniform(0.0, 1.0, n)
    x = y + 0.3 * np.sin(2.0 * np.pi * y) + rng.uniform(-noise, noise, n)
    order = np.argsort(x)
    return np.column_stack([x[order], y[order]])


def make_heteroscedastic_sine(
    n_samples: int = 300, random_state: Any = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A sine with noise that grows along x: regression with uncertainty.

    ``y = sin(x) + e`` with x ~ U(0, 2 pi) and e ~ N(0, (0.05 + 0.1 x)^2).

    Parameters
    ----------
    n_samples : int, default=300
    random_state : None, int or numpy.random.Generator, default=0

    Returns
    -------
    x : ndarray, shape (n_samples,)
        Inputs, sorted.
    y : ndarray, shape (n_samples,)
        Noisy outputs.
    """
    n = _check_positive(n_samples, "n_samples")
    rng = _rng(random_state)
    x = np.sort(rng.uniform(0.0, 2.0 * np.pi, n))
    y = np.sin(x) + rng.normal(0.0, 1.0, n) * (0.05 + 0.1 * x)
    return x, y


def make_demonstrations(
    n_demos: int = 6, n_steps: int = 100, noise: float = 0.02, random_state: Any = 0
) -> np.ndarray:
    """Demonstrated 2-D trajectories of a reaching-and-curving motion.

    Each demonstration follows ``(sin(pi t), sin(2 pi t) / 2)`` for t in [0, 1]
    with its own amplitude, time warp and offset, plus Gaussian noise: the
    typical input of trajectory learning with GMR (learn p(t, x, y), then
    predict (x, y) given t).

    Parameters
    ----------
    n_demos : int, default=6
    n_steps : int, default=100
    noise : float, default=0.02
        Standard deviation of the per-point noise.
    random_state : None, int or numpy.random.Generator, default=0

    Returns
    -------
    demos : ndarray, shape (n_demos, n_steps, 3)
        Columns [t, x, y] of every demonstration.
    """
    n_demos = _check_positive(n_demos, "n_demos")
    n_steps = _check_positive(n_steps, "n_steps")
    noise = _check_noise(noise)
    rng = _rng(random_state)
    t = np.linspace(0.0, 1.0, n_steps)
    amplitude = rng.normal(1.0, 0.08, (n_demos, 1))
    warp = np.exp(rng.normal(0.0, 0.15, (n_demos, 1)))  # time warping t -> t ** warp
    offset = rng.normal(0.0, 0.05, (n_demos, 2))
    phase = t[None, :] ** warp
    x = amplitude * np.sin(np.pi * phase) + offset[:, :1]
    y = 0.5 * amplitude * np.sin(2.0 * np.pi * phase) + offset[:, 1:]
    demos = np.stack([np.broadcast_to(t, x.shape), x, y], axis=-1)
    demos[:, :, 1:] += rng.normal(0.0, noise, (n_demos, n_steps, 2))
    return demos


def make_clusters(n_samples: int = 600, random_state: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three elongated, overlapping 2-D Gaussian clusters of unequal sizes.

    Parameters
    ----------
    n_samples : int, default=600
    random_state : None, int or numpy.random.Generator, default=0

    Returns
    -------
    X : ndarray, shape (n_samples, 2)
    labels : ndarray of int, shape (n_samples,)
        The generating cluster of each sample (0, 1 or 2).
    """
    n = _check_positive(n_samples, "n_samples")
    rng = _rng(random_state)
    means = np.array([[-2.0, 0.0], [1.5, 1.5], [2.0, -2.0]])
    covariances = np.array(
        [
            [[1.2, 0.8], [0.8, 1.0]],
            [[0.3, -0.2], [-0.2, 0.6]],
            [[1.5, 0.0], [0.0, 0.2]],
        ]
    )
    labels = rng.choice(3, size=n, p=[0.5, 0.2, 0.3])
    chol = np.linalg.cholesky(covariances)
    standard = rng.standard_normal((n, 2))
    X = means[labels] + np.einsum("nij,nj->ni", chol[labels], standard)
    return X, labels
