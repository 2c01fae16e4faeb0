"""Quick start: fit a mixture, predict with uncertainty, save and load, plot.
==========================================================================

A Gaussian mixture learns the joint density p(x, y) of the data; conditioning
it on x gives a regression (GMR) with an uncertainty for every prediction.

Usage: ``python examples/quickstart.py [OUTPUT_DIR] [--fast]`` (or set
``GAUSSMIX_OUTPUT`` / ``GAUSSMIX_FAST=1``); writes ``quickstart.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM
from gaussmix.plot import plot_error_ellipses, plot_regression


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    # Data: y = sin(x) + noise.
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2 * np.pi, 200 if fast else 600)
    y = np.sin(x) + rng.normal(0, 0.15, x.size)
    X = np.column_stack([x, y])

    # Fit the joint density with EM (as in gmr: GMM(...).from_samples(X)).
    gmm = GMM(n_components=5, random_state=0).from_samples(
        X, n_iter=200, init_params="kmeans++", tol=1e-4
    )
    print(f"EM: {gmm.n_iter_} iterations, mean log-likelihood {gmm.lower_bound_:.3f}")

    # Predict y (dimension 1) from x (dimension 0), with the predictive variance.
    x_test = np.array([[1.0], [np.pi], [5.0]])
    mean, covariance = gmm.predict([0], x_test, return_covariance=True)
    for xi, mi, ci in zip(x_test[:, 0], mean[:, 0], covariance[:, 0, 0], strict=True):
        print(f"  x = {xi:.2f}: y = {mi:+.3f} +/- {np.sqrt(ci):.3f}  (sin x = {np.sin(xi):+.3f})")

    # Save and load: a versioned JSON file that is safe to load from anyone.
    with tempfile.TemporaryDirectory() as tmp:
        gmm.save(Path(tmp) / "model.json")
        loaded = GMM.load(Path(tmp) / "model.json")
    assert np.array_equal(loaded.predict([0], x_test), gmm.predict([0], x_test))

    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    ax.scatter(x, y, s=4, color="0.3", alpha=0.5, linewidths=0, label="data")
    plot_error_ellipses(ax, gmm, colors=[f"C{j + 1}" for j in range(5)], factors=[1.0, 2.0])
    plot_regression(ax, gmm, np.linspace(-0.3, 2 * np.pi + 0.3, 300), label="GMR ± 2 std")
    ax.set(xlabel="x", ylabel="y", title="Quick start: GMM fit and GMR with confidence band")
    ax.legend(loc="lower left")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "quickstart.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
