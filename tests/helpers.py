"""Shared test helpers (imported by the test modules; pytest puts tests/ on the path)."""

from __future__ import annotations

import numpy as np


def random_spd(
    rng: np.random.Generator, d: int, min_eig: float = 0.2, max_eig: float = 3.0
) -> np.ndarray:
    """A random symmetric positive definite (d, d) matrix with eigenvalues in [min_eig, max_eig].

    A random orthogonal basis (QR of a Gaussian matrix) scaled by uniform
    eigenvalues; draws d * d normals, then d uniforms, from ``rng``.
    """
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    cov = (q * rng.uniform(min_eig, max_eig, size=d)) @ q.T
    return (cov + cov.T) / 2.0
