"""GMR prediction speed: gaussmix ``GMM.predict`` vs gmr 2.0.3 ``GMM.predict``.

Both libraries get identical parameters (random means, random SPD covariances,
random priors) and the same 100k queries (the input dimensions of samples
drawn from the mixture), in one process. We time

- gaussmix ``GMM.predict(indices, X)`` (conditional means),
- gaussmix ``GMM.predict(indices, X, return_covariance=True)`` (means and the
  covariance of every conditional mixture),
- gmr ``GMM.predict(indices, X)`` (conditional means only),

each warm (the same model object again, after a warm-up; median and minimum
of repeats) and cold, as a user's first call sees it: a model object built
just before the call and the free heap returned to the system (glibc
``malloc_trim``), so that every buffer the call needs is fresh memory. Warm
and cold calls of both libraries are interleaved round by round, and the CPU
time other processes used during each timed call is recorded. The outputs
are checked: the means against gmr's on all queries, the covariances against
gmr's ``condition(indices, x).to_mvn().covariance`` on a subset (gmr has no
batched predictive covariance).

Usage::

    python benchmarks/bench_predict.py            # full run (~1 minute)
    python benchmarks/bench_predict.py --quick    # smoke run
    python benchmarks/bench_predict.py --out results/predict.json
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, timed_alone, write_json

FULL_CASES = [(4, 4, 16), (8, 8, 32)]
N_QUERIES = 100_000
N_COV_CHECK = 200


def make_parameters(d: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    priors = rng.dirichlet(np.full(k, 2.0))
    means = rng.normal(0.0, 3.0, (k, d))
    A = rng.normal(size=(k, d, d))
    covariances = A @ np.swapaxes(A, 1, 2) / d + 0.1 * np.eye(d)
    return priors, means, covariances


def _trim_heap() -> None:
    """Return freed heap pages to the system, so that the next call starts cold."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _summary(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "times": times}


