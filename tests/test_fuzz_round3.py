"""Fuzzing issue 26's kinds of hostile input (bounded: a few hundred examples in all).

- array-likes no float64 array can hold (integers beyond float64, complex numbers,
  strings, ragged lists, None) in every public entry point: a result or a
  ValueError/TypeError, never another exception;
- gmr's helper functions with arbitrary index lists: the closed form or a ValueError;
- delimited tables in random dialects with hostile header names, written by Python's
  csv module: read back exactly;
- arbitrary text as a data file: exit status 0, 1 or 2 with one line on standard error.
"""

from __future__ import annotations

import csv
import io
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import gaussmix
from gaussmix import GMM, MVN, datasets
from gaussmix import mvn as mvn_module
from gaussmix.cli import main
from gaussmix.cli.delimited import is_number
from gaussmix.cli.files import read_table

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _gmm() -> GMM:
    return GMM(
        2,
        priors=[0.4, 0.6],
        means=[[0.0, 1.0], [2.0, -1.0]],
        covariances=[np.eye(2), [[2.0, 0.3], [0.3, 1.0]]],
        random_state=0,
    )


def _mvn() -> MVN:
    return MVN(mean=[0.0, 1.0], covariance=[[2.0, 0.3], [0.3, 1.0]], random_state=0)


# One hostile entry among ordinary numbers, or a hostile container.
_hostile_scalar = st.one_of(
    st.integers(min_value=10**309, max_value=10**1000),
    st.integers(max_value=-(10**309), min_value=-(10**1000)),
    st.complex_numbers(allow_nan=False, min_magnitude=1e-3),
    st.text(max_size=5),
    st.none(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.sampled_from([1e308, -1e308, 1e200, 5e-324]),
)


@st.composite
def _hostile_points(draw, d: int = 2):
    kind = draw(st.sampled_from(["entry", "ragged", "empty", "scalar", "deep"]))
    if kind == "entry":
        rows = draw(st.integers(1, 3))
        X = [[draw(st.floats(-5, 5)) for _ in range(d)] for _ in range(rows)]
        X[draw(st.integers(0, rows - 1))][draw(st.integers(0, d - 1))] = draw(_hostile_scalar)
        return X
    if kind == "ragged":
        return [[0.0] * d, [0.0] * (d + 1)]
    if kind == "empty":
        return draw(st.sampled_from([[], [[]], np.empty((0, d)), np.empty((2, 0))]))
    if kind == "scalar":
        return draw(_hostile_scalar)
    return [[[0.0] * d]]


def _entry_points(X):
    gmm, mvn = _gmm(), _mvn()
    return {
        "GMM.score_samples": lambda: gmm.score_samples(X),
        "GMM.to_responsibilities": lambda: gmm.to_responsibilities(X),
        "GMM.predict": lambda: gmm.predict([0], X),
        "GMM.condition": lambda: gmm.condition([0], X),
        "GMM.impute": lambda: gmm.impute(X),
        "GMM.is_in_confidence_region": lambda: gmm.is_in_confidence_region(X, 0.5),
        "GMM.from_samples": lambda: GMM(1, random_state=0).from_samples(X),
        "MVN.to_probability_density": lambda: mvn.to_probability_density(X),
        "MVN.from_samples": lambda: MVN().from_samples(X),
        "MVN.squared_mahalanobis_distance": lambda: mvn.squared_mahalanobis_distance(X),
        "kmeansplusplus_initialization": lambda: gaussmix.kmeansplusplus_initialization(X, 1),
        "covariance_initialization": lambda: gaussmix.covariance_initialization(X, 1),
        "mvn.condition": lambda: mvn_module.condition([0, 0], np.eye(2), [1], [0], X),
        "mvn.regression_coefficients": lambda: mvn_module.regression_coefficients(X, [1], [0]),
        "conditional_density": lambda: _conditional_density(gmm, X),
        "make_inverse_sine": lambda: datasets.make_inverse_sine(10, noise=X),
    }


def _conditional_density(gmm, X):
    from gaussmix.plot import conditional_density

    return conditional_density(gmm, X, [0.0, 1.0])


@given(X=_hostile_points())
@FAST
def test_hostile_array_likes_give_a_result_or_a_named_error(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, call in _entry_points(X).items():
            try:
                result = call()
            except (ValueError, TypeError) as exc:
                assert str(exc), name
            else:
                values = result if isinstance(result, tuple) else (result,)
                for value in values:
                    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                        assert not np.isnan(value).any(), name


@given(X=_hostile_points())
@settings(max_examples=15, deadline=None)
def test_hostile_array_likes_in_scikit_learn_estimators(X):
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixture, GaussianMixtureRegressor

    fitted = GaussianMixture(1, random_state=0).fit(np.random.default_rng(0).normal(size=(9, 2)))
    regressor = GaussianMixtureRegressor(1, random_state=0).fit(
        np.random.default_rng(0).normal(size=(9, 1)), np.arange(9.0)
    )
    calls = [
        lambda: fitted.score_samples(X),
        lambda: fitted.predict(X),
        lambda: fitted.bic(X),
        lambda: regressor.predict(X),
        lambda: GaussianMixture(1).fit(X),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in calls:
            try:
                call()
            except (ValueError, TypeError):
                pass


_index_lists = st.lists(st.integers(-5, 5), max_size=4)


@given(i_out=_index_lists, i_in=_index_lists)
@FAST
def test_gmr_helpers_with_arbitrary_indices(i_out, i_in):
    cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]])
    try:
        coef = mvn_module.regression_coefficients(cov, i_out, i_in)
    except ValueError as exc:
        assert any(name in str(exc) for name in ("i_out", "i_in"))
        return
    out = [j % 3 for j in i_out]
    inp = [j % 3 for j in i_in]
    assert out and not set(out) & set(inp)
    expected = cov[np.ix_(out, inp)] @ np.linalg.inv(cov[np.ix_(inp, inp)]) if inp else None
    assert coef.shape == (len(out), len(inp))
    if expected is not None:
        np.testing.assert_allclose(coef, expected, rtol=1e-10, atol=1e-12)
    means, cond = mvn_module.condition(np.zeros(3), cov, i_out, i_in, np.ones((2, len(inp))))
    assert means.shape == (2, len(out)) and cond.shape == (len(out), len(out))


