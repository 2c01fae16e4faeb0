"""gaussmix.sklearn.GaussianMixture / BayesianGaussianMixture vs scikit-learn's, side by side.

Both estimators run in one process on the same synthetic data (the
well-separated mixture of ``bench_em.py``):

- **Per iteration**: the same start (``init_params="random_from_data"`` with
  the same ``random_state``: both pick the same rows), ``tol=0`` so that
  exactly ``max_iter`` iterations run (``n_iter_`` is checked), for every
  covariance type and both classes. Seconds per iteration are marginal
  costs, (time of an ``hi``-iteration fit - time of a ``lo``-iteration fit)
  / (hi - lo), so one-off costs (checks, the initial M-step, the final
  E-step) cancel. The two libraries' fits are interleaved (A, B, A, B, ...)
  and the minimum over repeats is kept; the ratio is of those minima.
  Iterations 2 and 7 at (100k, 8, 8) and (200k, 16, 16), 1 and 6 at
  (1M, 16, 16); diag and spherical, whose iterations are cheap, 2 and 12 at
  (200k, 16, 16) and 1 and 11 at (1M, 16, 16), with one repeat more.
  ``--n 1000000 --types diag,spherical --no-default-fit`` runs a part.
- **Default fit, end to end**: ``Estimator(n_components=k, random_state=0).fit(X)``
  with every default (k-means initialization by scikit-learn's KMeans,
  tol=1e-3, max_iter=100): what a user's one line costs; the iterations each
  ran are recorded. Both classes at (200k, 16, 16), GaussianMixture
  at (1M, 16, 16).

Every timed call starts from cold memory: the free heap is returned to the
system (glibc ``malloc_trim``) before it, so page faults of a user's first
call are included. Each timed call also records the CPU time other processes
used meanwhile (``foreign_cpu_per_second`` in the results: 0 means the
machine was ours alone).

Usage::

    python benchmarks/bench_sklearn.py            # full run (~10 minutes on 2 cores)
    python benchmarks/bench_sklearn.py --quick    # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, timed_alone, write_json
from bench_em import make_data

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CASES = [(100_000, 8, 8), (200_000, 16, 16), (1_000_000, 16, 16)]
QUICK_CASES = [(5_000, 4, 3)]


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass


def _classes():
    from sklearn import mixture as skm

    import gaussmix.sklearn as gms

    return {
        "GaussianMixture": (gms.GaussianMixture, skm.GaussianMixture),
        "BayesianGaussianMixture": (gms.BayesianGaussianMixture, skm.BayesianGaussianMixture),
    }


FOREIGN = []  # CPU seconds other processes used during each timed call


def _fit(cls, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _trim()
        est = cls(**params)
        seconds, foreign = timed_alone(lambda: est.fit(X))
    FOREIGN.append(foreign / seconds)
    return est, seconds


def per_iteration(name, ours_cls, ref_cls, X, k, covariance_type, lo, hi, repeats) -> dict:
    params = dict(
        n_components=k,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=0,
        tol=0.0,
    )
    best = {"gaussmix": {lo: np.inf, hi: np.inf}, "sklearn": {lo: np.inf, hi: np.inf}}
    fitted = {}
    for _ in range(repeats):
        for n_iter in (lo, hi):
            for lib, cls in (("gaussmix", ours_cls), ("sklearn", ref_cls)):
                est, seconds = _fit(cls, X, max_iter=n_iter, **params)
                assert est.n_iter_ == n_iter, (lib, est.n_iter_, n_iter)
                best[lib][n_iter] = min(best[lib][n_iter], seconds)
                fitted[lib] = est
    per_iter = {lib: (b[hi] - b[lo]) / (hi - lo) for lib, b in best.items()}
    agreement = float(
        np.max(np.abs(fitted["gaussmix"].means_ - fitted["sklearn"].means_))
        / np.max(np.abs(fitted["sklearn"].means_))
    )
    return {
        "estimator": name,
        "covariance_type": covariance_type,
        "n": X.shape[0],
        "d": X.shape[1],
        "k": k,
        "iterations": [lo, hi],
        "seconds_per_iteration": per_iter,
        "fit_seconds_min": {lib: best[lib] for lib in best},
        "speedup": per_iter["sklearn"] / per_iter["gaussmix"],
        "max_rel_diff_means_after_hi": agreement,
    }


def default_fit(name, ours_cls, ref_cls, X, k, repeats) -> dict:
    times = {"gaussmix": [], "sklearn": []}
    n_iter = {}
    for _ in range(repeats):
        for lib, cls in (("gaussmix", ours_cls), ("sklearn", ref_cls)):
            est, seconds = _fit(cls, X, n_components=k, random_state=0)
            times[lib].append(seconds)
            n_iter[lib] = est.n_iter_
    best = {lib: min(t) for lib, t in times.items()}
    return {
        "estimator": name,
        "n": X.shape[0],
        "d": X.shape[1],
        "k": k,
        "seconds_min": best,
        "seconds_all": times,
        "n_iter": n_iter,
        "speedup": best["sklearn"] / best["gaussmix"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--out", type=Path, default=RESULTS / "sklearn.json")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--n", type=int, action="append", help="only this many rows (repeatable; default all)"
    )
    parser.add_argument(
        "--types", default=None, help="only these covariance types, comma-separated"
    )
    parser.add_argument(
        "--no-default-fit", action="store_true", help="skip the end-to-end default fits"
    )
    args = parser.parse_args(argv)
    cases = QUICK_CASES if args.quick else CASES
    if args.n:
        cases = [case for case in cases if case[0] in args.n]
    only_types = None if args.types is None else tuple(args.types.split(","))
    repeats = 1 if args.quick else args.repeats
    classes = _classes()
    iteration_rows, default_rows = [], []
    for n, d, k in cases:
        X = make_data(n, d, k)
        # Full covariances at every size; the other types at the two large sizes.
        types = COVARIANCE_TYPES if (n >= 200_000 or args.quick) else ("full",)
        if only_types is not None:
            types = tuple(t for t in types if t in only_types)
        big = n >= 1_000_000
        lo, hi = (1, 3) if args.quick else ((1, 6) if big else (2, 7))
        case_repeats = repeats
        for name, (ours, ref) in classes.items():
            for covariance_type in types:
                # diag/spherical iterations are cheap: a longer span and one
                # more repeat keep the marginal cost above the timing noise.
                span, reps = (lo, hi), case_repeats
                if covariance_type in ("diag", "spherical") and not args.quick:
                    span, reps = ((1, 11) if big else (2, 12)), case_repeats + 1
                row = per_iteration(name, ours, ref, X, k, covariance_type, *span, reps)
                iteration_rows.append(row)
                print(
                    f"{name:24s} {covariance_type:9s} ({n}, {d}, {k}): "
                    f"{row['seconds_per_iteration']['gaussmix']:.4f} s vs "
                    f"{row['seconds_per_iteration']['sklearn']:.4f} s per iteration = "
                    f"{row['speedup']:.1f}x",
                    flush=True,
                )
            if args.no_default_fit:
                continue
            if (n >= 200_000 and not (big and name != "GaussianMixture")) or args.quick:
                row = default_fit(name, ours, ref, X, k, case_repeats)
                default_rows.append(row)
                print(
                    f"{name:24s} default fit ({n}, {d}, {k}): "
                    f"{row['seconds_min']['gaussmix']:.2f} s vs "
                    f"{row['seconds_min']['sklearn']:.2f} s = {row['speedup']:.1f}x "
                    f"(iterations {row['n_iter']})",
                    flush=True,
                )
        del X
    payload = {
        "machine": machine_info("scikit-learn"),
        # Other processes' CPU seconds per second of each timed call (0 = alone;
        # 2 would be both cores busy with other work).
        "foreign_cpu_per_second": {"max": max(FOREIGN), "mean": sum(FOREIGN) / len(FOREIGN)},
        "per_iteration": iteration_rows,
        "default_fit": default_rows,
    }
    write_json(args.out, payload)
    print(f"other processes' CPU per second of timed calls: {payload['foreign_cpu_per_second']}")
    print()
    print(
        markdown_table(
            ["estimator", "covariance", "(n, d, k)", "gaussmix s/iter", "sklearn s/iter", "ratio"],
            [
                [
                    r["estimator"],
                    r["covariance_type"],
                    f"({r['n']}, {r['d']}, {r['k']})",
                    r["seconds_per_iteration"]["gaussmix"],
                    r["seconds_per_iteration"]["sklearn"],
                    f"{r['speedup']:.1f}x",
                ]
                for r in iteration_rows
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["estimator", "(n, d, k)", "gaussmix s", "sklearn s", "iterations", "ratio"],
            [
                [
                    r["estimator"],
                    f"({r['n']}, {r['d']}, {r['k']})",
                    r["seconds_min"]["gaussmix"],
                    r["seconds_min"]["sklearn"],
                    f"{r['n_iter']['gaussmix']} / {r['n_iter']['sklearn']}",
                    f"{r['speedup']:.1f}x",
                ]
                for r in default_rows
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
