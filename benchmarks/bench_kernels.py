"""The compiled kernels against gaussmix's own numpy paths, interleaved A/B.

On a shared VM whose speed drifts by tens of percent within minutes, two runs
of a script cannot compare two code paths. This script switches the compiled
kernels on and off (``gaussmix.kernels.compiled.enabled``) inside one process and
alternates the two for every repeat, so both see the same machine:

- EM, full, diag and spherical covariances (the diagonal kernel since
  issue 14), seconds per iteration: (median time of a 7-iteration fit -
  median of a 2-iteration fit) / 5, data and start as in bench_em.py
  (single-threaded too: ``n_jobs=1`` with threadpoolctl limiting BLAS to one
  thread).
- GMR predict on 100k queries as in bench_predict.py: the mean alone and with
  ``return_covariance=True``.

Usage::

    python benchmarks/bench_kernels.py            # ~2 minutes; writes results/kernels.json
    python benchmarks/bench_kernels.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, timed, write_json
from bench_em import make_data, start_params
from bench_predict import make_parameters


def _alternate(variants: dict, repeats: int) -> dict:
    """Median time of each variant; the variants alternate within each repeat."""
    from gaussmix.kernels import compiled as _compiled

    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats + 1):  # the first round is a warm-up
        for name, (kernel, fn) in variants.items():
            _compiled.enabled = kernel
            times[name].append(timed(fn))
    _compiled.enabled = True
    return {name: statistics.median(values[1:]) for name, values in times.items()}


def bench_em(n: int, d: int, k: int, repeats: int, covariance_type: str = "full") -> dict:
    from threadpoolctl import threadpool_limits

    from gaussmix import GMM

    X = make_data(n, d, k)
    priors, means, covariances = start_params(d, k)

    def fit(n_iter: int, n_jobs: int | None):
        def run():
            gmm = GMM(k, priors=priors.copy(), means=means.copy(), covariances=covariances)
            gmm.from_samples(
                X, n_iter=n_iter, tol=None, n_jobs=n_jobs, covariance_type=covariance_type
            )

        return run

    result = {"n": n, "d": d, "k": k, "covariance_type": covariance_type}
    for label, n_jobs in (("threads", None), ("one_thread", 1)):
        variants = {
            f"{path}_{iters}": (path == "kernel", fit(iters, n_jobs))
            for path in ("kernel", "numpy")
            for iters in (2, 7)
        }
        with threadpool_limits(1) if n_jobs == 1 else _nothing():
            medians = _alternate(variants, repeats)
        for path in ("kernel", "numpy"):
            result[f"{path}_{label}_s_per_iter"] = (
                medians[f"{path}_7"] - medians[f"{path}_2"]
            ) / 5
    return result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def bench_predict(d_in: int, d_out: int, k: int, n: int, repeats: int) -> dict:
    from gaussmix import GMM

    d = d_in + d_out
    priors, means, covariances = make_parameters(d, k, seed=d * 1000 + k)
    gmm = GMM(k, priors=priors, means=means, covariances=covariances, random_state=0)
    X = gmm.sample(n)[:, :d_in].copy()
    indices = np.arange(d_in)
    variants = {
        "mean": (True, lambda: gmm.predict(indices, X)),
        "kernel_cov": (True, lambda: gmm.predict(indices, X, return_covariance=True)),
        "numpy_cov": (False, lambda: gmm.predict(indices, X, return_covariance=True)),
    }
    medians = _alternate(variants, repeats)
    return {
        "d_in": d_in,
        "d_out": d_out,
        "k": k,
        "n_queries": n,
        **{f"{name}_s": value for name, value in medians.items()},
        "kernel_cov_over_mean": medians["kernel_cov"] / medians["mean"],
        "numpy_cov_over_mean": medians["numpy_cov"] / medians["mean"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)

    from gaussmix.kernels import compiled as _compiled

    if not _compiled.available():
        print("the compiled kernels are not built: nothing to compare", file=sys.stderr)
        return 1
    em_case = (20_000, 8, 8) if args.quick else (200_000, 16, 16)
    n_queries = 10_000 if args.quick else 100_000
    repeats = 3 if args.quick else 7
    em = [
        bench_em(*em_case, repeats=3 if args.quick else 5, covariance_type=covariance_type)
        for covariance_type in ("full", "diag", "spherical")
    ]
    predict = [
        bench_predict(4, 4, 16, n_queries, repeats),
        bench_predict(8, 8, 32, n_queries, repeats),
    ]

    print(
        markdown_table(
            [
                "n, d, k",
                "covariance",
                "kernel s/it",
                "numpy s/it",
                "ratio",
                "kernel 1 thread",
                "numpy 1 thread",
            ],
            [
                [
                    f"{e['n']:,}, {e['d']}, {e['k']}",
                    e["covariance_type"],
                    e["kernel_threads_s_per_iter"],
                    e["numpy_threads_s_per_iter"],
                    e["numpy_threads_s_per_iter"] / e["kernel_threads_s_per_iter"],
                    e["kernel_one_thread_s_per_iter"],
                    e["numpy_one_thread_s_per_iter"],
                ]
                for e in em
            ],
        )
    )
    print()
    print(
        markdown_table(
            [
                "d_in, d_out, k",
                "mean s",
                "+cov kernel s",
                "+cov numpy s",
                "kernel / mean",
                "numpy / mean",
            ],
            [
                [
                    f"{c['d_in']}, {c['d_out']}, {c['k']}",
                    c["mean_s"],
                    c["kernel_cov_s"],
                    c["numpy_cov_s"],
                    c["kernel_cov_over_mean"],
                    c["numpy_cov_over_mean"],
                ]
                for c in predict
            ],
        )
    )
    out = args.out or RESULTS / ("kernels_quick.json" if args.quick else "kernels.json")
    write_json(
        out,
        {
            "machine": machine_info("numpy", "scipy", "gaussmix", "threadpoolctl"),
            "em": em,
            "predict": predict,
        },
    )
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