# --------------------------------------------------------------------------
# Delimited tables
# --------------------------------------------------------------------------
_name = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 _-.,;|#'\"()%/")), min_size=1, max_size=12
).map(str.strip)


@st.composite
def _tables(draw):
    n_columns = draw(st.integers(1, 4))
    n_rows = draw(st.integers(1, 6))
    values = st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.just(float("nan")),
    )
    X = np.array(
        [[draw(values) for _ in range(n_columns)] for _ in range(n_rows)], dtype=np.float64
    )
    # every row keeps a number (an all-missing row of one column would be a blank line)
    X[np.isnan(X).all(axis=1), 0] = 1.5
    names = None
    if draw(st.booleans()):
        names = draw(st.lists(_name, min_size=n_columns, max_size=n_columns))
        # A header has a name that is not a number; a line starting with '#' is a
        # comment line (as for numpy.loadtxt), and "0 # note" a data row with a comment,
        # so the first name is a word before any '#'.
        assume(all(names) and not is_number(names[0].split("#")[0].strip()))
        # One column cannot show its delimiter: a name holding one is ambiguous.
        assume(n_columns > 1 or not any(c in names[0] for c in ",;\t| "))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    return X, names, delimiter, quoting


@given(table=_tables(), suffix=st.sampled_from([".csv", ".txt"]))
@FAST
def test_tables_written_by_the_csv_module_read_back_exactly(tmp_path, table, suffix):
    X, names, delimiter, quoting = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\n")
    if names is not None:
        writer.writerow(names)
    for row in X.tolist():
        writer.writerow(["" if v != v else repr(v) for v in row])
    path = tmp_path / f"table{suffix}"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    data, header = read_table(str(path))
    assert header == names
    np.testing.assert_array_equal(data, X)


_cell = st.one_of(
    st.sampled_from(["", "NA", "1", "-2.5e3", '"3"', '"a,b"', "#", "x", "nan", "inf", '"']),
    st.text(max_size=4),
)


@given(
    rows=st.lists(st.lists(_cell, min_size=1, max_size=4), min_size=1, max_size=5),
    separator=st.sampled_from([",", ";", "\t", " "]),
    command=st.sampled_from(["score", "fit", "predict", "impute"]),
)
@FAST
def test_arbitrary_text_files_end_in_a_result_or_a_one_line_error(
    tmp_path, rows, separator, command
):
    path = tmp_path / "data.csv"
    path.write_text("\n".join(separator.join(row) for row in rows) + "\n", encoding="utf-8")
    model = tmp_path / "model.json"
    if not model.exists():
        _gmm().save(model)
    argv = {
        "score": ["score", model, path, "--allow-missing"],
        "fit": ["fit", path, "-k", "1", "-o", tmp_path / "fitted.json"],
        "predict": ["predict", model, path, "--given", "0", "--allow-missing"],
        "impute": ["impute", model, path],
    }[command]
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(out), redirect_stderr(err):
        warnings.simplefilter("ignore")
        status = main([str(a) for a in argv])
    assert status in (0, 1, 2)
    if status:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gaussmix") and "Traceback" not in lines[0]
