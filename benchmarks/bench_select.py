"""Model selection: ``gaussmix.select_model`` against the equivalent scikit-learn loop.

The grid is k = 1..9 x the four covariance types (36 candidates), one EM run
each (``n_init=1``), ``reg_covar=1e-6``, on 100,000 x 8 rows of a
well-separated 6-component mixture, in one process:

- gaussmix: ``select_model(X, n_components=range(1, 10), covariance_type=all four,
  n_init=1, init_params=INIT, n_iter=N, tol=TOL, random_state=0)``: the whole
  grid, its BIC table and the chosen model; INIT is select_model's default,
  "auto" (the k-means start on a subsample at this size), unless ``--init``
  says otherwise;
- scikit-learn: ``for t in types: for k in ks: GaussianMixture(k, covariance_type=t,
  n_init=1, init_params="k-means++", max_iter=N, tol=TOL, reg_covar=1e-6,
  random_state=0).fit(X).bic(X)`` and the minimum.

Two modes, each timed cold (the first grid of the process: first touch of the
data, imports done, thread pools and compiled kernels not yet used) and warm
(the median of later grids):

- ``fixed``: every candidate runs exactly ``--fixed-iter`` EM iterations
  (gaussmix ``tol=None``; scikit-learn ``tol=0``), so both do the same number of
  iterations and the ratio is the cost of the same work;
- ``converged``: both stop by scikit-learn's rule, ``tol=1e-3`` on the change of
  the mean log-likelihood (at most 100 iterations); their starts differ, so
  the total iteration counts are reported beside the times.

The JSON records the picks and the BIC of every candidate of both libraries.

Usage::

    python benchmarks/bench_select.py            # full run (several minutes: scikit-learn's grids)
    python benchmarks/bench_select.py --quick    # smoke run (seconds): 4,000 x 4, k = 1..3
    python benchmarks/bench_select.py --n 20000 --d 4 --k-max 5 --out /tmp/select.json
    python benchmarks/bench_select.py --init kmeans++ --out /tmp/select_kmeanspp.json

``--init`` sets gaussmix's start (default "auto"); scikit-learn keeps ``--sklearn-init``
(default k-means++, cheaper for scikit-learn than its default KMeans start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, write_json

TYPES = ("full", "tied", "diag", "spherical")


def make_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n rows of a well-separated 6-component mixture in d dimensions (float64)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (6, d))
    scales = rng.normal(size=(6, d, d)) * 0.3 + np.eye(d)
    labels = rng.integers(0, 6, n)
    X = np.empty((n, d))
    for start in range(0, n, 65536):  # chunked: no n x d x d temporary
        rows = slice(start, min(n, start + 65536))
        z = rng.standard_normal((rows.stop - rows.start, d))
        X[rows] = centres[labels[rows]] + np.einsum("nij,nj->ni", scales[labels[rows]], z)
    return X


INIT = {"gaussmix": "auto", "sklearn": "k-means++"}


def gaussmix_grid(X: np.ndarray, ks: list[int], n_iter: int, tol: float | None) -> dict:
    from gaussmix import select_model

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X,
            n_components=ks,
            covariance_type=TYPES,
            n_init=1,
            init_params=INIT["gaussmix"],
            n_iter=n_iter,
            tol=tol,
            random_state=0,
        )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "iterations": sum(row["n_iter"] or 0 for row in result.table),
        "pick": [result.best_params["n_components"], result.best_params["covariance_type"]],
        "bic": {f"{r['covariance_type']},{r['n_components']}": r["bic"] for r in result.table},
        "degenerate": sum(row["degenerate"] is not None for row in result.table),
    }


def sklearn_grid(X: np.ndarray, ks: list[int], n_iter: int, tol: float | None) -> dict:
    from sklearn.mixture import GaussianMixture

    start = time.perf_counter()
    bic, iterations = {}, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for covariance_type in TYPES:
            for k in ks:
                model = GaussianMixture(
                    k,
                    covariance_type=covariance_type,
                    n_init=1,
                    init_params=INIT["sklearn"],
                    max_iter=n_iter,
                    tol=0.0 if tol is None else tol,
                    reg_covar=1e-6,
                    random_state=0,
                ).fit(X)
                bic[f"{covariance_type},{k}"] = float(model.bic(X))
                iterations += int(model.n_iter_)
    seconds = time.perf_counter() - start
    best = min(bic, key=bic.get)
    kind, k = best.split(",")
    return {
        "seconds": seconds,
        "iterations": iterations,
        "pick": [int(k), kind],
        "bic": bic,
    }


def timed_grids(grid, X, ks, n_iter, tol, warm_repeats: int) -> dict:
    """A cold grid (the process's first of this library and mode) and the median of warm ones."""
    cold = grid(X, ks, n_iter, tol)
    warm = [grid(X, ks, n_iter, tol) for _ in range(warm_repeats)]
    return {
        "cold_s": cold["seconds"],
        "warm_s": statistics.median(run["seconds"] for run in warm) if warm else None,
        "warm_times_s": [run["seconds"] for run in warm],
        "iterations": cold["iterations"],
        "pick": cold["pick"],
        "bic": cold["bic"],
        **({"degenerate": cold["degenerate"]} if "degenerate" in cold else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--n", type=int, default=None, help="rows (default 100000; quick 4000)")
    parser.add_argument("--d", type=int, default=None, help="features (default 8; quick 4)")
    parser.add_argument("--k-max", type=int, default=None, help="largest k (default 9; quick 3)")
    parser.add_argument(
        "--fixed-iter", type=int, default=None, help="iterations per candidate in 'fixed' mode"
    )
    parser.add_argument("--repeats", type=int, default=None, help="warm grids of gaussmix")
    parser.add_argument(
        "--sklearn-repeats", type=int, default=None, help="warm grids of scikit-learn"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument(
        "--init", choices=("auto", "kmeans++", "random", "kmeans"), default="auto",
        help="gaussmix's init_params (default auto, select_model's default)",
    )  # fmt: skip
    parser.add_argument(
        "--sklearn-init", choices=("k-means++", "kmeans", "random_from_data"),
        default="k-means++", help="scikit-learn's init_params (default k-means++)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    INIT.update(gaussmix=args.init, sklearn=args.sklearn_init)

    quick = args.quick
    n = args.n or (4000 if quick else 100_000)
    d = args.d or (4 if quick else 8)
    ks = list(range(1, (args.k_max or (3 if quick else 9)) + 1))
    fixed_iter = args.fixed_iter or (5 if quick else 20)
    repeats = args.repeats if args.repeats is not None else (1 if quick else 3)
    sk_repeats = args.sklearn_repeats if args.sklearn_repeats is not None else 1
    out = args.out or RESULTS / ("select_quick.json" if quick else "select.json")

    info = machine_info("scikit-learn", "gaussmix", "threadpoolctl")
    print(
        f"# model-selection grid: k = {ks[0]}..{ks[-1]} x {len(TYPES)} types, n_init=1, "
        f"{n} x {d} rows, on {info['cpu_model']} ({info['logical_cpus']} CPUs)",
        flush=True,
    )
    X = make_data(n, d)
    modes = {"fixed": (fixed_iter, None), "converged": (100, 1e-3)}
    results = {}
    for mode, (n_iter, tol) in modes.items():
        print(f"  {mode}: gaussmix ...", flush=True)
        ours = timed_grids(gaussmix_grid, X, ks, n_iter, tol, repeats)
        print(f"  {mode}: scikit-learn ...", flush=True)
        theirs = timed_grids(sklearn_grid, X, ks, n_iter, tol, sk_repeats)
        shared = sorted(set(ours["bic"]) & set(theirs["bic"]))
        results[mode] = {
            "n_iter": n_iter,
            "tol": tol,
            "gaussmix": ours,
            "sklearn": theirs,
            "ratio_cold": theirs["cold_s"] / ours["cold_s"],
            "ratio_warm": (
                theirs["warm_s"] / ours["warm_s"] if ours["warm_s"] and theirs["warm_s"] else None
            ),
            "ratio_per_iteration_cold": (theirs["cold_s"] / max(1, theirs["iterations"]))
            / (ours["cold_s"] / max(1, ours["iterations"])),
            "max_relative_bic_difference": max(
                abs(ours["bic"][c] - theirs["bic"][c]) / abs(theirs["bic"][c]) for c in shared
            ),
        }

    payload = {
        "machine": info,
        "config": {
            "n": n,
            "d": d,
            "n_components": ks,
            "covariance_types": list(TYPES),
            "n_init": 1,
            "init": (
                f"gaussmix {args.init}, scikit-learn {args.sklearn_init} (each library its own "
                "draw)"
            ),
            "reg_covar": 1e-6,
            "data": "well-separated 6-component mixture, make_data(n, d, seed=0)",
            "warm_repeats": {"gaussmix": repeats, "sklearn": sk_repeats},
        },
        "method": {
            "cold": "the first grid of this library and mode in the process",
            "warm": "median of the later grids",
            "fixed": "every candidate runs exactly n_iter iterations in both libraries",
            "converged": "both stop at tol=1e-3 on the mean log-likelihood (max 100 iterations)",
        },
        "results": results,
        "load_average_at_end": list(os.getloadavg()),
    }
    write_json(out, payload)

    rows = []
    for mode, result in results.items():
        ours, theirs = result["gaussmix"], result["sklearn"]
        rows.append(
            [
                mode,
                ours["cold_s"],
                ours["warm_s"],
                theirs["cold_s"],
                theirs["warm_s"],
                result["ratio_cold"],
                result["ratio_warm"],
                f"{ours['iterations']} / {theirs['iterations']}",
                f"{ours['pick'][0]} {ours['pick'][1]} / {theirs['pick'][0]} {theirs['pick'][1]}",
            ]
        )
    print()
    print(
        markdown_table(
            [
                "mode",
                "gaussmix cold s",
                "gaussmix warm s",
                "sklearn cold s",
                "sklearn warm s",
                "ratio cold",
                "ratio warm",
                "iterations (ours / sklearn)",
                "pick (ours / sklearn)",
            ],
            rows,
        )
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
