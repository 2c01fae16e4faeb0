"""float32 against float64 EM iterations, and both against the machine's floor.

What issue 27's target compares: one full-covariance EM iteration (E-step and
M-step) of ``GMM.from_samples(..., dtype=np.float32)`` on float32 rows against
the same iteration on the float64 rows. Both precisions start from the same
parameters (one k-means++ start, computed once in float64 and passed to every
fit), run ``--iterations`` iterations with ``tol=None``, and each iteration's
time is read from the fit's ``callback`` (the driver's elapsed time after each
M-step), so neither the start nor the validation of a fit enters the numbers.

The same for ``gaussmix.sklearn.GaussianMixture`` on float32 against float64 input
(``weights_init``, ``means_init``, ``precisions_init`` from that start, ``tol=0``),
its iterations timed by its ``verbose=2`` lines.

Every repeat fits the two precisions back to back (their order alternating
between repeats) and gives one ratio float64 / float32; reported is the median
of these per-repeat ratios with their minimum and maximum, which a busy
neighbour on a shared machine moves much less than a minimum of separate
timings:

- warm: the median of iterations 2.. within each fit;
- cold: iteration 1 of each fit, with the heap trimmed before the fit (its
  arrays are fresh pages: the first E-step of a user's fit);
- the floor: 4 n k d(d+1)/2 flops (the symmetric halves of the two products)
  at the float64 rate of a square GEMM on this machine
  (``_common.gemm_rate_square``);
- ``foreign_cpu_per_second_max``: the other processes' CPU seconds per second
  of a timed fit (``_common.timed_alone``), the worst over the repeats.

Results go to ``results/float32.json``; ``make_readme_table.py`` puts the
(200k, 16, 16) and (1M, 16, 16) cases in the README.

Usage::

    python benchmarks/bench_float32.py            # (200k, 16, 16), (1M, 16, 16), widths
    python benchmarks/bench_float32.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS,
    gemm_rate_square,
    machine_info,
    settle,
    timed_alone,
    trim_heap,
    write_json,
)
from bench_em import make_data

CASES = [(200_000, 16, 16), (1_000_000, 16, 16)]
# Where the full-covariance iteration lands against the floor at other widths.
FLOOR_CASES = [(200_000, 4, 16), (200_000, 8, 16), (100_000, 32, 16), (50_000, 64, 16)]
QUICK_CASES = [(20_000, 16, 4)]
# The same iteration through gaussmix.sklearn.GaussianMixture (float32 input).
ESTIMATOR_CASES = [(1_000_000, 16, 16)]
PRECISIONS = ("float64", "float32")


def _start(X: np.ndarray, k: int) -> tuple:
    """One k-means++ start (priors, means, covariances) for every fit of a case."""
    from gaussmix import GMM

    gmm = GMM(n_components=k, random_state=0).from_samples(X, n_iter=0, init_params="kmeans++")
    return gmm.priors, gmm.means, gmm.covariances


def _iteration_times(rows, start, dtype, n_iter: int) -> tuple[list[float], float]:
    """Seconds of each of ``n_iter`` iterations from ``start``, and the foreign CPU share."""
    from gaussmix import GMM

    elapsed: list[float] = []

    def record(iteration, mean_log_lik, change, seconds):
        elapsed.append(seconds)

    gmm = GMM(len(start[0]), *(np.array(a) for a in start), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trim_heap()
        settle()
        seconds, foreign = timed_alone(
            lambda: gmm.from_samples(rows, n_iter=n_iter, tol=None, dtype=dtype, callback=record)
        )
    if len(elapsed) != n_iter:
        raise RuntimeError(f"expected {n_iter} iterations, the fit ran {len(elapsed)}")
    return list(np.diff([0.0, *elapsed])), foreign / seconds


_LAPSE = re.compile(r"^  Iteration \d+\t time lapse ([0-9.]+)s", re.MULTILINE)


def _estimator_iteration_times(rows, start, dtype, n_iter: int) -> tuple[list[float], float]:
    """As :func:`_iteration_times` for ``gaussmix.sklearn.GaussianMixture`` on ``rows``
    (float32 rows compute in float32): the same start as ``weights_init``, ``means_init``
    and ``precisions_init``, ``tol=0``, each iteration's time from its ``verbose=2`` line
    ("time lapse", scikit-learn's format; iteration 1's includes the start)."""
    from gaussmix.sklearn import GaussianMixture

    priors, means, covariances = start
    estimator = GaussianMixture(
        len(priors),
        max_iter=n_iter,
        tol=0.0,
        weights_init=priors,
        means_init=means,
        precisions_init=np.linalg.inv(covariances),
        verbose=2,
        verbose_interval=1,
    )
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore")
        trim_heap()
        settle()
        seconds, foreign = timed_alone(lambda: estimator.fit(rows))
    lapses = [float(t) for t in _LAPSE.findall(out.getvalue())]
    if len(lapses) != n_iter:
        raise RuntimeError(f"expected {n_iter} iterations, the fit printed {len(lapses)}")
    return lapses, foreign / seconds


def run_case(n: int, d: int, k: int, repeats: int, n_iter: int, timer=_iteration_times) -> dict:
    X = make_data(n, d, k)
    data = {"float64": (X, np.float64), "float32": (X.astype(np.float32), np.float32)}
    start = _start(X, k)
    times: dict = {name: [] for name in PRECISIONS}
    foreign = []
    for repeat in range(repeats):
        order = PRECISIONS if repeat % 2 == 0 else PRECISIONS[::-1]
        for name in order:
            rows, dtype = data[name]
            per_iteration, share = timer(rows, start, dtype, n_iter)
            times[name].append(per_iteration)
            foreign.append(share)
    warm = {name: [statistics.median(t[1:]) for t in times[name]] for name in PRECISIONS}
    cold = {name: [t[0] for t in times[name]] for name in PRECISIONS}
    warm_ratios = [a / b for a, b in zip(warm["float64"], warm["float32"], strict=True)]
    cold_ratios = [a / b for a, b in zip(cold["float64"], cold["float32"], strict=True)]
    return {
        "n": n,
        "d": d,
        "k": k,
        "iterations_per_fit": n_iter,
        "repeats": repeats,
        "seconds_per_iteration_warm": {name: statistics.median(t) for name, t in warm.items()},
        "seconds_per_iteration_cold": {name: statistics.median(t) for name, t in cold.items()},
        "float32_speedup_warm": statistics.median(warm_ratios),
        "float32_speedup_cold": statistics.median(cold_ratios),
        "float32_speedup_warm_range": [min(warm_ratios), max(warm_ratios)],
        "float32_speedup_cold_range": [min(cold_ratios), max(cold_ratios)],
        "per_repeat_iteration_seconds": times,
        "foreign_cpu_per_second_max": max(foreign),
    }


def _with_floor(row: dict, rate: float) -> dict:
    n, d, k = row["n"], row["d"], row["k"]
    floor = 4.0 * n * k * d * (d + 1) / 2 / rate
    row["floor_symmetric_s"] = floor
    row["over_floor_warm"] = {
        name: t / floor for name, t in row["seconds_per_iteration_warm"].items()
    }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=6, help="iterations per fit (>= 2)")
    parser.add_argument("--out", type=Path, default=RESULTS / "float32.json")
    args = parser.parse_args(argv)
    if args.iterations < 2:
        parser.error("--iterations must be at least 2 (the first one is the cold one)")
    rate = gemm_rate_square(1000 if args.quick else 4000)
    rows = []
    for n, d, k in QUICK_CASES if args.quick else CASES:
        row = _with_floor(
            run_case(n, d, k, 2 if args.quick else args.repeats, args.iterations), rate
        )
        rows.append(row)
        warm = row["seconds_per_iteration_warm"]
        low, high = row["float32_speedup_warm_range"]
        print(
            f"({n}, {d}, {k}): float64 {warm['float64'] * 1e3:.1f} ms/it "
            f"({row['over_floor_warm']['float64']:.2f}x floor), float32 "
            f"{warm['float32'] * 1e3:.1f} ms/it: {row['float32_speedup_warm']:.2f}x warm "
            f"(repeats {low:.2f}-{high:.2f}), {row['float32_speedup_cold']:.2f}x cold; "
            f"foreign CPU <= {row['foreign_cpu_per_second_max']:.2f}/s",
            flush=True,
        )
    estimator_rows = []
    for n, d, k in QUICK_CASES if args.quick else ESTIMATOR_CASES:
        row = run_case(
            n, d, k, 2 if args.quick else args.repeats, args.iterations, _estimator_iteration_times
        )
        estimator_rows.append(_with_floor(row, rate))
        low, high = row["float32_speedup_warm_range"]
        print(
            f"({n}, {d}, {k}) gaussmix.sklearn.GaussianMixture: float32 input "
            f"{row['float32_speedup_warm']:.2f}x float64 warm (repeats {low:.2f}-{high:.2f}), "
            f"{row['float32_speedup_cold']:.2f}x iteration 1",
            flush=True,
        )
    floor_rows = []
    for n, d, k in [] if args.quick else FLOOR_CASES:
        row = _with_floor(run_case(n, d, k, args.repeats, args.iterations), rate)
        floor_rows.append(row)
        print(
            f"({n}, {d}, {k}): float64 {row['over_floor_warm']['float64']:.2f}x the floor, "
            f"float32 {row['over_floor_warm']['float32']:.2f}x, "
            f"float32 {row['float32_speedup_warm']:.2f}x float64 warm",
            flush=True,
        )
    if not args.quick:
        write_json(
            args.out,
            {
                "machine": machine_info(),
                "gemm_rate_square_flops": rate,
                "cases": rows,
                "estimator": estimator_rows,
                "widths": floor_rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
