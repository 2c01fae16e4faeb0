"""EM speed and memory: gaussmix vs scikit-learn's GaussianMixture vs gmr 2.0.3.

All three run in one process on the same synthetic data (a well-separated
mixture), from the same initial parameters, for a fixed number of EM
iterations with full covariances:

- gaussmix: ``GMM(k, priors, means, covariances).from_samples(X, n_iter=N, tol=None)``
- scikit-learn: ``GaussianMixture(max_iter=N, tol=0, weights_init=..., means_init=...,
  precisions_init=...)`` (``n_iter_ == N`` is checked)
- gmr: ``GMM(k, priors, means, covariances).from_samples(X, R_diff=0, n_iter=N)``;
  ``||R - R_prev|| < 0`` never holds, so gmr runs exactly N E-steps (counted).

Seconds per iteration are marginal costs: (median time of an N_hi-iteration
fit - median time of an N_lo-iteration fit) / (N_hi - N_lo), so one-off costs
(input checks, scikit-learn's initial M-step and final E-step) cancel. The
BLAS floor of one iteration is 4 n k d^2 flops (the E-step product of the
data with all components' Cholesky factors plus the M-step scatter) over the
measured float64 GEMM rate. The symmetric floor counts only the distinct
second-moment products, 4 n k d (d + 1) / 2 flops: the least any method that
touches every product x_a x_b once per component in each step can do.

Peak memory is measured in a fresh subprocess per fit: the resident set
size after imports, after building the data (in chunks, so no large
temporaries), then the peak RSS of the fit (``VmHWM``, whose mark is reset
after the data are built, so imports and data generation cannot hide it);
we report the peak above the RSS with the data loaded.

Usage::

    python benchmarks/bench_em.py                  # full run (~10 minutes on 2 cores)
    python benchmarks/bench_em.py --quick          # smoke run (seconds)
    python benchmarks/bench_em.py --out results/em.json --gmr-max-n 100000
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    RESULTS,
    gemm_rate_chunked,
    gemm_rate_square,
    machine_info,
    markdown_table,
    timed,
    write_json,
)

FULL_CASES = [(10_000, 2, 3), (100_000, 8, 8), (200_000, 16, 16), (1_000_000, 16, 16)]
QUICK_CASES = [(5_000, 2, 3), (20_000, 8, 8)]
REG_COVAR = 1e-6


# ---------------------------------------------------------------------------
# Data and starting point
# ---------------------------------------------------------------------------
def make_mixture(d: int, k: int, seed: int = 0) -> dict:
    """Well-separated mixture: centres ~N(0, 6^2 I), covariances near I."""
    rng = np.random.default_rng(seed)
    return {
        "priors": rng.dirichlet(np.full(k, 10.0)),
        "centers": rng.normal(0.0, 6.0, (k, d)),
        "mixing": np.eye(d) + 0.2 * rng.normal(size=(k, d, d)),
    }


def make_data(n: int, d: int, k: int, seed: int = 0, chunk: int = 8192) -> np.ndarray:
    """n samples of :func:`make_mixture`, built in chunks into one (n, d) array."""
    mix = make_mixture(d, k, seed)
    rng = np.random.default_rng(seed + 1)
    X = np.empty((n, d))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        labels = rng.choice(k, size=m, p=mix["priors"])
        block = rng.standard_normal((m, d))
        # A loop over components in the data generator only; temporaries stay chunk-sized.
        for j in range(k):
            rows = labels == j
            block[rows] = block[rows] @ mix["mixing"][j].T + mix["centers"][j]
        X[start : start + m] = block
    return X


def start_params(d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shared starting point: uniform priors, perturbed centres, 2 I."""
    mix = make_mixture(d, k, seed)
    rng = np.random.default_rng(seed + 2)
    means = mix["centers"] + rng.normal(0.0, 1.0, (k, d))
    covariances = np.broadcast_to(2.0 * np.eye(d), (k, d, d)).copy()
    return np.full(k, 1.0 / k), means, covariances


