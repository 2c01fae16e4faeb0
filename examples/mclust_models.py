"""mclust's 14 covariance models, one fit each on Old Faithful.
=============================================================

Each panel fits three components under one covariance structure,
Sigma_k = lambda_k D_k A_k D_k^T with volume lambda, shape A and orientation D
Equal across components (E), Variable (V) or the Identity (I), in mclust's
order (EII ... VVV), and draws the components' 1- and 2-sigma ellipses with
the fit's BIC (lower is better). The data are standardized so that the
spherical and equal-shape models have something to show.

Usage: ``python examples/mclust_models.py [OUTPUT_DIR] [--fast]``;
writes ``mclust_models.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM, covariance
from gaussmix.plot import plot_error_ellipses

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the examples in their folder, without __file__
    HERE = Path.cwd()
FAITHFUL = HERE.parent / "tests" / "data" / "faithful.csv"


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    if FAITHFUL.exists():
        X = np.loadtxt(FAITHFUL, delimiter=",", skiprows=2)
    else:  # an installed copy without the tests: two elongated clusters
        rng = np.random.default_rng(0)
        X = np.vstack(
            [rng.normal([2, 55], [0.3, 6], (100, 2)), rng.normal([4.3, 80], [0.4, 6], (170, 2))]
        )
    X = (X - X.mean(axis=0)) / X.std(axis=0)

    figure = Figure(figsize=(14, 8))
    axes = figure.subplots(3, 5).ravel()
    colors = ["C0", "C1", "C2"]
    for ax, name in zip(axes, covariance.names(), strict=False):
        structure = covariance.get(name)
        gmm = GMM(3, random_state=0).from_samples(
            X, covariance_type=name, init_params="hc", n_init=1 if fast else 3, tol=1e-6
        )
        ax.scatter(X[:, 0], X[:, 1], s=3, color="k", alpha=0.3, linewidths=0)
        plot_error_ellipses(ax, gmm, colors=colors, alpha=0.2, factors=[1.0, 2.0])
        title = (
            structure.mclust_name
            if name == structure.mclust_name
            else f"{name} = {structure.mclust_name}"
        )
        ax.set_title(f"{title}  BIC {gmm.bic(X):.0f}", fontsize="small")
        ax.set(xticks=[], yticks=[], xlim=(-2.5, 2.5), ylim=(-2.5, 2.5))
        print(f"{structure.mclust_name}: BIC {gmm.bic(X):.1f}")
    axes[-1].axis("off")
    axes[-1].text(
        0.0, 0.5,
        "Sigma_k = lambda_k D_k A_k D_k^T\nvolume, shape, orientation:\n"
        "E equal, V variable,\nI identity",
        fontsize="small", va="center",
    )  # fmt: skip
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "mclust_models.png"
    figure.savefig(path, dpi=70)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
