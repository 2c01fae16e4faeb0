"""The compiled E-step of this checkout's ``_fused.c`` against another commit's, in one process.

How the kernel changes of round 3 were measured: both sources are compiled
as ``setup.py`` compiles them (``gcc -O3``, GCC's clones for AVX-512, AVX2 and
baseline x86-64) into a temporary folder, loaded side by side through ctypes
(``bench_vector_forms.load``), and the same E-steps
(``ArraySource.statistics`` / ``MissingValuesSource.statistics``, one thread)
are timed with the two libraries alternating within every repeat, their
order alternating between repeats. Reported per case: the first call of
each after one untimed call that fills the source's caches (the heap trimmed
before it: cold) and the median of the per-repeat
ratios new / base with their range (warm). The statistics of the two builds
are compared (relative difference of the moments).

A base build older than the half tiles of components (``6cd74aa``) takes
only multiples of 8 components: its parameters are padded to 8 then.

Usage::

    python benchmarks/bench_builds.py --base 07191af [--repeats 9] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, settle, trim_heap, write_json
from bench_missing import make_case
from bench_vector_forms import SOURCE, load

from gaussmix.em.sources import ArraySource, MissingValuesSource
from gaussmix.kernels import compiled

ROOT = Path(__file__).resolve().parents[1]
# (n, d, k, covariance type, fraction missing)
CASES = [
    (200_000, 16, 16, "full", 0.0),
    (1_000_000, 16, 16, "full", 0.0),
    (200_000, 8, 16, "full", 0.0),
    (200_000, 4, 16, "full", 0.0),
    (100_000, 32, 16, "full", 0.0),
    (200_000, 16, 16, "diag", 0.0),
    (200_000, 8, 3, "full", 0.0),
    (200_000, 8, 9, "full", 0.0),
    (200_000, 16, 16, "full", 0.01),
    (200_000, 16, 16, "full", 0.10),
]
QUICK_CASES = [(20_000, 8, 3, "full", 0.0), (20_000, 8, 16, "full", 0.10)]


def build(source: str, folder: Path, name: str) -> Path:
    """``source`` (the text of a ``_fused.c``) compiled as setup.py compiles it."""
    path = folder / f"{name}.c"
    path.write_text(source)
    library = folder / f"{name}.so"
    include = sysconfig.get_paths()["include"]
    command = ["gcc", "-O3", "-shared", "-fPIC", f"-I{include}", str(path), "-o", str(library)]
    subprocess.run(command, check=True, capture_output=True)
    return library


def tile_of(library) -> int:
    """4 where the build takes half tiles of components, else 8."""
    X = np.random.default_rng(0).normal(size=(16, 2))
    theta = np.zeros((1, 6))
    previous, compiled._lib = compiled._lib, library
    try:
        taken = compiled.em_statistics(
            X, None, compiled.padded_parameters(theta, 4), 1, X.mean(0), None, False
        )
    finally:
        compiled._lib = previous
    return 4 if taken is not None else 8


def run_case(case: tuple, builds: dict, repeats: int) -> dict:
    n, d, k, covariance_type, rate = case
    X, Xm, g = make_case(n, d, k, max(rate, 0.01))
    source = (
        ArraySource(X, None, covariance_type, n_jobs=1)
        if rate == 0.0
        else MissingValuesSource(Xm, None, covariance_type, n_jobs=1)
    )
    padding = compiled.padded_parameters
    names = list(builds)

    def call(name: str):
        library, tile = builds[name]
        compiled._lib = library
        compiled.padded_parameters = lambda theta, tile=tile: padding(theta, tile)
        try:
            return source.statistics(g, None, False)[0]
        finally:
            compiled.padded_parameters = padding

    call("base")  # the source's one-off work (its caches), outside the timings
    cold = {}
    for name in names:
        trim_heap()
        settle()
        start = time.perf_counter()
        call(name)
        cold[name] = time.perf_counter() - start
    stats = {name: call(name) for name in names}
    scale = np.abs(stats["base"].moments).max()
    difference = float(np.abs(stats["new"].moments - stats["base"].moments).max() / scale)
    times: dict = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            settle()
            start = time.perf_counter()
            call(name)
            times[name].append(time.perf_counter() - start)
    ratios = [new / base for new, base in zip(times["new"], times["base"], strict=True)]
    return {
        "n": n,
        "d": d,
        "k": k,
        "covariance_type": covariance_type,
        "missing": rate,
        "seconds_cold": cold,
        "seconds_warm_median": {name: statistics.median(times[name]) for name in names},
        "new_over_base_cold": cold["new"] / cold["base"],
        "new_over_base_warm": statistics.median(ratios),
        "new_over_base_warm_range": [min(ratios), max(ratios)],
        "moments_relative_difference": difference,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit whose _fused.c is the base")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="small cases, 3 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS / "builds.json")
    args = parser.parse_args(argv)
    relative = SOURCE.relative_to(ROOT).as_posix()
    base_source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{args.base}:{relative}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = compiled._lib
    with tempfile.TemporaryDirectory() as folder:
        libraries = {
            "base": load(build(base_source, Path(folder), "base")),
            "new": load(build(SOURCE.read_text(), Path(folder), "new")),
        }
        builds = {name: (library, tile_of(library)) for name, library in libraries.items()}
        rows = []
        for case in QUICK_CASES if args.quick else CASES:
            row = run_case(case, builds, 3 if args.quick else args.repeats)
            rows.append(row)
            low, high = row["new_over_base_warm_range"]
            print(
                f"{case}: new / base {row['new_over_base_warm']:.3f} warm ({low:.3f}-{high:.3f}), "
                f"{row['new_over_base_cold']:.3f} cold; moments differ by "
                f"{row['moments_relative_difference']:.1e}",
                flush=True,
            )
        compiled._lib = installed
    print(
        markdown_table(
            ["n, d, k", "type", "missing", "new / base warm (range)", "cold"],
            [
                [
                    f"({r['n']:,}, {r['d']}, {r['k']})",
                    r["covariance_type"],
                    f"{r['missing']:.0%}",
                    f"{r['new_over_base_warm']:.3f} ({r['new_over_base_warm_range'][0]:.3f}-"
                    f"{r['new_over_base_warm_range'][1]:.3f})",
                    f"{r['new_over_base_cold']:.3f}",
                ]
                for r in rows
            ],
        )
    )
    write_json(args.out, {"machine": machine_info(), "base": args.base, "cases": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
