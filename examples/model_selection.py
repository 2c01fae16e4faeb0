"""Choosing the number of components and the covariance structure in one call.
===========================================================================

``select_model`` fits every k = 1..9 with each of the four covariance
structures (mclust's VVV, EEE, VVI, VII) and ranks them by BIC; the plot is
mclust's BIC plot, one line per structure. The same helper selects k for a
Gaussian mixture *regression* by cross-validated R^2, and agrees with
scikit-learn's ``GridSearchCV`` over ``GaussianMixtureRegressor`` on the same
folds (up to the fits' different random starts).

Usage: ``python examples/model_selection.py [OUTPUT_DIR] [--fast]``;
writes ``model_selection.png``.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import select_model
from gaussmix.datasets import make_clusters, make_heteroscedastic_sine
from gaussmix.plot import plot_error_ellipses, plot_regression


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    # 1. Density: k and the covariance structure by BIC.
    X, _ = make_clusters(n_samples=400 if fast else 1200, random_state=0)
    with warnings.catch_warnings():
        # Degenerate fits are reported in the table; the example prints it.
        warnings.simplefilter("ignore")
        result = select_model(
            X, n_components=range(1, 7 if fast else 10), n_init=1 if fast else 4, random_state=0
        )
    print(result)
    best = result.best_model

    # 2. Regression: k for GMR of y on x by 5-fold cross-validated R^2, once with
    # the one-call helper and once with scikit-learn's grid search on the same folds.
    from sklearn.model_selection import GridSearchCV, KFold

    from gaussmix.sklearn import GaussianMixtureRegressor

    x, y = make_heteroscedastic_sine(n_samples=300 if fast else 600, random_state=0)
    x = x[:, None]
    ks = list(range(1, 5 if fast else 9))
    n_folds = 3 if fast else 5
    folds = list(KFold(n_folds, shuffle=True, random_state=0).split(x))
    options = {"n_init": 1 if fast else 2, "tol": 1e-4, "n_iter": 300, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regression = select_model(
            x, y, n_components=ks, covariance_type="full", criterion="r2", cv=folds, **options
        )
        search = GridSearchCV(
            GaussianMixtureRegressor(1, init_params="kmeans++", **options),
            {"n_components": ks},
            cv=folds,
        ).fit(x, y)
    helper_r2 = [-row["score"] for row in regression.table]
    print("k:                    ", " ".join(f"{k:6d}" for k in ks))
    print("select_model R^2:     ", " ".join(f"{r:6.3f}" for r in helper_r2))
    print(
        "GridSearchCV R^2:     ",
        " ".join(f"{r:6.3f}" for r in search.cv_results_["mean_test_score"]),
    )
    print(
        f"chosen k: select_model {regression.best_params['n_components']}, "
        f"GridSearchCV {search.best_params_['n_components']}"
    )

    figure = Figure(figsize=(15, 4.3))
    bic_ax, cluster_ax, cv_ax = figure.subplots(1, 3)
    result.plot(bic_ax)
    bic_ax.set_title("BIC of every candidate (open markers: degenerate)")

    clusters = best.to_responsibilities(X).argmax(axis=1)
    colors = [f"C{j}" for j in range(best.n_components)]
    cluster_ax.scatter(X[:, 0], X[:, 1], s=5, c=[colors[j] for j in clusters], linewidths=0)
    plot_error_ellipses(cluster_ax, best, colors=colors, alpha=0.15, factors=[1.0, 2.0])
    k, kind = result.best_params.values()
    cluster_ax.set(xlabel="x1", ylabel="x2", title=f"chosen: k = {k}, {kind} (3 true clusters)")

    cv_ax.plot(ks, helper_r2, "o-", label="select_model(x, y, criterion='r2')")
    cv_ax.plot(ks, search.cv_results_["mean_test_score"], "x--", label="GridSearchCV, same folds")
    cv_ax.set(xlabel="number of components k", ylabel=f"held-out R² ({n_folds} folds)")
    cv_ax.set_title("GMR of a noisy sine: k by cross-validation")
    inset = cv_ax.inset_axes([0.5, 0.12, 0.45, 0.4])
    inset.scatter(x[:, 0], y, s=2, color="0.6")
    plot_regression(inset, regression.best_model.gmm_, np.linspace(0, 2 * np.pi, 100), n_std=2.0)
    inset.set(xticks=[], yticks=[])
    cv_ax.legend(fontsize="small", loc="upper left")

    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "model_selection.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
