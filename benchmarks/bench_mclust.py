"""mclust's 14 x 9 grid: ``gaussmix.select_model(covariance_type="all")`` against R's ``Mclust``.

For each data set (Old Faithful, iris, mclust's diabetes data, and 20,000 x 8
rows of a six-component mixture drawn here with seed 0) R runs
``Mclust(X, G = 1:9)`` (all 14 models, mclust's hierarchical start) through
``Rscript`` and writes its BIC table; gaussmix runs
``select_model(X, n_components=range(1, 10), covariance_type="all",
n_init=N_INIT, init_params=INIT, tol=TOL, n_iter=1000, random_state=0)`` in
this process. Printed per data set: both whole-call times, both choices, and
how many of the cells mclust fills gaussmix's BIC is at least as good in
(within 0.01). R needs ``apt-get install r-cran-mclust``; without ``Rscript``
only gaussmix runs.

Usage::

    python benchmarks/bench_mclust.py [--n-init 5] [--init auto] [--tol 1e-6] [--only big]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from gaussmix import covariance, select_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

R_SCRIPT = """
suppressMessages(library(mclust))
X <- as.matrix(read.csv("{data}", header = FALSE))
t <- system.time(fit <- Mclust(X, G = 1:9, verbose = FALSE))[["elapsed"]]
write.csv(as.data.frame(unclass(fit$BIC)), "{table}")
cat(t, fit$modelName, fit$G, "\\n")
"""


def data_sets(only: str | None) -> dict[str, np.ndarray]:
    from sklearn.datasets import load_iris

    rng = np.random.default_rng(0)
    n, d = 20_000, 8
    centres = rng.normal(0, 4, (6, d))
    shapes = rng.normal(size=(6, d, d)) * 0.4 + np.eye(d)
    labels = rng.integers(0, 6, n)
    big = centres[labels] + np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(n, d)))
    sets = {
        "faithful": np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2),
        "iris": load_iris().data,
        "diabetes": np.loadtxt(
            DATA / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3)
        ),
        "big": big,
    }
    return {name: X for name, X in sets.items() if only is None or name == only}


def run_r(X: np.ndarray, tmp: Path) -> tuple[float, str, dict] | None:
    if shutil.which("Rscript") is None:
        return None
    data, table = tmp / "X.csv", tmp / "bic.csv"
    np.savetxt(data, X, delimiter=",")
    script = R_SCRIPT.format(data=data, table=table)
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    seconds, model, k = out.stdout.split()
    bic = {}
    with open(table) as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        for code, value in zip(rows[0][1:], row[1:], strict=True):
            bic[(int(row[0]), code)] = None if value == "NA" else -float(value)
    return float(seconds), f"{model},{k}", bic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-init", type=int, default=5)
    parser.add_argument("--init", default="auto")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--only", choices=("faithful", "iris", "diabetes", "big"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, X in data_sets(args.only).items():
            mclust = run_r(X, Path(tmp))
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = select_model(
                    X, n_components=range(1, 10), covariance_type="all", n_init=args.n_init,
                    init_params=args.init, tol=args.tol, n_iter=1000, random_state=0,
                )  # fmt: skip
            seconds = time.perf_counter() - start
            best = result.best_params
            code = covariance.get(best["covariance_type"]).mclust_name
            line = f"{name}: gaussmix {seconds:.2f} s, {code},{best['n_components']}"
            if mclust is not None:
                r_seconds, r_choice, r_bic = mclust
                filled = better = 0
                for row in result.table:
                    key = (row["n_components"], covariance.get(row["covariance_type"]).mclust_name)
                    if r_bic.get(key) is not None:
                        filled += 1
                        better += row["bic"] <= r_bic[key] + 0.01
                line += (
                    f"; mclust {r_seconds:.2f} s, {r_choice}; "
                    f"at least mclust's BIC in {better} of {filled} cells"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
