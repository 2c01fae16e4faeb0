"""The command line as a data tool (issue 26): CSV shapes, columns by name, missing values.

Tables are written by Python's csv module (the reference writer) in the dialects
people export (pandas-style quoting, semicolons, tabs); the results of score,
predict and impute with missing values are compared with closed forms computed
here from scipy.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix.cli import main
from gaussmix.cli.files import read_table

DATA_DIR = Path(__file__).resolve().parent / "data"
NAMES = ["sepal, length", "width #cm", "height (m)"]


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _data(n: int = 240, missing: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(-2, 0.6, (n // 2, 3)), rng.normal(2, 0.8, (n - n // 2, 3))])
    X[:, 2] += 0.5 * X[:, 0]
    if missing:
        holes = rng.random(X.shape) < missing
        holes[holes.all(axis=1), 0] = False  # every row keeps an observed entry
        X[holes] = np.nan
    return X


def _write(path: Path, X: np.ndarray, names=NAMES, **dialect) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, **dialect)
        if names is not None:
            writer.writerow(names)
        for row in X.tolist():
            writer.writerow(["" if v != v else repr(v) for v in row])
    return path


def _model(tmp_path: Path, names=NAMES) -> tuple[GMM, Path]:
    gmm = GMM(
        2,
        priors=[0.45, 0.55],
        means=[[-2.0, -2.0, -1.0], [2.0, 2.0, 1.0]],
        covariances=[np.eye(3) * 0.4, [[0.6, 0.1, 0.2], [0.1, 0.7, 0.0], [0.2, 0.0, 0.5]]],
    )
    gmm.feature_names_ = names
    path = tmp_path / "model.json"
    gmm.save(path)
    return gmm, path


def _table(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    values = [[float(v) if v else np.nan for v in row] for row in rows[1:]]
    return rows[0], np.array(values)


# ----------------------------------------------------------------------
# CSV shapes
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("suffix", "dialect"),
    [
        (".csv", {}),  # pandas-style: a name with a comma is quoted (RFC 4180)
        (".csv", {"quoting": csv.QUOTE_ALL}),  # quoted numbers
        (".csv", {"quoting": csv.QUOTE_NONNUMERIC}),
        (".csv", {"delimiter": ";"}),
        (".tsv", {"delimiter": "\t"}),
        (".txt", {"delimiter": "\t"}),
        (".csv", {"delimiter": "|"}),
        (".csv", {"lineterminator": "\r\n"}),
    ],
)
def test_tables_in_the_dialects_people_export_read_back_exactly(tmp_path, suffix, dialect):
    """Regression (issue 26): quoted fields, quoted numbers, semicolons, tabs and .tsv failed."""
    X = _data(50)
    path = _write(tmp_path / f"t{suffix}", X, **dialect)
    data, names = read_table(str(path))
    assert names == NAMES
    np.testing.assert_array_equal(data, X)


def test_decimal_commas_in_semicolon_files(tmp_path):
    (tmp_path / "eu.csv").write_text("a;b\n1,5;-2,25\n3;4e-1\n;7\n")
    data, names = read_table(str(tmp_path / "eu.csv"))
    assert names == ["a", "b"]
    np.testing.assert_array_equal(data, [[1.5, -2.25], [3.0, 0.4], [np.nan, 7.0]])


def test_a_hash_in_a_header_name_is_not_a_comment(capsys, tmp_path):
    """Regression (issue 26): 'width #cm' was cut to 'width ' and the save failed."""
    path = _write(tmp_path / "hash.csv", _data(60), names=["x", "width #cm", "z"])
    status, _, err = run(capsys, "fit", path, "-k", "1", "-o", tmp_path / "m.json")
    assert status == 0, err
    assert GMM.load(tmp_path / "m.json").feature_names_ == ["x", "width #cm", "z"]


def test_comments_blank_lines_and_a_byte_order_mark(tmp_path):
    text = "\ufeff# exported\n\nx,y\n1,2  # first\n\n# between\n3,4\n"
    (tmp_path / "c.csv").write_text(text, encoding="utf-8")
    data, names = read_table(str(tmp_path / "c.csv"))
    assert names == ["x", "y"]
    np.testing.assert_array_equal(data, [[1, 2], [3, 4]])


def test_an_unnamed_index_column_gets_a_name(tmp_path):
    (tmp_path / "i.csv").write_text(",a,b\n0,1,2\n1,3,4\n")
    _, names = read_table(str(tmp_path / "i.csv"))
    assert names == ["column 0", "a", "b"]


def test_errors_count_data_rows_and_name_the_file_line(capsys, tmp_path):
    """Regression (issue 26): parse errors numbered file lines, NaN errors data rows."""
    (tmp_path / "bad.csv").write_text("# note\nx,y\n1,2\n\n3,abc\n")
    status, _, err = run(capsys, "fit", tmp_path / "bad.csv", "-k", "1")
    assert status == 1
    assert "data row 2 (line 5), column 1 ('y'): 'abc' is not a number" in err
    (tmp_path / "nan.csv").write_text("# note\nx,y\n1,2\n\n3,\n")
    status, _, err = run(capsys, "fit", tmp_path / "nan.csv", "-k", "1")
    assert status == 1 and "contains NaN" in err
    (tmp_path / "inf.csv").write_text("# note\nx,y\n1,2\n\n3,inf\n")
    status, _, err = run(capsys, "fit", tmp_path / "inf.csv", "-k", "1", "--allow-missing")
    assert status == 1 and "data row 2 (line 5), column 1 is inf" in err


def test_text_columns_are_skipped_with_columns(capsys, tmp_path):
    """mclust's diabetes file: a class column of words, chosen away by name."""
    out = tmp_path / "d.json"
    status, _, err = run(capsys, "fit", DATA_DIR / "diabetes.csv", "-k", "2", "-o", out)
    assert status == 1 and "'Normal' is not a number" in err and "--columns" in err
    status, _, err = run(
        capsys, "fit", DATA_DIR / "diabetes.csv", "-k", "2", "--seed", "0", "--columns",
        "glucose,insulin,sspg", "-o", out,
    )  # fmt: skip
    assert status == 0, err
    assert GMM.load(out).feature_names_ == ["glucose", "insulin", "sspg"]
    reference = np.loadtxt(DATA_DIR / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3))
    status, by_index, _ = run(capsys, "score", out, DATA_DIR / "diabetes.csv")
    assert status == 0
    assert f"mean log-likelihood: {GMM.load(out).score(reference):.10g}" in by_index


