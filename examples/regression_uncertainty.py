"""Regression with uncertainty: GMR's predictive band follows heteroscedastic noise.
=================================================================================

The noise of ``y = sin(x) + e`` grows with x. A least-squares regressor gives
one curve; GMR gives the whole conditional distribution p(y | x), whose
standard deviation (law of total variance over the components) widens where
the data are noisier. The plot shows the 1 and 2 standard deviation bands
against the true noise level, and how often the data fall inside them.

Usage: ``python examples/regression_uncertainty.py [OUTPUT_DIR] [--fast]``;
writes ``regression_uncertainty.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM
from gaussmix.datasets import make_heteroscedastic_sine
from gaussmix.plot import plot_regression


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    x, y = make_heteroscedastic_sine(n_samples=300 if fast else 1000, random_state=0)
    gmm = GMM(n_components=6, random_state=0).from_samples(
        np.column_stack([x, y]), n_iter=300, init_params="kmeans++", tol=1e-5
    )

    mean, covariance = gmm.predict([0], x[:, None], return_covariance=True)
    std = np.sqrt(covariance[:, 0, 0])
    inside = np.abs(y - mean[:, 0]) <= 2 * std
    print(f"{inside.mean():.1%} of the data lie within the 2-std band (95.4% for a Gaussian)")

    grid = np.linspace(0, 2 * np.pi, 300)
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    left.scatter(x, y, s=5, color="0.3", alpha=0.5, linewidths=0, label="data")
    plot_regression(left, gmm, grid, n_std=2.0, color="C0", alpha=0.2, label="GMR mean, ±2 std")
    plot_regression(left, gmm, grid, n_std=1.0, color="C0", alpha=0.3)
    left.plot(grid, np.sin(grid), "k--", lw=1, label="sin(x)")
    left.set(xlabel="x", ylabel="y", title="GMR with confidence bands")
    left.legend(loc="lower left")

    _, grid_cov = gmm.predict([0], grid[:, None], return_covariance=True)
    right.plot(grid, np.sqrt(grid_cov[:, 0, 0]), label="GMR predictive std")
    right.plot(grid, 0.05 + 0.1 * grid, "k--", label="true noise std")
    right.set(xlabel="x", ylabel="standard deviation", title="uncertainty follows the noise")
    right.legend(loc="upper left")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "regression_uncertainty.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
