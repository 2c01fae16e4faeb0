"""Data and model files of the command line: reading, checking, writing tables; its errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import read_npy_header
from .delimited import TableError, format_table, locate_data_row, read_delimited

EXIT_DATA = 1


EXIT_USAGE = 2


DATA_EXTENSIONS = (".csv", ".tsv", ".txt", ".npy")


OUT_EXTENSIONS = (".csv", ".tsv", ".npy")


#: The OUT that means standard output.
STDOUT = "-"


MODEL_EXTENSIONS = (".json", ".npz")


FIGURE_EXTENSIONS = (".png", ".pdf", ".svg")


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class DataError(Exception):
    """A file is missing, unreadable or does not fit (exit status 1)."""


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


def _check_npy_header(file_path: Path, path: str) -> None:
    """Refuse a .npy whose header declares more data than the file holds (before allocating)."""
    try:
        with open(file_path, "rb") as handle:
            shape, _, dtype = read_npy_header(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = file_path.stat().st_size - offset
    if declared > available:
        raise DataError(
            f"{path}: its header declares shape {shape} ({declared} bytes) but the file "
            f"holds {available} bytes of data"
        )


def read_table(
    path: str, *, memory_map: bool = False, select: Any = None
) -> tuple[np.ndarray, list[str] | None]:
    """Like :func:`read_data`, and the header row's names, or None without one.

    Parameters
    ----------
    path : str
    memory_map : bool, default=False
    select : callable, optional
        ``select(names, n_columns)`` -> positions of the columns to read
        (``--columns``); the other columns of a text file are not converted.

    Returns
    -------
    data : ndarray, shape (n_rows, n_columns)
        NaN for missing cells (empty, NA, N/A, NaN, null).
    header : list of str or None
        None for .npy files and text without a header row.
    """
    if path == "-":
        return _delimited(None, sys.stdin.read(), select=select)
    suffix = _suffix(path, DATA_EXTENSIONS, "DATA")
    if suffix == ".npy":
        data = read_data(path, memory_map=memory_map)
        return (data, None) if select is None else (data[:, select(None, data.shape[1])], None)
    _readable(path)
    return _delimited(path, delimiter="\t" if suffix == ".tsv" else None, select=select)


def _delimited(
    path: str | None, text: str | None = None, delimiter: str | None = None, select: Any = None
) -> tuple[np.ndarray, list[str] | None]:
    try:
        data, names, _layout = read_delimited(path, text, delimiter=delimiter, select=select)
    except TableError as exc:
        raise DataError(str(exc)) from None
    return data, names


def _readable(path: str) -> Path:
    file_path = Path(path)
    if not file_path.exists():
        raise DataError(f"data file not found: {path}")
    if not file_path.is_file():
        # A device (e.g. a link to /dev/zero), FIFO or directory: never read it.
        raise DataError(f"{path} is not a regular file; DATA must be a .csv, .txt or .npy file")
    return file_path


def read_noise(path: str | None) -> np.ndarray | None:
    """The --noise file: a .npy array of noise covariances (checked by the fit), or None.

    Only a regular file is read (a FIFO or a link to a device is refused, as for DATA).
    """
    if path is None:
        return None
    if not path.lower().endswith(".npy"):
        raise DataError(f"--noise must be a .npy file; got {path!r}")
    if not Path(path).exists():
        raise DataError(f"--noise file not found: {path}")
    if not Path(path).is_file():
        raise DataError(f"--noise {path} is not a regular file; give a .npy file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read --noise file {path}: {exc}") from None


def read_data(path: str, *, memory_map: bool = False) -> np.ndarray:
    """Read a numeric 2-D table from a .csv/.txt/.npy file, or CSV from stdin ("-").

    Text files (.csv, .tsv, .txt) are read as described in
    ``gaussmix.cli.delimited``: the dialect is sniffed (.tsv is
    tab-separated), a header row is skipped, quoted fields are understood.

    Parameters
    ----------
    path : str
        File name; ``-`` reads CSV text from standard input.
    memory_map : bool, default=False
        Return a float32 or float64 .npy file memory-mapped (read-only,
        ``np.load(path, mmap_mode="r")``) instead of reading it, so that a
        fit streams it from the file; other dtypes are read and converted.

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
        return read_table(path)[0]
    suffix = _suffix(path, DATA_EXTENSIONS, "DATA")
    file_path = _readable(path)
    if suffix == ".npy":
        _check_npy_header(file_path, path)
        try:
            array = np.load(file_path, allow_pickle=False, mmap_mode="r" if memory_map else None)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable .npy array ({exc})") from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
            raise DataError(f"{path}: must hold a numeric array; got {type(array).__name__}")
        if array.ndim not in (1, 2) or array.size == 0:
            raise DataError(
                f"{path}: must hold a non-empty 1-D or 2-D array; got shape {array.shape}"
            )
        array = array[:, None] if array.ndim == 1 else array
        if memory_map and array.dtype in (np.float32, np.float64):
            return array
        return array.astype(np.float64)
    return read_table(path)[0]


