"""mclust's 14 models everywhere a covariance_type goes: GMM.from_responsibilities,
scikit-learn's estimators, select_model and its table, plot and CSV, the CLI, model files,
missing values, sample weights and Dask; and mclust's published iris numbers."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GMM, _gaussian, covariance, select_model
from gaussmix.cli import main
from gaussmix.io import load_model

sk_gm = pytest.importorskip("sklearn.mixture._gaussian_mixture")
from sklearn.datasets import load_iris  # noqa: E402

from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture  # noqa: E402

NEW = ("EII", "EEI", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV")
DATA = Path(__file__).resolve().parent / "data"


def _two_clusters(seed: int = 0, n: int = 150) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shear = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return np.vstack(
        [rng.normal(0.0, 1.0, (n, 3)), rng.normal(5.0, [1.0, 2.0, 0.5], (n, 3)) @ shear]
    )


# ---------------------------------------------------------------------------
# GMM.from_responsibilities
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["full", "tied", "diag", "spherical"])
def test_from_responsibilities_is_scikit_learns_m_step(name):
    X = _two_clusters()
    resp = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    gmm = GMM.from_responsibilities(X, resp, covariance_type=name, reg_covar=1e-3)
    nk, means, covs = sk_gm._estimate_gaussian_parameters(X, resp, 1e-3, name)
    assert_allclose(gmm.priors, nk / nk.sum(), rtol=1e-12)
    assert_allclose(gmm.means, means, rtol=1e-10, atol=1e-12)
    assert_allclose(covariance.get(name).to_compact(gmm.covariances), covs, rtol=1e-9)
    assert gmm.n_components == 3 and gmm.covariance_type_ == name and gmm.n_iter_ == 0


@pytest.mark.parametrize("name", ["VVV", "EVE", "VEV"])
def test_from_responsibilities_labels_and_integer_weights_repeat_rows(name):
    X = _two_clusters(2)
    labels = (X[:, 0] > 2.5).astype(int)
    weights = np.random.default_rng(3).integers(1, 4, len(X))
    weighted = GMM.from_responsibilities(X, labels, covariance_type=name, sample_weight=weights)
    repeated = GMM.from_responsibilities(
        np.repeat(X, weights, axis=0), np.repeat(labels, weights), covariance_type=name
    )
    assert_allclose(weighted.means, repeated.means, rtol=1e-10)
    assert_allclose(weighted.covariances, repeated.covariances, rtol=1e-7, atol=1e-12)
    # Hard labels are one-hot responsibilities.
    onehot = np.eye(2)[labels]
    soft = GMM.from_responsibilities(X, onehot, covariance_type=name, sample_weight=weights)
    assert_allclose(soft.covariances, weighted.covariances, rtol=1e-9)


def test_from_responsibilities_then_em_continues_from_it():
    X = _two_clusters(4)
    labels = (X[:, 0] > 2.5).astype(int)
    start = GMM.from_responsibilities(X, labels, covariance_type="VVE", random_state=0)
    fitted = GMM(2, start.priors, start.means, start.covariances).from_samples(
        X, covariance_type="VVE", tol=1e-8
    )
    assert fitted.score(X) >= start.score(X)


def test_from_responsibilities_errors():
    X = _two_clusters()
    with pytest.raises(ValueError, match="n_samples=300 rows"):
        GMM.from_responsibilities(X, np.ones((10, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        GMM.from_responsibilities(X, -np.ones((300, 2)))
    with pytest.raises(ValueError, match=r"component\(s\) \[1\] no weight"):
        GMM.from_responsibilities(X, np.c_[np.ones(300), np.zeros(300)])
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        GMM.from_responsibilities(X, np.zeros(300, dtype=int), covariance_type="XYZ")
    with pytest.raises(ValueError, match="NaN"):
        GMM.from_responsibilities(np.full((3, 2), np.nan), np.zeros(3, dtype=int))


# ---------------------------------------------------------------------------
# scikit-learn's estimators
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW)
def test_gaussian_mixture_fits_the_new_models(name):
    X = _two_clusters()
    est = GaussianMixture(2, covariance_type=name, random_state=0).fit(X)
    k, d = 2, X.shape[1]
    assert est.covariances_.shape == est.precisions_.shape == (k, d, d)
    assert_allclose(
        est.precisions_ @ est.covariances_, np.broadcast_to(np.eye(d), (k, d, d)), atol=1e-8
    )
    gmm = GMM(k, est.weights_, est.means_, est.covariances_)
    assert est.score(X) == pytest.approx(gmm.score(X), rel=1e-10)
    n_params = covariance.get(name).n_mixture_parameters(k, d)
    assert est.bic(X) == pytest.approx(-2 * est.score(X) * len(X) + n_params * np.log(len(X)))


def test_bayesian_mixture_refuses_the_new_models_clearly():
    X = _two_clusters()
    with pytest.raises(ValueError, match="has no variational updates"):
        BayesianGaussianMixture(n_components=2, covariance_type="VEV").fit(X)
    BayesianGaussianMixture(n_components=2, covariance_type="VVV", max_iter=5).fit(X)


# ---------------------------------------------------------------------------
# Data kinds: missing values, weights, Dask; model files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["EEI", "EVE", "VEV"])
def test_missing_values_weights_and_files(name, tmp_path):
    X = _two_clusters(5)
    rng = np.random.default_rng(6)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.05] = np.nan
    options = dict(covariance_type=name, init_params="kmeans++", tol=1e-6)
    with_missing = GMM(2, random_state=0).from_samples(holes, allow_missing=True, **options)
    weighted = GMM(2, random_state=0).from_samples(X, sample_weight=rng.random(len(X)), **options)
    for model in (with_missing, weighted):
        assert model.covariance_type_ == name
        refit = covariance.get(name).project(model.covariances, model.priors)
        assert_allclose(refit, model.covariances, rtol=1e-5, atol=1e-9)
    path = tmp_path / "model.json"
    weighted.save(path)
    loaded = load_model(path)
    assert loaded.covariance_type_ == name
    assert loaded.bic(X) == pytest.approx(weighted.bic(X))


def test_dask_gives_the_in_memory_fit():
    da = pytest.importorskip("dask.array")
    X = _two_clusters(7)
    options = dict(covariance_type="VVE", init_params="kmeans++", tol=1e-8, n_iter=50)
    memory = GMM(2, random_state=0).from_samples(X, **options)
    chunked = GMM(2, random_state=0).from_samples(da.from_array(X, chunks=100), **options)
    assert_allclose(chunked.covariances, memory.covariances, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------
# select_model and the CLI
# ---------------------------------------------------------------------------
def test_select_model_all_is_mclusts_fourteen_in_order(tmp_path):
    X = _two_clusters(8, n=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X, n_components=[1, 2], covariance_type="all", n_init=1, random_state=0
        )
    types = list(dict.fromkeys(row["covariance_type"] for row in result.table))
    assert types == list(covariance.names())
    assert [covariance.get(t).mclust_name for t in types] == [
        "EII", "VII", "EEI", "VEI", "EVI", "VVI", "EEE",
        "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV",
    ]  # fmt: skip
    result.to_csv(tmp_path / "grid.csv")
    with open(tmp_path / "grid.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["covariance_type"] for row in rows} == set(covariance.names())
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = result.plot()
    labels = ax.get_legend_handles_labels()[1]
    assert "VEV" in labels and "full (VVV)" in labels
    # R 6.0.0 prints mclust.options("bicPlotColors") and ("bicPlotSymbols") (R pch codes).
    r_colors = dict(zip(R_ORDER, R_COLORS, strict=True))
    r_symbols = dict(zip(R_ORDER, R_SYMBOLS, strict=True))
    for line in ax.get_lines():
        name = line.get_label().split(" (")[-1].rstrip(")")
        if name in r_colors:
            assert line.get_color() == r_colors[name]
            pch = r_symbols[name]
            marker, filled = PCH[pch]
            assert line.get_marker() == marker, name
            assert (line.get_markerfacecolor() != "none") == filled, name
    assert len({(covariance.get(t).marker, covariance.get(t).marker_filled) for t in types}) == 14


R_ORDER = "EII VII EEI EVI VEI VVI EEE VEE EVE VVE EEV VEV EVV VVV".split()
R_SYMBOLS = [17, 2, 16, 10, 13, 1, 15, 8, 5, 9, 12, 7, 14, 0]
R_COLORS = """gray black #218B21 #41884F #508476 #58819C #597DC3 #5178EA #716EE7 #9B60B8
#B2508B #C03F60 #C82A36 #CC0000""".split()
# R's pch symbols and the matplotlib markers that draw them (filled or open): 0 open
# square, 1 open circle, 2 open triangle, 5 open diamond, 7 boxed x, 8 asterisk, 9 diamond
# with a cross (drawn as a diamond in a diamond), 10 circled plus, 12 boxed plus, 13 circled
# x, 14 square with a triangle (drawn as a square in a square), 15-17 solid square, circle,
# triangle.
PCH = {
    0: ("s", False), 1: ("o", False), 2: ("^", False), 5: ("D", False),
    7: (r"$\boxtimes$", True), 8: (r"$\ast$", True), 9: ("$\u25c8$", True),
    10: (r"$\oplus$", True), 12: (r"$\boxplus$", True), 13: (r"$\otimes$", True),
    14: ("$\u29c8$", True), 15: ("s", True), 16: ("o", True), 17: ("^", True),
}  # fmt: skip


