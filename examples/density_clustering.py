"""Density estimation and clustering, with the number of components chosen by BIC.
===============================================================================

Mixtures with 1 to 6 components are fitted (several restarts each); the
Bayesian information criterion picks the number of clusters. The chosen
mixture gives a density (contours), a hard clustering (most responsible
component) and soft memberships (responsibilities).

Usage: ``python examples/density_clustering.py [OUTPUT_DIR] [--fast]``;
writes ``density_clustering.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM
from gaussmix.datasets import make_clusters
from gaussmix.plot import plot_error_ellipses


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    X, labels = make_clusters(n_samples=400 if fast else 1200, random_state=0)
    candidates = range(1, 5 if fast else 7)
    models = [
        GMM(k, random_state=0).from_samples(
            X, n_iter=300, init_params="kmeans++", tol=1e-4, n_init=1 if fast else 4
        )
        for k in candidates
    ]
    bic = np.array([model.bic(X) for model in models])
    best = models[int(np.argmin(bic))]
    print("BIC:", ", ".join(f"k={k}: {b:.1f}" for k, b in zip(candidates, bic, strict=True)))
    print(f"chosen: {best.n_components} components (the data have 3 clusters)")

    responsibilities = best.to_responsibilities(X)
    clusters = responsibilities.argmax(axis=1)
    certainty = responsibilities.max(axis=1)
    # Purity: each found cluster counted by its most frequent true label.
    table = np.zeros((best.n_components, labels.max() + 1))
    np.add.at(table, (clusters, labels), 1)
    print(
        f"purity of the clustering against the true labels: {table.max(axis=1).sum() / len(X):.1%}"
    )

    figure = Figure(figsize=(12, 4))
    bic_ax, density_ax, cluster_ax = figure.subplots(1, 3)
    bic_ax.plot(list(candidates), bic, "o-")
    bic_ax.axvline(best.n_components, color="C3", ls="--")
    bic_ax.set(
        xlabel="number of components", ylabel="BIC (lower is better)", title="model selection"
    )

    lo, hi = X.min(axis=0) - 1, X.max(axis=0) + 1
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    log_density = best.score_samples(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    density_ax.contourf(gx, gy, np.exp(log_density), levels=15, cmap="Blues")
    density_ax.scatter(X[:, 0], X[:, 1], s=2, color="k", alpha=0.4, linewidths=0)
    density_ax.set(xlabel="x1", ylabel="x2", title="estimated density")

    colors = [f"C{j}" for j in range(best.n_components)]
    cluster_ax.scatter(
        X[:, 0], X[:, 1], s=6, c=[colors[j] for j in clusters], alpha=certainty, linewidths=0
    )
    plot_error_ellipses(cluster_ax, best, colors=colors, alpha=0.15, factors=[1.0, 2.0])
    cluster_ax.set(xlabel="x1", ylabel="x2", title="clusters (opacity = responsibility)")
    cluster_ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "density_clustering.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
