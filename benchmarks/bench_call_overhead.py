"""Per-call cost of small queries: one-row score_samples and predict, against another build.

The parameter cache (validation and factorization once per parameter change)
matters most for small calls. Both builds (this checkout and ``gaussmix_base``,
prepared as in ``bench_ab.py``) score one row and predict one row, alternating:

- cold: a fresh model object per call (parameters just set, first call pays
  the validation and factorization), free heap trimmed before each call;
- warm: the same object called repeatedly (median of 2,000 calls per repeat).

Usage::

    python benchmarks/bench_call_overhead.py --base /tmp/ab
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, git_commit, machine_info, write_json


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def parameters(k: int, d: int):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(k, d, d))
    return np.full(k, 1.0 / k), rng.normal(size=(k, d)), A @ np.swapaxes(A, 1, 2) + np.eye(d)


def calls(module, k: int, d: int):
    priors, means, covs = parameters(k, d)
    x = np.random.default_rng(1).normal(size=(1, d))
    given = list(range(d // 2))

    def make():
        return module.GMM(k, priors=priors.copy(), means=means.copy(), covariances=covs.copy())

    return {
        "score_samples": (make, lambda g: g.score_samples(x)),
        "predict": (make, lambda g: g.predict(given, x[:, : d // 2])),
    }


def cold(make, call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        model = make()
        _trim()
        start = time.perf_counter()
        call(model)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def warm(make, call, number: int = 2000) -> float:
    model = make()
    call(model)
    start = time.perf_counter()
    for _ in range(number):
        call(model)
    return (time.perf_counter() - start) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="folder holding gaussmix_base/")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "call_overhead.json"))
    args = parser.parse_args()
    sys.path.insert(0, args.base)
    builds = {
        "base": importlib.import_module("gaussmix_base"),
        "new": importlib.import_module("gaussmix"),
    }
    rows = []
    for k, d in [(4, 4), (8, 8)]:
        cases = {name: calls(module, k, d) for name, module in builds.items()}
        for method in ("score_samples", "predict"):
            result = {"k": k, "d": d, "method": method}
            for mode, measure in (("cold", lambda m, c: cold(m, c, 50)), ("warm", warm)):
                samples = {"base": [], "new": []}
                for repeat in range(args.repeats):
                    order = ("base", "new") if repeat % 2 == 0 else ("new", "base")
                    for name in order:
                        samples[name].append(measure(*cases[name][method]))
                for name in samples:
                    result[f"{mode}_{name}_us"] = statistics.median(samples[name]) * 1e6
                ratios = [n / b for n, b in zip(samples["new"], samples["base"], strict=True)]
                result[f"{mode}_ratio"] = statistics.median(ratios)
            rows.append(result)
            print(
                f"(k={k}, d={d}) {method}: cold base {result['cold_base_us']:.0f} us, new "
                f"{result['cold_new_us']:.0f} us ({result['cold_ratio']:.2f}); warm base "
                f"{result['warm_base_us']:.0f} us, new {result['warm_new_us']:.0f} us "
                f"({result['warm_ratio']:.2f})",
                flush=True,
            )
    write_json(
        Path(args.out),
        {"machine": machine_info("numpy"), "gaussmix": git_commit(), "results": rows},
    )


if __name__ == "__main__":
    main()