def test_columns_by_index_and_by_quoted_name(capsys, tmp_path):
    path = _write(tmp_path / "t.csv", _data(80))
    for columns in ("0,2", '"sepal, length",height (m)', "-3,-1"):
        out = tmp_path / "m.json"
        status, _, err = run(capsys, "fit", path, "-k", "1", f"--columns={columns}", "-o", out)
        assert status == 0, err
        assert GMM.load(out).feature_names_ == ["sepal, length", "height (m)"]
    status, _, err = run(capsys, "fit", path, "-k", "1", "--columns", "nope")
    assert status == 2 and "'nope' is neither an index nor a name" in err


# ----------------------------------------------------------------------
# Missing values through score, predict, impute
# ----------------------------------------------------------------------
def _observed_log_likelihood(gmm: GMM, X: np.ndarray) -> np.ndarray:
    """log p(x_obs) per row from scipy, one row at a time (the reference)."""
    out = []
    for row in X:
        obs = ~np.isnan(row)
        logs = [
            np.log(w) + multivariate_normal(m[obs], c[np.ix_(obs, obs)]).logpdf(row[obs])
            for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
        ]
        out.append(logsumexp(logs))
    return np.array(out)


def test_score_with_missing_values_is_the_observed_data_likelihood(capsys, tmp_path):
    gmm, model = _model(tmp_path)
    X = _data(120, missing=0.2)
    path = _write(tmp_path / "gaps.csv", X)
    status, _, err = run(capsys, "score", model, path)
    assert status == 1 and "--allow-missing" in err
    status, out, err = run(capsys, "score", model, path, "--allow-missing")
    assert status == 0, err
    values = dict(line.split(": ") for line in out.strip().splitlines())
    log_p = _observed_log_likelihood(gmm, X)
    p = 2 * 6 + 2 * 3 + 1
    assert float(values["mean log-likelihood"]) == pytest.approx(log_p.mean(), rel=1e-8)
    assert float(values["BIC"]) == pytest.approx(-2 * log_p.sum() + p * np.log(120), rel=1e-8)
    assert float(values["AIC"]) == pytest.approx(-2 * log_p.sum() + 2 * p, rel=1e-8)