def check_finite(data: np.ndarray, source: str, rows: int = 1 << 16) -> np.ndarray:
    # Block by block: a memory-mapped file is checked without a mask of its size.
    for start in range(0, data.shape[0], rows):
        bad = np.argwhere(~np.isfinite(data[start : start + rows]))
        if bad.size:
            row, col = bad[0]
            row += start
            where = _where(source, int(row) + 1)
            raise DataError(
                f"{source}: {where}, column {col} is {data[row, col]}; "
                "only finite numbers are allowed"
            )
    return data


def _where(source: str, data_row: int) -> str:
    """ "data row R (line L)" of a text file; "row R" of a .npy array or standard input."""
    if source == "-" or Path(source).suffix.lower() not in (".csv", ".tsv", ".txt"):
        return f"data row {data_row}"
    delimiter = "\t" if source.lower().endswith(".tsv") else None
    return locate_data_row(source, data_row, delimiter)


def write_table(array: np.ndarray, path: str | None, columns: Sequence[str] | None) -> None:
    """Write a 2-D array as CSV/TSV (with a header row) or .npy; to stdout for None or "-".

    Parameters
    ----------
    array : ndarray, shape (n_rows, n_columns)
    path : str or None
        Output file; the extension (.csv, .tsv or .npy) picks the format;
        None or "-" writes CSV to standard output.
    columns : sequence of str or None
        Header of the CSV, one name per column (quoted where a name holds a
        delimiter or a quote); None writes no header row. NaN is written as
        an empty cell.
    """
    to_stdout = path is None or path == STDOUT
    suffix = "" if to_stdout else Path(path).suffix.lower()
    if suffix == ".npy":
        np.save(path, array)
        return
    delimiter = "\t" if suffix == ".tsv" else ","
    text = "".join(line + "\n" for line in format_table(array, columns, delimiter))
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(path).write_text(text, encoding="utf-8")


def check_output(path: str | None, allowed: tuple[str, ...], what: str = "OUT") -> None:
    if path is None or path == STDOUT:
        return
    _suffix(path, allowed, what)
    parent = Path(path).parent
    if not parent.is_dir():
        raise DataError(f"cannot write {path}: directory {parent} does not exist")


def read_model(path: str) -> Any:
    """Load a model file as a GMM (an MVN becomes a one-component GMM)."""
    from ..gmm import GMM
    from ..io import load_model
    from ..mvn import MVN

    _suffix(path, MODEL_EXTENSIONS, "MODEL")
    try:
        model = load_model(path)
    except FileNotFoundError:
        raise DataError(f"model file not found: {path}") from None
    if isinstance(model, MVN):
        mean, covariance = model.checked_parameters()
        model = GMM(1, priors=[1.0], means=mean[None], covariances=covariance[None])
    return model


def dim_names(indices: Sequence[int], prefix: str = "") -> list[str]:
    return [f"{prefix}dim{j}" for j in indices]
