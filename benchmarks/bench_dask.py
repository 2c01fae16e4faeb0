"""EM over Dask and memory-mapped data: seconds per iteration and peak memory of each case.

The same data in every case: 20M x 16 float64 rows (2.56 GB) of a 16-component
mixture generated lazily by ``dask.array.random`` (the in-memory and
memory-mapped cases materialize exactly those chunks), the same initial
parameters (near the true centres), k = 16, full covariances, ``tol=None`` and the same number of
iterations, so the fitted lower bounds agree across cases (printed as a check).
Each case runs in a fresh process:

- ``in_memory``: a NumPy array, ``GMM.from_samples`` (all cores, compiled kernel);
- ``memmap``: ``np.load(path, mmap_mode="r")`` of a .npy written first;
- ``dask_Nproc_persist``: a ``LocalCluster`` of N worker processes (N = 1 with
  2 threads, N = 2 with 1 thread each: the machine's 2 cores) and the default
  ``persist=None``, which keeps the chunks on the workers when they fit;
- ``dask_Nproc_stream``: the same with ``persist=False``: every iteration
  regenerates the chunks from ``dask.array.random`` (data larger than memory);
- ``dask_threads_npy``: no Client, Dask's threaded scheduler over the .npy file
  read chunk by chunk (``gaussmix.dask.read_npy``), streaming.

Seconds per iteration are the median of the differences of the callback's
elapsed times (the first pass, which takes the shift and the initialization
sample, is reported separately as ``setup_seconds``). Peak memory is the peak
resident set size (ru_maxrss) of the fitting process and, for clusters, of each
worker process (nannies excluded), plus for the memory-mapped case the peak of
anonymous memory above the start (file pages the kernel can drop are not
anonymous). Targets (SPEC section 4, issue 16): Dask per iteration at most
1.5x in memory; the lazily generated fit under 1.2 GB RSS (streamed); the
memory-mapped fit at most 300 MB of anonymous memory.

Run it alone on the machine (about 15-25 minutes at full size)::

    python benchmarks/bench_dask.py                       # 20M x 16, k = 16 -> results/dask.json
    python benchmarks/bench_dask.py --n 200000 --chunk-rows 50000 --n-iter 3 \\
        --out /tmp/dask_smoke.json                        # smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, git_commit, machine_info, markdown_table, write_json

# One case, in a fresh process: argv = case, n, d, k, chunk_rows, n_iter, npy path.
CASE = r"""
import json, re, resource, sys, threading, time
from pathlib import Path
import numpy as np
import dask.array as da
from gaussmix import GMM

case, n, d, k, chunk_rows, n_iter, npy = sys.argv[1:8]
n, d, k, chunk_rows, n_iter = map(int, (n, d, k, chunk_rows, n_iter))

CENTRES = np.random.default_rng(1).normal(0.0, 3.0, (k, d))

def add_centres(noise, labels, centres):
    noise += centres[labels[:, 0]]
    return noise

def lazy_data():
    rng = da.random.default_rng(0)
    labels = rng.integers(0, k, size=(n, 1), chunks=(chunk_rows, 1))
    noise = rng.standard_normal((n, d), chunks=(chunk_rows, d))
    return da.map_blocks(add_centres, noise, labels, centres=CENTRES, dtype=np.float64)

def anon_mb():
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"RssAnon:\s+(\d+)", text).group(1)) / 1024

def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

start_params = dict(
    priors=np.full(k, 1.0 / k),
    # Near the true centres: no component collapses onto a few rows (which would
    # send the iterations to the slower precise path and time that instead).
    means=CENTRES + np.random.default_rng(2).normal(0.0, 0.5, (k, d)),
    covariances=np.broadcast_to(np.eye(d), (k, d, d)).copy(),
)
elapsed = []
def callback(iteration, lower_bound, change, seconds):
    elapsed.append(seconds)

peak_anon, done = [0.0], []
def watch():
    while not done:
        peak_anon[0] = max(peak_anon[0], anon_mb())
        time.sleep(0.01)

result = {"case": case}
cluster = client = None
if case == "in_memory":
    X = np.empty((n, d))
    lazy = lazy_data()
    for i, rows in enumerate(np.cumsum((0,) + lazy.chunks[0][:-1])):
        block = lazy.blocks[i].compute()
        X[rows : rows + block.shape[0]] = block
elif case == "memmap":
    X = np.load(npy, mmap_mode="r")
elif case == "dask_threads_npy":
    import gaussmix.dask
    X = gaussmix.dask.read_npy(npy, chunk_rows=chunk_rows)
else:
    from distributed import Client, LocalCluster
    workers = 1 if case.startswith("dask_1proc") else 2
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=2 // workers, processes=True,
        dashboard_address=":0",
    )
    client = Client(cluster)
    X = lazy_data()

