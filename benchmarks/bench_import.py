"""Start-up cost: ``import gaussmix`` and every command of the ``gaussmix`` tool.

Each figure comes from fresh interpreters, so nothing is cached in the process
(the operating system's file cache is warm after the first run). Three kinds of
number are recorded:

* ``import``: seconds of ``import gaussmix`` measured inside a fresh interpreter
  (``time.perf_counter`` around the import statement), next to ``import numpy``
  alone, the floor that gaussmix cannot go under; the modules of scipy,
  scikit-learn, matplotlib and Dask the import loaded (there should be none);
* ``process``: wall seconds of whole processes, ``python -c pass``,
  ``python -c "import numpy"`` and ``python -c "import gaussmix"``;
* ``cli``: wall seconds of ``python -m gaussmix`` running every command on tiny
  files (300 rows), and its ``--help``, so the figure is nearly all start-up.
  ``plot`` and ``demo`` import matplotlib and ``select`` fits a small grid; the
  others should cost little more than ``import gaussmix`` itself.

Bytecode is written and used as in an installed package (``PYTHONDONTWRITEBYTECODE``
is removed from the children's environment; a first unrecorded round compiles it).
The runs of the different commands are interleaved, round after round, so a
machine whose speed drifts slows all of them alike; medians are reported.

Usage::

    python benchmarks/bench_import.py              # 15 rounds
    python benchmarks/bench_import.py --quick      # 3 rounds, results/import_quick.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, machine_info, markdown_table, write_json

HEAVY = ("scipy", "sklearn", "matplotlib", "dask", "distributed", "threadpoolctl")

IMPORT_PROBE = """
import sys, time
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print(elapsed, ",".join(heavy))
"""


def _environment() -> dict[str, str]:
    # An installed package has its bytecode compiled (pip does it); an environment
    # that sets PYTHONDONTWRITEBYTECODE would time the compiler instead of the import.
    env = os.environ.copy()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=_environment())
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return elapsed, done.stdout


def _files(folder: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 3))
    np.savetxt(folder / "data.csv", data, delimiter=",")
    np.savetxt(folder / "inputs.csv", data[:, :1], delimiter=",")
    subprocess.run(
        [sys.executable, "-m", "gaussmix", "fit", "data.csv", "-k", "2", "-o", "model.json"],
        cwd=folder,
        check=True,
        capture_output=True,
        env=_environment(),
    )


CLI = {
    "--help": ["--help"],
    "fit": ["fit", "data.csv", "-k", "2", "-o", "fitted.json"],
    "predict": ["predict", "model.json", "inputs.csv", "--given", "0", "-o", "pred.csv"],
    "sample": ["sample", "model.json", "-n", "10", "-o", "samples.npy"],
    "score": ["score", "model.json", "data.csv"],
    "select": ["select", "data.csv", "-k", "1-2", "--covariance-type", "full", "-o", "b.json"],
    "plot": ["plot", "model.json", "data.csv", "-o", "model.png"],
    "demo": ["demo", "--output", "."],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    out = args.out or RESULTS / ("import_quick.json" if args.quick else "import.json")

    python = sys.executable
    in_process: dict[str, list[float]] = {"numpy": [], "gaussmix": []}
    heavy_loaded: dict[str, str] = {}
    process: dict[str, list[float]] = {"pass": [], "import numpy": [], "import gaussmix": []}
    cli: dict[str, list[float]] = {name: [] for name in CLI}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _files(folder)
        for round_index in range(rounds + 1):  # round 0 warms caches, unrecorded
            for module in in_process:
                probe = IMPORT_PROBE.format(module=module, heavy=HEAVY)
                _, stdout = _run([python, "-c", probe], folder)
                seconds, heavy = stdout.split()[0], stdout.split()[1:]
                if round_index:
                    in_process[module].append(float(seconds))
                heavy_loaded[module] = heavy[0] if heavy else ""
            for label in process:
                code = "pass" if label == "pass" else label
                seconds = _run([python, "-c", code], folder)[0]
                if round_index:
                    process[label].append(seconds)
            for name, command in CLI.items():
                seconds = _run([python, "-m", "gaussmix", *command], folder)[0]
                if round_index:
                    cli[name].append(seconds)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    payload = {
        "benchmark": "bench_import",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "rounds": rounds,
        "machine": machine_info("numpy", "scipy", "gaussmix"),
        "import_seconds": {
            module: {"median": med(v), "min": min(v), "max": max(v), "raw": v}
            for module, v in in_process.items()
        },
        "heavy_modules_loaded_by_import": heavy_loaded,
        "process_seconds": {
            label: {"median": med(v), "min": min(v), "max": max(v), "raw": v}
            for label, v in process.items()
        },
        "cli_seconds": {
            name: {"median": med(v), "min": min(v), "max": max(v), "raw": v}
            for name, v in cli.items()
        },
    }
    write_json(out, payload)

    base = med(process["pass"])
    print(
        markdown_table(
            ["inside a fresh interpreter", "median s", "min s", "heavy modules loaded"],
            [
                [f"import {m}", f"{med(v):.3f}", f"{min(v):.3f}", heavy_loaded[m] or "none"]
                for m, v in in_process.items()
            ],
        )
    )
    print()
    rows = [[label, f"{med(v):.3f}", f"{med(v) - base:.3f}"] for label, v in process.items()]
    rows += [
        [f"gaussmix {' '.join(CLI[name])}", f"{med(v):.3f}", f"{med(v) - base:.3f}"]
        for name, v in cli.items()
    ]
    print(markdown_table(["whole process", "median s", "above `python -c pass`"], rows))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
