"""The ``gaussmix`` command: every subcommand, file formats, exit codes and messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gaussmix import GMM, MVN
from gaussmix.cli import fit_gmm, main, read_data
from gaussmix.io import model_from_dict


def data_2d(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(-2, 0.5, (n // 2, 2)), rng.normal(2, 0.7, (n - n // 2, 2))])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    X = data_2d()
    path.write_text("x,y\n" + "\n".join(f"{a!r},{b!r}" for a, b in X.tolist()) + "\n")
    return path


@pytest.fixture
def model_file(tmp_path):
    gmm = GMM(
        2,
        priors=[0.4, 0.6],
        means=[[-2.0, -2.0, 0.0], [2.0, 2.0, 1.0]],
        covariances=[np.eye(3) * 0.5, [[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 0.5]]],
    )
    path = tmp_path / "model.json"
    gmm.save(path)
    return path


def read_csv_output(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.strip().splitlines()
    return lines[0].split(","), np.array(
        [[float(v) for v in line.split(",")] for line in lines[1:]]
    )


# ----------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------
def test_fit_saves_the_same_model_as_the_library(capsys, csv_file, tmp_path):
    out = tmp_path / "m.npz"
    status, stdout, stderr = run(capsys, "fit", csv_file, "-k", 2, "-o", out, "--seed", 3)
    assert status == 0 and stdout == ""
    assert "fitted GMM: 2 components (full) on 200 samples x 2 features" in stderr
    loaded = GMM.load(out)
    expected = GMM(2, random_state=3).from_samples(
        data_2d(), init_params="kmeans++", tol=1e-3, n_iter=100
    )
    np.testing.assert_array_equal(loaded.means, expected.means)
    np.testing.assert_array_equal(loaded.covariances, expected.covariances)
    assert loaded.converged_ and loaded.covariance_type_ == "full"


def test_fit_without_output_prints_json(capsys, csv_file):
    status, stdout, _ = run(
        capsys, "fit", csv_file, "-k", 2, "--covariance-type", "diag", "--init", "random",
        "--n-init", 2, "--seed", 0, "--no-progress",
    )  # fmt: skip
    assert status == 0
    gmm = model_from_dict(json.loads(stdout))
    assert gmm.covariance_type_ == "diag"
    off_diagonal = gmm.covariances[:, 0, 1]
    np.testing.assert_array_equal(off_diagonal, 0.0)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("tol", [1e-3, None])
def test_stepped_fit_for_progress_equals_one_call(covariance_type, tol):
    X = data_2d(120)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(
            covariance_type=covariance_type,
            n_iter=15,
            n_init=2,
            tol=tol,
            seed=7,
            init_params="random",
        )
        one = fit_gmm(X, 3, **kwargs)
        stepped = fit_gmm(X, 3, callback=lambda *a: calls.append(a), **kwargs)
    np.testing.assert_allclose(stepped.priors, one.priors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stepped.means, one.means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stepped.covariances, one.covariances, rtol=1e-9, atol=1e-12)
    assert (stepped.n_iter_, stepped.converged_) == (one.n_iter_, one.converged_)
    np.testing.assert_allclose(stepped.lower_bound_, one.lower_bound_, rtol=1e-12)
    assert {run for run, *_ in calls} == {0, 1}
    assert calls[0][1] == 1 and np.isinf(calls[0][3])


def test_fit_progress_bar_and_convergence_warning(capsys, csv_file, tmp_path):
    status, _, stderr = run(
        capsys, "fit", csv_file, "-k", 3, "--n-iter", 2, "--tol", "1e-12", "--progress",
        "--seed", 0, "-o", tmp_path / "m.json",
    )  # fmt: skip
    assert status == 0
    assert "EM [" in stderr and "2/2" in stderr and "mean log-likelihood" in stderr
    assert "gaussmix: warning: EM did not converge within n_iter=2" in stderr
    assert "Traceback" not in stderr


def test_fit_reads_npy_and_stdin(capsys, tmp_path, monkeypatch):
    np.save(tmp_path / "d.npy", data_2d())
    status, stdout, _ = run(capsys, "fit", tmp_path / "d.npy", "-k", 1)
    assert status == 0 and model_from_dict(json.loads(stdout)).n_components == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO("1 2\n3 5\n# comment\n4 4\n"))
    status, stdout, _ = run(capsys, "fit", "-", "-k", 1)
    np.testing.assert_allclose(model_from_dict(json.loads(stdout)).means, [[8 / 3, 11 / 3]])


# ----------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------
def test_predict_means_and_std_columns(capsys, model_file, tmp_path):
    X = np.array([[-2.0], [0.0], [1.5]])
    np.savetxt(tmp_path / "in.csv", X, delimiter=",")
    gmm = GMM.load(model_file)
    mean, cov = gmm.predict([0], X, return_covariance=True)

    # no header in (np.savetxt writes none), none out
    status, stdout, _ = run(capsys, "predict", model_file, tmp_path / "in.csv", "--given", "0")
    values = np.loadtxt(io.StringIO(stdout), delimiter=",", ndmin=2)
    assert status == 0 and values.shape == (3, 2)
    np.testing.assert_array_equal(values, gmm.predict([0], X))  # repr round-trips exactly

    # a header in, dimN names out (the model has no feature names)
    (tmp_path / "named.csv").write_text("x0\n" + (tmp_path / "in.csv").read_text())
    status, stdout, _ = run(
        capsys, "predict", model_file, tmp_path / "named.csv", "--given", "0", "--std"
    )
    header, values = read_csv_output(stdout)
    assert header == ["dim1", "dim2", "std_dim1", "std_dim2"]
    np.testing.assert_allclose(values[:, :2], mean, rtol=1e-12)
    np.testing.assert_allclose(values[:, 2:], np.sqrt(np.diagonal(cov, axis1=1, axis2=2)))


def test_predict_given_order_and_npy_output(capsys, model_file, tmp_path):
    X = np.array([[0.5, -1.0], [1.0, 2.0]])  # columns hold dimensions 2 and 0
    np.save(tmp_path / "in.npy", X)
    out = tmp_path / "out.npy"
    status, stdout, _ = run(
        capsys, "predict", model_file, tmp_path / "in.npy", "--given", "2,0", "-o", out, "--std"
    )
    assert status == 0 and stdout == ""
    mean, cov = GMM.load(model_file).predict([2, 0], X, return_covariance=True)
    np.testing.assert_allclose(np.load(out), np.hstack([mean, np.sqrt(cov[:, :, 0])]))
    status, _, _ = run(
        capsys, "predict", model_file, tmp_path / "in.npy", "--given", "2,0", "-o",
        tmp_path / "out.csv",
    )  # fmt: skip
    # a .npy has no header, so neither has the CSV written from it
    values = np.loadtxt(tmp_path / "out.csv", delimiter=",", ndmin=2)
    np.testing.assert_allclose(values, mean)


# ----------------------------------------------------------------------
# sample, score, plot, demo
# ----------------------------------------------------------------------
def test_sample_is_reproducible(capsys, model_file, tmp_path):
    status, first, _ = run(capsys, "sample", model_file, "-n", 40, "--seed", 5)
    _, second, _ = run(capsys, "sample", model_file, "-n", 40, "--seed", 5)
    assert status == 0 and first == second
    values = np.loadtxt(io.StringIO(first), delimiter=",", ndmin=2)  # no names, no header
    assert values.shape == (40, 3)
    run(capsys, "sample", model_file, "-n", 1000, "--seed", 1, "-o", tmp_path / "s.npy")
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (1000, 3)
    assert abs(samples[:, 0].mean() - (0.4 * -2 + 0.6 * 2)) < 0.25


def test_score_matches_the_library(capsys, csv_file, tmp_path):
    gmm = GMM(2, random_state=0).from_samples(data_2d(), tol=1e-3)
    gmm.save(tmp_path / "m.json")
    status, stdout, _ = run(capsys, "score", tmp_path / "m.json", csv_file)
    assert status == 0
    values = dict(line.split(": ") for line in stdout.strip().splitlines())
    assert int(values["samples"]) == 200
    X = data_2d()
    np.testing.assert_allclose(float(values["mean log-likelihood"]), gmm.score(X), rtol=1e-9)
    np.testing.assert_allclose(float(values["BIC"]), gmm.bic(X), rtol=1e-9)
    np.testing.assert_allclose(float(values["AIC"]), gmm.aic(X), rtol=1e-9)


def test_score_and_sample_accept_an_mvn_model(capsys, tmp_path):
    MVN(mean=[0.0, 0.0], covariance=np.eye(2)).save(tmp_path / "mvn.npz")
    np.savetxt(tmp_path / "zeros.csv", np.zeros((3, 2)), delimiter=",")
    status, stdout, _ = run(capsys, "score", tmp_path / "mvn.npz", tmp_path / "zeros.csv")
    assert status == 0 and f"{-np.log(2 * np.pi):.10g}" in stdout
    status, stdout, _ = run(capsys, "sample", tmp_path / "mvn.npz", "-n", 3)
    assert status == 0 and len(stdout.splitlines()) == 3


def test_plot_writes_an_image(capsys, csv_file, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    gmm = GMM(2, random_state=0).from_samples(data_2d(), tol=1e-3)
    gmm.save(tmp_path / "m.json")
    status, _, stderr = run(
        capsys, "plot", tmp_path / "m.json", csv_file, "-o", tmp_path / "p.png"
    )
    assert status == 0 and "wrote" in stderr
    image = imread(tmp_path / "p.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image[..., :3].std() > 0.05
    status, _, _ = run(
        capsys, "plot", tmp_path / "m.json", "-o", tmp_path / "q.svg", "--dims", "1"
    )
    assert status == 0 and "<svg" in (tmp_path / "q.svg").read_text()


def test_demo_prints_a_summary_and_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    status, stdout, _ = run(capsys, "demo", "--output", tmp_path / "figures")
    assert status == 0
    assert "GMM with 6 components" in stdout and "modes at y =" in stdout
    # Three branches of the inverse problem at x = 0.5.
    modes = stdout.split("modes at y = ")[1].splitlines()[0].split(", ")
    assert len(modes) == 3
    png = tmp_path / "figures" / "gaussmix_demo.png"
    assert png.stat().st_size > 10_000


# ----------------------------------------------------------------------
# Errors: one line, right exit status, no traceback
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        ([], 2, "required: COMMAND"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["fit", "{csv}"], 2, "the following arguments are required: -k"),
        (["fit", "{csv}", "-k", "0"], 2, "expected a positive integer; got 0"),
        (["fit", "{csv}", "-k", "2", "--init", "best"], 2, "invalid choice: 'best'"),
        (["fit", "{csv}", "-k", "2", "-o", "{tmp}/m.pkl"], 2, "MODEL '{tmp}/m.pkl' must end"),
        (["fit", "{csv}", "-k", "2", "-o", "{tmp}/no/m.json"], 1, "does not exist"),
        (["fit", "{csv}", "-k", "500"], 1, "n_components=500 is larger than n_samples=200"),
        (["fit", "{tmp}/absent.csv", "-k", "2"], 1, "data file not found"),
        (["fit", "{tmp}/data.xlsx", "-k", "2"], 2, "must end with .csv or .tsv or .txt or .npy"),
        (["fit", "{tmp}/bad.csv", "-k", "1"], 1, "data row 2 (line 3), column 1 ('b'): 'abc'"),
        (["fit", "{tmp}/ragged.csv", "-k", "1"], 1, "data row 2 (line 2) has 1 fields"),
        (["fit", "{tmp}/nan.csv", "-k", "1"], 1, "NaN (missing cells); pass --allow"),
        (["fit", "{tmp}/header.csv", "-k", "1"], 1, "only a header row"),
        (["predict", "{tmp}/absent.json", "{csv}", "--given", "0"], 1, "model file not found"),
        (["predict", "{model}", "{csv}", "--given", "x"], 2, "--given: 'x' is neither"),
        (["predict", "{model}", "{csv}", "--given", "0,5"], 2, "--given: index 5 is out of range"),
        (["predict", "{model}", "{csv}", "--given", "0,0"], 2, "must not repeat"),
        (["predict", "{model}", "{csv}", "--given", "0,1,2"], 2, "at least one of the model's 3"),
        (
            ["predict", "{model}", "{csv}", "--given", "0"],
            1,
            "has 2 column(s) but --given names 1",
        ),
        (["predict", "{model}", "{csv}"], 2, "required: --given"),
        (["predict", "{model}", "{csv}", "--given", "0", "-o", "{tmp}/o.txt"], 2, "OUT"),
        (["predict", "{tmp}/m.yaml", "{csv}", "--given", "0"], 2, "MODEL '{tmp}/m.yaml'"),
        (["predict", "{tmp}/broken.json", "{csv}", "--given", "0"], 1, "not valid JSON"),
        (["predict", "{tmp}/bad_model.json", "{csv}", "--given", "0"], 1, "must sum to 1"),
        (["score", "{model}", "{csv}"], 1, "has 2 column(s) but the model has 3"),
        (["sample", "{model}", "-n", "-3"], 2, "expected an integer >= 0"),
        (["plot", "{model}", "-o", "{tmp}/p.jpg"], 2, "PNG '{tmp}/p.jpg' must end with .png"),
        (["plot", "{model}", "{csv}", "-o", "{tmp}/p.png"], 1, "has 2 column(s)"),
        (["plot", "{model}", "-o", "{tmp}/p.png", "--dims", "0,7"], 2, "--dims: index 7 is out"),
        (["plot", "{model}"], 2, "required: -o"),
    ],
)
def test_errors_are_one_line_with_exit_status(
    capsys, tmp_path, csv_file, model_file, argv, status, message
):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,abc\n")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "broken.json").write_text("{")
    bad = GMM(1, priors=[1.0], means=[[0.0]], covariances=[[[1.0]]]).to_dict()
    bad["priors"] = [0.5]
    (tmp_path / "bad_model.json").write_text(json.dumps(bad))
    fill = {"{csv}": str(csv_file), "{model}": str(model_file), "{tmp}": str(tmp_path)}

    def expand(text: str) -> str:
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    code, stdout, stderr = run(capsys, *[expand(a) for a in argv])
    assert code == status
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert expand(message) in stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("gaussmix")


def test_debug_environment_variable_shows_the_exception(monkeypatch, tmp_path):
    monkeypatch.setenv("GAUSSMIX_DEBUG", "1")
    with pytest.raises(Exception, match="data file not found"):
        main(["fit", str(tmp_path / "absent.csv"), "-k", "1"])


# ----------------------------------------------------------------------
# Help and entry points
# ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["demo", "fit", "predict", "sample", "score", "plot"])
def test_every_subcommand_has_help(capsys, command):
    status, stdout, _ = run(capsys, command, "--help")
    assert status == 0 and f"usage: gaussmix {command}" in stdout


def test_predict_help_documents_the_column_layout(capsys):
    _, stdout, _ = run(capsys, "predict", "--help")
    assert "std_dim" in stdout and "--given 0 -> columns dim1,dim2[,std_dim1,std_dim2]" in stdout


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "gaussmix", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("gaussmix ")


# ----------------------------------------------------------------------
# Reading data
# ----------------------------------------------------------------------
def test_read_data_formats(tmp_path):
    (tmp_path / "a.csv").write_text("# made by hand\ntime, value\n0, 1.5\n1, -2e3  # note\n")
    np.testing.assert_array_equal(read_data(str(tmp_path / "a.csv")), [[0, 1.5], [1, -2000]])
    (tmp_path / "b.txt").write_text("1 2 3\n4 5 6\n")
    assert read_data(str(tmp_path / "b.txt")).shape == (2, 3)
    np.save(tmp_path / "c.npy", np.arange(4))
    assert read_data(str(tmp_path / "c.npy")).shape == (4, 1)
    np.save(tmp_path / "d.npy", np.array(["a", "b"]))
    with pytest.raises(Exception, match="numeric array"):
        read_data(str(tmp_path / "d.npy"))


def test_fit_allow_missing_matches_the_library(capsys, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3)) @ np.array([[1.0, 0.6, 0.0], [0.0, 1.0, 0.4], [0, 0, 1.0]])
    X[rng.random(X.shape) < 0.2] = np.nan
    data = tmp_path / "missing.npy"
    np.save(data, X)
    status, _, err = run(capsys, "fit", data, "-k", "2", "-o", tmp_path / "m.json", "--seed", "1")
    assert status == 1
    assert "--allow-missing" in err and "Traceback" not in err
    model_path = tmp_path / "m.json"
    status, _, _ = run(
        capsys, "fit", data, "-k", "2", "-o", model_path, "--seed", "1", "--allow-missing"
    )
    assert status == 0
    expected = GMM(2, random_state=1).from_samples(
        X, init_params="kmeans++", tol=1e-3, allow_missing=True
    )
    loaded = GMM.load(model_path)
    np.testing.assert_allclose(loaded.means, expected.means, rtol=1e-12)
    np.testing.assert_allclose(loaded.covariances, expected.covariances, rtol=1e-12)


def test_progress_bar_shows_the_last_iteration_even_when_throttled():
    """Regression (review): a fast fit left '1/100' on screen, the last redraw throttled."""
    import io

    from gaussmix.cli import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(100, stream)
    bar.update("EM", 1, "first", force=True)
    for done in range(2, 8):
        bar.update("EM", done, f"at {done}")  # within 0.1 s: throttled
    bar.close()
    last_line = stream.getvalue().rstrip("\n").split("\r")[-1]
    assert "7/100 at 7" in last_line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["sample", "{model}", "-n", str(10**20)],
            "--n-samples: expected an integer >= 0 and at most 2**40",
        ),
        (["sample", "{model}", "-n", "5", "--seed", str(2**40)], "--seed: expected a seed"),
        (["plot", "{model}", "-o", "{tmp}/p.png", "--dpi", "100000"], "--dpi: expected"),
        (["plot", "{model}", "-o", "{tmp}/p.png", "--dims", "x"], "--dims: 'x' is neither"),
    ],
)
def test_out_of_range_option_values_exit_2_without_traceback(
    capsys, model_file, tmp_path, argv, message
):
    """Regression (issue 13): these raised deep inside numpy/matplotlib or blamed --given."""
    filled = [a.format(model=model_file, tmp=tmp_path) for a in argv]
    status, _, err = run(capsys, *filled)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_npy_whose_header_declares_terabytes_is_refused_before_allocating(
    capsys, model_file, tmp_path
):
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2)))
    header["shape"] = (10**9, 1000)
    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 64)
    status, _, err = run(capsys, "score", model_file, path)
    assert status == 1
    assert "declares shape (1000000000, 1000)" in err and "Traceback" not in err


def test_plot_says_which_dimensions_it_left_out(capsys, tmp_path):
    """Regression (issue 13): plot silently showed 5 of 13 dimensions."""
    pytest.importorskip("matplotlib")
    d = 7
    model = tmp_path / "wide.json"
    GMM(1, priors=[1.0], means=[np.zeros(d)], covariances=[np.eye(d)]).save(model)
    status, _, err = run(capsys, "plot", model, "-o", tmp_path / "wide.png")
    assert status == 0
    assert "showed dimensions 0-4 of 7" in err


def test_missing_cells_are_understood_with_allow_missing(capsys, tmp_path):
    """Regression (issue 13): an empty cell or NA was 'not a number' even with --allow-missing."""
    path = tmp_path / "gaps.csv"
    rows = ["x,y", "1,2", ",3", "NA,4", "5,N/A", "6,NaN", "7,8", "1.5,2", "3,1"]
    path.write_text("\n".join(rows) + "\n")
    parsed = read_data(str(path))
    assert np.isnan(parsed).sum() == 4 and parsed.shape == (8, 2)
    status, _, err = run(
        capsys, "fit", path, "-k", "1", "--allow-missing", "-o", tmp_path / "m.json"
    )
    assert status == 0, err
    status, _, err = run(capsys, "fit", path, "-k", "1", "-o", tmp_path / "m.json")
    assert status == 1 and "--allow-missing" in err


def test_data_that_is_a_device_or_fifo_is_refused_without_reading(capsys, model_file, tmp_path):
    import os

    if not (os.path.exists("/dev/zero") and hasattr(os, "mkfifo")):
        pytest.skip("needs /dev/zero and FIFOs")
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (link, fifo):
        status, _, err = run(capsys, "score", model_file, path)
        assert status == 1 and "is not a regular file" in err


def test_fit_summary_log_likelihood_agrees_with_score_and_bic(capsys, csv_file, tmp_path):
    import re

    out = tmp_path / "m.json"
    status, _, err = run(capsys, "fit", csv_file, "-k", "2", "--seed", "0", "-o", out)
    assert status == 0
    summary_ll = float(re.search(r"mean log-likelihood (\S+),", err).group(1))
    summary_bic = float(re.search(r"BIC (\S+)", err).group(1))
    status, scored, _ = run(capsys, "score", out, csv_file)
    assert status == 0
    score_ll = float(re.search(r"mean log-likelihood: (\S+)", scored).group(1))
    score_bic = float(re.search(r"BIC: (\S+)", scored).group(1))
    assert summary_ll == pytest.approx(score_ll, rel=1e-5)
    assert summary_bic == pytest.approx(score_bic, rel=1e-5)
    # and the BIC is that of the same log-likelihood: -2 n LL + p ln n
    gmm = GMM.load(out)
    n = 200
    p = gmm._n_parameters()
    assert summary_bic == pytest.approx(-2 * n * summary_ll + p * np.log(n), rel=1e-5)


def test_column_names_travel_from_the_fitted_csv_to_predict_and_sample(capsys, csv_file, tmp_path):
    model = tmp_path / "named.json"
    status, _, _ = run(capsys, "fit", csv_file, "-k", "2", "--seed", "0", "-o", model)
    assert status == 0
    assert GMM.load(model).feature_names_ == ["x", "y"]
    assert GMM.load(model).to_dict()["feature_names"] == ["x", "y"]
    (tmp_path / "x.csv").write_text("x\n0.5\n1.0\n")
    status, stdout, _ = run(capsys, "predict", model, tmp_path / "x.csv", "--given", "0", "--std")
    assert status == 0 and stdout.splitlines()[0] == "y,std_y"
    status, stdout, _ = run(capsys, "sample", model, "-n", 2, "--seed", 0)
    assert status == 0 and stdout.splitlines()[0] == "x,y"
    # the names survive the .npz format too
    GMM.load(model).save(tmp_path / "named.npz")
    assert GMM.load(tmp_path / "named.npz").feature_names_ == ["x", "y"]


def test_header_with_a_different_number_of_names_is_refused(capsys, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,c\n1,2\n3,4\n")
    status, _, err = run(capsys, "fit", tmp_path / "bad.csv", "-k", "1")
    assert status == 1 and "header row has 3 names but the rows have 2 columns" in err