def bench_case(d_in: int, d_out: int, k: int, n: int, repeats: int) -> dict:
    import gmr

    from gaussmix import GMM

    d = d_in + d_out
    priors, means, covariances = make_parameters(d, k, seed=d * 1000 + k)

    def ours_model():
        return GMM(k, priors=priors, means=means, covariances=covariances, random_state=0)

    def gmr_model():
        return gmr.GMM(
            k,
            priors=priors.copy(),
            means=means.copy(),
            covariances=covariances.copy(),
            random_state=0,
        )

    ours, theirs = ours_model(), gmr_model()
    indices = np.arange(d_in)
    X = ours.sample(n)[:, :d_in].copy()

    calls = {
        "gaussmix": lambda model: model.predict(indices, X),
        "gaussmix_cov": lambda model: model.predict(indices, X, return_covariance=True),
        "gmr": lambda model: model.predict(indices, X),
    }
    warm_models = {"gaussmix": ours, "gaussmix_cov": ours, "gmr": theirs}
    fresh = {"gaussmix": ours_model, "gaussmix_cov": ours_model, "gmr": gmr_model}
    gmr_repeats = max(3, repeats // 2)
    print(f"  (d_in, d_out, k) = ({d_in}, {d_out}, {k}), {n} queries", flush=True)
    for name, call in calls.items():  # warm-up
        call(warm_models[name])
    warm = {name: [] for name in calls}
    cold = {name: [] for name in calls}
    foreign = []
    for round_ in range(repeats):
        for name, call in calls.items():
            if name == "gmr" and round_ >= gmr_repeats:
                continue
            model = fresh[name]()
            _trim_heap()
            seconds, other = timed_alone(partial(call, model))
            cold[name].append(seconds)
            foreign.append(other / seconds)
            seconds, other = timed_alone(partial(call, warm_models[name]))
            warm[name].append(seconds)
            foreign.append(other / seconds)
    times = {name: _summary(warm[name]) for name in calls}
    cold_times = {name: _summary(cold[name]) for name in calls}
    t_ours, t_ours_cov, t_gmr = (times[name]["median"] for name in calls)
    c_ours, c_ours_cov, c_gmr = (cold_times[name]["median"] for name in calls)

    mean_ours = ours.predict(indices, X)
    mean_cov, cov_ours = ours.predict(indices, X, return_covariance=True)
    mean_gmr = theirs.predict(indices, X)
    subset = np.linspace(0, n - 1, min(N_COV_CHECK, n)).astype(int)
    cov_gmr = np.stack([theirs.condition(indices, X[i]).to_mvn().covariance for i in subset])
    return {
        "d_in": d_in,
        "d_out": d_out,
        "k": k,
        "n_queries": n,
        "repeats": repeats,
        "gaussmix_s": t_ours,
        "gaussmix_cov_s": t_ours_cov,
        "gmr_s": t_gmr,
        "gmr_over_gaussmix": t_gmr / t_ours,
        "gmr_over_gaussmix_cov": t_gmr / t_ours_cov,
        "gmr_over_gaussmix_from_min": times["gmr"]["min"] / times["gaussmix"]["min"],
        "gmr_over_gaussmix_cov_from_min": times["gmr"]["min"] / times["gaussmix_cov"]["min"],
        "cold_gaussmix_s": c_ours,
        "cold_gaussmix_cov_s": c_ours_cov,
        "cold_gmr_s": c_gmr,
        "cold_gmr_over_gaussmix": c_gmr / c_ours,
        "cold_gmr_over_gaussmix_cov": c_gmr / c_ours_cov,
        "cold_gmr_over_gaussmix_from_min": cold_times["gmr"]["min"]
        / cold_times["gaussmix"]["min"],
        "cold_gmr_over_gaussmix_cov_from_min": cold_times["gmr"]["min"]
        / cold_times["gaussmix_cov"]["min"],
        "times": times,
        "cold_times": cold_times,
        "foreign_cpu_per_second": {"mean": float(np.mean(foreign)), "max": float(max(foreign))},
        "max_abs_diff_mean": float(np.abs(mean_ours - mean_gmr).max()),
        "max_abs_mean": float(np.abs(mean_gmr).max()),
        "max_abs_diff_mean_with_cov": float(np.abs(mean_cov - mean_ours).max()),
        "max_abs_diff_cov_subset": float(np.abs(cov_ours[subset] - cov_gmr).max()),
        "max_abs_cov_subset": float(np.abs(cov_gmr).max()),
        "n_cov_checked": int(subset.size),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k queries, fewer repeats")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / ("predict_quick.json" if args.quick else "predict.json")
    n, repeats = (10_000, 3) if args.quick else (N_QUERIES, 7)

    info = machine_info("gmr", "gaussmix", "threadpoolctl")
    print(f"# GMR predict benchmark on {info['cpu_model']} ({info['logical_cpus']} CPUs)")
    rows = [bench_case(d_in, d_out, k, n, repeats) for d_in, d_out, k in FULL_CASES]
    write_json(out, {"machine": info, "cases": rows})

    header = [
        "d_in, d_out, k",
        "queries",
        "gaussmix s",
        "gaussmix +cov s",
        "gmr s",
        "gmr / gaussmix",
        "gmr / gaussmix +cov",
        "gmr / gaussmix (min)",
        "gmr / gaussmix +cov (min)",
        "cold: gaussmix s",
        "cold: gaussmix +cov s",
        "cold: gmr s",
        "cold: gmr / gaussmix",
        "cold: gmr / gaussmix +cov",
        "cold: gmr / gaussmix (min)",
        "other processes' CPU-s per s (mean, max)",
        "max abs diff of means",
        "max abs diff of covariances (subset)",
    ]
    body = [
        [
            f"{r['d_in']}, {r['d_out']}, {r['k']}",
            f"{r['n_queries']:,}",
            r["gaussmix_s"],
            r["gaussmix_cov_s"],
            r["gmr_s"],
            r["gmr_over_gaussmix"],
            r["gmr_over_gaussmix_cov"],
            r["gmr_over_gaussmix_from_min"],
            r["gmr_over_gaussmix_cov_from_min"],
            r["cold_gaussmix_s"],
            r["cold_gaussmix_cov_s"],
            r["cold_gmr_s"],
            r["cold_gmr_over_gaussmix"],
            r["cold_gmr_over_gaussmix_cov"],
            r["cold_gmr_over_gaussmix_from_min"],
            "{mean:.3f}, {max:.3f}".format(**r["foreign_cpu_per_second"]),
            r["max_abs_diff_mean"],
            r["max_abs_diff_cov_subset"],
        ]
        for r in rows
    ]
    print(f"\nCommit {info['git']['commit'][:10]} (src modified: {info['git']['src_dirty']})\n")
    print(markdown_table(header, body))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
