"""Extreme deconvolution: seconds per EM iteration against astroML and pygmmis, and against EM.

Two measurements (issue 23's targets):

1. 20,000 x 4, k = 8, one full noise covariance per row: gaussmix
   (``from_samples(noise_covariances=S)``), astroML 1.0.2's ``XDGMM`` (its
   ``_EMstep``, one exact XD iteration) and pygmmis 1.2.3 (``pygmmis.fit``
   with ``init_method="none"``, a fixed number of iterations), all from the
   same parameters on the same data. Target: gaussmix at least 100x astroML
   and 20x pygmmis per iteration.
2. 1,000,000 x 8, k = 16, diagonal noise ((n, d) variances): gaussmix's XD
   iteration against a noise-free EM iteration of the same data and
   parameters (full covariances; the diagonal structure too). Target:
   within 5x.

Per iteration means the marginal cost: (time of 1 + N iterations - time of
1 iteration) / N from the same start, minimum over repeats, so that setup
(validation, pools) cancels. gaussmix runs with ``tol=None`` (no
convergence test: the gmr-style test would add a pass over the previous
parameters) and its default threads; pygmmis uses its multiprocessing pool
(all cores); astroML is single-threaded Python. Peers run only where a step
finishes in reasonable time (``--peer-max-n``).

:func:`gaussmix_iteration_seconds` is the one timing of gaussmix, for other
scripts (e.g. an A/B of a compiled E-step kernel)::

    from bench_xd import make_problem, gaussmix_iteration_seconds
    X, S, start = make_problem(20_000, 4, 8, "full")
    gaussmix_iteration_seconds(X, S, start)            # seconds per XD iteration

Usage::

    python benchmarks/bench_xd.py              # both cases, results/xd.json (~10 min on 2 cores)
    python benchmarks/bench_xd.py --quick      # smoke run (4,000 and 100k rows), xd_quick.json
    python benchmarks/bench_xd.py --only peers # the 20,000 x 4 case alone (~2 min)
    python benchmarks/bench_xd.py --only dask --dask 400000  # Dask vs in memory
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, markdown_table, write_json

from gaussmix import GMM


def make_problem(n: int, d: int, k: int, noise: str, seed: int = 0):
    """Noisy rows of a k-component mixture and a start near it.

    Returns
    -------
    X : ndarray (n, d)
    S : ndarray (n, d, d) for ``noise="full"``, (n, d) variances for ``"diag"``
    start : dict of priors (k,), means (k, d), covariances (k, d, d)
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    factors = rng.normal(0, 0.6, (k, d, d))
    covariances = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(d)
    labels = rng.integers(0, k, n)
    chol = np.linalg.cholesky(covariances)
    V = centres[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(n, d)))
    if noise == "full":
        A = rng.normal(0, 0.5, (n, d, d))
        S = A @ np.swapaxes(A, 1, 2) / d + 0.05 * np.eye(d)
        X = V + np.einsum("nij,nj->ni", np.linalg.cholesky(S), rng.normal(size=(n, d)))
    else:
        S = rng.uniform(0.1, 1.0, (n, d))
        X = V + rng.normal(size=(n, d)) * np.sqrt(S)
    start = {
        "priors": np.full(k, 1.0 / k),
        "means": centres + rng.normal(0, 0.5, (k, d)),
        "covariances": np.broadcast_to(np.eye(d) * 2.0, (k, d, d)).copy(),
    }
    return X, S, start


def _fit_seconds(X, S, start, n_iter, covariance_type, n_jobs) -> float:
    k = len(start["priors"])
    model = GMM(k, **{key: np.copy(value) for key, value in start.items()})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.from_samples(
            X,
            noise_covariances=S,
            n_iter=n_iter,
            tol=None,
            covariance_type=covariance_type,
            n_jobs=n_jobs,
        )
    return time.perf_counter() - t0


