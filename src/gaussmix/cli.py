"""The ``gaussmix`` command line tool (also ``python -m gaussmix``).

Subcommands: ``demo``, ``fit``, ``predict``, ``sample``, ``score`` and
``plot``; each has ``--help``. Data files are CSV (numeric, comma- or
whitespace-separated, an optional header row is detected and skipped, ``#``
starts a comment) or ``.npy``; ``-`` reads CSV from standard input. Model files
are the ``.json`` / ``.npz`` files of :mod:`gaussmix.io`.

Exit status: 0 on success, 1 when a file cannot be read or its content does
not fit (missing or malformed data or model, wrong number of columns), 2 for
a wrong command line (unknown option, bad value, unsupported extension,
``--given`` naming dimensions the model does not have). Errors are one line
on standard error; set ``GAUSSMIX_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ._validation import COVARIANCE_TYPES, INIT_PARAMS

__all__ = ["fit_gmm", "main", "read_data"]

EXIT_DATA = 1
EXIT_USAGE = 2

_DATA_EXTENSIONS = (".csv", ".txt", ".npy")
_OUT_EXTENSIONS = (".csv", ".npy")
_MODEL_EXTENSIONS = (".json", ".npz")
_FIGURE_EXTENSIONS = (".png", ".pdf", ".svg")


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class DataError(Exception):
    """A file is missing, unreadable or does not fit (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (exit status 2) instead of exiting."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------
def _suffix(path: str, allowed: tuple[str, ...], what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise UsageError(
            f"{what} {path!r} must end with {' or '.join(allowed)} (the format is chosen "
            "by extension)"
        )
    return suffix


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_csv(text: str, source: str) -> np.ndarray:
    lines = [
        (number, line.split("#", 1)[0].strip())
        for number, line in enumerate(text.splitlines(), start=1)
    ]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise DataError(f"{source}: no data rows")
    delimiter = "," if "," in lines[0][1] else None

    def fields(line: str) -> list[str]:
        return [f.strip() for f in line.split(delimiter)]

    if not all(_is_number(f) for f in fields(lines[0][1])):
        lines = lines[1:]  # a header row
        if not lines:
            raise DataError(f"{source}: only a header row, no data rows")
    n_columns = len(fields(lines[0][1]))
    data = np.empty((len(lines), n_columns))
    for row, (number, line) in enumerate(lines):
        values = fields(line)
        if len(values) != n_columns:
            raise DataError(
                f"{source}: line {number} has {len(values)} columns; expected {n_columns}"
            )
        try:
            data[row] = [float(v) for v in values]
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise DataError(f"{source}: line {number}: {bad!r} is not a number") from None
    return data


def read_data(path: str) -> np.ndarray:
    """Read a numeric 2-D table from a .csv/.txt/.npy file, or CSV from stdin ("-").

    Parameters
    ----------
    path : str
        File name; ``-`` reads CSV text from standard input.

    Returns
    -------
    data : ndarray, shape (n_rows, n_columns)
        A 1-D .npy array becomes one column.

    Raises
    ------
    UsageError
        For an unsupported extension.
    DataError
        If the file is missing, malformed, empty or not numeric.
    """
    if path == "-":
        return _parse_csv(sys.stdin.read(), "<stdin>")
    suffix = _suffix(path, _DATA_EXTENSIONS, "DATA")
    file_path = Path(path)
    if not file_path.is_file():
        raise DataError(f"data file not found: {path}")
    if suffix == ".npy":
        try:
            array = np.load(file_path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise DataError(f"{path}: must hold a numeric array; got {type(array).__name__}")
        if array.ndim not in (1, 2) or array.size == 0:
            raise DataError(
                f"{path}: must hold a non-empty 1-D or 2-D array; got shape {array.shape}"
            )
        return (array[:, None] if array.ndim == 1 else array).astype(np.float64)
    try:
        text = file_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file") from None
    return _parse_csv(text, path)


def _finite(data: np.ndarray, source: str) -> np.ndarray:
    bad = np.argwhere(~np.isfinite(data))
    if bad.size:
        row, col = bad[0]
        raise DataError(
            f"{source}: row {row + 1}, column {col + 1} is {data[row, col]}; "
            "only finite numbers are allowed"
        )
    return data


def _format_rows(array: np.ndarray) -> list[str]:
    return [",".join(map(repr, row)) for row in array.tolist()]


def write_table(array: np.ndarray, path: str | None, columns: Sequence[str]) -> None:
    """Write a 2-D array as CSV (with a header row) or .npy; CSV to stdout when path is None.

    Parameters
    ----------
    array : ndarray, shape (n_rows, n_columns)
    path : str or None
        Output file; the extension (.csv or .npy) picks the format.
    columns : sequence of str
        Header of the CSV, one name per column.
    """
    if path is not None and Path(path).suffix.lower() == ".npy":
        np.save(path, array)
        return
    lines = [",".join(columns), *_format_rows(array)]
    text = "\n".join(lines) + "\n"
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(path).write_text(text, encoding="utf-8")


def _check_output(path: str | None, allowed: tuple[str, ...], what: str = "OUT") -> None:
    if path is None:
        return
    _suffix(path, allowed, what)
    parent = Path(path).parent
    if not parent.is_dir():
        raise DataError(f"cannot write {path}: directory {parent} does not exist")


def _read_model(path: str) -> Any:
    """Load a model file as a GMM (an MVN becomes a one-component GMM)."""
    from .gmm import GMM
    from .io import load_model
    from .mvn import MVN

    _suffix(path, _MODEL_EXTENSIONS, "MODEL")
    try:
        model = load_model(path)
    except FileNotFoundError:
        raise DataError(f"model file not found: {path}") from None
    if isinstance(model, MVN):
        mean, covariance = model._params()
        model = GMM(1, priors=[1.0], means=mean[None], covariances=covariance[None])
    return model


def _columns(indices: Sequence[int], prefix: str = "") -> list[str]:
    return [f"{prefix}dim{j}" for j in indices]


# ----------------------------------------------------------------------
# Fitting with an optional progress bar
# ----------------------------------------------------------------------
class ProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream.

    Parameters
    ----------
    total : int
        Number of steps of a full bar.
    stream : text stream
        Where to draw (standard error for the CLI).
    width : int, default=30
        Characters of the bar itself.
    """

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self._last = 0.0

    def update(self, label: str, done: int, text: str, force: bool = False) -> None:
        """Redraw the bar (at most every 0.1 s unless ``force`` or finished).

        Parameters
        ----------
        label : str
            Text before the bar.
        done : int
            Steps completed, out of ``total``.
        text : str
            Text after the bar.
        force : bool, default=False
            Redraw even if the last redraw was less than 0.1 s ago.
        """
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{label} [{bar}] {done}/{self.total} {text}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        self.stream.write("\n")
        self.stream.flush()


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

    Returns
    -------
    gmm : GMM

    Warns
    -----
    ConvergenceWarning
        When ``tol`` is set and the best run did not meet it.
    """
    from .gmm import GMM

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
    )


def _show_progress(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return bool(args.progress)
    return sys.stderr.isatty()


# ----------------------------------------------------------------------
# Subcommands
# ----------------------------------------------------------------------
def _cmd_fit(args: argparse.Namespace) -> int:
    from .io import _to_json_text, model_to_dict, save_model

    _check_output(args.output, _MODEL_EXTENSIONS, "MODEL")
    X = read_data(args.data)
    if args.allow_missing:
        # NaN marks a missing entry; infinities are still refused.
        _finite(np.nan_to_num(X, nan=0.0, posinf=np.inf, neginf=-np.inf), args.data)
    elif np.isnan(X).any():
        raise DataError(
            f"{args.data} contains NaN; pass --allow-missing to treat NaN entries as "
            "missing values"
        )
    else:
        X = _finite(X, args.data)
    bar = None
    callback = None
    if _show_progress(args):
        bar = ProgressBar(args.n_iter, sys.stderr)

        def callback(run: int, iteration: int, lower_bound: float, change: float) -> None:
            label = "EM" if args.n_init == 1 else f"EM run {run + 1}/{args.n_init}"
            text = f"mean log-likelihood {lower_bound:.6g} (change {change:.2g})"
            bar.update(label, iteration, text, force=iteration == 1)

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
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start
    n, d = X.shape
    status = "converged" if gmm.converged_ else "not converged"
    print(
        f"fitted GMM: {args.k} components ({args.covariance_type}) on {n} samples x {d} "
        f"features, {gmm.n_iter_} EM iterations ({status}) in {elapsed:.2f}s, mean "
        f"log-likelihood {gmm.lower_bound_:.6g}"
        + ("" if args.allow_missing else f", BIC {gmm.bic(X):.6g}"),
        file=sys.stderr,
    )
    if args.output is None:
        sys.stdout.write(_to_json_text(model_to_dict(gmm)))
    else:
        save_model(gmm, args.output)
        print(f"saved {args.output}", file=sys.stderr)
    return 0


def _parse_given(text: str) -> list[int]:
    try:
        given = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--given must be comma-separated 0-based dimension indices such as 0 or 0,2; "
            f"got {text!r}"
        ) from None
    return given


def _cmd_predict(args: argparse.Namespace) -> int:
    _check_output(args.output, _OUT_EXTENSIONS)
    given = _parse_given(args.given)
    gmm = _read_model(args.model)
    d = gmm.n_features
    bad = [j for j in given if not 0 <= j < d]
    if bad:
        raise UsageError(
            f"--given names dimension(s) {bad} but the model has dimensions 0 to {d - 1}"
        )
    if len(set(given)) != len(given):
        raise UsageError(f"--given must not repeat a dimension; got {args.given}")
    if len(given) >= d:
        raise UsageError(
            f"--given must leave at least one of the model's {d} dimensions to predict; "
            f"got {args.given}"
        )
    X = _finite(read_data(args.data), args.data)
    if X.shape[1] != len(given):
        raise DataError(
            f"{args.data} has {X.shape[1]} column(s) but --given names {len(given)} "
            f"dimension(s) ({args.given}); give one column per dimension"
        )
    outputs = [j for j in range(d) if j not in given]
    if args.std:
        mean, cov = gmm.predict(given, X, return_covariance=True)
        std = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
        table = np.hstack([mean, std])
        columns = _columns(outputs) + _columns(outputs, "std_")
    else:
        table = gmm.predict(given, X)
        columns = _columns(outputs)
    write_table(table, args.output, columns)
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from .utils import check_random_state

    _check_output(args.output, _OUT_EXTENSIONS)
    gmm = _read_model(args.model)
    gmm.random_state = check_random_state(args.seed)
    samples = gmm.sample(args.n)
    write_table(samples, args.output, _columns(range(gmm.n_features)))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    gmm = _read_model(args.model)
    X = _finite(read_data(args.data), args.data)
    if X.shape[1] != gmm.n_features:
        raise DataError(
            f"{args.data} has {X.shape[1]} column(s) but the model has {gmm.n_features} dimensions"
        )
    print(f"samples: {X.shape[0]}")
    print(f"mean log-likelihood: {gmm.score(X):.10g}")
    print(f"BIC: {gmm.bic(X):.10g}")
    print(f"AIC: {gmm.aic(X):.10g}")
    return 0


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DataError(
            "matplotlib is needed for plots; install it with: pip install 'gaussmix[plot]'"
        ) from None
    return Figure


def _cmd_plot(args: argparse.Namespace) -> int:
    _figure_class()
    from .plot import plot_mixture

    _check_output(args.output, _FIGURE_EXTENSIONS, "PNG")
    gmm = _read_model(args.model)
    X = None
    if args.data is not None:
        X = _finite(read_data(args.data), args.data)
        if X.shape[1] != gmm.n_features:
            raise DataError(
                f"{args.data} has {X.shape[1]} column(s) but the model has "
                f"{gmm.n_features} dimensions"
            )
    dims = None
    if args.dims is not None:
        dims = _parse_given(args.dims.replace(" ", ""))
        bad = [j for j in dims if not 0 <= j < gmm.n_features]
        if bad or len(set(dims)) != len(dims):
            raise UsageError(
                f"--dims must name distinct dimensions in 0 to {gmm.n_features - 1}; "
                f"got {args.dims}"
            )
    figure = plot_mixture(gmm, X, dims=dims)
    figure.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}", file=sys.stderr)
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

    from .datasets import make_inverse_sine
    from .plot import (
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
        f"({status}, {elapsed:.2f}s), mean log-likelihood {gmm.lower_bound_:.3f}",
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


def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.output)
    return 0


# ----------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------
def _int_at_least(minimum: int, wording: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wording}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wording}; got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _tolerance(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number or 'none'; got {text!r}"
        ) from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a non-negative number; got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _tolerance(text)
    if value is None:
        raise argparse.ArgumentTypeError("expected a non-negative number; got 'none'")
    return value