def test_default_grid_stays_scikit_learns_four():
    X = _two_clusters(9, n=40)
    result = select_model(X, n_components=[1], n_init=1, random_state=0)
    assert [row["covariance_type"] for row in result.table] == list(covariance.default_names())


def test_cli_select_all(capsys, tmp_path):
    table = tmp_path / "grid.csv"
    argv = ["select", str(DATA / "faithful.csv"), "-k", "1-2", "--covariance-type", "all"]
    status = main([*argv, "--seed", "0", "--n-init", "1", "--csv", str(table)])
    _, err = capsys.readouterr()
    assert status == 0, err
    with open(table) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 28
    status = main(
        ["select", str(DATA / "faithful.csv"), "-k", "2", "--covariance-type", "VEV,EVE"]
    )
    assert status == 0
    assert "VEV" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# mclust's published iris numbers (BIC = 2 log L - p log n there; -BIC here)
# ---------------------------------------------------------------------------
# "A quick tour of mclust" (mclust 6.1.1 vignette): Mclust(iris[, -5]) picks VEV with
# 2 components, log-likelihood -215.726, df = 26, BIC -561.7285.
def test_iris_vev_two_is_mclusts():
    X = load_iris().data
    gmm = GMM(2, random_state=0).from_samples(
        X, covariance_type="VEV", init_params="kmeans++", n_init=5, tol=1e-9, n_iter=2000
    )
    assert gmm.score(X) * len(X) == pytest.approx(-215.726, abs=1e-3)
    assert gmm.bic(X) == pytest.approx(561.7285, abs=1e-3)


