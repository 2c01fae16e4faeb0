"""Delimited text tables of the command line: CSV, TSV and whitespace-separated files.

The dialect (delimiter, quoting) is sniffed with Python's :mod:`csv` module on
the first lines, a header row is recognised by a field that is not a number,
and the body is read by ``numpy.loadtxt`` (numpy's C parser, several times
faster than parsing cells in Python). Bodies that parser cannot read (missing
cells, decimal commas, quoted fields with delimiters, ragged rows) are read
again with :mod:`csv`, which also names the data row and file line of any
problem.

Rows are counted two ways, and messages always say which: *data rows* count
from 1 at the first row after the header (comments and blank lines not
counted; they are the rows of the array), *lines* are physical lines of the
file, from 1.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

#: Cells that mean "missing" (compared lowercase, stripped); float() reads "nan" itself.
MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "null"})
#: Delimiters the sniffer may choose; anything else is whitespace-separated or one column.
DELIMITERS = ",;\t|"
#: Characters read to sniff the dialect and find the header.
_HEAD_CHARS = 1 << 16
#: Lines of the head the dialect is sniffed on.
_SNIFF_LINES = 50


class TableError(ValueError):
    """A delimited file that cannot be read as a numeric table."""


@dataclass(frozen=True)
class Layout:
    """Where the body of a table starts and how its fields are separated.

    Attributes
    ----------
    delimiter : str or None
        One character, or None for runs of whitespace.
    quoting : bool
        Whether the head holds double quotes (RFC 4180 quoting).
    names : list of str or None
        The header row's names, stripped; None without a header row.
    body_line : int
        The 1-based file line where the data rows start.
    n_columns : int
        Fields per row (of the header, or of the first data row).
    """

    delimiter: str | None
    quoting: bool
    names: list[str] | None
    body_line: int
    n_columns: int


def _strip_comment(line: str) -> str:
    # A '#' starts a comment outside quotes only; a quoted header name keeps its '#'.
    if "#" not in line:
        return line
    if '"' not in line:
        return line.split("#", 1)[0]
    inside = False
    for i, char in enumerate(line):
        if char == '"':
            inside = not inside
        elif char == "#" and not inside:
            return line[:i]
    return line


def _is_comment_or_blank(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def is_number(field: str) -> bool:
    """Whether a stripped field is a number or a missing cell."""
    if field.lower() in MISSING_CELLS:
        return True
    try:
        float(field)
    except ValueError:
        return False
    return True


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]


def _sniff(lines: list[str]) -> str | None:
    """The delimiter of the sample lines: csv.Sniffer's, checked; else a consistent one."""
    sample = "\n".join(lines)
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = None
    candidates = [delimiter] if delimiter else []
    candidates += [c for c in DELIMITERS if c != delimiter]
    for candidate in candidates:
        counts = {len(_split(line, candidate)) for line in lines}
        if len(counts) == 1 and counts.pop() > 1:
            return candidate
    counts = {len(line.split()) for line in lines}
    if len(counts) == 1 and counts.pop() > 1:
        return None  # whitespace-separated
    return ","  # one column


def detect_layout(head: str, *, delimiter: str | None = None, complete: bool = True) -> Layout:
    """Sniff the dialect and the header row from the first characters of a table.

    Parameters
    ----------
    head : str
        The start of the text (the whole text when short).
    delimiter : str, optional
        Use this delimiter instead of sniffing (e.g. a tab for .tsv files).
    complete : bool, default=True
        Whether ``head`` is the whole text; if not, its last line may be cut
        and is not sniffed.

    Returns
    -------
    layout : Layout

    Raises
    ------
    TableError
        If there is no row at all.
    """
    lines = head.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    first = next((i for i, line in enumerate(lines) if not _is_comment_or_blank(line)), None)
    if first is None:
        raise TableError("no data rows")
    # The first line as it is: a '#' in a header name is part of the name.
    rest = [_strip_comment(line) for line in lines[first + 1 :] if not _is_comment_or_blank(line)]
    sample = [lines[first]] + [line for line in rest[: _SNIFF_LINES - 1] if line.strip()]
    if delimiter is None:
        delimiter = _sniff(sample)
    quoting = '"' in head
    # The first record may span lines (a quoted name with a line break, RFC 4180).
    reader = csv.reader(io.StringIO("\n".join(lines[first:])), delimiter=delimiter or " ")
    if delimiter is None:
        fields = lines[first].split()
        record_lines = 1
    else:
        try:
            fields = [field.strip() for field in next(reader)]
        except csv.Error as exc:
            raise TableError(f"line {first + 1}: {exc}") from None
        record_lines = reader.line_num
    first_row = _split(_strip_comment(lines[first]), delimiter)
    if all(is_number(field) for field in fields) or all(is_number(f) for f in first_row):
        return Layout(delimiter, quoting, None, first + 1, len(first_row))
    names = [field.strip() for field in fields]
    return Layout(delimiter, quoting, names, first + 1 + record_lines, len(names))


@dataclass
class _Record:
    data_row: int
    line: int
    fields: list[str]


