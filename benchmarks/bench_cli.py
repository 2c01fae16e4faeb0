"""`gaussmix fit --progress` against the same fit through the library, as whole processes.

Both sides are fresh Python processes that load the same .npy file, fit
k = 5 full-covariance components with k-means++ from seed 0 for exactly 30
EM iterations (``--tol none`` / ``tol=None``) and write the model as JSON;
the CLI side draws its progress bar (``--progress``, to standard error). The
runs alternate A, B, A, B, ... (the VM drifts), and the result is the median
of each side's wall times and their ratio. With ``--missing`` 10 % of the
entries are NaN (``--allow-missing`` / ``allow_missing=True``).

Usage::

    python benchmarks/bench_cli.py                 # 200k x 5, 7 pairs, both cases
    python benchmarks/bench_cli.py --quick         # 20k rows, 2 pairs
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, git_commit, machine_info, write_json

LIBRARY = """
import sys, numpy as np
from gaussmix import GMM
X = np.load(sys.argv[1])
gmm = GMM(5, random_state=0).from_samples(
    X, n_iter=30, tol=None, init_params="kmeans++", allow_missing=sys.argv[3] == "1"
)
gmm.save(sys.argv[2])
"""


def make_data(n: int, d: int, missing: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (5, d))
    X = centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d))
    if missing:
        X[rng.random(X.shape) < 0.1] = np.nan
    return X


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(n: int, missing: bool, pairs: int, folder: Path) -> dict:
    data = folder / f"data_{int(missing)}.npy"
    np.save(data, make_data(n, 5, missing))
    cli = [sys.executable, "-m", "gaussmix", "fit", str(data), "-k", "5", "--n-iter", "30"]
    cli += ["--tol", "none", "--seed", "0", "--progress", "-o", str(folder / "cli.json")]
    if missing:
        cli.append("--allow-missing")
    library = [sys.executable, "-c", LIBRARY, str(data), str(folder / "lib.json")]
    library.append("1" if missing else "0")
    wall(cli), wall(library)  # warm the file cache and the imports
    cli_times, library_times = [], []
    for _ in range(pairs):
        cli_times.append(wall(cli))
        library_times.append(wall(library))
    ratio = statistics.median(c / b for c, b in zip(cli_times, library_times, strict=True))
    return {
        "n": n,
        "d": 5,
        "k": 5,
        "iterations": 30,
        "missing_fraction": 0.1 if missing else 0.0,
        "cli_seconds": cli_times,
        "library_seconds": library_times,
        "cli_median": statistics.median(cli_times),
        "library_median": statistics.median(library_times),
        "median_pair_ratio": ratio,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "cli.json"))
    args = parser.parse_args()
    n, pairs = (20_000, 2) if args.quick else (200_000, args.pairs)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for missing in (False, True):
            row = measure(n, missing, pairs, Path(tmp))
            results.append(row)
            print(
                f"missing={row['missing_fraction']:.0%}: CLI {row['cli_median']:.2f} s, "
                f"library {row['library_median']:.2f} s, CLI / library "
                f"{row['median_pair_ratio']:.3f} (median of {pairs} interleaved pairs)"
            )
    write_json(
        Path(args.out),
        {"machine": machine_info("numpy"), "gaussmix": git_commit(), "results": results},
    )


if __name__ == "__main__":
    main()
