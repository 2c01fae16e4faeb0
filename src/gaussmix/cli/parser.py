"""The ``gaussmix`` argument parser and entry point."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .. import covariance as structures
from .._validation import INIT_PARAMS
from .commands import (
    cmd_demo,
    cmd_fit,
    cmd_impute,
    cmd_plot,
    cmd_predict,
    cmd_sample,
    cmd_score,
    cmd_select,
)
from .files import EXIT_DATA, EXIT_USAGE, DataError, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (exit status 2) instead of exiting."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


# ----------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------
def _int_at_least(minimum: int, wording: str, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wording}; got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            shown = str(value) if len(str(value)) <= 30 else f"a {len(str(value))}-digit number"
            raise argparse.ArgumentTypeError(f"expected {wording}; got {shown}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")
# Bounds of option values that would otherwise fail deep inside numpy or matplotlib.
_seed = _int_at_least(0, "a seed in [0, 2**32 - 1]", 2**32 - 1)
_sample_count = _int_at_least(0, "an integer >= 0 and at most 2**40 (samples)", 2**40)
_dpi = _int_at_least(1, "a resolution in [1, 1200] dots per inch", 1200)


def _tolerance(text: str) -> float | str | None:
    # The one reading of tol (gaussmix.em.convergence_rule): a number, 'auto'
    # (gmr's R_diff rule, R_diff = 1e-4) or 'none'.
    if text.lower() == "none":
        return None
    if text.lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative number, 'auto' or 'none'; got {text!r}"
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
    "numeric table: .csv, .tsv or .txt (delimiter and quoting sniffed, a header row "
    "detected; empty, NA and NaN cells are missing) or .npy; '-' reads CSV from "
    "standard input"
)


_OUT_HELP = "output file, .csv, .tsv or .npy by extension; '-' or none: CSV on standard output"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gaussmix`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        With one subparser per subcommand (demo, fit, predict, sample, score, plot, select).
    """
    from .._version import __version__

    parser = _Parser(
        prog="gaussmix",
        description="Gaussian mixture models and Gaussian mixture regression from the shell.",
        epilog=(
            "examples:\n"
            "  gaussmix demo --output figures\n"
            "  gaussmix fit data.csv -k 5 -o model.json\n"
            "  gaussmix fit big.npy -k 16 --online -o model.npz\n"
            "  gaussmix predict model.json inputs.csv --given 0 --std -o predictions.csv\n"
            "  gaussmix sample model.json -n 1000 --seed 0 -o samples.npy\n"
            "  gaussmix score model.json data.csv\n"
            "  gaussmix plot model.json data.csv -o model.png\n"
            "  gaussmix select data.csv -k 1-9 --covariance-type all -o best.json\n\n"
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
    demo.set_defaults(handler=cmd_demo)

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
        choices=structures.accepted_names(),
        help="covariance structure (default: full)",
    )
    _add_em_options(
        fit,
        init=("kmeans++", INIT_PARAMS, "initialization of the means (default: kmeans++)"),
        n_init=(1, "number of runs from different initializations; the best likelihood is kept"),
        tol_help="convergence tolerance on the change of the mean log-likelihood; "
        "'auto' uses gmr's rule (change of the responsibilities below 1e-4); "
        "'none' runs all iterations (default: 1e-3)",
        missing_help="treat NaN entries of DATA as missing values and fit with the EM for "
        "incomplete data (Ghahramani & Jordan 1994)",
        seed_help="random seed of the initialization (default: fresh randomness)",
    )
    fit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on standard error (default: when it is a terminal)",
    )
    fit.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="fit on the running Dask cluster whose scheduler is at ADDRESS (e.g. "
        "tcp://scheduler:8786; needs gaussmix[dask]); a .npy DATA is then read by the "
        "workers at the same path (default: fit here, streaming a .npy from the file)",
    )
    fit.add_argument(
        "--online",
        action="store_true",
        help="fit by passes of mini-batches of online (stepwise) EM, reading one batch at a "
        "time: for DATA larger than memory (a .npy is memory-mapped); the first batch is "
        "fitted by EM with --init, --n-iter, --tol and --n-init",
    )
    fit.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows per batch with --online (default: about 4 MiB of rows, at most rows / 32, "
        "at least 1024)",
    )
    fit.add_argument(
        "--passes",
        type=_positive_int,
        default=1,
        metavar="P",
        help="passes over DATA with --online (default: 1)",
    )
    fit.set_defaults(handler=cmd_fit)

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
        help="comma-separated model dimensions DATA holds, by feature name or 0-based "
        "index (e.g. 0,2 or height,weight); DATA gives them as exactly these columns in "
        "order, or by header name, or as all the model's dimensions",
    )
    predict.add_argument("-o", "--output", metavar="OUT", help=_OUT_HELP)
    predict.add_argument(
        "--std",
        action="store_true",
        help="append the predictive standard deviations as extra columns",
    )
    predict.set_defaults(handler=cmd_predict)

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
        type=_sample_count,
        required=True,
        metavar="N",
        help="number of samples",
    )
    sample.add_argument("-o", "--output", metavar="OUT", help=_OUT_HELP)
    sample.add_argument(
        "--seed",
        type=_seed,
        default=None,
        metavar="S",
        help="random seed (default: fresh randomness)",
    )
    sample.set_defaults(handler=cmd_sample)

    score = command(
        "score",
        "mean log-likelihood, BIC and AIC of data under a model",
        "Print the number of samples, the mean log-likelihood of DATA under MODEL and\n"
        "the information criteria BIC and AIC (lower is better), one per line.",
    )
    score.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    score.add_argument("data", metavar="DATA", help=_DATA_HELP)
    score.set_defaults(handler=cmd_score)

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
    plot.add_argument("--dpi", type=_dpi, default=100, help="resolution (default: 100)")
    plot.set_defaults(handler=cmd_plot)
    _add_select(command)
    _add_table_options(commands.choices, command)
    _add_noise_option(commands.choices)
    return parser