base_anon = anon_mb()
watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
persist = False if case.endswith("_stream") else None
options = {} if isinstance(X, np.ndarray) else {"persist": persist}
gmm = GMM(k, verbose=0, **start_params)
t0 = time.perf_counter()
import contextlib, io
log = io.StringIO()
with contextlib.redirect_stdout(log):
    gmm.verbose = 1 if not isinstance(X, np.ndarray) else 0
    gmm.from_samples(X, n_iter=n_iter, tol=None, callback=callback, **options)
total = time.perf_counter() - t0
done.append(True)
steps = np.diff([0.0] + elapsed)
result.update(
    seconds_per_iteration=float(np.median(steps[1:] if steps.size > 1 else steps)),
    first_iteration_seconds=float(steps[0]),
    iteration_seconds=steps.tolist(),
    setup_seconds=total - elapsed[-1],
    total_seconds=total,
    lower_bound=float(gmm.lower_bound_),
    peak_rss_mb=peak_rss_mb(),
    peak_anon_above_start_mb=peak_anon[0] - base_anon,
    data_mb=n * d * 8 / 2**20,
    dask_message=next((l for l in log.getvalue().splitlines() if l.startswith("Dask")), None),
)
if client is not None:
    def worker_peak():
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peaks = client.run(worker_peak)
    result["worker_peak_rss_mb"] = sorted(peaks.values())
    result["total_peak_rss_mb"] = result["peak_rss_mb"] + sum(peaks.values())
    client.close()
    cluster.close()
print("RESULT " + json.dumps(result))
"""

CASES = [
    "in_memory",
    "memmap",
    "dask_1proc_persist",
    "dask_2proc_persist",
    "dask_1proc_stream",
    "dask_2proc_stream",
    "dask_threads_npy",
]


def write_npy(path: Path, n: int, d: int, k: int, chunk_rows: int) -> None:
    """The cases' data, chunk by chunk, into a .npy (never all in memory)."""
    code = CASE.split("def anon_mb")[0].replace(
        "case, n, d, k, chunk_rows, n_iter, npy = sys.argv[1:8]",
        "case, n, d, k, chunk_rows, n_iter, npy = 'write', *sys.argv[1:6], sys.argv[6]",
    )
    code += (
        "\nout = np.lib.format.open_memmap(npy, mode='w+', dtype=np.float64, shape=(n, d))"
        "\nlazy = lazy_data()"
        "\nda.store(lazy, out, lock=True)"
        "\nout.flush()\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(n), str(d), str(k), str(chunk_rows), "0", str(path)],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--n-iter", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    parser.add_argument("--tmpdir", default=tempfile.gettempdir())
    parser.add_argument("--out", default=str(RESULTS / "dask.json"))
    args = parser.parse_args()

    results, failures = {}, {}
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as folder:
        npy = Path(folder) / "data.npy"
        if {"memmap", "dask_threads_npy"} & set(args.cases):
            write_npy(npy, args.n, args.d, args.k, args.chunk_rows)
        for case in args.cases:
            argv = [case, args.n, args.d, args.k, args.chunk_rows, args.n_iter, npy]
            out = subprocess.run(
                [sys.executable, "-c", CASE, *map(str, argv)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            line = next(
                (line for line in out.stdout.splitlines() if line.startswith("RESULT ")), None
            )
            if out.returncode != 0 or line is None:
                # Keep the other cases' numbers; say what failed.
                failures[case] = out.stderr[-4000:]
                print(f"{case}: FAILED (exit {out.returncode})\n{out.stderr[-2000:]}", flush=True)
                continue
            results[case] = json.loads(line[len("RESULT ") :])
            r = results[case]
            print(
                f"{case}: {r['seconds_per_iteration']:.3f} s/it, peak RSS "
                f"{r.get('total_peak_rss_mb', r['peak_rss_mb']):.0f} MB, lower bound "
                f"{r['lower_bound']:.10g}",
                flush=True,
            )

    reference = results.get("in_memory", {}).get("seconds_per_iteration")
    rows = []
    for case, r in results.items():
        ratio = r["seconds_per_iteration"] / reference if reference else None
        rows.append(
            [
                case,
                r["seconds_per_iteration"],
                ratio,
                r["setup_seconds"],
                r.get("total_peak_rss_mb", r["peak_rss_mb"]),
                r["peak_anon_above_start_mb"] if case == "memmap" else None,
            ]
        )
    header = ["case", "s/iteration", "/ in memory", "setup s", "peak RSS MB", "anon MB (memmap)"]
    print()
    print(markdown_table(header, rows))
    write_json(
        Path(args.out),
        {
            "machine": machine_info("numpy", "dask", "distributed"),
            "gaussmix": git_commit(),
            "n": args.n,
            "d": args.d,
            "k": args.k,
            "chunk_rows": args.chunk_rows,
            "n_iter": args.n_iter,
            "results": results,
            "failures": failures,
        },
    )


if __name__ == "__main__":
    main()
