"""A user's one line, ``GaussianMixture(k, random_state=0).fit(X)``, against scikit-learn's.

What it measures, in one process, the two libraries interleaved (A, B, A, B):

- **Default fit, end to end**: every default (k-means start, tol=1e-3,
  max_iter=100), the estimators of ``gaussmix.sklearn`` and
  ``sklearn.mixture``. The first call of each library in the process is the
  *cold* number (a user's first fit: the heap trimmed before it, so its page
  faults count); the *warm* number is the minimum of the repeats that follow
  (each also after a heap trim). Before each timed call the process waits
  until its own threads are idle (``_common.settle``): scikit-learn's OpenBLAS
  and OpenMP workers spin for tens of milliseconds after its call, and would
  otherwise run beside the next library's call.
- **The start alone**: ``KMeans(k, n_init=1, random_state=RandomState(0))``
  against :func:`gaussmix.em.kmeans.sklearn_kmeans` with the same generator,
  and whether their labels agree.

Cases (issue 27's): (200,000 x 8, k = 5) and (1,000,000 x 16, k = 16) of
``bench_em.make_data``'s well-separated mixture. Each timed call records the
CPU seconds other processes used meanwhile (``foreign_cpu_per_second``: 0 means
the machine was ours alone). Results go to ``results/default_fit.json``.

Usage::

    python benchmarks/bench_default_fit.py              # ~2 minutes on 2 cores
    python benchmarks/bench_default_fit.py --quick      # seconds
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS,
    machine_info,
    markdown_table,
    settle,
    timed_alone,
    trim_heap,
    write_json,
)
from bench_em import make_data

CASES = [(200_000, 8, 5), (1_000_000, 16, 16)]
QUICK_CASES = [(20_000, 4, 3)]


def _timed(fn) -> tuple[float, float, object]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trim_heap()
        settle()  # the other library's spinning worker threads gone idle first
        seconds, foreign = timed_alone(lambda: out.append(fn()))
    return seconds, foreign / seconds, out[0]


def run_case(n: int, d: int, k: int, repeats: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture as TheirGaussianMixture

    from gaussmix.em.kmeans import sklearn_kmeans
    from gaussmix.sklearn import GaussianMixture

    X = make_data(n, d, k)
    fits = {
        "gaussmix": lambda: GaussianMixture(k, random_state=0).fit(X),
        "sklearn": lambda: TheirGaussianMixture(k, random_state=0).fit(X),
    }
    starts = {
        "gaussmix": lambda: sklearn_kmeans(X, k, np.random.RandomState(0)),
        "sklearn": lambda: KMeans(k, n_init=1, random_state=np.random.RandomState(0)).fit(X),
    }
    row: dict = {"n": n, "d": d, "k": k}
    for label, calls in (("fit", fits), ("kmeans", starts)):
        times: dict = {lib: [] for lib in calls}
        foreign: list = []
        results: dict = {}
        for _ in range(1 + repeats):
            for lib, call in calls.items():
                seconds, other, result = _timed(call)
                times[lib].append(seconds)
                foreign.append(other)
                results[lib] = result
        cold = {lib: t[0] for lib, t in times.items()}
        warm = {lib: min(t[1:]) if len(t) > 1 else t[0] for lib, t in times.items()}
        row[label] = {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "all_seconds": times,
            "cold_speedup": cold["sklearn"] / cold["gaussmix"],
            "warm_speedup": warm["sklearn"] / warm["gaussmix"],
            "foreign_cpu_per_second_max": max(foreign),
        }
        if label == "fit":
            row[label]["n_iter"] = {lib: int(r.n_iter_) for lib, r in results.items()}
            row[label]["means_max_abs_difference"] = float(
                np.max(np.abs(results["gaussmix"].means_ - results["sklearn"].means_))
            )
        else:
            row[label]["labels_equal"] = bool(
                np.array_equal(results["gaussmix"].labels, results["sklearn"].labels_)
            )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small case, one repeat")
    parser.add_argument("--repeats", type=int, default=3, help="warm repeats per library")
    parser.add_argument("--out", type=Path, default=RESULTS / "default_fit.json")
    args = parser.parse_args(argv)
    cases = QUICK_CASES if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    rows = []
    for n, d, k in cases:
        row = run_case(n, d, k, repeats)
        rows.append(row)
        fit, start = row["fit"], row["kmeans"]
        print(
            f"({n}, {d}, {k}) fit: cold {fit['cold_speedup']:.1f}x, warm "
            f"{fit['warm_speedup']:.1f}x ({fit['warm_seconds']['gaussmix']:.3f} s vs "
            f"{fit['warm_seconds']['sklearn']:.3f} s); k-means warm {start['warm_speedup']:.1f}x, "
            f"labels equal: {start['labels_equal']}",
            flush=True,
        )
    payload = {"machine": machine_info("scikit-learn"), "cases": rows}
    if not args.quick:
        write_json(args.out, payload)
    print(
        markdown_table(
            ["case", "fit cold", "fit warm", "k-means warm", "labels equal"],
            [
                [
                    f"({r['n']:,}, {r['d']}, {r['k']})",
                    f"{r['fit']['cold_speedup']:.1f}x",
                    f"{r['fit']['warm_speedup']:.1f}x",
                    f"{r['kmeans']['warm_speedup']:.1f}x",
                    r["kmeans"]["labels_equal"],
                ]
                for r in rows
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