_DATA_HELP = (
    "numeric table: .csv (a header row is detected and skipped) or .npy; '-' reads CSV "
    "from standard input"
)
_OUT_HELP = "output file, .csv or .npy by extension (default: CSV on standard output)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gaussmix`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        With one subparser per subcommand (demo, fit, predict, sample, score, plot).
    """
    from ._version import __version__

    parser = _Parser(
        prog="gaussmix",
        description="Gaussian mixture models and Gaussian mixture regression from the shell.",
        epilog=(
            "examples:\n"
            "  gaussmix demo --output figures\n"
            "  gaussmix fit data.csv -k 5 -o model.json\n"
            "  gaussmix predict model.json inputs.csv --given 0 --std -o predictions.csv\n"
            "  gaussmix sample model.json -n 1000 --seed 0 -o samples.npy\n"
            "  gaussmix score model.json data.csv\n"
            "  gaussmix plot model.json data.csv -o model.png\n\n"
            "exit status: 0 success, 1 unreadable or unfitting file, 2 wrong command line"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gaussmix {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    demo = command(
        "demo",
        "fit a GMR on built-in multimodal data and write a PNG",
        "Fit a Gaussian mixture regression on a built-in data set whose inverse is\n"
        "multimodal (Bishop's x = y + 0.3 sin(2 pi y)), print a short summary and write\n"
        "gaussmix_demo.png: data, error ellipses, regression curve with a ±2 std\n"
        "confidence band, and the conditional density p(y | x).",
    )
    demo.add_argument(
        "--output", "-o", default=".", metavar="DIR", help="directory of the PNG (default: .)"
    )
    demo.set_defaults(handler=_cmd_demo)

    fit = command(
        "fit",
        "fit a GMM to data by EM and save it",
        "Fit a Gaussian mixture with K components to DATA (one sample per row) by\n"
        "expectation maximization. Stops after the iteration whose mean log-likelihood\n"
        "changed by less than --tol. A summary goes to standard error; the model to\n"
        "MODEL, or as JSON to standard output without -o.",
    )
    fit.add_argument("data", metavar="DATA", help=_DATA_HELP)
    fit.add_argument(
        "-k",
        "--n-components",
        dest="k",
        type=_positive_int,
        required=True,
        metavar="K",
        help="number of components",
    )
    fit.add_argument(
        "-o",
        "--output",
        metavar="MODEL",
        help="model file, .json or .npz (default: JSON on standard output)",
    )
    fit.add_argument(
        "--covariance-type",
        default="full",
        choices=COVARIANCE_TYPES,
        help="covariance structure (default: full)",
    )
    fit.add_argument(
        "--init",
        default="kmeans++",
        choices=INIT_PARAMS,
        help="initialization of the means (default: kmeans++)",
    )
    fit.add_argument(
        "--n-iter",
        type=_positive_int,
        default=100,
        metavar="N",
        help="maximum EM iterations per run (default: 100)",
    )
    fit.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="number of runs from different initializations; the best "
        "likelihood is kept (default: 1)",
    )
    fit.add_argument(
        "--tol",
        type=_tolerance,
        default=1e-3,
        metavar="TOL",
        help="convergence tolerance on the change of the mean log-likelihood; "
        "'none' runs all iterations (default: 1e-3)",
    )
    fit.add_argument(
        "--reg-covar",
        type=_non_negative_float,
        default=1e-6,
        metavar="R",
        help="added to every covariance's diagonal (default: 1e-6)",
    )
    fit.add_argument(
        "--allow-missing",
        action="store_true",
        help="treat NaN entries of DATA as missing values and fit with the EM for "
        "incomplete data (Ghahramani & Jordan 1994)",
    )
    fit.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        metavar="S",
        help="random seed of the initialization (default: fresh randomness)",
    )
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on standard error (default: when it is a terminal)",
    )
    fit.set_defaults(handler=_cmd_fit)

    predict = command(
        "predict",
        "predict the other dimensions from known ones (GMR)",
        "Gaussian mixture regression: for every row of DATA, the mean of the model's\n"
        "dimensions not in --given conditioned on the row's values.\n\n"
        "Output columns (CSV header names in brackets), for outputs o1 < o2 < ... (the\n"
        "model dimensions not in COLS, in increasing order):\n"
        "  means:        E[o1 | row], E[o2 | row], ...             [dim<o1>, dim<o2>, ...]\n"
        "  with --std:   then the standard deviations of the same   [std_dim<o1>, ...]\n"
        "                outputs under the conditional mixture (square roots of the\n"
        "                diagonal of its covariance, law of total covariance)\n\n"
        "example: a 3-D model, --given 0 -> columns dim1,dim2[,std_dim1,std_dim2]",
    )
    predict.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    predict.add_argument("data", metavar="DATA", help=_DATA_HELP)
    predict.add_argument(
        "--given",
        required=True,
        metavar="COLS",
        help="comma-separated 0-based model dimensions held by DATA's "
        "columns, in order (e.g. 0 or 0,2)",
    )
    predict.add_argument("-o", "--output", metavar="OUT", help=_OUT_HELP)
    predict.add_argument(
        "--std",
        action="store_true",
        help="append the predictive standard deviations as extra columns",
    )
    predict.set_defaults(handler=_cmd_predict)

    sample = command(
        "sample",
        "draw samples from a model",
        "Draw N samples from the mixture in MODEL; columns dim0, dim1, ...",
    )
    sample.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    sample.add_argument(
        "-n",
        "--n-samples",
        dest="n",
        type=_non_negative_int,
        required=True,
        metavar="N",
        help="number of samples",
    )
    sample.add_argument("-o", "--output", metavar="OUT", help=_OUT_HELP)
    sample.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        metavar="S",
        help="random seed (default: fresh randomness)",
    )
    sample.set_defaults(handler=_cmd_sample)

    score = command(
        "score",
        "mean log-likelihood, BIC and AIC of data under a model",
        "Print the number of samples, the mean log-likelihood of DATA under MODEL and\n"
        "the information criteria BIC and AIC (lower is better), one per line.",
    )
    score.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    score.add_argument("data", metavar="DATA", help=_DATA_HELP)
    score.set_defaults(handler=_cmd_score)

    plot = command(
        "plot",
        "plot a model (and data) to an image",
        "Draw the model: its density (1 dimension), error ellipses of every component\n"
        "(2 dimensions) or a grid of all pairs of dimensions (more), over DATA if given.",
    )
    plot.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    plot.add_argument("data", metavar="DATA", nargs="?", help=_DATA_HELP)
    plot.add_argument(
        "-o", "--output", required=True, metavar="PNG", help="image file (.png, .pdf or .svg)"
    )
    plot.add_argument(
        "--dims",
        metavar="COLS",
        help="comma-separated dimensions to show (default: all, at most 5)",
    )
    plot.add_argument("--dpi", type=_positive_int, default=100, help="resolution (default: 100)")
    plot.set_defaults(handler=_cmd_plot)
    return parser


# ----------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gaussmix`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 for a file problem, 2 for a wrong command line.
    """
    debug = os.environ.get("GAUSSMIX_DEBUG", "") not in ("", "0")
    parser = build_parser()
    args = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                args = parser.parse_args(argv)
                status = args.handler(args)
            finally:
                for warning in caught:
                    # Our own advice (e.g. ConvergenceWarning); library deprecations stay quiet.
                    if issubclass(warning.category, (UserWarning, RuntimeWarning)):
                        print(f"gaussmix: warning: {warning.message}", file=sys.stderr)
        return status
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        if debug:
            raise
        message = str(exc)
        if not message.startswith("gaussmix"):  # raised by a subcommand, not by argparse
            command = getattr(args, "command", None)
            prog = "gaussmix" if command is None else f"gaussmix {command}"
            message = f"{prog}: error: {message} (see '{prog} --help')"
        print(message, file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader of our standard output went away (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_DATA
    except KeyboardInterrupt:
        print("gaussmix: interrupted", file=sys.stderr)
        return 130
    except (DataError, ValueError, TypeError, OSError) as exc:
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"gaussmix: error: {message}", file=sys.stderr)
        return EXIT_DATA