# ---------------------------------------------------------------------------
# One fit of each library from the shared start
# ---------------------------------------------------------------------------
def fit_gaussmix(X, start, n_iter, dtype=None):
    from gaussmix import GMM

    priors, means, covariances = start
    gmm = GMM(len(priors), priors=priors.copy(), means=means.copy(), covariances=covariances)
    kwargs = {} if dtype is None else {"dtype": dtype}
    gmm.from_samples(X, n_iter=n_iter, tol=None, reg_covar=REG_COVAR, **kwargs)
    assert gmm.n_iter_ == n_iter, (gmm.n_iter_, n_iter)
    return gmm.priors, gmm.means, gmm.covariances


def fit_sklearn(X, start, n_iter):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    priors, means, covariances = start
    sk = GaussianMixture(
        n_components=len(priors),
        covariance_type="full",
        max_iter=n_iter,
        tol=0.0,
        reg_covar=REG_COVAR,
        weights_init=priors,
        means_init=means,
        precisions_init=np.linalg.inv(covariances),
        init_params="random_from_data",  # cheapest; overridden by the *_init arguments
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X)
    assert sk.n_iter_ == n_iter, (sk.n_iter_, n_iter)
    return sk.weights_, sk.means_, sk.covariances_


def fit_gmr(X, start, n_iter):
    import gmr

    priors, means, covariances = start
    model = gmr.GMM(
        len(priors), priors=priors.copy(), means=means.copy(), covariances=covariances.copy()
    )
    e_steps = 0
    to_responsibilities = model.to_responsibilities

    def counting(X_):
        nonlocal e_steps
        e_steps += 1
        return to_responsibilities(X_)

    model.to_responsibilities = counting  # gmr calls self.to_responsibilities once per iteration
    model.from_samples(X, R_diff=0.0, n_iter=n_iter)
    assert e_steps == n_iter, (e_steps, n_iter)
    return model.priors, model.means, model.covariances


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def per_iteration(fit, X, start, lo: int, hi: int, repeats: int, warmup: bool) -> dict:
    """Marginal seconds per iteration between lo- and hi-iteration fits."""
    if warmup:
        fit(X, start, lo)
    t_lo, t_hi = [], []
    result = None
    for _ in range(repeats):
        t_lo.append(timed(lambda: fit(X, start, lo)))
        t0 = time.perf_counter()
        result = fit(X, start, hi)
        t_hi.append(time.perf_counter() - t0)
    med_lo, med_hi = statistics.median(t_lo), statistics.median(t_hi)
    return {
        "s_per_iter": (med_hi - med_lo) / (hi - lo),
        # Less sensitive to other processes on a shared machine:
        "s_per_iter_from_min": (min(t_hi) - min(t_lo)) / (hi - lo),
        "total_over_iters": med_hi / hi,
        "iters": [lo, hi],
        "repeats": repeats,
        "t_lo": t_lo,
        "t_hi": t_hi,
        "params": result,
    }


def plan(n: int, quick: bool) -> dict:
    """(lo, hi, repeats, warm-up) per library for a data size."""
    if quick:
        return {
            "gaussmix": (1, 4, 3, True),
            "sklearn": (1, 3, 1, True),
            "gmr": (1, 2, 1, True),
        }
    big = n >= 1_000_000
    return {
        "gaussmix": (2, 12, 3 if big else 5, True),
        "sklearn": (1, 3, 1 if big else 3, not big),
        "gmr": (1, 2, 1, False) if big else (1, 3, 1 if n >= 200_000 else 3, True),
    }


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| (gmr adds no reg_covar: expect ~1e-6 against it)."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))


