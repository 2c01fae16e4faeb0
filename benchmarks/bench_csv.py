"""Reading a CSV as the command line does, against ``numpy.loadtxt`` on the same file.

The file: n rows x 4 columns of float64 written with 17 significant digits
(700,000 rows make 56 MB) and a header row. Cases: plain numbers (the
``numpy.loadtxt`` path), the same with missing cells in the first rows (the
converter path), and with quoted numbers. ``gaussmix.cli.files.read_table``
sniffs the dialect and the header with Python's csv module and reads the body
with ``numpy.loadtxt``; the reference is ``numpy.loadtxt(path, delimiter=",",
skiprows=1)`` of the plain file. Median of alternating runs.

Usage::

    python benchmarks/bench_csv.py              # 700k rows (56 MB), 5 repeats
    python benchmarks/bench_csv.py --quick      # 70k rows, 3 repeats
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, git_commit, machine_info, write_json

from gaussmix.cli.files import read_table


def _write(path: Path, X: np.ndarray, missing: bool = False, quoted: bool = False) -> None:
    with open(path, "w") as handle:
        handle.write("a,b,c,d\n")
        lines = [",".join(f"{v:.17g}" for v in row) for row in X]
        if missing:
            for i in range(1, 40, 3):
                lines[i] = lines[i].split(",", 1)[1].join(["", ","])  # first cell empty
        if quoted:
            lines = [",".join(f'"{v}"' for v in line.split(",")) for line in lines]
        handle.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "csv.json"))
    args = parser.parse_args(argv)
    n, repeats = (70_000, 3) if args.quick else (700_000, 5)
    X = np.random.default_rng(0).normal(size=(n, 4))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "plain": Path(tmp) / "plain.csv",
            "missing": Path(tmp) / "missing.csv",
            "quoted": Path(tmp) / "quoted.csv",
        }
        _write(files["plain"], X)
        _write(files["missing"], X, missing=True)
        _write(files["quoted"], X, quoted=True)
        size_mb = files["plain"].stat().st_size / 1e6
        times: dict[str, list[float]] = {"numpy.loadtxt": [], **{k: [] for k in files}}
        for _ in range(repeats):
            start = time.perf_counter()
            reference = np.loadtxt(files["plain"], delimiter=",", skiprows=1)
            times["numpy.loadtxt"].append(time.perf_counter() - start)
            for case, path in files.items():
                start = time.perf_counter()
                data, _ = read_table(str(path))
                times[case].append(time.perf_counter() - start)
                assert data.shape == reference.shape
        base = statistics.median(times["numpy.loadtxt"])
        for case, values in times.items():
            median = statistics.median(values)
            results[case] = {"seconds": median, "vs_loadtxt": median / base}
            print(f"{case:14s} {median:6.2f} s  ({median / base:.2f}x numpy.loadtxt)")
    print(f"file: {n} rows x 4 columns, {size_mb:.1f} MB")
    write_json(
        Path(args.out),
        {
            "machine": machine_info("numpy"),
            "gaussmix": git_commit(),
            "rows": n,
            "megabytes": size_mb,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