def gaussmix_iteration_seconds(
    X: np.ndarray,
    S: np.ndarray | None,
    start: dict,
    *,
    covariance_type: str = "full",
    n_iter: int = 5,
    repeats: int = 3,
    n_jobs: int | None = None,
) -> float:
    """Marginal seconds per EM iteration of ``from_samples`` (XD with S, plain EM with None).

    (time of 1 + n_iter iterations - time of 1) / n_iter, minimum over
    ``repeats``, each fit from ``start`` with ``tol=None``.
    """
    best = np.inf
    for _ in range(repeats):
        one = _fit_seconds(X, S, start, 1, covariance_type, n_jobs)
        many = _fit_seconds(X, S, start, 1 + n_iter, covariance_type, n_jobs)
        best = min(best, (many - one) / n_iter)
    return float(best)


def astroml_iteration_seconds(X, S, start, repeats: int = 2) -> float | None:
    """Seconds of one ``XDGMM._EMstep`` from ``start`` (astroML 1.0.2), minimum of repeats."""
    try:
        from astroML.density_estimation import XDGMM
    except ImportError:
        return None
    best = np.inf
    for _ in range(repeats):
        xd = XDGMM(n_components=len(start["priors"]), max_iter=1)
        xd.alpha = start["priors"].copy()
        xd.mu = start["means"].copy()
        xd.V = start["covariances"].copy()
        t0 = time.perf_counter()
        xd._EMstep(X, S)
        best = min(best, time.perf_counter() - t0)
    return float(best)


def _pygmmis_seconds(X, S, start, n_iter) -> float:
    import pygmmis

    k, d = start["means"].shape
    gmm = pygmmis.GMM(K=k, D=d)
    gmm.amp[:] = start["priors"]
    gmm.mean[:] = start["means"]
    gmm.covar[:] = start["covariances"]
    t0 = time.perf_counter()
    pygmmis.fit(gmm, X, covar=S, init_method="none", tol=0.0, miniter=n_iter, maxiter=n_iter)
    return time.perf_counter() - t0


def pygmmis_iteration_seconds(X, S, start, n_iter: int = 3, repeats: int = 2) -> float | None:
    """Marginal seconds per iteration of ``pygmmis.fit`` from ``start`` (pygmmis 1.2.3)."""
    try:
        import pygmmis  # noqa: F401
    except ImportError:
        return None
    best = np.inf
    for _ in range(repeats):
        one = _pygmmis_seconds(X, S, start, 1)
        many = _pygmmis_seconds(X, S, start, 1 + n_iter)
        best = min(best, (many - one) / n_iter)
    return float(best)


def peers_case(n: int, d: int, k: int, peer_max_n: int) -> dict:
    X, S, start = make_problem(n, d, k, "full")
    row = {"n": n, "d": d, "k": k, "noise": "full (n, d, d)"}
    row["gaussmix"] = gaussmix_iteration_seconds(X, S, start, n_iter=10)
    row["gaussmix_diag_structure"] = gaussmix_iteration_seconds(
        X, S, start, covariance_type="diag", n_iter=10
    )
    run_peers = n <= peer_max_n
    row["astroml"] = astroml_iteration_seconds(X, S, start) if run_peers else None
    row["pygmmis"] = pygmmis_iteration_seconds(X, S, start) if run_peers else None
    for peer in ("astroml", "pygmmis"):
        row[f"{peer}_over_gaussmix"] = None if row[peer] is None else row[peer] / row["gaussmix"]
    return row


def scale_case(n: int, d: int, k: int, n_iter: int = 3, repeats: int = 2) -> list[dict]:
    X, S, start = make_problem(n, d, k, "diag")
    rows = []
    for covariance_type in ("full", "diag"):
        noisy = gaussmix_iteration_seconds(
            X, S, start, covariance_type=covariance_type, n_iter=n_iter, repeats=repeats
        )
        plain = gaussmix_iteration_seconds(X, None, start, covariance_type=covariance_type)
        rows.append(
            {
                "n": n,
                "d": d,
                "k": k,
                "noise": "diagonal (n, d)",
                "covariance_type": covariance_type,
                "xd": noisy,
                "noise_free": plain,
                "ratio": noisy / plain,
            }
        )
    return rows