def _records(text_lines: Iterator[str], layout: Layout) -> Iterator[_Record]:
    """The body's records with their data-row and first-line numbers (comments skipped).

    Raises
    ------
    TableError
        For a quoted field that never ends or that csv cannot read.
    """
    line_number = layout.body_line - 1
    data_row = 0
    pending: list[str] = []
    start = line_number + 1
    for line in text_lines:
        line_number += 1
        line = line.rstrip("\r\n")
        if not pending:
            start = line_number
            if _is_comment_or_blank(line):
                continue
            line = _strip_comment(line)
            if not line.strip():
                continue
        pending.append(line)
        if layout.delimiter is None:
            fields = pending[0].split()
        else:
            text = "\n".join(pending)
            if text.count('"') % 2:  # a quoted field runs on to the next line
                continue
            try:
                fields = [f.strip() for f in next(csv.reader([text], delimiter=layout.delimiter))]
            except csv.Error as exc:
                raise TableError(f"data row {data_row + 1} (line {start}): {exc}") from None
        pending = []
        data_row += 1
        yield _Record(data_row, start, fields)
    if pending:
        raise TableError(f"data row {data_row + 1} (line {start}): a quoted field is never closed")


def _column_name(layout: Layout, j: int) -> str:
    if layout.names is not None and j < len(layout.names) and layout.names[j]:
        return f"{j} ({layout.names[j]!r})"
    return str(j)


def _decimal_comma(layout: Layout) -> bool:
    return layout.delimiter in (";", "\t", None)


def _value(field: str, decimal_comma: bool) -> float:
    """A field as a float: a number (float() strips spaces), NaN for a missing cell."""
    try:
        return float(field)
    except ValueError:
        if field.strip().lower() in MISSING_CELLS:
            return float("nan")
        if decimal_comma and field.count(",") == 1:
            return float(field.replace(",", "."))
        raise


def parse_records(
    text_lines: Iterator[str], layout: Layout, source: str, usecols: list[int] | None = None
) -> np.ndarray:
    """The body as floats, cell by cell, naming the data row and line of any problem.

    Parameters
    ----------
    text_lines : iterator of str
        The lines of the body, from ``layout.body_line`` on.
    layout : Layout
    source : str
        The file name for messages.
    usecols : list of int, optional
        The columns to convert (others are only counted); default all.

    Returns
    -------
    data : ndarray, shape (n_rows, len(usecols))

    Raises
    ------
    TableError
        A row with another number of fields than the first (or the header),
        or a field that is neither a number nor a missing cell.
    """
    decimal_comma = _decimal_comma(layout)
    rows: list[list[float]] = []
    n_columns = None if layout.names is None else len(layout.names)
    for record in _records(text_lines, layout):
        where = f"{source}: data row {record.data_row} (line {record.line})"
        if n_columns is None:
            n_columns = len(record.fields)
        if len(record.fields) != n_columns:
            expected = (
                f"the header has {n_columns} names"
                if layout.names is not None
                else f"the first data row has {n_columns}"
            )
            raise TableError(f"{where} has {len(record.fields)} fields; {expected}")
        fields = record.fields if usecols is None else [record.fields[j] for j in usecols]
        try:
            rows.append([_value(field, decimal_comma) for field in fields])
        except ValueError:
            columns = range(len(record.fields)) if usecols is None else usecols
            j = next(j for j in columns if not _parses(record.fields[j], decimal_comma))
            raise TableError(
                f"{where}, column {_column_name(layout, j)}: {record.fields[j]!r} is not a "
                "number (missing cells may be empty, NA, N/A or NaN; --columns picks numeric "
                "columns)"
            ) from None
    if not rows:
        raise TableError(
            f"{source}: only a header row, no data rows"
            if layout.names is not None
            else f"{source}: no data rows"
        )
    width = n_columns if usecols is None else len(usecols)
    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


def _parses(field: str, decimal_comma: bool) -> bool:
    try:
        _value(field, decimal_comma)
    except ValueError:
        return False
    return True


def fast_body(
    stream: io.TextIOBase,
    layout: Layout,
    *,
    cells: bool = False,
    usecols: list[int] | None = None,
) -> np.ndarray | None:
    """The body read by ``numpy.loadtxt``, or None when it cannot read it.

    ``stream`` is positioned at the start of the text; the lines before the
    body are skipped. With ``cells``, every field goes through
    :func:`_value` (missing cells, decimal commas; about 1.3x slower). None
    (read again with :func:`parse_records`) for bad fields, quoted
    delimiters or ragged rows.
    """
    converters = None
    if cells:
        decimal_comma = _decimal_comma(layout)

        def converters(field: str) -> float:
            return _value(field, decimal_comma)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's "input contained no data"
        try:
            data = np.loadtxt(
                stream,
                delimiter=layout.delimiter,
                skiprows=layout.body_line - 1,
                comments="#",
                quotechar='"' if layout.quoting else None,
                dtype=np.float64,
                ndmin=2,
                converters=converters,
                usecols=usecols,
            )
        except (ValueError, IndexError):
            return None
    if data.size == 0:
        return None
    if usecols is not None and data.shape[1] != len(usecols):
        return None
    return data