# mclust's BIC table of Mclust(iris[, -5], G = 1:9), as printed in github.com/TrN000/norMmix,
# file "tmp" (see test_selection.py's MCLUST_IRIS for the other four columns); None: NA.
MCLUST_IRIS = {
    "EII": [-1804.0854, -1123.4117, -878.7650, -893.6140, -782.6441, -715.7136, -731.8821,
            -725.0805, -694.5205],
    "EEI": [-1522.1202, -1042.9679, -813.0504, -827.4036, -741.9185, -693.7908, -713.1823,
            -691.4133, -696.2607],
    "VEI": [-1522.1202, -956.2823, -779.1566, -748.4529, -688.3463, -676.1697, -680.7377,
            -679.4640, -702.0143],
    "EVI": [-1522.1202, -1007.3082, -797.8342, -837.5452, -766.8158, -774.0673, -813.5220,
            -740.4068, -767.8044],
    "VEE": [-829.9782, -656.3270, -605.3982, -604.8371, None, -609.5584, None, -654.8237, None],
    "EVV": [-829.9782, -658.3306, -656.0359, -725.2925, None, None, -809.8276, -831.7520,
            -882.4391],
}  # fmt: skip


@pytest.mark.slow
def test_iris_every_sound_cell_at_least_as_good_as_mclust():
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X, covariance_type=tuple(MCLUST_IRIS), n_init=8, tol=1e-6, n_iter=1000, random_state=0
        )
    compared = 0
    for row in result.table:
        mclust = MCLUST_IRIS[row["covariance_type"]][row["n_components"] - 1]
        if mclust is not None and row["degenerate"] is None:
            compared += 1
            assert row["bic"] <= -mclust + 0.01, row
    assert compared >= 40