def bench_case(n, d, k, rate_square, quick, gmr_max_n) -> dict:
    X = make_data(n, d, k)
    start = start_params(d, k)
    schedule = plan(n, quick)
    flops = 4.0 * n * k * d * d
    flops_symmetric = 4.0 * n * k * d * (d + 1) / 2
    rate_em_shape = gemm_rate_chunked(n, d, k * d)
    row = {
        "n": n,
        "d": d,
        "k": k,
        "flops_per_iter": flops,
        "gemm_rate_em_shape": rate_em_shape,
        "floor_s": flops / rate_square,
        "floor_em_shape_s": flops / rate_em_shape,
        "flops_symmetric_per_iter": flops_symmetric,
        "floor_symmetric_s": flops_symmetric / rate_square,
    }
    libs = {
        "gaussmix": fit_gaussmix,
        "gaussmix_f32": lambda X_, s, it: fit_gaussmix(X_, s, it, dtype=np.float32),
        "sklearn": fit_sklearn,
        "gmr": fit_gmr,
    }
    for name, fit in libs.items():
        if name == "gmr" and n > gmr_max_n:
            row[name] = None
            continue
        lo, hi, repeats, warmup = schedule[name.removesuffix("_f32")]
        print(f"  {name:13s} n={n} d={d} k={k} iters {lo}/{hi} x{repeats}", flush=True)
        row[name] = per_iteration(fit, X, start, lo, hi, repeats, warmup)
    # The fits agree: gaussmix run for as many iterations as the last timed
    # fit of each other library, compared with that fit's parameters.
    for name in ("sklearn", "gmr", "gaussmix_f32"):
        timing = row[name]
        if timing is None:
            continue
        other = timing.pop("params")
        iters = timing["iters"][1]
        ref = row["gaussmix"]["params"] if name == "gaussmix_f32" else None
        ref = ref or fit_gaussmix(X, start, iters)
        row[f"check_{name}"] = {
            "iters": iters,
            "max_rel_diff": {
                p: max_rel_diff(a, b)
                for p, a, b in zip(("priors", "means", "covariances"), other, ref, strict=True)
            },
        }
    row["gaussmix"].pop("params")
    base = row["gaussmix"]["s_per_iter"]
    row["sklearn_over_gaussmix"] = row["sklearn"]["s_per_iter"] / base
    row["gmr_over_gaussmix"] = row["gmr"]["s_per_iter"] / base if row["gmr"] else None
    row["gaussmix_over_floor"] = base / row["floor_s"]
    row["gaussmix_over_floor_symmetric"] = base / row["floor_symmetric_s"]
    row["gaussmix_over_floor_symmetric_from_min"] = (
        row["gaussmix"]["s_per_iter_from_min"] / row["floor_symmetric_s"]
    )
    row["gaussmix_over_floor_em_shape"] = base / row["floor_em_shape_s"]
    row["gaussmix_f32_over_floor"] = row["gaussmix_f32"]["s_per_iter"] / row["floor_s"]
    return row


# ---------------------------------------------------------------------------
# Peak memory, one fresh process per measurement
# ---------------------------------------------------------------------------
def _proc_status_bytes(field: str) -> int:
    """VmRSS (current) or VmHWM (peak) of this process from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc malloc_trim), so they cannot hide a peak."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    """Reset the peak-RSS mark (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_child(lib: str, n: int, d: int, k: int, n_iter: int) -> None:
    """Run in a fresh process: print the peak RSS of one fit above the data, as JSON.

    The peak-RSS mark is reset after the data are built, so that neither the
    imports nor the data generation can hide the fit's own peak. ru_maxrss is
    recorded but not used: a child started from a large parent inherits the
    parent's peak in it.
    """
    fit = {"gaussmix": fit_gaussmix, "sklearn": fit_sklearn, "gmr": fit_gmr}[lib]
    import gaussmix  # noqa: F401  (imports happen before the baseline)

    if lib == "sklearn":
        import sklearn.mixture  # noqa: F401
    elif lib == "gmr":
        import gmr  # noqa: F401
    start = start_params(d, k)
    rss_before = _proc_status_bytes("VmRSS")
    X = make_data(n, d, k)
    _release_free_heap()
    rss_data = _proc_status_bytes("VmRSS")
    reset = _reset_peak_rss()
    t0 = time.perf_counter()
    fit(X, start, n_iter)
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "lib": lib,
                "n": n,
                "d": d,
                "k": k,
                "n_iter": n_iter,
                "data_bytes": X.nbytes,
                "rss_before_data": rss_before,
                "rss_after_data": rss_data,
                "peak_rss_during_fit": _proc_status_bytes("VmHWM"),
                "ru_maxrss_after_fit": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "peak_mark_reset": reset,
                "fit_seconds": seconds,
            }
        )
    )


