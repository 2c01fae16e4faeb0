"""Write the README's performance table from the results files of ``benchmarks/results/``.

Every number in the README's "Performance" section comes from a JSON file that
a benchmark script wrote (each file records its machine, command, commit and
date); nobody types them. Rerun a benchmark, then this script::

    python benchmarks/make_readme_table.py           # rewrite the table in README.md
    python benchmarks/make_readme_table.py --check   # exit 1 if README.md is stale

``tests/test_readme.py`` runs the check, so the table cannot drift from the
files. A results file that is absent is left out of the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- performance table: written by benchmarks/make_readme_table.py, do not edit -->"
END = "<!-- end of performance table -->"

Row = tuple[str, str, str, str]  # what, case, result, source


def _load(name: str) -> dict | None:
    path = RESULTS / name
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _repository() -> str:
    pyproject = (ROOT / "pyproject.toml").read_text()
    return re.search(r'^Source = "([^"]+)"', pyproject, re.MULTILINE).group(1).rstrip("/")


def _source(name: str, payload: dict) -> str:
    machine = payload.get("machine", {})
    commit = (machine.get("git") or {}).get("commit") or "?"
    date = (machine.get("date") or "?")[:10]
    link = f"{_repository()}/blob/main/benchmarks/results/{name}"
    return f"[`{name}`]({link}) ({commit[:7]}, {date})"


def _case(n: int, d: int, k: int) -> str:
    return f"{n:,} x {d}, k = {k}"


def _em_iterations() -> Iterator[Row]:
    payload = _load("sklearn.json")
    if payload is None:
        return
    rows = [
        r
        for r in payload["per_iteration"]
        if r["estimator"] == "GaussianMixture" and r["n"] == 1_000_000
    ]
    if rows:
        speedups = ", ".join(f"{r['covariance_type']} {r['speedup']:.0f}x" for r in rows)
        r = rows[0]
        yield (
            "EM iteration vs scikit-learn `GaussianMixture`",
            _case(r["n"], r["d"], r["k"]),
            speedups,
            _source("sklearn.json", payload),
        )


def _default_fit() -> Iterator[Row]:
    payload = _load("default_fit.json")
    if payload is None:
        return
    for r in payload["cases"]:
        fit = r["fit"]
        yield (
            "Default `GaussianMixture(k).fit(X)` end to end vs scikit-learn",
            _case(r["n"], r["d"], r["k"]),
            f"{fit['cold_speedup']:.0f}x first call, {fit['warm_speedup']:.0f}x warm "
            f"({fit['warm_seconds']['gaussmix']:.2f} s vs {fit['warm_seconds']['sklearn']:.2f} s)",
            _source("default_fit.json", payload),
        )


def _em_floor() -> Iterator[Row]:
    # One float64 iteration from a fixed start, timed through the fit's callback
    # (bench_float32.py, issue 27's measure), over 4 n k d(d+1)/2 flops at the
    # GEMM rate measured in the same run.
    payload = _load("float32.json")
    if payload is None:
        return
    for r in payload["cases"]:
        cold = r["seconds_per_iteration_cold"]["float64"] / r["floor_symmetric_s"]
        yield (
            "Full-covariance EM iteration / the machine's symmetric floor",
            _case(r["n"], r["d"], r["k"]),
            f"{r['over_floor_warm']['float64']:.2f}x the floor warm, {cold:.2f}x first "
            f"iteration (4 n k d(d+1)/2 flops at the machine's GEMM rate)",
            _source("float32.json", payload),
        )
    widths = payload.get("widths", [])
    if widths:
        landing = ", ".join(
            f"d = {r['d']}: {r['over_floor_warm']['float64']:.2f}x" for r in widths
        )
        yield (
            "The same at other widths",
            ", ".join(_case(r["n"], r["d"], r["k"]) for r in widths),
            landing,
            _source("float32.json", payload),
        )


def _predict() -> Iterator[Row]:
    payload = _load("predict.json")
    if payload is None:
        return
    for r in payload["cases"]:
        yield (
            "GMR predict vs gmr 2.0.3",
            f"{r['n_queries']:,} queries, {r['d_in']} -> {r['d_out']}, k = {r['k']}",
            f"means {r['gmr_over_gaussmix']:.0f}x, with covariances "
            f"{r['gmr_over_gaussmix_cov']:.0f}x",
            _source("predict.json", payload),
        )


def _mclust() -> Iterator[Row]:
    payload = _load("mclust.json")
    if payload is None:
        return
    for name, entry in payload["data"].items():
        mclust = entry["mclust"]
        if mclust is None or name != "big":
            continue
        parts = []
        for setting in ("default", "n_init=1", "standard, n_init=1"):
            ours = entry["gaussmix"].get(setting)
            if ours is None:
                continue
            versus = ours["versus_mclust"]
            same = "same choice" if ours["choice"] == mclust["choice"] else ours["choice"]
            parts.append(
                f"{setting}: {mclust['seconds'] / ours['seconds']:.1f}x, {same}, BIC at least "
                f"mclust's in {versus['at_least_as_good']} of {versus['filled']} cells"
            )
        yield (
            "mclust's 14 models x k = 1..9 vs R's `Mclust(X, G = 1:9)`",
            f"{entry['shape'][0]:,} x {entry['shape'][1]}",
            "; ".join(parts),
            _source("mclust.json", payload),
        )


def _float32() -> Iterator[Row]:
    payload = _load("float32.json")
    if payload is None:
        return
    for r in payload["cases"]:
        low, high = r["float32_speedup_warm_range"]
        yield (
            "EM iteration, float32 (`dtype=np.float32`, float32 input) vs float64",
            _case(r["n"], r["d"], r["k"]) + ", full",
            f"{r['float32_speedup_warm']:.2f}x warm (median of {r['repeats']} repeats, "
            f"{low:.2f}-{high:.2f}), {r['float32_speedup_cold']:.2f}x first iteration",
            _source("float32.json", payload),
        )
    for r in payload.get("estimator", []):
        low, high = r["float32_speedup_warm_range"]
        yield (
            "EM iteration of `gaussmix.sklearn.GaussianMixture`, float32 vs float64 input",
            _case(r["n"], r["d"], r["k"]) + ", full",
            f"{r['float32_speedup_warm']:.2f}x warm (median of {r['repeats']} repeats, "
            f"{low:.2f}-{high:.2f})",
            _source("float32.json", payload),
        )


def _tied() -> Iterator[Row]:
    payload = _load("ab_tied_linear.json")
    if payload is None:
        return
    base = (payload.get("base_commit") or "?")[:7]
    for r in payload["results"]:
        yield (
            f"Tied EM iteration vs gaussmix at `{base}`",
            _case(r["n"], r["d"], r["k"]),
            f"{1.0 / r['ratio_median']:.1f}x faster "
            f"({r['base_s_per_iter'] * 1e3:.1f} -> {r['new_s_per_iter'] * 1e3:.1f} ms)",
            _source("ab_tied_linear.json", payload),
        )


def _deconvolution() -> Iterator[Row]:
    peers = _load("xd_peers.json")
    if peers is not None:
        for r in [peers["peers"]] if isinstance(peers["peers"], dict) else peers["peers"]:
            yield (
                "Extreme deconvolution iteration vs astroML 1.0.2 `XDGMM` and pygmmis 1.2.3",
                _case(r["n"], r["d"], r["k"]) + ", noise (n, d, d)",
                f"{r['astroml_over_gaussmix']:.0f}x astroML, {r['pygmmis_over_gaussmix']:.0f}x "
                f"pygmmis",
                _source("xd_peers.json", peers),
            )
    kernel = _load("xd_kernel.json")
    if kernel is not None:
        for r in kernel["results"]:
            if "over_noise_free" in r:
                yield (
                    "Extreme deconvolution iteration / a noise-free iteration",
                    _case(r["n"], r["d"], r["k"]) + f", variances, {r['covariance_type']}",
                    f"{r['over_noise_free']:.2f}x",
                    _source("xd_kernel.json", kernel),
                )


def _online() -> Iterator[Row]:
    payload = _load("online.json")
    if payload is None:
        return
    r = payload["summary"]
    yield (
        "One online pass (`fit_stream`) vs batch EM, memory-mapped",
        _case(r["rows"], r["features"], r["components"]),
        f"{r['speedup_time_to_solution']:.0f}x sooner within 0.01 nats/row; the pass costs "
        f"{r['online_pass_over_batch_iteration']:.1f} batch iterations",
        _source("online.json", payload),
    )


SECTIONS: list[Callable[[], Iterator[Row]]] = [
    _em_iterations,
    _default_fit,
    _float32,
    _tied,
    _em_floor,
    _predict,
    _mclust,
    _deconvolution,
    _online,
]


def render() -> str:
    """The table, between its markers."""
    lines = [
        BEGIN,
        "| What | Data | gaussmix | Results file (commit, date) |",
        "|---|---|---|---|",
    ]
    for section in SECTIONS:
        for what, case, result, source in section():
            lines.append(f"| {what} | {case} | {result} | {source} |")
    lines.append(END)
    return "\n".join(lines)


def current(text: str) -> str | None:
    """The table now in ``text`` (with its markers), or None when it has none."""
    if BEGIN not in text or END not in text:
        return None
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    table, now = render(), current(text)
    if now is None:
        print(f"README.md has no markers {BEGIN!r} ... {END!r}", file=sys.stderr)
        return 1
    if args.check:
        if now != table:
            print("README.md's performance table is stale: run benchmarks/make_readme_table.py")
            return 1
        return 0
    README.write_text(text.replace(now, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
