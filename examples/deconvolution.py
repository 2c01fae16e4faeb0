"""Extreme deconvolution: the density of the true values behind noisy measurements.
==================================================================================

True values are drawn from a mixture of three narrow Gaussians; every row is
measured with its own known noise (heteroscedastic, correlated, up to several
times the width of the structure). A mixture fitted to the noisy rows
describes the noise: its components come out wide and blurred. Passing the
noise covariances to ``from_samples(..., noise_covariances=S)`` fits the
deconvolved mixture (Bovy, Hogg & Roweis 2011), whose density matches the
true one. The last panel draws, for a few noisy rows, samples of their true
values given the measurement (``GMM.sample_true_values``).

Usage: ``python examples/deconvolution.py [OUTPUT_DIR] [--fast]``; writes
``deconvolution.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM


def _true_mixture() -> GMM:
    return GMM(
        3,
        priors=[0.4, 0.35, 0.25],
        means=[[-2.0, -1.0], [1.5, 1.5], [2.0, -2.0]],
        covariances=[
            [[1.2, 0.9], [0.9, 0.8]],
            [[0.15, 0.0], [0.0, 0.6]],
            [[0.5, -0.3], [-0.3, 0.3]],
        ],
        random_state=1,
    )


def _density_contours(ax, gmm: GMM, grid, color: str, style: str = "solid") -> None:
    xx, yy, points = grid
    density = gmm.to_probability_density(points).reshape(xx.shape)
    levels = density.max() * np.array([0.05, 0.2, 0.5, 0.8])
    ax.contour(xx, yy, density, levels=levels, colors=color, linestyles=style, linewidths=1.2)


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    rng = np.random.default_rng(0)
    n = 1500 if fast else 4000
    truth = _true_mixture()
    V = truth.sample(n)
    # Each row's own noise: random orientation, standard deviations 0.3 to 1.5.
    angles = rng.uniform(0, np.pi, n)
    rotation = np.stack(
        [
            np.stack([np.cos(angles), -np.sin(angles)], 1),
            np.stack([np.sin(angles), np.cos(angles)], 1),
        ],
        axis=1,
    )
    scales = rng.uniform(0.3, 1.5, (n, 2)) ** 2
    S = rotation @ (scales[:, :, None] * np.eye(2)) @ np.swapaxes(rotation, 1, 2)
    X = V + np.einsum("nij,nj->ni", np.linalg.cholesky(S), rng.normal(size=(n, 2)))

    options = dict(init_params="kmeans++", n_iter=300 if fast else 1000, tol=1e-6, n_init=2)
    plain = GMM(3, random_state=0).from_samples(X, **options)
    deconvolved = GMM(3, random_state=0).from_samples(X, noise_covariances=S, **options)
    print(
        "mean log-likelihood of the noisy rows: plain fit "
        f"{plain.score(X):.3f}, deconvolved (convolved with the noise) "
        f"{deconvolved.score(X, noise_covariances=S):.3f}"
    )
    print(
        f"mean log density of the true values: under the plain fit {plain.score(V):.3f}, "
        f"the deconvolved fit {deconvolved.score(V):.3f}, the truth {truth.score(V):.3f}"
    )

    xx, yy = np.meshgrid(np.linspace(-6, 6, 120), np.linspace(-6, 6, 120))
    grid = (xx, yy, np.column_stack([xx.ravel(), yy.ravel()]))
    figure = Figure(figsize=(13, 3.6))
    axes = figure.subplots(1, 4, sharex=True, sharey=True)
    axes[0].scatter(*V.T, s=2, color="0.4", linewidths=0)
    _density_contours(axes[0], truth, grid, "k")
    axes[0].set_title("true values and their density")
    axes[1].scatter(*X.T, s=2, color="C0", linewidths=0)
    axes[1].set_title("noisy measurements")
    axes[2].scatter(*X.T, s=2, color="0.75", linewidths=0)
    _density_contours(axes[2], plain, grid, "C3")
    _density_contours(axes[2], truth, grid, "k", "dashed")
    axes[2].set_title("plain fit (red) vs truth (dashed)")
    _density_contours(axes[3], deconvolved, grid, "C2")
    _density_contours(axes[3], truth, grid, "k", "dashed")
    rows = np.argsort(np.trace(S, axis1=1, axis2=2))[-4:]  # the noisiest rows
    draws = deconvolved.sample_true_values(X[rows], S[rows], n_samples=200)
    for i, row in enumerate(rows):
        axes[3].scatter(*draws[i].T, s=2, color=f"C{i + 4}", linewidths=0, alpha=0.6)
        axes[3].plot(*X[row], marker="x", color=f"C{i + 4}", markersize=8)
    axes[3].set_title("deconvolved fit (green); draws\nof true values of 4 noisy rows (x)")
    for ax in axes:
        ax.set(xlim=(-6, 6), ylim=(-6, 6), xlabel="x1")
    axes[0].set_ylabel("x2")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "deconvolution.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
