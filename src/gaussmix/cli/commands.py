"""The subcommands of ``gaussmix``: demo, fit, predict, impute, sample, score, plot, select."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._validation import any_entry
from .columns import (
    by_feature_names,
    column_selector,
    given_columns,
    given_dimensions,
    model_columns,
    parse_list,
    resolve,
)
from .files import (
    FIGURE_EXTENSIONS,
    MODEL_EXTENSIONS,
    OUT_EXTENSIONS,
    STDOUT,
    DataError,
    UsageError,
    check_finite,
    check_output,
    dim_names,
    read_data,
    read_model,
    read_noise,
    read_table,
    write_table,
)
from .progress import ProgressBar


def fit_gmm(
    X: np.ndarray,
    n_components: int,
    *,
    covariance_type: str = "full",
    init_params: str = "kmeans++",
    n_iter: int = 100,
    n_init: int = 1,
    tol: float | None = 1e-3,
    reg_covar: float = 1e-6,
    seed: int | None = None,
    callback: Callable[[int, int, float, float], None] | None = None,
    allow_missing: bool = False,
    noise_covariances: Any = None,
) -> Any:
    """Fit a GMM by EM, optionally reporting every iteration.

    One call of :meth:`GMM.from_samples`; ``callback`` rides the EM driver's
    per-iteration callback, so reporting costs nothing but the call itself.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    n_components : int
    covariance_type, init_params, n_iter, n_init, tol, reg_covar
        As in :meth:`GMM.from_samples`.
    seed : int, optional
        Seed of the initialization.
    callback : callable, optional
        ``callback(run, iteration, mean_log_likelihood, change)`` after every
        iteration (run counts from 0, iteration from 1).
    allow_missing : bool, default=False
        Fit data with NaN entries (see :meth:`GMM.from_samples`).
    noise_covariances : ndarray, optional
        Known noise of the rows: extreme deconvolution (see
        :meth:`GMM.from_samples`).

    Returns
    -------
    gmm : GMM

    Warns
    -----
    ConvergenceWarning
        When ``tol`` is set and the best run did not meet it.
    """
    from ..gmm import GMM

    progress = None
    if callback is not None:
        run = -1

        def progress(iteration: int, lower_bound: float, change: float, _elapsed: float) -> None:
            nonlocal run
            if iteration == 1:
                run += 1
            callback(run, iteration, lower_bound, change)

    return GMM(n_components, random_state=seed).from_samples(
        X,
        n_iter=n_iter,
        n_init=n_init,
        tol=tol,
        init_params=init_params,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        allow_missing=allow_missing,
        callback=progress,
        noise_covariances=noise_covariances,
    )


def _show_progress(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return bool(args.progress)
    return sys.stderr.isatty()


# ----------------------------------------------------------------------
# Subcommands
# ----------------------------------------------------------------------
def cmd_fit(args: argparse.Namespace) -> int:
    check_output(args.output, MODEL_EXTENSIONS, "MODEL")
    if args.online:
        if args.allow_missing:
            raise UsageError("--online does not take --allow-missing (complete rows only)")
    elif args.batch_size is not None or args.passes != 1:
        raise UsageError("--batch-size and --passes need --online")
    fit = _fit_online_and_report if args.online else _fit_and_report
    if args.scheduler is None:
        if args.online:
            # No pass over the rows here: each batch is checked as it is read.
            select = column_selector(getattr(args, "columns", None), args.data)
            X, args.feature_names = read_table(args.data, memory_map=True, select=select)
            return fit(args, X)
        return fit(args, _local_data(args))
    X, client = _cluster_data(args)
    try:
        return fit(args, X)
    finally:
        client.close()


def _fit_online_and_report(args: argparse.Namespace, X: Any) -> int:
    """``fit --online``: :meth:`GMM.from_stream`, a bar over the rows, the model saved."""
    from ..gmm import GMM
    from ..io import model_to_dict, save_model, to_json_text

    n, d = X.shape
    total = n * args.passes
    bar = ProgressBar(total, sys.stderr) if _show_progress(args) else None

    def callback(rows: int, pass_number: int, batch_mean: float, _elapsed: float) -> None:
        text = f"pass {pass_number}/{args.passes}, batch mean log-likelihood {batch_mean:.6g}"
        bar.update("online EM", rows, text, force=rows == total)

    start = time.perf_counter()
    try:
        gmm = GMM(args.k, random_state=args.seed).from_stream(
            X,
            batch_size=args.batch_size,
            n_passes=args.passes,
            covariance_type=args.covariance_type,
            init_params=args.init,
            n_iter=args.n_iter,
            tol=args.tol,
            reg_covar=args.reg_covar,
            callback=None if bar is None else callback,
            n_init=args.n_init,
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    print(
        f"fitted GMM: {args.k} components ({args.covariance_type}) on {n} samples x {d} "
        f"features by online EM, {gmm.n_iter_} batches in {args.passes} pass(es) in "
        f"{elapsed:.2f}s, running mean log-likelihood of the batches {gmm.lower_bound_:.6g}",
        file=sys.stderr,
    )
    names = getattr(args, "feature_names", None)
    if names is not None:
        gmm.feature_names_ = names
    if args.output in (None, STDOUT):
        sys.stdout.write(to_json_text(model_to_dict(gmm)))
    else:
        save_model(gmm, args.output)
        print(f"saved {args.output}", file=sys.stderr)
    return 0


def _local_data(args: argparse.Namespace) -> np.ndarray:
    """DATA, checked; a float .npy memory-mapped, so that the fit streams it from the file.

    Sets ``args.feature_names`` to the names of the chosen columns (None
    without a header row).
    """
    select = column_selector(getattr(args, "columns", None), args.data)
    X, args.feature_names = read_table(args.data, memory_map=True, select=select)
    return _checked_values(X, args.data, args.allow_missing)


def _checked_values(X: np.ndarray, source: str, allow_missing: bool) -> np.ndarray:
    """X finite, or with NaN (missing) entries where ``allow_missing``; never infinite."""
    if allow_missing:
        # NaN marks a missing entry; infinities are still refused.
        check_finite(np.nan_to_num(X, nan=0.0, posinf=np.inf, neginf=-np.inf), source)
        return X
    if any_entry(np.isnan, X):
        raise DataError(
            f"{source} contains NaN (missing cells); pass --allow-missing to treat them as "
            "missing values"
        )
    return check_finite(X, source)


def _cluster_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """DATA as a Dask array and a Client of the cluster at ``--scheduler``.

    The workers check the values (in the fit's first pass).
    """
    # gaussmix.dask imports dask: only fits with --scheduler need it.
    try:
        from ..dask import chunked, connect, read_npy
    except ImportError:
        raise DataError(
            '--scheduler needs dask and distributed: pip install "gaussmix[dask]"'
        ) from None
    if args.data != "-" and args.data.lower().endswith(".npy"):
        read_data(args.data, memory_map=True)  # the header's checks, no rows read
        client = connect(args.scheduler)
        # The workers read their rows from the file (the same path there).
        return read_npy(args.data), client
    X = read_data(args.data)
    return chunked(X), connect(args.scheduler)


def _fit_and_report(args: argparse.Namespace, X: Any) -> int:
    from ..io import model_to_dict, save_model, to_json_text

    bar = None
    callback = None
    if _show_progress(args):
        bar = ProgressBar(args.n_iter, sys.stderr)

        def callback(run: int, iteration: int, lower_bound: float, change: float) -> None:
            label = "EM" if args.n_init == 1 else f"EM run {run + 1}/{args.n_init}"
            text = f"mean log-likelihood {lower_bound:.6g} (change {change:.2g})"
            bar.update(label, iteration, text, force=iteration == 1)

    noise = read_noise(args.noise)
    start = time.perf_counter()
    try:
        gmm = fit_gmm(
            X,
            args.k,
            covariance_type=args.covariance_type,
            init_params=args.init,
            n_iter=args.n_iter,
            n_init=args.n_init,
            tol=args.tol,
            reg_covar=args.reg_covar,
            seed=args.seed,
            callback=callback,
            allow_missing=args.allow_missing,
            noise_covariances=noise,
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    n, d = X.shape
    if args.tol is None:
        status = "no convergence test, --tol none"
    else:
        status = "converged" if gmm.converged_ else "not converged"
    # One log-likelihood: that of the fitted parameters, as `gaussmix score` and the
    # BIC use it (lower_bound_ belongs to the last E-step, before the final M-step).
    if args.allow_missing:
        summary = f"mean observed-data log-likelihood {gmm.lower_bound_:.6g} (last E-step)"
    elif noise is not None:
        summary = (
            f"mean log-likelihood {gmm.score(X, noise_covariances=noise):.6g}, BIC "
            f"{gmm.bic(X, noise_covariances=noise):.6g} (of the noisy rows under the "
            "deconvolved mixture convolved with their noise)"
        )
    else:
        summary = f"mean log-likelihood {gmm.score(X):.6g}, BIC {gmm.bic(X):.6g}"
    print(
        f"fitted GMM: {args.k} components ({args.covariance_type}) on {n} samples x {d} "
        f"features, {gmm.n_iter_} EM iterations ({status}) in {elapsed:.2f}s, {summary}",
        file=sys.stderr,
    )
    names = getattr(args, "feature_names", None)
    if names is not None:
        gmm.feature_names_ = names  # the CSV's header row travels with the model
    if args.output in (None, STDOUT):
        sys.stdout.write(to_json_text(model_to_dict(gmm)))
    else:
        save_model(gmm, args.output)
        print(f"saved {args.output}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .incomplete import predict_observed

    check_output(args.output, OUT_EXTENSIONS)
    gmm = read_model(args.model)
    given = given_dimensions(gmm, args.given)
    X, header = read_table(args.data, select=by_feature_names(gmm, given))
    X = given_columns(gmm, given, args.given, X, header, args.data)
    X = _checked_values(X, args.data, args.allow_missing)
    outputs = [j for j in range(gmm.n_features) if j not in given]
    names = _names(gmm, outputs, header is not None)
    incomplete = args.allow_missing and any_entry(np.isnan, X)
    noise = read_noise(args.noise)
    if noise is not None:
        if incomplete:
            raise DataError(
                f"{args.data} has missing values: --noise with missing inputs is not supported"
            )
        # Noisy inputs: each component's input covariance plus the row's noise.
        if not args.std:
            write_table(gmm.predict(given, X, noise_covariances=noise), args.output, names)
            return 0
        mean, cov = gmm.predict(given, X, return_covariance=True, noise_covariances=noise)
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        columns = None if names is None else names + [f"std_{name}" for name in names]
        write_table(np.hstack([mean, std]), args.output, columns)
        return 0
    if args.std:
        if incomplete:
            mean, cov = predict_observed(gmm, given, X, return_covariance=True)
        else:
            mean, cov = gmm.predict(given, X, return_covariance=True)
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        table = np.hstack([mean, std])
        columns = None if names is None else names + [f"std_{name}" for name in names]
    else:
        table = predict_observed(gmm, given, X) if incomplete else gmm.predict(given, X)
        columns = names
    write_table(table, args.output, columns)
    return 0


def cmd_impute(args: argparse.Namespace) -> int:
    check_output(args.output, OUT_EXTENSIONS)
    gmm = read_model(args.model)
    data, header = read_table(args.data)
    positions = model_columns(gmm, data, header, args.data)
    X = _checked_values(data[:, positions], args.data, allow_missing=True)
    full = np.array(data, dtype=np.float64)  # other columns are written back unchanged
    full[:, positions] = gmm.impute(X)
    write_table(full, args.output, header)
    filled = int(np.isnan(X).sum())
    print(f"imputed {filled} missing value(s) in {data.shape[0]} rows", file=sys.stderr)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from ..utils import check_random_state

    check_output(args.output, OUT_EXTENSIONS)
    gmm = read_model(args.model)
    gmm.random_state = check_random_state(args.seed)
    samples = gmm.sample(args.n)
    write_table(samples, args.output, _names(gmm, list(range(gmm.n_features)), False))
    return 0


def _names(model: Any, dims: list[int], header_in: bool) -> list[str] | None:
    """Output column names: the model's feature names; dimN when only the input had a
    header; no header row when neither has names (none in, none out)."""
    names = getattr(model, "feature_names_", None)
    if names is not None:
        return [names[j] for j in dims]
    return dim_names(dims) if header_in else None


def cmd_score(args: argparse.Namespace) -> int:
    from .. import covariance as structures
    from .incomplete import observed_log_likelihood

    gmm = read_model(args.model)
    data, header = read_table(args.data, select=by_feature_names(gmm))
    X = _checked_values(
        data[:, model_columns(gmm, data, header, args.data)], args.data, args.allow_missing
    )
    n = X.shape[0]
    noise = read_noise(args.noise)
    if noise is not None:
        if any_entry(np.isnan, X):
            raise DataError(
                f"{args.data} has missing values: --noise with missing values is not supported"
            )
        # The convolved mixture: each component's covariance plus the row's noise.
        mean = gmm.score(X, noise_covariances=noise)
        bic, aic = gmm.bic(X, noise_covariances=noise), gmm.aic(X, noise_covariances=noise)
    elif args.allow_missing and any_entry(np.isnan, X):
        # Observed-data log-likelihood: the missing entries marginalized out.
        total = float(observed_log_likelihood(gmm, X).sum())
        p = structures.get(gmm.covariance_type_).n_mixture_parameters(
            gmm.n_components, gmm.n_features
        )
        mean, bic, aic = total / n, -2.0 * total + p * np.log(n), -2.0 * total + 2.0 * p
    else:
        mean, bic, aic = gmm.score(X), gmm.bic(X), gmm.aic(X)
    print(f"samples: {n}")
    print(f"mean log-likelihood: {mean:.10g}")
    print(f"BIC: {bic:.10g}")
    print(f"AIC: {aic:.10g}")
    return 0


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DataError(
            "matplotlib is needed for plots; install it with: pip install 'gaussmix[plot]'"
        ) from None
    return Figure


def cmd_plot(args: argparse.Namespace) -> int:
    _figure_class()
    from ..plot import plot_mixture

    check_output(args.output, FIGURE_EXTENSIONS, "PNG")
    gmm = read_model(args.model)
    X = None
    if args.data is not None:
        data, header = read_table(args.data, select=by_feature_names(gmm))
        X = data[:, model_columns(gmm, data, header, args.data)]
        # Rows with missing cells are drawn without them (the model is the point).
        X = _checked_values(X, args.data, allow_missing=True)
        X = X[~np.isnan(X).any(axis=1)]
    dims = None
    if args.dims is not None:
        dims = resolve(
            parse_list(args.dims, "--dims"),
            getattr(gmm, "feature_names_", None),
            gmm.n_features,
            "--dims",
            "the model's dimensions",
        )
    figure = plot_mixture(gmm, X, dims=dims)
    figure.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}", file=sys.stderr)
    if dims is None and gmm.n_features > 5:
        # plot_mixture shows the first five by default: say so.
        print(
            f"note: showed dimensions 0-4 of {gmm.n_features}; choose others with --dims",
            file=sys.stderr,
        )
    return 0


def _modes(density: np.ndarray, grid: np.ndarray, threshold: float = 0.05) -> list[float]:
    """Local maxima of a sampled 1-D density above threshold × its maximum."""
    inner = (density[1:-1] > density[:-2]) & (density[1:-1] >= density[2:])
    inner &= density[1:-1] > threshold * density.max()
    return grid[1:-1][inner].tolist()


def run_demo(output_dir: str | os.PathLike = ".", stream: TextIO | None = None) -> Path:
    """Fit a GMR on Bishop's inverse problem, print a summary and write a PNG.

    Parameters
    ----------
    output_dir : str or os.PathLike, default="."
        Directory of ``gaussmix_demo.png`` (created if missing).
    stream : text stream, optional
        Where the summary goes (default standard output).

    Returns
    -------
    path : pathlib.Path
        The written PNG.
    """
    Figure = _figure_class()
    from matplotlib.colors import PowerNorm

    from ..datasets import make_inverse_sine
    from ..plot import (
        conditional_density,
        plot_conditional_density,
        plot_error_ellipses,
        plot_regression,
    )

    out = sys.stdout if stream is None else stream
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    X = make_inverse_sine(n_samples=500, noise=0.05, random_state=0)
    start = time.perf_counter()
    gmm = fit_gmm(X, 6, init_params="kmeans++", n_iter=300, tol=1e-5, seed=0)
    elapsed = time.perf_counter() - start

    x0 = 0.5
    mean, cov = gmm.predict([0], [[x0]], return_covariance=True)
    grid = np.linspace(-0.2, 1.2, 701)
    modes = _modes(conditional_density(gmm, [x0], grid)[:, 0], grid)
    print("gaussmix demo: Gaussian mixture regression on a multimodal inverse problem", file=out)
    print(
        f"  data : {X.shape[0]} points (x, y) with x = y + 0.3 sin(2 pi y) + noise; "
        "predicting y from x has up to 3 answers",
        file=out,
    )
    status = "converged" if gmm.converged_ else "not converged"
    print(
        f"  fit  : GMM with {gmm.n_components} components, {gmm.n_iter_} EM iterations "
        f"({status}, {elapsed:.2f}s), mean log-likelihood {gmm.score(X):.3f}",
        file=out,
    )
    print(
        f"  at x = {x0}: GMR mean y = {mean[0, 0]:.3f} +/- {np.sqrt(cov[0, 0, 0]):.3f} (std), "
        f"but p(y | x) has modes at y = {', '.join(f'{m:.2f}' for m in modes)}",
        file=out,
    )

    figure = Figure(figsize=(11, 4.4))
    left, right = figure.subplots(1, 2)
    xs = np.linspace(-0.15, 1.15, 300)
    left.scatter(X[:, 0], X[:, 1], s=5, color="0.2", alpha=0.6, linewidths=0, label="data")
    plot_error_ellipses(
        left, gmm, colors=[f"C{j + 1}" for j in range(gmm.n_components)], factors=[1.0, 2.0]
    )
    plot_regression(left, gmm, xs, color="C0", label="GMR mean ± 2 std")
    left.set(xlim=(xs[0], xs[-1]), ylim=(-0.35, 1.35), xlabel="x", ylabel="y")
    left.set_title("data, components and GMR with confidence band")
    left.legend(loc="upper left")
    ys = np.linspace(-0.35, 1.35, 300)
    plot_conditional_density(right, gmm, xs, ys, norm=PowerNorm(0.5), colorbar=True)
    right.plot(xs, gmm.predict([0], xs[:, None])[:, 0], color="w", lw=1, ls="--", label="mean")
    right.set(xlabel="x", ylabel="y")
    right.set_title("conditional density p(y | x)")
    right.legend(loc="upper left")
    figure.tight_layout()
    path = directory / "gaussmix_demo.png"
    figure.savefig(path, dpi=80)
    print(f"  wrote {path}", file=out)
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.output)
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from ..io import model_to_dict, save_model, to_json_text
    from ..selection import ModelSelection

    check_output(args.output, MODEL_EXTENSIONS, "MODEL")
    if args.plot is not None:
        check_output(args.plot, FIGURE_EXTENSIONS, "--plot")
        Figure = _figure_class()
    X, names = read_table(args.data, select=column_selector(args.columns, args.data))
    X = _checked_values(X, args.data, args.allow_missing)
    to_stdout = args.output == STDOUT
    # With -o -, standard output holds the model; the table goes to standard error.
    table_stream = sys.stderr if to_stdout else sys.stdout
    try:
        result = _select(args, X)
    except ValueError as exc:
        table = getattr(exc, "table", None)
        if table is not None:  # every candidate failed or was degenerate: show why
            text = ModelSelection(table, None, None, args.criterion, {}).to_text()
            table_stream.write(text + "\n")
            table_stream.flush()
        raise
    table_stream.write(result.to_text() + "\n")
    if args.csv is not None:
        result.to_csv(args.csv)
        print(f"wrote {args.csv}", file=sys.stderr)
    if names is not None:
        result.best_model.feature_names_ = names  # the header row travels with the model
    if to_stdout:
        sys.stdout.write(to_json_text(model_to_dict(result.best_model)))
    elif args.output is not None:
        save_model(result.best_model, args.output)
        print(f"saved {args.output}", file=sys.stderr)
    if args.plot is not None:
        figure = Figure(figsize=(6.4, 4.4))
        result.plot(figure.add_subplot())
        figure.tight_layout()
        figure.savefig(args.plot, dpi=args.dpi)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _select(args: argparse.Namespace, X: np.ndarray) -> Any:
    from ..selection import select_model

    return select_model(
        X,
        n_components=args.k,
        covariance_type=args.covariance_type,
        criterion=args.criterion,
        cv=args.cv,
        n_init=args.n_init,
        init_params=args.init,
        n_iter=args.n_iter,
        tol=args.tol,
        reg_covar=args.reg_covar,
        allow_missing=args.allow_missing,
        random_state=args.seed,
        noise_covariances=read_noise(args.noise),
    )
