"""The compiled E-steps as a CPU without AVX-512 runs them, against the numpy paths.

GCC's ``target_clones`` builds every kernel for AVX-512, AVX2 and baseline
x86-64 and the loader picks the clone of the running CPU, so on an AVX-512
machine the AVX2 code never runs. This script builds ``_fused.c`` a second
time with ``GM_CLONES`` reduced to ``flatten`` and ``-march=x86-64-v3`` (the
code GCC's ``arch=x86-64-v3`` clone gets) into a temporary folder, loads it
through ctypes in place of the installed library, sets its narrow form
(``gm_set_vector_policy(1)``: what ``gm_wide_vectors()`` picks where AVX-512
does not run), and times, one thread, heap trimmed before the first call:

- the EM statistics (``ArraySource.statistics``) for full and diagonal
  covariances;
- the kernels that ``gaussmix.kernels.compiled.wide_vectors()`` leaves unused
  where AVX-512 does not run (float32, the rare patterns of missing data, the
  statistics about each component's mean, GMR predict), each against the path
  taken instead;

for the installed build (AVX-512 here), the AVX2 build and the numpy path,
alternated within every repeat (median of the per-repeat times; the first
call of each reported as cold). Needs gcc and Python's headers; writes
``results/vector_forms.json``.

Usage::

    python benchmarks/bench_vector_forms.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, settle, trim_heap, write_json
from bench_missing import make_case

import gaussmix.kernels as kernels
from gaussmix import GMM
from gaussmix.em.estep import EStepParameters, e_step
from gaussmix.em.sources import ArraySource, MissingValuesSource
from gaussmix.kernels import compiled
from gaussmix.kernels.threads import single_threaded_blas

SOURCE = Path(kernels.__file__).resolve().parent / "_fused.c"
CLONES = '__attribute__((flatten, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))'


def build_avx2(folder: Path) -> Path:
    """``_fused.c`` compiled for AVX2 only (the x86-64-v3 clone's code)."""
    text = SOURCE.read_text()
    if CLONES not in text:
        raise SystemExit("GM_CLONES is not spelled as this script expects")
    source = folder / "fused_avx2.c"
    source.write_text(text.replace(CLONES, "__attribute__((flatten))"))
    library = folder / "fused_avx2.so"
    include = sysconfig.get_paths()["include"]
    command = ["gcc", "-O3", "-march=x86-64-v3", "-shared", "-fPIC", f"-I{include}"]
    subprocess.run([*command, str(source), "-o", str(library)], check=True)
    return library


def load(path: Path):
    """The library at ``path`` set up as ``compiled._load`` sets up the installed one."""
    real = sys.modules["gaussmix.kernels._fused"]
    fake = types.SimpleNamespace(__file__=str(path))
    sys.modules["gaussmix.kernels._fused"] = kernels._fused = fake
    try:
        return compiled._load()
    finally:
        sys.modules["gaussmix.kernels._fused"] = kernels._fused = real


def cases() -> dict:
    """name -> (call, whether ``wide_vectors()`` keeps the kernel off without AVX-512)."""
    X, Xm, g = make_case(200_000, 16, 16, 0.10)
    full = ArraySource(X, None, "full", n_jobs=1)
    diag = ArraySource(X, None, "diag", n_jobs=1)
    single = ArraySource(X.astype(np.float32), None, "full", dtype=np.float32, n_jobs=1)
    missing = MissingValuesSource(Xm, None, "full", n_jobs=1)
    precise = EStepParameters("full", g.means, g.priors, g.means, g.covariances)
    model = GMM(16, random_state=0).from_samples(X[:20_000], n_iter=5, tol=None)
    queries = X[:100_000, :8]
    inputs = np.arange(8)
    return {
        "EM statistics, full, (200k, 16, 16)": (lambda: full.statistics(g, None, False), False),
        "EM statistics, diag, (200k, 16, 16)": (lambda: diag.statistics(g, None, False), False),
        "float32 EM statistics, full, (200k, 16, 16)": (
            lambda: single.statistics(g, None, False),
            True,
        ),
        "missing data 10 %, full, (200k, 16, 16)": (
            lambda: missing.statistics(g, None, False),
            True,
        ),
        "precise path, full, (200k, 16, 16)": (lambda: e_step(X, None, precise), True),
        "GMR predict, 100k x 8 queries, k = 16": (lambda: model.predict(inputs, queries), True),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "vector_forms.json")
    args = parser.parse_args(argv)
    native = compiled._lib
    if native is None or not hasattr(native, "gm_set_vector_policy"):
        raise SystemExit("the compiled kernel is not built")
    with tempfile.TemporaryDirectory() as folder:
        avx2 = load(build_avx2(Path(folder)))
    avx2.gm_set_vector_policy(1)
    wide = compiled.wide_vectors
    forms = {
        # (library, kernels enabled, what wide_vectors() answers)
        "installed": (native, True, wide()),
        "avx2": (avx2, True, True),  # the kernel itself, gated or not
        "numpy": (native, False, False),
    }
    rows, results = [], {}
    with single_threaded_blas():
        for name, (call, gated) in cases().items():
            times: dict = {form: [] for form in forms}
            cold: dict = {}
            for repeat in range(args.repeats + 1):
                for form, (library, enabled, answer) in forms.items():
                    compiled._lib, compiled.enabled = library, enabled
                    compiled.wide_vectors = lambda answer=answer: answer
                    if repeat == 0:
                        trim_heap()
                    settle()
                    start = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - start
                    if repeat == 0:
                        cold[form] = elapsed
                    else:
                        times[form].append(elapsed)
            compiled._lib, compiled.enabled, compiled.wide_vectors = native, True, wide
            warm = {form: statistics.median(values) for form, values in times.items()}
            results[name] = {"warm_s": warm, "cold_s": cold, "times": times, "gated": gated}
            rows.append(
                [
                    name,
                    *(f"{1e3 * warm[form]:.1f}" for form in forms),
                    f"{warm['avx2'] / warm['numpy']:.2f}",
                    "not used" if gated else "used",
                ]
            )
            print(rows[-1], flush=True)
    header = ["E-step", "installed ms", "AVX2 build ms", "numpy path ms", "AVX2 / numpy"]
    header.append("without AVX-512")
    print(markdown_table(header, rows))
    payload = {"machine": machine_info("numpy"), "repeats": args.repeats, "cases": results}
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