def _components(text: str) -> list[int]:
    # "1-9", "2,4,8" or "3": the numbers of components of the grid.
    values: list[int] = []
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected numbers of components such as 1-9, 2,4,8 or 3; got {text!r}"
            ) from None
        if first < 1 or last < first or last > 10_000:
            raise argparse.ArgumentTypeError(
                f"expected a range of positive numbers low-high with low <= high; got {part!r}"
            )
        values.extend(range(first, last + 1))
    return list(dict.fromkeys(values))


def _covariance_types(text: str) -> list[str]:
    if text == "all":
        return list(structures.names())
    types = [part for part in text.replace(" ", "").split(",") if part]
    try:
        if types:
            return list(dict.fromkeys(structures.canonical(t) for t in types))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected 'all' or a comma-separated list of {', '.join(structures.names())}; "
        f"got {text!r}"
    )


def _add_em_options(
    parser: argparse.ArgumentParser,
    *,
    init: tuple[str, tuple[str, ...], str],
    n_init: tuple[int, str],
    tol_help: str,
    missing_help: str,
    seed_help: str,
) -> None:
    """The EM options ``fit`` and ``select`` share: --init, --n-iter, --n-init, --tol,
    --reg-covar, --allow-missing and --seed (defaults and help per command)."""
    init_default, init_choices, init_help = init
    parser.add_argument("--init", default=init_default, choices=init_choices, help=init_help)
    parser.add_argument(
        "--n-iter",
        type=_positive_int,
        default=100,
        metavar="N",
        help="maximum EM iterations per run (default: 100)",
    )
    parser.add_argument(
        "--n-init",
        type=_positive_int,
        default=n_init[0],
        metavar="N",
        help=f"{n_init[1]} (default: {n_init[0]})",
    )
    parser.add_argument("--tol", type=_tolerance, default=1e-3, metavar="TOL", help=tol_help)
    parser.add_argument(
        "--reg-covar",
        type=_non_negative_float,
        default=1e-6,
        metavar="R",
        help="added to every covariance's diagonal (default: 1e-6)",
    )
    parser.add_argument("--allow-missing", action="store_true", help=missing_help)
    parser.add_argument("--seed", type=_seed, default=None, metavar="S", help=seed_help)


