"""Confidence regions: exact sampling and membership tests.
========================================================

The alpha confidence region of a d-dimensional Gaussian is the ellipsoid
whose squared Mahalanobis radius is the alpha quantile of the chi-squared
distribution with d degrees of freedom. ``sample_confidence_region`` draws
exactly from the Gaussian restricted to it (vectorized: a truncated
chi-squared radius times a uniform direction); ``is_in_confidence_region``
tests points. Left: one MVN, samples inside its 50% and 90% regions and the
regions' boundaries. Right: a mixture, points coloured by whether they lie in
the 90% region of their closest component.

Usage: ``python examples/confidence_regions.py [OUTPUT_DIR] [--fast]``;
writes ``confidence_regions.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import chi2

from gaussmix import GMM, MVN
from gaussmix.plot import plot_error_ellipse, plot_error_ellipses


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))
    n = 300 if fast else 1500

    mvn = MVN(mean=[0.0, 0.0], covariance=[[2.0, 1.2], [1.2, 1.5]], random_state=0)
    inner = mvn.sample_confidence_region(n, alpha=0.5)
    outer = mvn.sample_confidence_region(n, alpha=0.9)
    plain = mvn.sample(20 * n)
    for alpha in (0.5, 0.9):
        share = mvn.is_in_confidence_region(plain, alpha).mean()
        print(f"{share:.1%} of plain samples fall in the {alpha:.0%} region")

    gmm = GMM(
        n_components=2,
        priors=[0.6, 0.4],
        means=[[-2.0, 0.0], [2.5, 1.0]],
        covariances=[[[1.0, 0.6], [0.6, 1.0]], [[0.6, -0.3], [-0.3, 0.8]]],
        random_state=1,
    )
    points = gmm.sample(n)
    inside = gmm.is_in_confidence_region(points, alpha=0.9)
    print(
        f"{inside.mean():.1%} of the mixture's samples lie in the 90% region of their "
        "closest component"
    )

    figure = Figure(figsize=(10, 4.5))
    left, right = figure.subplots(1, 2)
    left.scatter(*outer.T, s=4, color="C1", linewidths=0, label="inside the 90% region")
    left.scatter(*inner.T, s=4, color="C0", linewidths=0, label="inside the 50% region")
    for alpha, color in ((0.5, "C0"), (0.9, "C1")):
        (ellipse,) = plot_error_ellipse(
            left, mvn, color=color, alpha=1.0, factors=[np.sqrt(chi2.ppf(alpha, 2))]
        )
        ellipse.set_fill(False)
        ellipse.set_linewidth(2)
    left.set(xlim=(-5, 5), ylim=(-4.5, 4.5), aspect="equal", title="MVN.sample_confidence_region")
    left.legend(loc="upper left", fontsize="small", markerscale=3)

    plot_error_ellipses(
        right, gmm, colors=["C0", "C1"], alpha=0.15, factors=[np.sqrt(chi2.ppf(0.9, 2))]
    )
    right.scatter(*points[inside].T, s=5, color="k", linewidths=0, label="inside")
    right.scatter(*points[~inside].T, s=12, color="C3", marker="x", label="outside")
    right.set(
        xlim=(-6, 6), ylim=(-4.5, 4.5), aspect="equal", title="GMM.is_in_confidence_region (90%)"
    )
    right.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "confidence_regions.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