def dask_case(n: int, d: int, k: int, chunk_rows: int = 50_000) -> dict:
    """XD per iteration on a Dask array (X and S chunked alike, local threads) vs in memory."""
    import dask.array as da

    X, S, start = make_problem(n, d, k, "diag")
    lazy_X = da.from_array(X, chunks=(chunk_rows, d))
    lazy_S = da.from_array(S, chunks=(chunk_rows, d))
    row = {"n": n, "d": d, "k": k, "noise": "diagonal (n, d)", "chunk_rows": chunk_rows}
    for covariance_type in ("diag", "full"):
        options = dict(covariance_type=covariance_type, n_iter=6, repeats=3)
        memory = gaussmix_iteration_seconds(X, S, start, **options)
        lazy = gaussmix_iteration_seconds(lazy_X, lazy_S, start, **options)
        row[covariance_type] = {"in_memory": memory, "dask": lazy, "ratio": lazy / memory}
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--peer-max-n", type=int, default=20_000, help="largest n at which peers are timed"
    )
    parser.add_argument(
        "--only",
        choices=("peers", "scale", "dask"),
        default=None,
        help="run one case (dask: only --dask's)",
    )
    parser.add_argument(
        "--dask",
        type=int,
        default=0,
        metavar="N",
        help="also time XD on an N x 8 Dask array (k = 16) against in memory (default: no)",
    )
    parser.add_argument(
        "--scale-iterations",
        type=int,
        default=3,
        help="XD iterations timed (after one) at the large size, per repeat (default 3)",
    )
    parser.add_argument(
        "--scale-n", type=int, default=None, help="rows of the large case (default 1,000,000)"
    )
    args = parser.parse_args(argv)
    peers_n = 4000 if args.quick else 20_000
    scale_n = args.scale_n or (100_000 if args.quick else 1_000_000)
    name = "xd_quick" if args.quick else "xd" if args.only is None else f"xd_{args.only}"
    out = args.out or RESULTS / f"{name}.json"

    peers = None
    if args.only in (None, "peers"):
        peers = peers_case(peers_n, 4, 8, args.peer_max_n)
    scale = []
    if args.only in (None, "scale"):
        scale = scale_case(scale_n, 8, 16, args.scale_iterations)
    dask_row = dask_case(args.dask, 8, 16) if args.dask else None
    payload = {
        "machine": machine_info("astroML", "pygmmis", "dask"),
        "peers": peers,
        "scale": scale,
        "dask": dask_row,
    }
    write_json(out, payload)
    if peers is not None:
        header = ["n x d, k", "gaussmix s/it", "(diag structure)", "astroML s/it"]
        header += ["pygmmis s/it", "astroML / gaussmix", "pygmmis / gaussmix"]
        keys = ["gaussmix", "gaussmix_diag_structure", "astroml", "pygmmis"]
        keys += ["astroml_over_gaussmix", "pygmmis_over_gaussmix"]
        size = f"{peers['n']} x {peers['d']}, {peers['k']}"
        print(markdown_table(header, [[size, *(peers[key] for key in keys)]]) + "\n")
    if scale:
        header = ["n x d, k", "structure", "XD s/it (diagonal noise)", "noise-free s/it"]
        keys = ["covariance_type", "xd", "noise_free", "ratio"]
        rows = [[f"{r['n']} x {r['d']}, {r['k']}", *(r[key] for key in keys)] for r in scale]
        print(markdown_table([*header, "ratio"], rows))
    if dask_row is not None:
        header = ["n x d, k", "structure", "in memory s/it", "Dask s/it", "ratio"]
        size = f"{dask_row['n']} x {dask_row['d']}, {dask_row['k']}"
        rows = [[size, t, *dask_row[t].values()] for t in ("diag", "full")]
        print("\n" + markdown_table(header, rows))
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    main()