# The one-call search's default (strategy="mclust" for covariance_type="all") against
# every cell of mclust's printed iris table: these six columns and test_selection.py's
# four (the same "tmp" file of github.com/TrN000/norMmix).
MCLUST_IRIS_FOUR = {
    "VII": [-1804.0854, -1012.2352, -853.8144, -812.6048, -742.6083, -705.7811, -698.5413,
            -701.4806, -700.0276],
    "VVI": [-1522.1202, -857.5515, -744.6382, -751.0198, -711.4502, -707.2901, -766.6500,
            -764.1969, -755.8290],
    "EEE": [-829.9782, -688.0972, -632.9647, -646.0258, -604.8131, -609.8543, -632.4947,
            -639.2640, -653.0878],
    "VVV": [-829.9782, -574.0178, -580.8396, -630.6000, -676.6061, -754.7938, -806.9277,
            -830.6373, -883.6931],
}  # fmt: skip


@pytest.mark.slow
def test_default_search_of_all_fourteen_reaches_mclusts_bic_in_nine_of_ten_cells():
    X = load_iris().data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(X, covariance_type="all", random_state=0)
    printed = {**MCLUST_IRIS, **MCLUST_IRIS_FOUR}
    at_least, compared = 0, 0
    for row in result.table:
        code = covariance.get(row["covariance_type"]).mclust_name
        if code not in printed or printed[code][row["n_components"] - 1] is None:
            continue
        compared += 1
        sound = row["error"] is None and row["degenerate"] is None
        at_least += sound and row["bic"] <= -printed[code][row["n_components"] - 1] + 0.01
    assert compared == 85
    assert at_least >= 0.9 * compared


def test_strategy_auto_is_mclust_for_all_fourteen_and_standard_otherwise():
    X = np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2)[:120]

    def table(**options):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = select_model(X, n_components=[1, 2], random_state=0, n_init=2, **options)
        return [(row["covariance_type"], row["bic"], row["n_iter"]) for row in result.table]

    assert table(covariance_type="all") == table(covariance_type="all", strategy="mclust")
    every = tuple(covariance.names())
    assert table(covariance_type=every) == table(covariance_type=every, strategy="standard")
    assert table(covariance_type=every) != table(covariance_type=every, strategy="mclust")
    with pytest.raises(ValueError, match="strategy must be one of"):
        select_model(X, strategy="mclust-like")


