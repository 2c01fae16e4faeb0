"""float32 against float64 EM iterations, and both against the machine's floor.

One process, the two precisions interleaved (A, B, A, B): the same float64
data, and its float32 copy fitted with ``dtype=np.float32``, from the same
k-means++ start, full covariances. The marginal cost of an iteration is
(t(hi) - t(lo)) / (hi - lo) of ``GMM.from_samples`` with ``tol=None`` (exactly
that many iterations), minimum over repeats; "cold" is the first such pair in
the process (the heap trimmed before each fit). The floor is
4 n k d(d+1)/2 flops at the float64 rate of a square GEMM on this machine
(``_common.gemm_rate_square``). Results go to ``results/float32.json``.

Usage::

    python benchmarks/bench_float32.py            # (200k, 16, 16) and (1M, 16, 16)
    python benchmarks/bench_float32.py --quick
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, gemm_rate_square, machine_info, timed_alone, trim_heap, write_json
from bench_em import make_data

CASES = [(200_000, 16, 16), (1_000_000, 16, 16)]
# Where the full-covariance iteration lands against the floor at other widths.
FLOOR_CASES = [(200_000, 4, 16), (200_000, 8, 16), (100_000, 32, 16), (50_000, 64, 16)]
QUICK_CASES = [(20_000, 8, 4)]


def _fit(X, k, dtype, n_iter) -> tuple[float, float]:
    from gaussmix import GMM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trim_heap()
        gmm = GMM(n_components=k, random_state=0)
        seconds, foreign = timed_alone(
            lambda: gmm.from_samples(
                X, n_iter=n_iter, init_params="kmeans++", tol=None, dtype=dtype
            )
        )
    return seconds, foreign / seconds


def run_case(n, d, k, repeats, lo=1, hi=6) -> dict:
    X = make_data(n, d, k)
    data = {"float64": (X, np.float64), "float32": (X.astype(np.float32), np.float32)}
    per_iter: dict = {name: [] for name in data}
    foreign = []
    for _ in range(repeats):
        for name, (rows, dtype) in data.items():
            t_lo, f_lo = _fit(rows, k, dtype, lo)
            t_hi, f_hi = _fit(rows, k, dtype, hi)
            per_iter[name].append((t_hi - t_lo) / (hi - lo))
            foreign += [f_lo, f_hi]
    warm = {name: min(t) for name, t in per_iter.items()}
    cold = {name: t[0] for name, t in per_iter.items()}
    return {
        "n": n,
        "d": d,
        "k": k,
        "iterations": [lo, hi],
        "seconds_per_iteration_warm": warm,
        "seconds_per_iteration_cold": cold,
        "all": per_iter,
        "float32_speedup_warm": warm["float64"] / warm["float32"],
        "float32_speedup_cold": cold["float64"] / cold["float32"],
        "foreign_cpu_per_second_max": max(foreign),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "float32.json")
    args = parser.parse_args(argv)
    rate = gemm_rate_square(1000 if args.quick else 4000)
    rows = []
    for n, d, k in QUICK_CASES if args.quick else CASES:
        row = run_case(n, d, k, 1 if args.quick else args.repeats)
        floor = 4.0 * n * k * d * (d + 1) / 2 / rate
        row["floor_symmetric_s"] = floor
        row["over_floor_warm"] = {
            name: t / floor for name, t in row["seconds_per_iteration_warm"].items()
        }
        rows.append(row)
        warm = row["seconds_per_iteration_warm"]
        print(
            f"({n}, {d}, {k}): float64 {warm['float64'] * 1e3:.1f} ms/it "
            f"({row['over_floor_warm']['float64']:.2f}x floor), float32 "
            f"{warm['float32'] * 1e3:.1f} ms/it: {row['float32_speedup_warm']:.2f}x warm, "
            f"{row['float32_speedup_cold']:.2f}x cold",
            flush=True,
        )
    floor_rows = []
    for n, d, k in [] if args.quick else FLOOR_CASES:
        row = run_case(n, d, k, args.repeats)
        floor = 4.0 * n * k * d * (d + 1) / 2 / rate
        row["floor_symmetric_s"] = floor
        row["over_floor_warm"] = {
            name: t / floor for name, t in row["seconds_per_iteration_warm"].items()
        }
        floor_rows.append(row)
        print(
            f"({n}, {d}, {k}): float64 {row['over_floor_warm']['float64']:.2f}x the floor, "
            f"float32 {row['over_floor_warm']['float32']:.2f}x",
            flush=True,
        )
    if not args.quick:
        write_json(
            args.out,
            {
                "machine": machine_info(),
                "gemm_rate_square_flops": rate,
                "cases": rows,
                "widths": floor_rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
