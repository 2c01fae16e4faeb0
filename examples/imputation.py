"""Imputation of missing values with a Gaussian mixture.
=====================================================

A third of the entries of correlated, clustered 3-D data are removed at
random. A GMM is fitted to the incomplete data directly (EM for missing data,
Ghahramani & Jordan 1994: ``from_samples(..., allow_missing=True)``), then
every missing entry is filled with its conditional mean given the observed
entries of its row (``GMM.impute``). This is compared with filling by the
column means.

Usage: ``python examples/imputation.py [OUTPUT_DIR] [--fast]``; writes
``imputation.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM
from gaussmix.datasets import make_clusters


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    rng = np.random.default_rng(0)
    planar, _ = make_clusters(n_samples=500 if fast else 1500, random_state=0)
    third = 0.8 * planar[:, 0] - 0.5 * planar[:, 1] + rng.normal(0, 0.3, len(planar))
    X_true = np.column_stack([planar, third])
    missing = rng.random(X_true.shape) < 1 / 3
    X = np.where(missing, np.nan, X_true)
    print(
        f"{missing.mean():.0%} of the entries are missing; "
        f"{(~missing).all(axis=1).mean():.0%} of the rows are complete"
    )

    gmm = GMM(n_components=3, random_state=0).from_samples(
        X, n_iter=300, init_params="kmeans++", tol=1e-5, allow_missing=True
    )
    X_gmm = gmm.impute(X)
    X_mean = np.where(missing, np.nanmean(X, axis=0), X)
    rmse_gmm = np.sqrt(((X_gmm - X_true)[missing] ** 2).mean())
    rmse_mean = np.sqrt(((X_mean - X_true)[missing] ** 2).mean())
    print(f"RMSE of the imputed entries: GMM {rmse_gmm:.3f}, column means {rmse_mean:.3f}")

    figure = Figure(figsize=(12, 4))
    truth_ax, gmm_ax, mean_ax = figure.subplots(1, 3, sharex=True, sharey=True)
    partial = missing.any(axis=1)
    for ax, data, title in (
        (truth_ax, X_true, "complete data (truth)"),
        (gmm_ax, X_gmm, f"GMM imputation (RMSE {rmse_gmm:.2f})"),
        (mean_ax, X_mean, f"mean imputation (RMSE {rmse_mean:.2f})"),
    ):
        ax.scatter(*data[~partial, :2].T, s=4, color="0.6", linewidths=0, label="complete rows")
        ax.scatter(*data[partial, :2].T, s=4, color="C3", linewidths=0, label="rows with gaps")
        ax.set(xlabel="x1", title=title)
    truth_ax.set_ylabel("x2")
    truth_ax.legend(loc="upper right", fontsize="small", markerscale=3)
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "imputation.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