# ---------------------------------------------------------------------------
# init_params="hc": model-based hierarchical agglomeration
# ---------------------------------------------------------------------------
def test_hc_start_is_deterministic_and_finds_separated_clusters():
    rng = np.random.default_rng(11)
    truth = np.repeat([0, 1, 2], 100)
    X = np.array([[0, 0], [8, 0], [0, 8]])[truth] + rng.normal(size=(300, 2)) * [1.0, 0.3]
    fits = [
        GMM(3, random_state=seed).from_samples(X, init_params="hc", n_iter=0) for seed in (0, 1)
    ]
    assert_allclose(fits[0].means, fits[1].means)
    centres = np.sort(fits[0].means[:, 0] + 10 * fits[0].means[:, 1])
    assert_allclose(centres, [0, 8, 80], atol=0.5)
    fitted = GMM(3, random_state=0).from_samples(X, init_params="hc", covariance_type="EEV")
    assert fitted.converged_


def test_select_model_hc_and_large_data_subsample():
    X = _two_clusters(12, n=1500)  # 3000 rows: the hierarchy sees HC_ROWS of them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X, n_components=[1, 2, 3], covariance_type=("VVE", "EEI"), init_params="hc",
            n_init=2, random_state=0,
        )  # fmt: skip
    assert result.best_params == {"n_components": 2, "covariance_type": "VVE"}


# The one-call search over all 14 models chooses what Mclust(X) chooses: mclust's vignette
# ("A quick tour of mclust", mclust 6.1.1; see test_selection.py's MCLUST_VIGNETTE) gives
# diabetes VVV,3 (BIC -4751.316) and iris VEV,2 (-561.7285); Old Faithful EEE,3
# (-2314.316). k above 5 never wins there, so the grid stops at 5 to save time.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "pick", "mclust_bic"),
    [("iris", (2, "VEV"), -561.7285), ("faithful", (3, "tied"), -2314.316),
     ("diabetes", (3, "full"), -4751.316)],
)  # fmt: skip
def test_all_fourteen_choose_what_mclust_chooses(name, pick, mclust_bic):
    X = {
        "iris": lambda: load_iris().data,
        "faithful": lambda: np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2),
        "diabetes": lambda: np.loadtxt(
            DATA / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3)
        ),
    }[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X, n_components=range(1, 6), covariance_type="all", tol=1e-5, random_state=0
        )
    assert (result.best_params["n_components"], result.best_params["covariance_type"]) == pick
    assert result.table[result.best_index]["bic"] <= -mclust_bic + 0.3


def test_every_model_fits_data_with_a_constant_column():
    # A constant column makes the starts' spread of the data singular: the ten
    # models' projections of the starts need every eigenvalue positive (VEI, VEE and
    # VEV failed every cell with NaN covariances or numpy's "Singular matrix").
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(300, 2)), np.ones(300)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(X, n_components=range(1, 4), covariance_type="all", random_state=0)
    assert [row["error"] for row in result.table] == [None] * len(result.table)
    assert np.isfinite([row["bic"] for row in result.table]).all()
    singular = np.stack([np.diag([1.0, 2.0, 0.0])] * 2)
    for name in ("VEI", "VEE", "VEV", "EVE", "VVE"):
        projected = covariance.get(name).project(singular, np.array([0.5, 0.5]))
        assert np.isfinite(projected).all()
        assert (np.linalg.eigvalsh(projected) > 0).all()


def test_overflowing_data_fail_their_cells_with_a_clear_error():
    # Rows of 1e150: squares overflow float64. Cells fail with the overflow's
    # ValueError (they raised numpy's "Eigenvalues did not converge" for EVI and EVE).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * 1e150
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(X, n_components=range(1, 3), covariance_type="all", random_state=0)
    errors = [row["error"] for row in result.table if row["error"] is not None]
    assert errors and all(error.startswith("ValueError: covariance matrices") for error in errors)
    inf = np.full((1, 2, 3, 3), np.inf)
    assert _gaussian.shared_shift_errors(np.zeros((1, 2, 3)), inf, np.zeros(3))[0] == np.inf
