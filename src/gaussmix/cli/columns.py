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


def select_columns(
    data: np.ndarray, names: list[str] | None, text: str | None, source: str
) -> tuple[np.ndarray, list[str] | None]:
    """DATA's columns chosen by ``--columns`` (all when None), with their names."""
    if text is None:
        return data, names
    positions = resolve(
        parse_list(text, "--columns"), names, data.shape[1], "--columns", f"{source}'s columns"
    )
    chosen = data[:, positions]
    return chosen, None if names is None else [names[j] for j in positions]


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


def given_columns(
    model: Any, given_text: str, data: np.ndarray, names: list[str] | None, source: str
) -> tuple[list[int], np.ndarray]:
    """The model dimensions of ``--given`` and DATA's columns holding them, in that order.

    ``--given`` names model dimensions by feature name or index. DATA holds
    them as exactly those columns in order, or, with a header row, as the
    columns of the same names, or as all the model's dimensions.

    Raises
    ------
    UsageError
        For a wrong ``--given``.
    DataError
        If DATA's columns cannot be matched to the given dimensions.
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
    if data.shape[1] == len(given):
        return given, data
    if names is not None and features is not None:
        lookup = {name: j for j, name in enumerate(names)}
        wanted = [features[j] for j in given]
        if all(name in lookup for name in wanted):
            return given, data[:, [lookup[name] for name in wanted]]
    if data.shape[1] == d:
        return given, data[:, given]
    raise DataError(
        f"{source} has {data.shape[1]} column(s) but --given names {len(given)} "
        f"dimension(s) ({given_text}); give one column per given dimension, the model's "
        "columns by header name, or all of its dimensions"
    )