def _conditional_mean(gmm: GMM, given: list[int], x: np.ndarray, out: int) -> float:
    """E[x_out | observed given entries] from the closed form, one row (the reference)."""
    obs = [g for g, v in zip(given, x, strict=True) if v == v]
    values = np.array([v for v in x if v == v])
    if not obs:
        return float(gmm.priors @ gmm.means[:, out])
    logs, means = [], []
    for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True):
        c_oo = c[np.ix_(obs, obs)]
        logs.append(np.log(w) + multivariate_normal(m[obs], c_oo).logpdf(values))
        means.append(m[out] + c[out, obs] @ np.linalg.solve(c_oo, values - m[obs]))
    weights = np.exp(np.array(logs) - logsumexp(logs))
    return float(weights @ np.array(means))


def test_predict_with_missing_inputs_marginalizes_them(capsys, tmp_path):
    gmm, model = _model(tmp_path)
    X = _data(60, missing=0.3, seed=2)[:, :2]
    X[0] = np.nan  # no observed input: the marginal mean
    path = _write(tmp_path / "inputs.csv", X, names=NAMES[:2])
    status, _, err = run(capsys, "predict", model, path, "--given", "0,1")
    assert status == 1 and "--allow-missing" in err
    status, out, err = run(
        capsys, "predict", model, path, "--given", '"sepal, length",width #cm',
        "--allow-missing", "--std",
    )  # fmt: skip
    assert status == 0, err
    header, table = _table(out)
    assert header == ["height (m)", "std_height (m)"]
    expected = [_conditional_mean(gmm, [0, 1], row, 2) for row in X]
    np.testing.assert_allclose(table[:, 0], expected, rtol=1e-9, atol=1e-12)
    assert np.all(table[:, 1] > 0)
    complete = ~np.isnan(X).any(axis=1)
    _, cov = gmm.predict([0, 1], X[complete], return_covariance=True)
    np.testing.assert_allclose(table[complete, 1], np.sqrt(cov[:, 0, 0]), rtol=1e-9)


def test_predict_finds_the_given_columns_by_name_in_a_full_table(capsys, tmp_path):
    gmm, model = _model(tmp_path)
    X = _data(40)
    path = _write(tmp_path / "full.csv", X[:, [2, 1, 0]], names=NAMES[::-1])
    status, out, err = run(capsys, "predict", model, path, "--given", "width #cm,0")
    assert status == 0, err
    header, table = _table(out)
    assert header == ["height (m)"]
    np.testing.assert_allclose(table[:, 0], gmm.predict([1, 0], X[:, [1, 0]])[:, 0], rtol=1e-12)


