"""Missing-data EM: seconds per E-step against the complete-data E-step, in one process.

For each case (n, d, k, fraction of entries missing at random), the same data
with and without the NaN entries, the same Gaussians (true centres plus
noise, covariances 2I):

- complete: ``ArraySource(X).statistics(...)`` (kernel, threads), the
  complete-data E-step that an iteration of ``from_samples`` runs;
- missing: ``MissingValuesSource(X_nan).statistics(...)``, the E-step of an
  ``allow_missing=True`` iteration (complete rows by the complete-data path,
  the others by missing count);
- impute: ``gaussmix._missing.impute`` (what ``GMM.impute`` runs) on the NaN data;
- legacy (``--legacy``): the E-step and the imputation of commit a21c004 (rows
  grouped by pattern, rare patterns with masked covariances), copied here.

The three are alternated within every repeat (interleaved A/B); the table
reports the minimum time over repeats, the median (and range) of the
per-repeat ratios missing / complete, and the ratio of the first calls
(heap trimmed before each: a user's cold call). Before every timed call the
process waits until its own threads are idle (``_common.settle``). The
M-step is the same for all and negligible at these sizes. The statistics
of the missing path are checked against the legacy path (max relative
difference of the moments) when ``--legacy`` is given.

Usage::

    python benchmarks/bench_missing.py            # (200k, 16, 16) at 10 % and 1 % missing
    python benchmarks/bench_missing.py --legacy   # also the old path (about 7 s per call)
    python benchmarks/bench_missing.py --quick    # smoke run (seconds), results/missing_quick.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import RESULTS, machine_info, markdown_table, settle, trim_heap, write_json

import legacy_missing as legacy  # the first generation, kept as the tests' reference
from gaussmix import _gaussian, _missing
from gaussmix._gaussian import n_phi_features, uses_full_features
from gaussmix.em.estep import EStepParameters
from gaussmix.em.estep import responsibility_entropy as _entropy
from gaussmix.em.families import Gaussians
from gaussmix.em.sources import ArraySource, MissingValuesSource
from gaussmix.em.stats import Statistics
from gaussmix.kernels.threads import resolve_n_jobs


def legacy_missing_e_step(block, weights, params) -> Statistics:
    """The missing-data E-step of commit a21c004 (by pattern; reference for speed and sums)."""
    X = block.X
    k, d = params.means.shape
    full = uses_full_features(params.covariance_type)
    iu, ju = np.triu_indices(d)
    total = Statistics.zeros(k, n_phi_features(d, params.covariance_type))
    gaussians = (params.priors, params.means, params.covariances)
    for idx, log_norm, log_resp, x_hat, cov_sum in legacy.posteriors(
        X, gaussians, *legacy.split_patterns(X)
    ):
        resp = np.exp(log_resp)
        w = np.ones(idx.size) if weights is None else weights[idx]
        wresp = resp * w[:, None]
        y = x_hat - params.shift
        first = np.einsum("nk,nkd->kd", wresp, y)
        conditional = cov_sum(wresp)
        if full:
            quad = (np.einsum("nk,nki,nkj->kij", wresp, y, y) + conditional)[:, iu, ju]
        else:
            quad = np.einsum("nk,nkd->kd", wresp, y * y)
            quad += np.diagonal(conditional, axis1=1, axis2=2)
        moments = np.concatenate([quad, first, wresp.sum(axis=0)[:, None]], axis=1)
        total += Statistics(
            moments,
            np.einsum("n,nk->k", w, resp * resp),
            float(w @ log_norm),
            float(w.sum()),
            0.0,
            _entropy(resp, log_resp, w),
        )
    return total


def legacy_impute(X, priors, means, covs):
    """GMM.impute of commit a21c004 (by pattern; rare patterns with masked covariances)."""
    out = np.array(X, dtype=np.float64, copy=True)
    mask = np.isnan(out)
    incomplete = np.flatnonzero(mask.any(axis=1))
    nothing = mask[incomplete].all(axis=1)
    out[incomplete[nothing]] = priors @ means
    incomplete = incomplete[~nothing]
    groups, scattered = legacy.split_patterns(X[incomplete])
    for pattern, rows_local in groups:
        rows_all = incomplete[rows_local]
        obs, mis = np.flatnonzero(~pattern), np.flatnonzero(pattern)
        cond = _gaussian.make_conditioner(means, covs, obs, mis)
        mean, _ = _gaussian.predict_conditional(out[np.ix_(rows_all, obs)], priors, cond)
        out[np.ix_(rows_all, mis)] = mean
    k, d = means.shape
    rare = incomplete[scattered]
    for rows in _gaussian.row_chunks(rare.size, 4 * k * d * d):
        idx = rare[rows]
        _, log_resp, x_hat, _ = legacy.scattered_posterior(out[idx], priors, means, covs)
        completed = np.einsum("mk,mkd->md", np.exp(log_resp), x_hat)
        out[idx] = np.where(mask[idx], completed, out[idx])
    return out


def make_case(n: int, d: int, k: int, rate: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (k, d))
    labels = rng.integers(0, k, n)
    X = np.empty((n, d))
    for start in range(0, n, 8192):
        rows = slice(start, min(start + 8192, n))
        X[rows] = centres[labels[rows]] + rng.normal(size=(rows.stop - rows.start, d))
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    gaussians = Gaussians(
        np.full(k, 1.0 / k),
        centres + rng.normal(size=(k, d)),
        np.broadcast_to(2.0 * np.eye(d), (k, d, d)).copy(),
    )
    return X, Xm, gaussians


def run_case(n, d, k, rate, repeats, legacy, covariance_type="full"):
    X, Xm, gaussians = make_case(n, d, k, rate)
    n_jobs = resolve_n_jobs(None)
    complete = ArraySource(X, None, covariance_type, n_jobs=n_jobs)
    missing = MissingValuesSource(Xm, None, covariance_type, n_jobs=n_jobs)
    params = EStepParameters(
        covariance_type=covariance_type,
        shift=missing.shift,
        priors=gaussians.priors,
        means=gaussians.means,
        covariances=gaussians.covariances,
    )
    calls = {
        "complete": lambda: complete.statistics(gaussians, None, False),
        "missing": lambda: missing.statistics(gaussians, None, False),
    }
    impute_args = (Xm, gaussians.priors, gaussians.means, gaussians.covariances)
    calls["impute"] = lambda: _missing.impute(*impute_args)
    if legacy:
        calls["legacy"] = lambda: legacy_missing_e_step(missing.block, None, params)
        calls["legacy_impute"] = lambda: legacy_impute(*impute_args)
    cold = {}
    for name, fn in calls.items():  # a user's first call of each (heap trimmed), then warm
        trim_heap()
        settle()
        start = time.perf_counter()
        fn()
        cold[name] = time.perf_counter() - start
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            settle()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    best = {name: min(values) for name, values in times.items()}
    ratios = np.array(times["missing"]) / np.array(times["complete"])
    row = {
        "n": n,
        "d": d,
        "k": k,
        "covariance_type": covariance_type,
        "missing_rate": rate,
        "complete_rows": float(np.mean(~np.isnan(Xm).any(axis=1))),
        "patterns": int(np.unique(np.isnan(Xm), axis=0).shape[0]),
        "times": times,
        "min_s": best,
        "cold_s": cold,
        "missing_over_complete_min": best["missing"] / best["complete"],
        # The median of the per-repeat ratios (the two alternate within each
        # repeat, so a slow minute of the machine slows both).
        "missing_over_complete": float(np.median(ratios)),
        "missing_over_complete_range": [float(ratios.min()), float(ratios.max())],
        "missing_over_complete_cold": cold["missing"] / cold["complete"],
    }
    if legacy:
        new = calls["missing"]()[0].moments
        old = calls["legacy"]().moments
        row["legacy_over_missing"] = best["legacy"] / best["missing"]
        row["legacy_over_complete"] = best["legacy"] / best["complete"]
        row["max_rel_diff_moments"] = float(np.abs(new - old).max() / np.abs(old).max())
        row["legacy_impute_over_impute"] = best["legacy_impute"] / best["impute"]
        filled, filled_old = calls["impute"](), calls["legacy_impute"]()
        row["max_abs_diff_impute"] = float(np.abs(filled - filled_old).max())
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats")
    parser.add_argument("--legacy", action="store_true", help="also time the old path")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        cases = [(20_000, 8, 4, 0.10, "full"), (20_000, 8, 4, 0.01, "full")]
        cases += [(20_000, 8, 4, 0.10, "diag")]
        repeats = args.repeats or 2
    else:
        cases = [(200_000, 16, 16, 0.10, "full"), (200_000, 16, 16, 0.01, "full")]
        cases += [(200_000, 16, 16, 0.10, "diag"), (200_000, 16, 16, 0.01, "diag")]
        cases += [(200_000, 16, 16, 0.10, "spherical")]
        repeats = args.repeats or 9
    out = args.out or RESULTS / ("missing_quick.json" if args.quick else "missing.json")
    rows = []
    for n, d, k, rate, cov in cases:
        row = run_case(n, d, k, rate, repeats, args.legacy, cov)
        rows.append(row)
        print(f"done {n} {d} {k} {rate} {cov}: {row['min_s']}", flush=True)
    table = [
        [
            f"({r['n']:,}, {r['d']}, {r['k']})",
            r["covariance_type"],
            f"{100 * r['missing_rate']:g} %",
            f"{100 * r['complete_rows']:.1f} %",
            r["patterns"],
            f"{r['min_s']['complete']:.4f}",
            f"{r['min_s']['missing']:.4f}",
            f"{r['missing_over_complete']:.2f} ({r['missing_over_complete_range'][0]:.2f}-"
            f"{r['missing_over_complete_range'][1]:.2f}), cold "
            f"{r['missing_over_complete_cold']:.2f}",
            f"{r['min_s']['legacy']:.3f}" if "legacy" in r["min_s"] else "-",
            f"{r['legacy_over_missing']:.1f}" if "legacy" in r["min_s"] else "-",
            f"{r['max_rel_diff_moments']:.1e}" if "legacy" in r["min_s"] else "-",
            f"{r['min_s']['impute']:.4f}",
            f"{r['legacy_impute_over_impute']:.1f}" if "legacy" in r["min_s"] else "-",
            f"{r['max_abs_diff_impute']:.1e}" if "legacy" in r["min_s"] else "-",
        ]
        for r in rows
    ]
    header = ["n, d, k", "covariance", "missing", "complete rows", "patterns"]
    header += ["complete s", "missing s", "missing / complete (median of repeats, range)"]
    header += ["legacy s", "legacy / missing"]
    header += ["max rel diff vs legacy", "impute s", "legacy impute / impute"]
    header += ["max abs diff impute"]
    print(markdown_table(header, table))
    write_json(out, {"machine": machine_info("numpy"), "repeats": repeats, "cases": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