def _add_select(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    from ..selection import CRITERIA

    select = command(
        "select",
        "choose the number of components and the covariance type",
        "Fit every combination of -k and --covariance-type to DATA and rank them by\n"
        "--criterion (lower is better): BIC, AIC, ICL (BIC + 2 x the entropy of the\n"
        "responsibilities) or cv (minus the mean held-out log-likelihood of --cv folds).\n"
        "Prints the table with * at the chosen model; degenerate fits (a component on\n"
        "too few rows or narrower than the data's rounding) are marked and never chosen,\n"
        "failing candidates show their error.\n\n"
        "example: gaussmix select data.csv -k 1-9 --covariance-type all -o best.json "
        "--plot bic.png",
    )
    select.add_argument("data", metavar="DATA", help=_DATA_HELP)
    select.add_argument(
        "-k",
        "--n-components",
        dest="k",
        type=_components,
        default=list(range(1, 10)),
        metavar="K",
        help="numbers of components: a range 1-9, a list 2,4,8, or one number (default: 1-9)",
    )
    select.add_argument(
        "--covariance-type",
        type=_covariance_types,
        default=list(structures.default_names()),
        metavar="TYPES",
        help=(
            f"'all' (mclust's 14 models) or a comma-separated list of "
            f"{', '.join(structures.names())} or their mclust codes "
            f"(default: {','.join(structures.default_names())})"
        ),
    )
    select.add_argument(
        "--criterion",
        default="bic",
        choices=[c for c in CRITERIA if c != "r2"],
        help="ranking criterion (default: bic)",
    )
    select.add_argument(
        "--cv",
        type=_int_at_least(2, "an integer >= 2"),
        default=5,
        metavar="N",
        help="folds of --criterion cv (default: 5)",
    )
    select.add_argument(
        "-o", "--output", metavar="MODEL", help="write the chosen model (.json or .npz)"
    )
    select.add_argument(
        "--plot", metavar="FILE", help="write the criterion plot (.png, .pdf, .svg)"
    )
    select.add_argument("--csv", metavar="FILE", help="write the table as CSV")
    _add_em_options(
        select,
        init=(
            "auto",
            (*INIT_PARAMS, "kmeans", "auto"),
            "initialization (default: auto = kmeans from 50,000 rows on, else kmeans++; "
            "kmeans: k-means on a subsample, refined by EM there, fewer iterations on "
            "large data)",
        ),
        n_init=(5, "EM runs per candidate, the best likelihood kept"),
        tol_help="convergence tolerance on the change of the mean log-likelihood (default: 1e-3)",
        missing_help="treat NaN entries of DATA as missing values",
        seed_help="random seed (default: fresh randomness)",
    )
    select.add_argument(
        "--dpi", type=_dpi, default=100, help="resolution of --plot (default: 100)"
    )
    select.set_defaults(handler=cmd_select)


_COLUMNS_HELP = (
    "comma-separated header names or 0-based indices of DATA's columns to use, in that "
    "order (a name holding a comma in double quotes, e.g. '\"a,b\",c'; default: all)"
)


def _add_table_options(
    parsers: dict, command: Callable[[str, str, str], argparse.ArgumentParser]
) -> None:
    """The data-tool options: columns by name, missing values, the impute command."""
    for name in ("fit", "select"):
        parsers[name].add_argument("--columns", metavar="COLS", help=_COLUMNS_HELP)
    for name in ("score", "predict"):
        parsers[name].add_argument(
            "--allow-missing",
            action="store_true",
            help="treat NaN and empty cells of DATA as missing values, marginalized out "
            "(score: the observed-data likelihood; predict: from the observed inputs)",
        )
    impute = command(
        "impute",
        "fill the missing values of data from a model",
        "Replace every missing cell of DATA (empty, NA, N/A or NaN) by its conditional\n"
        "mean given the observed cells of its row under MODEL. Observed values and the\n"
        "header row are written unchanged; with a header, DATA's columns are matched to\n"
        "the model's feature names (other columns are copied as they are).\n\n"
        "example: gaussmix impute model.json gaps.csv -o filled.csv",
    )
    impute.add_argument("model", metavar="MODEL", help="model file (.json or .npz)")
    impute.add_argument("data", metavar="DATA", help=_DATA_HELP)
    impute.add_argument("-o", "--output", metavar="OUT", help=_OUT_HELP)
    impute.set_defaults(handler=cmd_impute)


def _add_noise_option(parsers: dict) -> None:
    """--noise: the rows' known noise covariances (extreme deconvolution)."""
    for name in ("fit", "select"):
        parsers[name].add_argument(
            "--noise",
            metavar="NOISE",
            default=None,
            help="a .npy file of the known noise of DATA's rows (of the columns used): "
            "(n, d) variances, (n, d, d) covariances or (d, d) shared; fits the noise-free "
            "mixture by extreme deconvolution and reports the convolved model's "
            "likelihood (see docs/guide/noisy.rst)",
        )
    parsers["score"].add_argument(
        "--noise",
        metavar="NOISE",
        default=None,
        help="a .npy file of the known noise of DATA's rows: (n, d) variances, (n, d, d) "
        "covariances or (d, d) shared; scores the model convolved with it (a model fitted "
        "with fit --noise)",
    )
    parsers["predict"].add_argument(
        "--noise",
        metavar="NOISE",
        default=None,
        help="a .npy file of the known noise of the --given inputs of DATA's rows: (n, "
        "d_in) variances, (n, d_in, d_in) covariances or (d_in, d_in) shared; the inputs "
        "are noisy measurements and each component conditions with its input covariance "
        "plus that noise",
    )


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
