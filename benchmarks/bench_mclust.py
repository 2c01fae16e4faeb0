"""mclust's 14 x 9 grid: ``gaussmix.select_model(covariance_type="all")`` against R's ``Mclust``.

For each data set (Old Faithful, iris, mclust's diabetes data, the Swiss
banknotes, and 20,000 x 8 rows of a six-component mixture drawn here with
seed 0) R runs ``Mclust(X, G = 1:9)`` (all 14 models, mclust's hierarchical
start, one EM run per cell) through ``Rscript`` on the same rows, and
gaussmix runs ``select_model(X, n_components=range(1, 10),
covariance_type="all", random_state=0, **settings)`` in this process for
each of the settings below (whole-call times after one warm-up call on
other data, the heap trimmed before each timed call so that it starts from cold
memory; the default settings are timed a second time, warm):

- ``default``: the defaults a user gets (``n_init=5``, ``tol=1e-3``; for
  ``covariance_type="all"`` that is ``strategy="mclust"``: two runs from
  hierarchies, three from k-means++ seeds, every run to 1e-3, the two best
  continued to 1e-5; on the 20,000 x 8 rows the runs are screened on the
  hierarchy's 2,000 rows with starts shared by each k, and one run per cell
  goes over all the rows, see ``gaussmix.selection.screening``);
- ``n_init=1``: the same strategy with one run per cell from the hierarchy
  (to 1e-3, then on to 1e-5), as mclust runs one;
- ``standard``: ``strategy="standard"``, five runs to ``tol=1e-3`` (the
  default before the mclust strategy);
- ``standard, n_init=1``: one run from the hierarchy to 1e-3.

Recorded per data set and setting: the whole-call time of each, both
choices, both BIC tables (mclust's sign flipped: lower is better), and in how
many of the cells mclust fills gaussmix's BIC is at least as good (within
0.01). R needs ``apt-get install r-cran-mclust``; without ``Rscript`` only
gaussmix runs. Writes ``benchmarks/results/mclust.json``.

R's ``Mclust`` runs with ``set.seed(0)`` (its hierarchy of data above 2,000
rows sees a random subset of them, so its BIC table on the 20,000 x 8 rows
depends on the draw); ``--r-seeds N`` also counts the cells there against R's
tables for seeds 1..N.

Usage::

    flock /tmp/bench.lock python benchmarks/bench_mclust.py [--only big] [--r-seeds N] [--out FILE]
    python benchmarks/bench_mclust.py --markdown benchmarks/results/mclust.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _common import machine_info, timed_alone, trim_heap

from gaussmix import covariance, select_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"

R_SCRIPT = """
suppressMessages(library(mclust))
set.seed({seed})
X <- as.matrix(read.csv("{data}", header = FALSE))
t <- system.time(fit <- Mclust(X, G = 1:9, verbose = FALSE))[["elapsed"]]
write.csv(as.data.frame(unclass(fit$BIC)), "{table}")
cat(t, fit$modelName, fit$G, as.character(packageVersion("mclust")), "\\n")
"""

SETTINGS = {
    "default": {},
    "n_init=1": {"n_init": 1},
    "standard": {"strategy": "standard"},
    "standard, n_init=1": {"strategy": "standard", "n_init": 1},
}


def data_sets(only: str | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, d = 20_000, 8
    centres = rng.normal(0, 4, (6, d))
    shapes = rng.normal(size=(6, d, d)) * 0.4 + np.eye(d)
    labels = rng.integers(0, 6, n)
    big = centres[labels] + np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(n, d)))
    loaders = {
        "faithful": lambda: np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2),
        "iris": _iris,
        "diabetes": lambda: np.loadtxt(
            DATA / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3)
        ),
        "banknote": lambda: np.loadtxt(
            DATA / "banknote.csv", delimiter=",", skiprows=2, usecols=range(1, 7)
        ),
        "big": lambda: big,
    }
    return {name: load() for name, load in loaders.items() if only in (None, name)}


def _iris() -> np.ndarray:
    from sklearn.datasets import load_iris

    return load_iris().data


def run_r(X: np.ndarray, tmp: Path, seed: int = 0) -> dict | None:
    """R's ``Mclust(X, G = 1:9)``; ``seed`` seeds R's draw of the rows its hierarchy
    sees (above 2,000 rows: ``mclust.options("subset")``), so its BIC table varies with it."""
    if shutil.which("Rscript") is None:
        return None
    data, table = tmp / "X.csv", tmp / "bic.csv"
    np.savetxt(data, X, delimiter=",", fmt="%.17g")
    script = R_SCRIPT.format(data=data, table=table, seed=seed)
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    seconds, model, k, version = out.stdout.split()
    bic = {}
    with open(table) as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        for code, value in zip(rows[0][1:], row[1:], strict=True):
            bic[f"{code},{int(row[0])}"] = None if value == "NA" else -float(value)
    return {"seconds": float(seconds), "choice": f"{model},{k}", "bic": bic, "version": version}


def run_gaussmix(X: np.ndarray, settings: dict) -> dict:
    out: dict = {}

    def call() -> None:
        out["result"] = select_model(
            X, n_components=range(1, 10), covariance_type="all", random_state=0, **settings
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trim_heap()  # the first call on these data starts from cold memory
        seconds, foreign = timed_alone(call)
        # the same call again, warm (the default settings only: the speed target's)
        warm = timed_alone(call)[0] if not settings else None
    result = out["result"]
    best = result.best_params
    code = covariance.get(best["covariance_type"]).mclust_name
    bic, degenerate = {}, []
    for row in result.table:
        key = f"{covariance.get(row['covariance_type']).mclust_name},{row['n_components']}"
        bic[key] = float(row["bic"]) if row["error"] is None else None
        if row["degenerate"] is not None:
            degenerate.append(key)
    choice = f"{code},{best['n_components']}"
    return {
        "seconds": seconds,
        "warm_seconds": warm,
        "foreign_cpu_seconds": foreign,
        "choice": choice,
        "bic": bic,
        "degenerate": degenerate,
    }


def compare(ours: dict, mclust: dict) -> dict:
    """Cells mclust fills, and in how many gaussmix's BIC is at least as good (0.01).

    A cell gaussmix marks degenerate counts as not as good (its BIC is that of a
    spurious optimum); ``degenerate`` lists those cells.
    """
    filled = [key for key, value in mclust["bic"].items() if value is not None]
    usable = [key for key in filled if ours["bic"].get(key) is not None]
    usable = [key for key in usable if key not in ours["degenerate"]]
    better = [key for key in usable if ours["bic"][key] <= mclust["bic"][key] + 0.01]
    worse = {
        key: round(ours["bic"][key] - mclust["bic"][key], 2) for key in usable if key not in better
    }
    return {
        "filled": len(filled),
        "at_least_as_good": len(better),
        "worse_by": worse,
        "degenerate": [key for key in filled if key in ours["degenerate"]],
    }


def markdown(results: dict) -> str:
    """The results as benchmarks/README.md's table: time, choice, cells per setting."""
    settings = list(next(iter(results["data"].values()))["gaussmix"])
    head = "| data | R `Mclust` | " + " | ".join(f"gaussmix, {s}" for s in settings) + " |"
    lines = [head, "|---" * (2 + len(settings)) + "|"]
    for name, entry in results["data"].items():
        mclust = entry["mclust"]
        cells = [f"{name} ({entry['shape'][0]} x {entry['shape'][1]})"]
        cells.append("-" if mclust is None else f"{mclust['seconds']:.2f} s, {mclust['choice']}")
        for setting in settings:
            ours = entry["gaussmix"][setting]
            warm = ours.get("warm_seconds")
            timing = f"{ours['seconds']:.2f} s" + ("" if warm is None else f" (warm {warm:.2f} s)")
            cell = f"{timing}, {ours['choice']}"
            if "versus_mclust" in ours:
                versus = ours["versus_mclust"]
                cell += f", {versus['at_least_as_good']}/{versus['filled']}"
                if versus["degenerate"]:
                    cell += f" ({len(versus['degenerate'])} degenerate)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("faithful", "iris", "diabetes", "banknote", "big"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mclust.json"))
    parser.add_argument(
        "--markdown", metavar="JSON", help="print the table of a results file and stop"
    )
    parser.add_argument(
        "--r-seeds",
        type=int,
        default=0,
        metavar="N",
        help="also run R on the 20,000 x 8 rows with seeds 1..N (R's hierarchy sees a random "
        "2,000 of them) and count the cells against each",
    )
    args = parser.parse_args()
    if args.markdown:
        with open(args.markdown) as handle:
            print(markdown(json.load(handle)))
        return
    run_gaussmix(data_sets("faithful")["faithful"][:100], {"n_init": 1})  # warm-up
    results: dict = {
        "machine": machine_info("numpy", "scipy"),
        "data": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, X in data_sets(args.only).items():
            entry: dict = {"shape": list(X.shape), "mclust": run_r(X, Path(tmp)), "gaussmix": {}}
            for label, settings in SETTINGS.items():
                ours = run_gaussmix(X, settings)
                if entry["mclust"] is not None:
                    ours["versus_mclust"] = compare(ours, entry["mclust"])
                entry["gaussmix"][label] = ours
                warm = ours["warm_seconds"]
                line = (
                    f"{name} [{label}]: gaussmix {ours['seconds']:.2f} s"
                    f"{'' if warm is None else f' (warm {warm:.2f} s)'} "
                    f"({ours['foreign_cpu_seconds']:.1f} CPU-s of other processes), "
                    f"{ours['choice']}"
                )
                if entry["mclust"] is not None:
                    versus = ours["versus_mclust"]
                    line += (
                        f"; mclust {entry['mclust']['seconds']:.2f} s, "
                        f"{entry['mclust']['choice']}; at least mclust's BIC in "
                        f"{versus['at_least_as_good']} of {versus['filled']} cells "
                        f"({len(versus['degenerate'])} of them degenerate here)"
                    )
                print(line, flush=True)
            results["data"][name] = entry
        big = results["data"].get("big")
        if args.r_seeds and big is not None and big["mclust"] is not None:
            # R's table depends on its random subset: count the cells against other draws.
            X = data_sets("big")["big"]
            draws = {"0": big["mclust"]}
            for seed in range(1, args.r_seeds + 1):
                draws[str(seed)] = run_r(X, Path(tmp), seed)
            big["r_seeds"] = {
                seed: {
                    "seconds": draw["seconds"],
                    "choice": draw["choice"],
                    "at_least_as_good": {
                        label: compare(ours, draw)["at_least_as_good"]
                        for label, ours in big["gaussmix"].items()
                    },
                }
                for seed, draw in draws.items()
            }
            for seed, line in big["r_seeds"].items():
                print(f"big, R seed {seed}: {line}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(results, handle, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
