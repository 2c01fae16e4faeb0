"""Multimodal regression: when one input has several answers.
==========================================================

Bishop's inverse problem, predicting y from ``x = y + 0.3 sin(2 pi y) +
noise``, has three answers for x near 0.5. The conditional mean (what any
least-squares regressor predicts) lies between the branches, where there is
no data. GMR keeps the whole p(y | x): its image shows the branches, and
``GMM.condition_batch(...).modes()`` returns the answers themselves.

Usage: ``python examples/multimodal_regression.py [OUTPUT_DIR] [--fast]``;
writes ``multimodal_regression.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from gaussmix import GMM
from gaussmix.datasets import make_inverse_sine
from gaussmix.plot import plot_conditional_density, plot_regression


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    X = make_inverse_sine(n_samples=400 if fast else 1500, noise=0.05, random_state=1)
    gmm = GMM(n_components=8, random_state=0).from_samples(
        X, n_iter=300, init_params="kmeans++", tol=1e-5, n_init=1 if fast else 3
    )

    # The answers of the regression: the modes of every p(y | x).
    x_query = np.linspace(-0.05, 1.05, 45)
    modes = gmm.condition_batch([0], x_query[:, None]).modes(min_relative_density=0.05)
    for xi, m in zip(x_query[::11], modes[::11], strict=True):
        print(f"x = {xi:.2f}: modes y = {np.round(m[:, 0], 2).tolist()}")

    xs = np.linspace(-0.15, 1.15, 250)
    ys = np.linspace(-0.2, 1.2, 250)
    figure = Figure(figsize=(10, 4.2))
    left, right = figure.subplots(1, 2)
    left.scatter(
        X[:, 0], X[:, 1], s=4, color="0.2", alpha=0.6, linewidths=0, label="data", zorder=3
    )
    plot_regression(left, gmm, xs, color="C3", label="conditional mean ± 2 std")
    left.set(xlim=(xs[0], xs[-1]), ylim=(-0.4, 1.4), xlabel="x", ylabel="y")
    left.set_title("the mean averages the branches")
    left.legend(loc="upper left")

    plot_conditional_density(right, gmm, xs, ys, norm=PowerNorm(0.5), cmap="magma")
    mode_x = np.concatenate([np.full(len(m), xi) for xi, m in zip(x_query, modes, strict=True)])
    mode_y = np.concatenate([m[:, 0] for m in modes])
    right.scatter(mode_x, mode_y, s=10, color="c", label="modes of p(y | x)")
    right.set(xlabel="x", ylabel="y", title="p(y | x) and its modes")
    right.legend(loc="upper left")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "multimodal_regression.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
