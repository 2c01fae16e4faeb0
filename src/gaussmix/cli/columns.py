"""Columns of the command line: picking them by name or index, matching them to a model.

``--columns`` and ``--given`` take a comma-separated list of header names or
0-based indices; a name holding a comma is quoted as in CSV (``'"a,b",c'``).
A field that is a header name is a name, even if it looks like a number.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from .files import DataError, UsageError


def parse_list(text: str, option: str) -> list[str]:
    """The fields of a comma-separated option value (CSV quoting), stripped.

    Raises
    ------
    UsageError
        For an empty list or an empty field.
    """
    try:
        fields = [field.strip() for field in next(csv.reader([text], skipinitialspace=True))]
    except (csv.Error, StopIteration):
        fields = []
    if not fields or any(not field for field in fields):
        raise UsageError(
            f"{option} must be a comma-separated list of column names or 0-based indices "
            f"such as 0,2 or height,weight; got {text!r}"
        )
    return fields


def resolve(
    fields: Sequence[str], names: Sequence[str] | None, n_columns: int, option: str, what: str
) -> list[int]:
    """0-based positions of ``fields`` among ``n_columns`` columns called ``names``.

    Parameters
    ----------
    fields : sequence of str
        Names or integer indices (negative ones count from the end).
    names : sequence of str or None
        The columns' names, if known.
    n_columns : int
    option : str
        The option for messages (``--columns``).
    what : str
        What the columns are, for messages ("DATA's columns", "the model's dimensions").

    Raises
    ------
    UsageError
        An unknown name, an index out of range, or a column named twice.
    """
    positions = []
    lookup = {} if names is None else {name: j for j, name in enumerate(names)}
    for field in fields:
        if field in lookup:
            positions.append(lookup[field])
            continue
        try:
            index = int(field)
        except ValueError:
            known = "no names" if names is None else ", ".join(map(repr, names))
            raise UsageError(
                f"{option}: {field!r} is neither an index nor a name of {what} ({known})"
            ) from None
        if not -n_columns <= index < n_columns:
            raise UsageError(
                f"{option}: index {index} is out of range; {what} are 0 to {n_columns - 1}"
            )
        positions.append(index % n_columns)
    if len(set(positions)) != len(positions):
        raise UsageError(f"{option} must not repeat a column; got {', '.join(fields)}")
    return positions


def column_selector(text: str | None, source: str) -> Any:
    """``select(names, n_columns)`` for :func:`~gaussmix.cli.files.read_table` from ``--columns``.

    None (all columns) when ``text`` is None.
    """
    if text is None:
        return None
    fields = parse_list(text, "--columns")

    def select(names: list[str] | None, n_columns: int) -> list[int]:
        return resolve(fields, names, n_columns, "--columns", f"{source}'s columns")

    return select


def by_feature_names(model: Any, dims: Sequence[int] | None = None) -> Any:
    """``select(names, n_columns)`` reading only the columns named like the model's features.

    With a header row holding the names of the model's features ``dims``
    (default all), only those columns are read, in that order, so other
    columns may hold text (an id, a class label); otherwise every column.
    """
    features = getattr(model, "feature_names_", None)

    def select(names: list[str] | None, n_columns: int) -> list[int]:
        if names is None or features is None:
            return list(range(n_columns))
        wanted = [features[j] for j in (range(len(features)) if dims is None else dims)]
        lookup = {name: j for j, name in enumerate(names)}
        if all(name in lookup for name in wanted):
            return [lookup[name] for name in wanted]
        return list(range(n_columns))

    return select


def model_columns(model: Any, data: np.ndarray, names: list[str] | None, source: str) -> list[int]:
    """Positions of DATA's columns that hold the model's dimensions, in the model's order.

    With a header row and a model that knows its feature names, the columns
    are found by name (others ignored, any order); otherwise DATA must have
    exactly one column per dimension.

    Raises
    ------
    DataError
        If a feature of the model is not among DATA's names, or the number of
        columns differs.
    """
    features = getattr(model, "feature_names_", None)
    d = model.n_features
    if names is not None and features is not None and list(names) != list(features):
        lookup = {name: j for j, name in enumerate(names)}
        absent = [name for name in features if name not in lookup]
        if not absent:
            return [lookup[name] for name in features]
        if data.shape[1] != d:
            raise DataError(
                f"{source} has no column(s) {', '.join(map(repr, absent))} of the model's "
                f"features ({', '.join(map(repr, features))})"
            )
    if data.shape[1] != d:
        raise DataError(f"{source} has {data.shape[1]} column(s) but the model has {d} dimensions")
    return list(range(d))


def given_dimensions(model: Any, given_text: str) -> list[int]:
    """The model dimensions ``--given`` names (by feature name or index).

    Raises
    ------
    UsageError
        For a wrong ``--given``, or one that leaves nothing to predict.
    """
    d = model.n_features
    features = getattr(model, "feature_names_", None)
    given = resolve(
        parse_list(given_text, "--given"), features, d, "--given", "the model's dimensions"
    )
    if len(given) >= d:
        raise UsageError(
            f"--given must leave at least one of the model's {d} dimensions to predict; "
            f"got {given_text}"
        )
    return given


def given_columns(
    model: Any,
    given: list[int],
    given_text: str,
    data: np.ndarray,
    names: list[str] | None,
    source: str,
) -> np.ndarray:
    """DATA's columns holding the ``given`` model dimensions, in that order.

    DATA holds them as exactly those columns in order, or, with a header row,
    as the columns of the same names, or as all the model's dimensions.

    Raises
    ------
    DataError
        If DATA's columns cannot be matched to the given dimensions.
    """
    d = model.n_features
    features = getattr(model, "feature_names_", None)
    if data.shape[1] == len(given):
        return data
    if names is not None and features is not None:
        lookup = {name: j for j, name in enumerate(names)}
        wanted = [features[j] for j in given]
        if all(name in lookup for name in wanted):
            return data[:, [lookup[name] for name in wanted]]
    if data.shape[1] == d:
        return data[:, given]
    raise DataError(
        f"{source} has {data.shape[1]} column(s) but --given names {len(given)} "
        f"dimension(s) ({given_text}); give one column per given dimension, the model's "
        "columns by header name, or all of its dimensions"
    )
