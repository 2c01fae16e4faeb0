"""Data and model files of the command line: reading, checking, writing tables; its errors."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import read_npy_header

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


# Cells that mean "missing" in CSV files (empty, R's NA, N/A); float() reads NaN itself.
_MISSING_CELLS = ("", "na", "n/a")


def _cell(field: str) -> float:
    """A CSV cell as a float: a number, or NaN for a missing cell."""
    if field.lower() in _MISSING_CELLS:
        return float("nan")
    return float(field)


def _is_number(field: str) -> bool:
    try:
        _cell(field)
    except ValueError:
        return False
    return True


def _parse_csv(text: str, source: str) -> np.ndarray:
    return _parse_csv_table(text, source)[0]


def _parse_csv_table(text: str, source: str) -> tuple[np.ndarray, list[str] | None]:
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

    header = None
    if not all(_is_number(f) for f in fields(lines[0][1])):
        header = fields(lines[0][1])
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
            data[row] = [_cell(v) for v in values]
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise DataError(f"{source}: line {number}: {bad!r} is not a number") from None
    if header is not None and len(header) != n_columns:
        raise DataError(
            f"{source}: the header row has {len(header)} names but the rows have "
            f"{n_columns} columns"
        )
    return data, header


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


def read_table(path: str, *, memory_map: bool = False) -> tuple[np.ndarray, list[str] | None]:
    """Like :func:`read_data`, and the CSV's header row (column names), or None without one.

    Parameters
    ----------
    path : str
    memory_map : bool, default=False

    Returns
    -------
    data : ndarray, shape (n_rows, n_columns)
    header : list of str or None
        None for .npy files and CSV text without a header row.
    """
    if path == "-":
        return _parse_csv_table(sys.stdin.read(), "<stdin>")
    if _suffix(path, _DATA_EXTENSIONS, "DATA") == ".npy":
        return read_data(path, memory_map=memory_map), None
    _readable(path)
    return _parse_csv_table(_text(path), path)


def _readable(path: str) -> Path:
    file_path = Path(path)
    if not file_path.exists():
        raise DataError(f"data file not found: {path}")
    if not file_path.is_file():
        # A device (e.g. a link to /dev/zero), FIFO or directory: never read it.
        raise DataError(f"{path} is not a regular file; DATA must be a .csv, .txt or .npy file")
    return file_path


def _text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file") from None


def read_data(path: str, *, memory_map: bool = False) -> np.ndarray:
    """Read a numeric 2-D table from a .csv/.txt/.npy file, or CSV from stdin ("-").

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
        return _parse_csv(sys.stdin.read(), "<stdin>")
    suffix = _suffix(path, _DATA_EXTENSIONS, "DATA")
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
    return _parse_csv(_text(path), path)


def _finite(data: np.ndarray, source: str, rows: int = 1 << 16) -> np.ndarray:
    # Block by block: a memory-mapped file is checked without a mask of its size.
    for start in range(0, data.shape[0], rows):
        bad = np.argwhere(~np.isfinite(data[start : start + rows]))
        if bad.size:
            row, col = bad[0]
            row += start
            raise DataError(
                f"{source}: row {row + 1}, column {col + 1} is {data[row, col]}; "
                "only finite numbers are allowed"
            )
    return data


def _format_rows(array: np.ndarray) -> list[str]:
    return [",".join(map(repr, row)) for row in array.tolist()]


def write_table(array: np.ndarray, path: str | None, columns: Sequence[str] | None) -> None:
    """Write a 2-D array as CSV (with a header row) or .npy; CSV to stdout when path is None.

    Parameters
    ----------
    array : ndarray, shape (n_rows, n_columns)
    path : str or None
        Output file; the extension (.csv or .npy) picks the format.
    columns : sequence of str or None
        Header of the CSV, one name per column; None writes no header row.
    """
    if path is not None and Path(path).suffix.lower() == ".npy":
        np.save(path, array)
        return
    rows = _format_rows(array)
    lines = rows if columns is None else [",".join(columns), *rows]
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
    from ..gmm import GMM
    from ..io import load_model
    from ..mvn import MVN

    _suffix(path, _MODEL_EXTENSIONS, "MODEL")
    try:
        model = load_model(path)
    except FileNotFoundError:
        raise DataError(f"model file not found: {path}") from None
    if isinstance(model, MVN):
        mean, covariance = model.checked_parameters()
        model = GMM(1, priors=[1.0], means=mean[None], covariances=covariance[None])
    return model


def _columns(indices: Sequence[int], prefix: str = "") -> list[str]:
    return [f"{prefix}dim{j}" for j in indices]