def _has_cells(head: str, layout: Layout, usecols: list[int] | None) -> bool:
    """Whether the head's body rows hold missing cells or decimal commas (in ``usecols``)."""
    decimal_comma = _decimal_comma(layout)
    lines = head.splitlines()[layout.body_line - 1 : layout.body_line - 1 + _SNIFF_LINES]
    for line in lines:
        if _is_comment_or_blank(line):
            continue
        fields = _split(_strip_comment(line), layout.delimiter)
        if usecols is not None:
            fields = [fields[j] for j in usecols if j < len(fields)]
        for field in fields:
            if field.lower() in MISSING_CELLS or (decimal_comma and "," in field):
                return True
    return False


def read_delimited(
    path: str | None,
    text: str | None = None,
    *,
    delimiter: str | None = None,
    select: Callable[[list[str] | None, int], list[int]] | None = None,
) -> tuple[np.ndarray, list[str] | None, Layout]:
    """A numeric table and its header names from a delimited file or text.

    Parameters
    ----------
    path : str or None
        The file (UTF-8, a byte-order mark is ignored); None reads ``text``.
    text : str, optional
        The table's text (standard input), when ``path`` is None.
    delimiter : str, optional
        Force a delimiter (a tab for .tsv) instead of sniffing it.
    select : callable, optional
        ``select(names, n_columns)`` -> the positions of the columns to read
        (e.g. from ``--columns``); the others are not converted, so they may
        hold text. Default: all columns.

    Returns
    -------
    data : ndarray, shape (n_rows, n_columns)
        NaN for missing cells.
    names : list of str or None
        The header row (of the selected columns), or None.
    layout : Layout

    Raises
    ------
    TableError
        Naming the source, the data row and file line of a bad row.
    """
    source = "<stdin>" if path is None else path

    def opened() -> io.TextIOBase:
        if path is None:
            return io.StringIO(text)
        return open(path, encoding="utf-8-sig", newline="")

    try:
        with opened() as stream:
            head = stream.read(_HEAD_CHARS)
            complete = len(head) < _HEAD_CHARS
        layout = detect_layout(head, delimiter=delimiter, complete=complete)
        names = _named_columns(layout.names)
        usecols = None if select is None else list(select(names, layout.n_columns))
        data = None
        if not _has_cells(head, layout, usecols):
            with opened() as stream:
                data = fast_body(stream, layout, usecols=usecols)
        if data is None:
            with opened() as stream:
                data = fast_body(stream, layout, cells=True, usecols=usecols)
        if data is None:
            with opened() as stream:
                for _ in range(layout.body_line - 1):
                    stream.readline()
                data = parse_records(iter(stream), layout, source, usecols)
    except UnicodeDecodeError:
        raise TableError(f"{source}: not a UTF-8 text file") from None
    except TableError as exc:
        message = str(exc)
        if not message.startswith(source):
            message = f"{source}: {message}"
        raise TableError(message) from None
    if usecols is None and names is not None and len(names) != data.shape[1]:
        raise TableError(
            f"{source}: the header row has {len(names)} names but the rows have "
            f"{data.shape[1]} columns"
        )
    if usecols is not None and names is not None:
        names = [names[j] for j in usecols]
    return data, names, layout


def _named_columns(names: list[str] | None) -> list[str] | None:
    """Header names, an empty one named by its column (pandas writes one for the index).

    Raises
    ------
    TableError
        For a name a model file cannot hold (not printable, or too long).
    """
    if names is None:
        return None
    from ..io.schema import MAX_FEATURE_NAME_LENGTH

    for j, name in enumerate(names):
        if len(name) > MAX_FEATURE_NAME_LENGTH or not name.isprintable():
            raise TableError(
                f"the header row's name of column {j}, {name[:40]!r}, is not 1 to "
                f"{MAX_FEATURE_NAME_LENGTH} printable characters"
            )
    return [name if name else f"column {j}" for j, name in enumerate(names)]


def locate_data_row(path: str, data_row: int, delimiter: str | None = None) -> str:
    """ "data row R (line L)" of a file, for messages about a row found after reading.

    The file is read again up to that row (only when a message needs it).
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            head = stream.read(_HEAD_CHARS)
        layout = detect_layout(head, delimiter=delimiter, complete=len(head) < _HEAD_CHARS)
        with open(path, encoding="utf-8-sig", newline="") as stream:
            for _ in range(layout.body_line - 1):
                stream.readline()
            for record in _records(iter(stream), layout):
                if record.data_row == data_row:
                    return f"data row {data_row} (line {record.line})"
    except (OSError, ValueError):
        pass
    return f"data row {data_row}"


def format_table(
    array: np.ndarray, names: list[str] | None, delimiter: str = ","
) -> Iterator[str]:
    """Lines of a delimited table: the names (quoted where RFC 4180 needs it), then rows.

    Numbers are written with ``repr`` (the shortest text that reads back
    exactly); NaN is written as an empty cell.
    """
    if names is not None:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(names)
        yield buffer.getvalue()
    for row in array.tolist():
        yield delimiter.join("" if value != value else repr(value) for value in row)
