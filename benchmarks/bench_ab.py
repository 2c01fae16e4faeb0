"""Interleaved A/B of EM between this checkout and another gaussmix build, in one process.

Used to show that a refactoring costs no speed. The other build is a copy of
an installed ``gaussmix`` package directory renamed ``gaussmix_base`` (its
imports are relative, so it loads side by side with this one)::

    git clone -q . /tmp/base && git -C /tmp/base checkout -q <commit>
    pip install --no-deps --target /tmp/base_site /tmp/base
    mkdir -p /tmp/ab && cp -r /tmp/base_site/gaussmix /tmp/ab/gaussmix_base
    python benchmarks/bench_ab.py --base /tmp/ab

For each case both builds fit the same data from the same start (the data
and start of ``bench_em.py``) with ``tol=None``; the cost of an iteration is
(time of a ``hi``-iteration fit - time of a ``lo``-iteration fit) / (hi - lo).
A and B alternate within every repeat (the VM drifts by up to 50 % within
minutes); the result is the median over repeats of the per-repeat ratio
new / base, with the spread of the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, git_commit, machine_info, write_json
from bench_em import make_data, start_params

# (n, d, k, covariance_type, fraction missing)
CASES = [
    (100_000, 8, 8, "full", 0.0),
    (200_000, 16, 16, "full", 0.0),
    (1_000_000, 16, 16, "full", 0.0),
    (200_000, 16, 16, "diag", 0.0),
    (200_000, 16, 16, "tied", 0.0),
    (200_000, 5, 5, "full", 0.1),
    (200_000, 16, 16, "full", 0.01),
    (200_000, 16, 16, "full", 0.1),
]


def fit_seconds(module, X, start, n_iter, covariance_type, missing) -> float:
    priors, means, covs = start
    gmm = module.GMM(len(priors), priors=priors, means=means, covariances=covs)
    begin = time.perf_counter()
    gmm.from_samples(
        X, n_iter=n_iter, tol=None, covariance_type=covariance_type, allow_missing=missing
    )
    return time.perf_counter() - begin


def per_iteration(module, X, start, lo, hi, covariance_type, missing) -> float:
    low = fit_seconds(module, X, start, lo, covariance_type, missing)
    high = fit_seconds(module, X, start, hi, covariance_type, missing)
    return (high - low) / (hi - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="folder holding gaussmix_base/")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "ab_engine.json"))
    parser.add_argument("--base-commit", default=None, help="the base build's commit, recorded")
    parser.add_argument("--missing", action="store_true", help="only the cases with NaN entries")
    parser.add_argument(
        "--types", default=None, help="comma-separated covariance types to run (default: all)"
    )
    args = parser.parse_args()
    sys.path.insert(0, args.base)
    base = importlib.import_module("gaussmix_base")
    new = importlib.import_module("gaussmix")
    rows = []
    cases = [(20_000, 4, 4, "full", 0.0), (20_000, 4, 4, "full", 0.1)] if args.quick else CASES
    if args.types:
        cases = [case for case in cases if case[3] in args.types.split(",")]
    if args.missing:
        cases = [case for case in cases if case[4] > 0]
    for n, d, k, covariance_type, fraction in cases:
        X = make_data(n, d, k)
        if fraction:
            X[np.random.default_rng(1).random(X.shape) < fraction] = np.nan
        start = start_params(d, k)
        missing = fraction > 0
        lo, hi = (2, 6) if missing or n >= 1_000_000 else (2, 12)
        for module in (base, new):  # warm both
            fit_seconds(module, X, start, 2, covariance_type, missing)
        ratios, base_times, new_times = [], [], []
        for repeat in range(args.repeats):
            order = (base, new) if repeat % 2 == 0 else (new, base)
            times = {}
            for module in order:
                times[module] = per_iteration(module, X, start, lo, hi, covariance_type, missing)
            base_times.append(times[base])
            new_times.append(times[new])
            ratios.append(times[new] / times[base])
        row = {
            "n": n,
            "d": d,
            "k": k,
            "covariance_type": covariance_type,
            "missing_fraction": fraction,
            "base_s_per_iter": statistics.median(base_times),
            "new_s_per_iter": statistics.median(new_times),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
        rows.append(row)
        print(
            f"({n}, {d}, {k}) {covariance_type} missing {fraction:.0%}: base "
            f"{row['base_s_per_iter'] * 1e3:.1f} ms/iter, new {row['new_s_per_iter'] * 1e3:.1f} "
            f"ms/iter, new/base {row['ratio_median']:.3f} "
            f"[{row['ratio_min']:.3f}, {row['ratio_max']:.3f}]",
            flush=True,
        )
    write_json(
        Path(args.out),
        {
            "machine": machine_info("numpy"),
            "gaussmix": git_commit(),
            "base": str(Path(base.__file__).parent),
            "base_commit": args.base_commit,
            "repeats": args.repeats,
            "results": rows,
        },
    )


if __name__ == "__main__":
    main()