def measure_memory(lib: str, n: int, d: int, k: int, n_iter: int) -> dict:
    print(f"  memory {lib} n={n} d={d} k={k} ({n_iter} iterations)", flush=True)
    cmd = [sys.executable, __file__, "--memory-child", lib, str(n), str(d), str(k), str(n_iter)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    data = result["data_bytes"]
    above_data = result["peak_rss_during_fit"] - result["rss_after_data"]
    total = result["peak_rss_during_fit"] - result["rss_before_data"]
    result.update(
        {
            "peak_above_data_bytes": above_data,
            "peak_above_data_over_data": above_data / data,
            "peak_total_bytes": total,
            "peak_total_over_data": total / data,
            # The target is at most 1.5x the data plus 200 MB for the whole fit.
            "target_bytes": 1.5 * data + 200e6,
        }
    )
    return result


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def speed_table(rows: list[dict]) -> str:
    header = [
        "n, d, k",
        "gaussmix s/it",
        "gaussmix f32 s/it",
        "sklearn s/it",
        "gmr s/it",
        "sklearn / gaussmix",
        "gmr / gaussmix",
        "BLAS floor s",
        "gaussmix / floor",
        "f32 / floor",
    ]
    body = []
    for r in rows:
        body.append(
            [
                f"{r['n']:,}, {r['d']}, {r['k']}",
                r["gaussmix"]["s_per_iter"],
                r["gaussmix_f32"]["s_per_iter"],
                r["sklearn"]["s_per_iter"],
                r["gmr"]["s_per_iter"] if r["gmr"] else None,
                r["sklearn_over_gaussmix"],
                r["gmr_over_gaussmix"],
                r["floor_s"],
                r["gaussmix_over_floor"],
                r["gaussmix_f32_over_floor"],
            ]
        )
    return markdown_table(header, body)


def floor_table(rows: list[dict], rate_square: float) -> str:
    header = [
        "n, d, k",
        "GFLOP / it (4nkd²)",
        "floor s (square GEMM)",
        "EM-shape GEMM GFLOP/s",
        "floor s (EM-shape GEMM)",
        "gaussmix / EM-shape floor",
        "symmetric floor s (4nk·d(d+1)/2)",
        "gaussmix / symmetric floor",
        "gaussmix / symmetric floor (from min)",
        "gaussmix s/it (from min)",
        "sklearn s/it (from min)",
    ]
    body = [
        [
            f"{r['n']:,}, {r['d']}, {r['k']}",
            r["flops_per_iter"] / 1e9,
            r["floor_s"],
            r["gemm_rate_em_shape"] / 1e9,
            r["floor_em_shape_s"],
            r["gaussmix_over_floor_em_shape"],
            r["floor_symmetric_s"],
            r["gaussmix_over_floor_symmetric"],
            r["gaussmix_over_floor_symmetric_from_min"],
            r["gaussmix"]["s_per_iter_from_min"],
            r["sklearn"]["s_per_iter_from_min"],
        ]
        for r in rows
    ]
    note = f"Square float64 GEMM (4000x4000): {rate_square / 1e9:.1f} GFLOP/s.\n\n"
    return note + markdown_table(header, body)


def memory_table(rows: list[dict]) -> str:
    header = [
        "library",
        "n x d, k",
        "data MB",
        "peak above data MB",
        "above / data",
        "peak incl. data MB",
        "target MB (1.5xdata+200)",
    ]
    body = [
        [
            r["lib"],
            f"{r['n']:,} x {r['d']}, {r['k']}",
            r["data_bytes"] / 1e6,
            r["peak_above_data_bytes"] / 1e6,
            r["peak_above_data_over_data"],
            r["peak_total_bytes"] / 1e6,
            r["target_bytes"] / 1e6 if r["lib"] == "gaussmix" else None,
        ]
        for r in rows
    ]
    return markdown_table(header, body)


def report(payload: dict) -> None:
    git = payload["machine"]["git"]
    print(f"\nCommit {git['commit'][:10]} (src modified: {git['src_dirty']})\n")
    print(speed_table(payload["cases"]))
    print()
    print(floor_table(payload["cases"], payload["gemm_rate_square_flops"]))
    if payload.get("memory"):
        print()
        print(memory_table(payload["memory"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument(
        "--gmr-max-n", type=int, default=1_000_000, help="largest n at which gmr is timed"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument(
        "--report", type=Path, default=None, help="print the tables of an existing JSON file"
    )
    parser.add_argument("--memory-child", nargs=5, metavar=("LIB", "N", "D", "K", "ITERS"))
    args = parser.parse_args(argv)
    if args.memory_child:
        lib, *sizes = args.memory_child
        memory_child(lib, *map(int, sizes))
        return 0
    if args.report:
        report(json.loads(args.report.read_text()))
        return 0

    out = args.out or RESULTS / ("em_quick.json" if args.quick else "em.json")
    info = machine_info("scikit-learn", "gmr", "gaussmix", "threadpoolctl")
    print(f"# EM benchmark on {info['cpu_model']} ({info['logical_cpus']} CPUs)", flush=True)
    gemm_size = 1000 if args.quick else 4000
    rate_square = gemm_rate_square(gemm_size)
    print(f"  float64 GEMM {gemm_size}^2: {rate_square / 1e9:.1f} GFLOP/s", flush=True)
    cases = QUICK_CASES if args.quick else FULL_CASES
    rows = [bench_case(n, d, k, rate_square, args.quick, args.gmr_max_n) for n, d, k in cases]
    payload = {
        "machine": info,
        "gemm_rate_square_flops": rate_square,
        "gemm_square_size": gemm_size,
        "reg_covar": REG_COVAR,
        "method": {
            "s_per_iter": "(median t(N_hi) - median t(N_lo)) / (N_hi - N_lo) from the same start",
            "floor_s": "4 n k d^2 / float64 GEMM rate of a square product",
            "floor_em_shape_s": "4 n k d^2 / rate of (n, d) @ (d, k d) in 8192-row chunks",
            "floor_symmetric_s": "4 n k d (d + 1) / 2 / float64 GEMM rate of a square product",
            "memory": "fresh child process per fit: peak RSS (VmHWM, mark reset after the "
            "data are built) minus RSS after data creation; total = minus RSS before the data",
        },
        "cases": rows,
    }
    write_json(out, payload)
    memory = []
    if not args.no_memory:
        if args.quick:
            jobs = [("gaussmix", 200_000, 16, 16, 2), ("sklearn", 100_000, 16, 16, 2)]
        else:
            jobs = [
                ("gaussmix", 2_000_000, 16, 16, 3),
                ("gaussmix", 1_000_000, 16, 16, 3),
                ("sklearn", 1_000_000, 16, 16, 2),
            ]
        memory = [measure_memory(*job) for job in jobs]
        payload["memory"] = memory
    payload["load_average_at_end"] = list(os.getloadavg())
    # A second GEMM measurement tells whether the machine's speed drifted.
    payload["gemm_rate_square_flops_at_end"] = gemm_rate_square(gemm_size)
    if payload["gemm_rate_square_flops_at_end"] > 1.25 * rate_square:
        print("  warning: GEMM rate rose by >25% during the run: the machine was busy", flush=True)
    write_json(out, payload)

    report(payload)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
