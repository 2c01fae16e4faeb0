"""``gaussmix select``: the table, the chosen model, the plot, the CSV and the errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gaussmix import GMM, select_model
from gaussmix.cli import main

FAITHFUL = Path(__file__).resolve().parent / "data" / "faithful.csv"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_select_prints_the_table_marks_the_best_and_writes_the_model(capsys, tmp_path):
    model, table = tmp_path / "best.json", tmp_path / "grid.csv"
    status, out, err = run(
        capsys, "select", FAITHFUL, "-k", "1-4", "--seed", "0", "-o", model, "--csv", table
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["k", "covariance", "BIC"]
    assert len(lines) == 1 + 16 + 1  # header, 4 k x 4 types, the "best:" line
    starred = [line for line in lines if line.startswith("*")]
    assert len(starred) == 1 and starred[0].split()[1:3] == ["3", "tied"]  # mclust's EEE,3
    assert lines[-1] == "best: n_components=3, covariance_type=tied (BIC lower is better)"
    gmm = GMM.load(model)
    assert gmm.n_components == 3 and gmm.covariance_type_ == "tied"
    # The same call through the library gives the same table (same seed).
    X = np.loadtxt(FAITHFUL, delimiter=",", skiprows=2)
    reference = select_model(X, n_components=range(1, 5), random_state=0)
    rows = list(csv.DictReader(table.open()))
    assert [float(r["bic"]) for r in rows] == pytest.approx([r["bic"] for r in reference.table])
    assert gmm.bic(X) == pytest.approx(reference.table[reference.best_index]["bic"])


def test_select_plot_and_criterion_options(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "bic.png"
    status, out, err = run(
        capsys, "select", FAITHFUL, "-k", "1,2,3", "--covariance-type", "full,tied",
        "--criterion", "icl", "--seed", "1", "--plot", picture,
    )  # fmt: skip
    assert status == 0, err
    assert out.splitlines()[0].split()[2] == "ICL"
    assert len(out.splitlines()) == 1 + 6 + 1
    assert picture.stat().st_size > 10_000 and f"wrote {picture}" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-k", "0-3"], "-k/--n-components"),
        (["-k", "5-2"], "low <= high"),
        (["--covariance-type", "banana"], "--covariance-type"),
        (["--criterion", "r2"], "--criterion"),
        (["--cv", "1"], "--cv"),
        (["--plot", "x.txt"], "--plot"),
    ],
)
def test_select_usage_errors_exit_2(capsys, argv, message):
    status, _, err = run(capsys, "select", FAITHFUL, *argv)
    assert status == 2 and message in err and "Traceback" not in err


def test_select_with_nan_needs_allow_missing(capsys, tmp_path):
    data = tmp_path / "holes.csv"
    X = np.loadtxt(FAITHFUL, delimiter=",", skiprows=2)
    X[::7, 1] = np.nan
    np.savetxt(data, X, delimiter=",")
    status, _, err = run(capsys, "select", data, "-k", "1-2")
    assert status == 1 and "--allow-missing" in err
    status, out, err = run(capsys, "select", data, "-k", "1-2", "--allow-missing", "--seed", "0")
    assert status == 0, err
    assert sum(line.startswith("*") for line in out.splitlines()) == 1


def test_select_init_kmeans_gives_the_librarys_table(tmp_path, capsys):
    table = tmp_path / "grid.csv"
    status, _, err = run(
        capsys, "select", FAITHFUL, "-k", "1-3", "--init", "kmeans", "--seed", "2",
        "--csv", table,
    )  # fmt: skip
    assert status == 0, err
    X = np.loadtxt(FAITHFUL, delimiter=",", skiprows=2)
    reference = select_model(X, n_components=range(1, 4), init_params="kmeans", random_state=2)
    rows = list(csv.DictReader(table.open()))
    assert [float(r["bic"]) for r in rows] == pytest.approx([r["bic"] for r in reference.table])