def test_impute_keeps_observed_values_and_the_header(capsys, tmp_path):
    gmm, model = _model(tmp_path)
    X = _data(90, missing=0.25, seed=3)
    extra = np.arange(90.0)[:, None]  # a column the model does not know, kept as it is
    names = ["id", NAMES[2], NAMES[0], NAMES[1]]
    path = _write(tmp_path / "gaps.csv", np.hstack([extra, X[:, [2, 0, 1]]]), names=names)
    status, out, err = run(capsys, "impute", model, path, "-o", "-")
    assert status == 0, err
    header, table = _table(out)
    assert header == names
    np.testing.assert_array_equal(table[:, 0], extra[:, 0])
    filled = table[:, [2, 3, 1]]
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(filled[observed], X[observed])
    assert not np.isnan(filled).any()
    for i in np.flatnonzero(~observed.all(axis=1))[:10]:
        given = list(np.flatnonzero(observed[i]))
        for j in np.flatnonzero(~observed[i]):
            expected = _conditional_mean(gmm, given, X[i, given], j)
            assert filled[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    status, _, err = run(capsys, "impute", model, path, "-o", tmp_path / "filled.tsv")
    assert status == 0, err
    data, tsv_names = read_table(str(tmp_path / "filled.tsv"))
    assert tsv_names == names
    np.testing.assert_array_equal(data, table)


def test_names_and_missing_values_round_trip_through_every_command(capsys, tmp_path):
    X = _data(200, missing=0.1, seed=4)
    path = _write(tmp_path / "gaps.tsv", X, delimiter="\t")
    fitted, selected = tmp_path / "fit.json", tmp_path / "select.json"
    status, _, err = run(
        capsys, "fit", path, "-k", "2", "--allow-missing", "--seed", "0", "-o", fitted
    )
    assert status == 0, err
    status, out, err = run(
        capsys, "select", path, "-k", "1-2", "--covariance-type", "full,diag",
        "--allow-missing", "--seed", "0", "--n-init", "1", "-o", selected,
    )  # fmt: skip
    assert status == 0, err
    assert "best:" in out
    for model in (fitted, selected):
        assert GMM.load(model).feature_names_ == NAMES  # select -o keeps the names too
        status, _, err = run(capsys, "score", model, path, "--allow-missing")
        assert status == 0, err
    status, out, _ = run(capsys, "sample", fitted, "-n", "3", "--seed", "0")
    assert status == 0 and next(csv.reader([out.splitlines()[0]])) == NAMES
    status, out, _ = run(capsys, "impute", fitted, path)
    assert status == 0 and next(csv.reader([out.splitlines()[0]])) == NAMES
    assert len(out.splitlines()) == 201 and "\t" not in out  # CSV on standard output


def test_model_json_on_standard_output_with_dash(capsys, tmp_path):
    path = _write(tmp_path / "t.csv", _data(60))
    status, out, err = run(capsys, "fit", path, "-k", "1", "-o", "-")
    assert status == 0, err
    assert json.loads(out)["feature_names"] == NAMES
    status, out, err = run(capsys, "select", path, "-k", "1", "--n-init", "1", "-o", "-")
    assert status == 0, err
    assert json.loads(out)["feature_names"] == NAMES  # the table went to standard error
    assert "best:" in err
    _, model = _model(tmp_path)
    status, out, _ = run(capsys, "sample", model, "-n", "2", "-o", "-")
    assert status == 0 and len(out.splitlines()) == 3


def test_select_prints_its_table_before_failing_when_every_candidate_is_degenerate(
    capsys, tmp_path
):
    """Regression (issue 26): only an error was printed (wine, k = 3, full)."""
    rows = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]), 4, axis=0)
    path = _write(tmp_path / "few.csv", rows, names=["a", "b"])
    status, out, err = run(
        capsys, "select", path, "-k", "3", "--covariance-type", "full", "--seed", "0",
        "--n-init", "1",
    )  # fmt: skip
    assert status == 1
    assert "every candidate failed or was degenerate" in err
    assert "degenerate" in out and "best: none" in out


def test_plot_labels_axes_with_feature_names(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from gaussmix.plot import plot_mixture

    gmm, model = _model(tmp_path)
    figure = plot_mixture(gmm, dims=[0, 2], figure=Figure())
    ax = figure.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (NAMES[0], NAMES[2])
    path = _write(tmp_path / "t.csv", _data(50, missing=0.1))
    status, _, err = run(
        capsys, "plot", model, path, "--dims", "height (m),0", "-o", tmp_path / "p.png"
    )
    assert status == 0, err
