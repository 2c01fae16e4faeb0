"""Peak memory of a fit's initialization above the data, k-means++ against random rows.

Each case runs in a fresh process: it draws X (n x 8, float64), records the
peak resident set size (ru_maxrss), fits ``GMM(8)`` for one EM iteration
with the given ``init_params`` and reports how far the peak rose above the
data. Run with ``PYTHONPATH=<clone>/src`` to measure another commit.

Usage::

    python benchmarks/bench_init_memory.py                # n = 10M (0.64 GB of data)
    python benchmarks/bench_init_memory.py --n 50000000   # the issue's 50M x 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _common import RESULTS, git_commit, machine_info, write_json

CASE = """
import json, resource, sys
import numpy as np
from gaussmix import GMM
n, init = int(sys.argv[1]), sys.argv[2]
X = np.random.default_rng(0).standard_normal((n, 8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
GMM(8, random_state=0).from_samples(X, n_iter=1, tol=None, init_params=init, n_jobs=1)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"data_gb": X.nbytes / 1e9, "peak_above_data_gb": (after - before) / 1e6}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--out", default=str(RESULTS / "init_memory.json"))
    args = parser.parse_args()
    results = {}
    for init in ("random", "kmeans++"):
        out = subprocess.run(
            [sys.executable, "-c", CASE, str(args.n), init],
            check=True,
            capture_output=True,
            text=True,
        )
        results[init] = json.loads(out.stdout)
        print(
            f"n={args.n:,} x 8, init={init}: "
            f"{results[init]['peak_above_data_gb']:.3f} GB above data"
        )
    write_json(
        Path(args.out),
        {
            "machine": machine_info("numpy"),
            "gaussmix": git_commit(),
            "n": args.n,
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
