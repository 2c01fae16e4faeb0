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

Layout: :mod:`.parser` (arguments, ``main``), :mod:`.commands` (one function per
subcommand), :mod:`.files` (data and model files, errors), :mod:`.progress`
(the progress bar).
"""

from .commands import fit_gmm, run_demo
from .files import EXIT_DATA, EXIT_USAGE, DataError, UsageError, read_data, write_table
from .parser import build_parser, main
from .progress import ProgressBar

__all__ = [
    "EXIT_DATA",
    "EXIT_USAGE",
    "DataError",
    "ProgressBar",
    "UsageError",
    "build_parser",
    "fit_gmm",
    "main",
    "read_data",
    "run_demo",
    "write_table",
]
