"""Shared helpers of the benchmark scripts: machine description, timing, tables."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> dict:
    """Commit of the checkout that the imported gaussmix comes from, and whether its src/ differs.

    Run with ``PYTHONPATH=<clean clone>/src`` to measure an exact commit while
    others edit the main working tree.
    """
    import gaussmix

    package_dir = Path(gaussmix.__file__).resolve().parent

    def run(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=package_dir, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    top = run("rev-parse", "--show-toplevel")

    diff = run("diff", "HEAD", "--", top + "/src") if top else ""
    return {
        "gaussmix_file": str(package_dir / "__init__.py"),
        "checkout": top,
        "commit": run("rev-parse", "HEAD"),
        "src_dirty": bool(run("status", "--porcelain", "--", top + "/src")) if top else None,
        # Identifies uncommitted changes to src/ that were measured, if any.
        "src_diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None,
    }


def package_versions(*names: str) -> dict:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("numpy", "scipy", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def blas_info() -> list:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")
    return [{key: lib.get(key) for key in keep} for lib in threadpool_info()]


def machine_info(*packages: str) -> dict:
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "versions": package_versions(*packages),
        "blas": blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average_1_5_15min": list(os.getloadavg()),
        "git": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def trim_heap() -> None:
    """Return the free heap to the system (glibc's malloc_trim), so that the next
    timed call starts from cold memory and pays its page faults."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # pragma: no cover - not glibc
        pass


def settle(idle: float = 0.05, window: float = 0.02, limit: float = 2.0) -> float:
    """Wait until this process's own threads are idle; returns the seconds waited.

    After a call, a library's worker threads keep spinning for a while (OpenBLAS
    about 2^28 cycles, ~0.08 s; OpenMP's spin count): in an interleaved A/B the
    next library's timed call would share the cores with them. This waits until
    the process used less than ``idle`` of one CPU over a ``window`` (at most
    ``limit`` seconds), so each library starts on cores of its own.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        cpu, t0 = sum(os.times()[:2]), time.perf_counter()
        time.sleep(window)
        if sum(os.times()[:2]) - cpu < idle * (time.perf_counter() - t0):
            break
    return time.perf_counter() - start


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    return repeat_times(fn, repeats, warmup)["median"]


def repeat_times(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Median and minimum wall time of ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = [timed(fn) for _ in range(repeats)]
    return {"median": statistics.median(times), "min": min(times), "times": times}


def gemm_rate_square(size: int = 4000, repeats: int = 5) -> float:
    """float64 GEMM rate (flop/s) of a square size x size product, best of repeats."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size))
    b = rng.standard_normal((size, size))
    out = np.empty((size, size))
    np.dot(a, b, out=out)
    best = min(timed(lambda: np.dot(a, b, out=out)) for _ in range(repeats))
    return 2.0 * size**3 / best


def gemm_rate_chunked(
    n: int, inner: int, outer: int, chunk: int = 8192, repeats: int = 3
) -> float:
    """float64 GEMM rate of n rows (n, inner) @ (inner, outer), streamed in row chunks.

    This is the shape of an EM that multiplies the data by all components'
    factors at once (inner = d, outer = k d): ``n`` is processed ``chunk`` rows
    at a time into one reused output buffer, as a memory-bounded EM would.
    """
    rng = np.random.default_rng(1)
    rows = min(chunk, n)
    a = rng.standard_normal((rows, inner))
    b = rng.standard_normal((inner, outer))
    out = np.empty((rows, outer))
    n_chunks = max(1, n // rows)

    def run() -> None:
        for _ in range(n_chunks):
            np.dot(a, b, out=out)

    run()
    best = min(timed(run) for _ in range(repeats))
    return 2.0 * n_chunks * rows * inner * outer / best


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            if value == 0 or 1e-3 <= abs(value) < 1e4:
                return f"{value:.4g}"
            return f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _busy_jiffies() -> int:
    """CPU time all processes spent busy since boot, in clock ticks (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:  # pragma: no cover - not Linux
        return 0
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle


def timed_alone(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall time of ``fn()`` and the CPU seconds other processes used meanwhile.

    On a shared machine a timing is only meaningful when the second number is
    small next to the first: it counts every busy CPU second of the machine
    (from /proc/stat) minus this process's own (user + system, all threads)
    and its children's (the worker processes it forked and reaped).
    """
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    own_before = sum(os.times()[:4])
    busy_before = _busy_jiffies()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    own = sum(os.times()[:4]) - own_before
    foreign = max(0.0, (_busy_jiffies() - busy_before) / ticks - own)
    return wall, foreign
