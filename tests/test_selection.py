"""gaussmix.select_model against references we did not write.

- BIC and AIC against scikit-learn's ``GaussianMixture.bic``/``aic`` of the same
  fitted parameters (scikit-learn's own log-likelihood and parameter count);
- ICL against BIC + 2 x the entropy of scikit-learn's ``predict_proba``;
- the choice on Old Faithful, iris and mclust's diabetes data against the
  numbers mclust publishes (sources at ``MCLUST_*`` below);
- recovery of a known 4-component mixture; a failing candidate; the
  degenerate-fit rule in closed form; cross-validation against scikit-learn's
  ``cross_val_score`` on the same splits; missing values against the
  closed-form marginal likelihood (scipy).
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.special import xlogy
from scipy.stats import multivariate_normal

from gaussmix import GMM, select_model
from gaussmix.selection import DegenerateFitWarning, is_degenerate, n_parameters

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import KFold, cross_val_score  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def faithful() -> np.ndarray:
    return np.loadtxt(DATA / "faithful.csv", delimiter=",", skiprows=2)


def diabetes() -> np.ndarray:
    return np.loadtxt(DATA / "diabetes.csv", delimiter=",", skiprows=3, usecols=(1, 2, 3))


def quiet(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        return select_model(**kwargs)


def sklearn_twin(model: GMM) -> GaussianMixture:
    """A scikit-learn GaussianMixture holding ``model``'s parameters in its own layout."""
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    kind = model.covariance_type_
    covs = model.covariances
    layout = {
        "full": covs,
        "tied": covs[0],
        "diag": np.diagonal(covs, axis1=1, axis2=2),
        "spherical": np.diagonal(covs, axis1=1, axis2=2)[:, 0],
    }[kind]
    twin = GaussianMixture(model.n_components, covariance_type=kind)
    twin.weights_, twin.means_, twin.covariances_ = model.priors, model.means, layout
    twin.precisions_cholesky_ = _compute_precision_cholesky(layout, kind)
    return twin


# ----------------------------------------------------------------------
# Criteria against scikit-learn and closed forms
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris_grid():
    X = load_iris().data
    return X, quiet(
        X=X,
        n_components=[1, 2, 3],
        covariance_type=("full", "tied", "diag", "spherical"),  # scikit-learn's twins exist
        criterion="icl",
        n_init=1,
        random_state=0,
    )


def test_bic_and_aic_equal_scikit_learns_for_the_same_fits(iris_grid):
    X, result = iris_grid
    assert len(result.table) == 12
    for row in result.table:
        model = result.models[(row["n_components"], row["covariance_type"])]
        twin = sklearn_twin(model)
        assert row["n_parameters"] == twin._n_parameters()
        assert row["bic"] == pytest.approx(twin.bic(X), rel=1e-10)
        assert row["aic"] == pytest.approx(twin.aic(X), rel=1e-10)
        assert row["log_likelihood"] == pytest.approx(twin.score(X) * len(X), rel=1e-10)


def test_icl_is_bic_plus_twice_the_entropy_of_the_responsibilities(iris_grid):
    X, result = iris_grid
    assert result.criterion == "icl"
    for row in result.table:
        twin = sklearn_twin(result.models[(row["n_components"], row["covariance_type"])])
        entropy = -xlogy(twin.predict_proba(X), twin.predict_proba(X)).sum()
        assert row["icl"] == pytest.approx(row["bic"] + 2 * entropy, rel=1e-9)
        assert row["score"] == row["icl"]
    # ICL penalizes overlap: for k = 1 (no uncertainty) it equals BIC.
    assert all(row["icl"] == row["bic"] for row in result.table if row["n_components"] == 1)


def test_full_k2_on_iris_reaches_scikit_learns_optimum(iris_grid):
    X, result = iris_grid
    row = next(r for r in result.table if (r["n_components"], r["covariance_type"]) == (2, "full"))
    reference = GaussianMixture(2, n_init=5, tol=1e-8, random_state=0).fit(X)
    assert row["bic"] == pytest.approx(reference.bic(X), abs=1e-2)


def test_n_parameters_closed_form():
    # mclust's counts for k = 3, d = 4 (VVV 44, EEE 24, VVI 26, VII 17, from its
    # "df" column: G - 1 + G d + covariance parameters).
    assert [n_parameters(3, 4, t) for t in ("full", "tied", "diag", "spherical")] == [
        44,
        24,
        26,
        17,
    ]


# ----------------------------------------------------------------------
# mclust's published choices
# ----------------------------------------------------------------------
# mclust reports BIC = 2 log L - p log n (higher is better); gaussmix and
# scikit-learn report -BIC. Sources:
# MCLUST_VIGNETTE: "A quick tour of mclust", mclust 6.1.1, inst/doc/mclust.html of
#   github.com/cran/mclust at commit 65e2a1c0538807f5e52ade030f12f5af4c1bc746:
#   diabetes (its data/diabetes.R, stored here as tests/data/diabetes.csv):
#   Mclust VVV, 3 components, log-likelihood -2303.496, BIC -4751.316 (best of all
#   14 models; VVV,4: -4784.32213); faithful (densityMclust): EEE, 3 components,
#   log-likelihood -1126.326, BIC -2314.316 (best of all 14 models).
# MCLUST_IRIS: mclust's BIC table of Mclust(iris[, -5], G = 1:9, modelNames =
#   c("EII","VII","EEI","VEI","EVI","VVI","EEE","VEE","EVV","VVV")), printed in
#   github.com/TrN000/norMmix, file "tmp" ("mclit$BIC"); VII, VVI, EEE, VVV columns
#   below. Its VVV,2 (-574.0178) is also what the issue quotes.
MCLUST_IRIS = {
    "spherical": [-1804.0854, -1012.2352, -853.8144, -812.6048, -742.6083, -705.7811,
                  -698.5413, -701.4806, -700.0276],
    "diag": [-1522.1202, -857.5515, -744.6382, -751.0198, -711.4502, -707.2901, -766.6500,
             -764.1969, -755.8290],
    "tied": [-829.9782, -688.0972, -632.9647, -646.0258, -604.8131, -609.8543, -632.4947,
             -639.2640, -653.0878],
    "full": [-829.9782, -574.0178, -580.8396, -630.6000, -676.6061, -754.7938, -806.9277,
             -830.6373, -883.6931],
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "pick", "mclust_bic"),
    [
        ("faithful", (3, "tied"), -2314.316),  # EEE,3 (MCLUST_VIGNETTE)
        ("diabetes", (3, "full"), -4751.316),  # VVV,3 (MCLUST_VIGNETTE)
    ],
)
def test_the_choice_agrees_with_mclust(name, pick, mclust_bic):
    X = {"faithful": faithful, "diabetes": diabetes}[name]()
    result = quiet(X=X, n_init=5, tol=1e-4, n_iter=1000, random_state=0)
    assert (result.best_params["n_components"], result.best_params["covariance_type"]) == pick
    # At least as good as mclust's optimum: up to the stopping tolerance (1e-4 per
    # row), and within 0.005 once EM runs on from there to tol=1e-9.
    assert result.table[result.best_index]["bic"] <= -mclust_bic + 0.3
    best = result.best_model
    polished = GMM(best.n_components, best.priors, best.means, best.covariances).from_samples(
        X, covariance_type=pick[1], n_iter=5000, tol=1e-9
    )
    assert polished.bic(X) <= -mclust_bic + 0.005


@pytest.mark.slow
def test_iris_choice_and_every_sound_cell_at_least_as_good_as_mclust():
    X = load_iris().data
    result = select_model(X, n_init=8, tol=1e-6, n_iter=1000, random_state=0)
    assert result.best_params == {"n_components": 2, "covariance_type": "full"}
    assert result.table[result.best_index]["bic"] == pytest.approx(574.0178, abs=1e-3)
    # Each cell keeps its best sound run (mclust refuses spurious fits): with eight
    # starts every cell has one, and all but at most one of the 36 are at least as good
    # as mclust's (full, k=9: its sound runs end 3.6 above).
    worse = []
    for row in result.table:
        assert row["degenerate"] is None, row
        mclust = MCLUST_IRIS[row["covariance_type"]][row["n_components"] - 1]
        if row["bic"] > -mclust + 0.01:
            worse.append(row)
    assert len(worse) <= 1, worse


@pytest.mark.slow
def test_spurious_fits_are_marked_degenerate_and_never_chosen():
    # The trap: with one random start per cell, spurious fits "better" than
    # every sound model exist in the grid, and they are exactly the ones marked
    # degenerate.
    X = load_iris().data
    with pytest.warns(DegenerateFitWarning):
        result = select_model(
            X, n_init=1, init_params="random", tol=1e-6, n_iter=1000, random_state=0
        )
    assert result.best_params == {"n_components": 2, "covariance_type": "full"}
    better = [row for row in result.table if row["bic"] < 574.0]
    assert better and all(row["degenerate"] for row in better)


# ----------------------------------------------------------------------
# Behaviour
# ----------------------------------------------------------------------
def four_clusters(seed: int, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    labels = rng.integers(0, 4, n)
    A = rng.normal(size=(4, 2, 2)) * 0.5 + np.eye(2)
    return centres[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n, 2)))


def test_bic_recovers_four_well_separated_components():
    picks = [
        quiet(
            X=four_clusters(seed), n_components=range(1, 8), covariance_type="full",
            n_init=3, random_state=seed,
        ).best_params["n_components"]
        for seed in range(10)
    ]  # fmt: skip
    assert sum(k == 4 for k in picks) >= 9, picks


def test_a_failing_candidate_is_reported_and_the_grid_returns():
    X = np.repeat(np.random.default_rng(0).normal(size=(5, 2)), 4, axis=0)  # 20 rows
    result = quiet(
        X=X, n_components=[1, 2, 30], covariance_type=["full", "diag"], n_init=1, random_state=0
    )
    failed = [row for row in result.table if row["error"]]
    assert [(r["n_components"], r["covariance_type"]) for r in failed] == [
        (30, "full"),
        (30, "diag"),
    ]
    assert "n_components=30 is larger than n_samples=20" in failed[0]["error"]
    assert failed[0]["score"] is None and not failed[0]["best"]
    assert result.best_params["n_components"] in (1, 2)
    assert "failed: ValueError" in result.to_text()


def test_every_candidate_failing_raises():
    with pytest.raises(ValueError, match="every candidate failed"):
        select_model(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), n_components=[5, 6])


def test_degenerate_rule_closed_form():
    resolution = np.array([0.1, 0.1])
    sound = np.array([np.eye(2) * 0.5, np.eye(2) * 0.2])
    assert is_degenerate(np.array([0.5, 0.5]), sound, "full", 100, resolution) is None
    # Variance below the rounding variance 0.1^2 / 12 along feature 1 of component 1.
    spike = sound.copy()
    spike[1, 1, 1] = 1e-6
    reason = is_degenerate(np.array([0.5, 0.5]), spike, "diag", 100, resolution)
    assert "component 1" in reason and "feature 1" in reason
    # Continuous data (resolution 0) do not trigger the variance floor ...
    assert is_degenerate(np.array([0.5, 0.5]), spike, "diag", 100, np.zeros(2)) is None
    # ... but 2 effective rows cannot carry a full covariance in 2-D (needs 3).
    reason = is_degenerate(np.array([0.98, 0.02]), sound, "full", 100, np.zeros(2))
    assert "2 effective rows" in reason
    assert is_degenerate(np.array([0.98, 0.02]), sound, "tied", 100, np.zeros(2)) is None


def test_results_do_not_depend_on_n_jobs_or_the_rest_of_the_grid():
    X = four_clusters(1, n=6000)
    kwargs = {
        "X": X,
        "n_components": [2, 4],
        "covariance_type": ["full", "spherical"],
        "n_init": 1,
    }
    one = quiet(**kwargs, random_state=3, n_jobs=1)
    two = quiet(**kwargs, random_state=3, n_jobs=2)
    alone = quiet(X=X, n_components=4, covariance_type="spherical", n_init=1, random_state=3)
    assert [r["bic"] for r in one.table] == pytest.approx([r["bic"] for r in two.table], rel=1e-12)
    assert alone.table[0]["bic"] == pytest.approx(one.table[-1]["bic"], rel=1e-12)


def test_warm_start_never_finds_a_worse_optimum():
    X = load_iris().data
    kwargs = {"X": X, "n_components": range(2, 6), "random_state": 5, "tol": 1e-4, "n_init": 1}
    cold, warm = quiet(**kwargs), quiet(**kwargs, warm_start=True)
    for c, w in zip(cold.table, warm.table, strict=True):
        assert w["log_likelihood"] >= c["log_likelihood"] - 1e-9 * abs(c["log_likelihood"])


def test_integer_weights_equal_repeated_rows():
    X = load_iris().data
    counts = np.random.default_rng(0).integers(1, 4, len(X))
    grid = {"n_components": 1, "covariance_type": "all", "n_init": 1}
    weighted = select_model(X, sample_weight=counts, **grid)
    repeated = select_model(np.repeat(X, counts, axis=0), **grid)
    assert [r["bic"] for r in weighted.table] == pytest.approx(
        [r["bic"] for r in repeated.table], rel=1e-10
    )


def test_missing_values_score_the_observed_entries():
    X = load_iris().data.copy()
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) < 0.05] = np.nan
    result = quiet(
        X=X, n_components=[1, 2], covariance_type=["full", "diag"], allow_missing=True,
        criterion="icl", n_init=1, random_state=0,
    )  # fmt: skip
    for row in result.table:
        model = result.models[(row["n_components"], row["covariance_type"])]
        # Closed form: p_j(x_o) = pi_j N(x_o; mu_jo, Sigma_joo) per row (scipy); the
        # log-likelihood is sum log sum_j p_j, the entropy that of p_j / sum_j p_j.
        total = entropy = 0.0
        for x in X:
            seen = ~np.isnan(x)
            joint = np.array(
                [
                    p * multivariate_normal(m[seen], c[np.ix_(seen, seen)]).pdf(x[seen])
                    for p, m, c in zip(model.priors, model.means, model.covariances, strict=True)
                ]
            )
            total += np.log(joint.sum())
            entropy -= xlogy(joint / joint.sum(), joint / joint.sum()).sum()
        assert row["log_likelihood"] == pytest.approx(total, rel=1e-9)
        assert row["icl"] == pytest.approx(row["bic"] + 2 * entropy, rel=1e-9)
    with pytest.raises(ValueError, match="allow_missing=True"):
        select_model(X, n_components=1)


def test_cross_validation_equals_scikit_learn_on_the_same_splits():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(m, 1.0, (100, 2)) for m in ([0, 0], [8, 0], [0, 8])])
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    result = quiet(
        X=X, n_components=[1, 3], covariance_type="full", criterion="cv", cv=splits,
        n_init=2, tol=1e-7, random_state=0,
    )  # fmt: skip
    for row in result.table:
        reference = cross_val_score(
            GaussianMixture(row["n_components"], n_init=2, tol=1e-7, random_state=0),
            X,
            cv=splits,
        ).mean()
        assert row["score"] == pytest.approx(-reference, rel=1e-6)
    assert result.best_params["n_components"] == 3
    assert result.best_model.n_components == 3 and result.best_model.means.shape == (3, 2)


def test_regression_selection_matches_grid_search_r2():
    from sklearn.model_selection import GridSearchCV

    from gaussmix.sklearn import GaussianMixtureRegressor

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 6, 300)
    y = np.where(x < 3, x, 6 - x) + 0.1 * rng.normal(size=x.size)  # a tent: two pieces
    X = x[:, None]
    splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    result = quiet(
        X=X, y=y, n_components=[1, 2, 3], covariance_type="full", criterion="r2",
        cv=splits, n_init=3, tol=1e-6, n_iter=500, random_state=0,
    )  # fmt: skip
    search = GridSearchCV(
        GaussianMixtureRegressor(
            1, n_init=3, tol=1e-6, n_iter=500, init_params="kmeans++", random_state=0
        ),
        {"n_components": [1, 2, 3]},
        cv=splits,
    ).fit(X, y)
    ours = [-row["score"] for row in result.table]
    assert ours == pytest.approx(search.cv_results_["mean_test_score"], abs=0.02)
    assert result.best_params["n_components"] >= 2
    assert isinstance(result.best_model, GaussianMixtureRegressor)
    assert result.best_model.predict(X[:5]).shape == (5,)


def test_text_csv_and_plot(iris_grid, tmp_path):
    _X, result = iris_grid
    text = result.to_text()
    starred = [line for line in text.splitlines() if line.startswith("*")]
    k, kind = result.best_params.values()
    assert len(starred) == 1 and starred[0].split()[1:3] == [str(k), kind]
    rows = list(csv.DictReader(io.StringIO(result.to_csv(tmp_path / "grid.csv"))))
    assert len(rows) == 12 and (tmp_path / "grid.csv").read_text() == result.to_csv()
    assert float(rows[0]["bic"]) == result.table[0]["bic"]
    assert [row["best"] for row in rows].count("True") == 1

    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = result.plot()
    assert "ICL" in ax.get_ylabel()
    labels = [line.get_label() for line in ax.get_lines()]
    assert "full (VVV)" in labels and "spherical (VII)" in labels
    assert any(label.startswith("best: k=") for label in labels)


def test_bad_arguments_name_the_argument():
    X = load_iris().data
    with pytest.raises(ValueError, match="criterion"):
        select_model(X, criterion="bayes")
    with pytest.raises(ValueError, match="covariance_type"):
        select_model(X, covariance_type=["full", "banana"])
    with pytest.raises(ValueError, match="n_components"):
        select_model(X, n_components=[0, 1])
    with pytest.raises(ValueError, match="r2"):
        select_model(X, criterion="r2")
    with pytest.raises(ValueError, match="cv"):
        select_model(X, criterion="cv", cv=1)


def test_a_dask_array_gives_the_in_memory_table():
    da = pytest.importorskip("dask.array")
    X = load_iris().data
    grid = {"n_components": [1, 2, 3], "n_init": 1, "random_state": 0}
    in_memory = quiet(X=X, **grid)
    chunked = quiet(X=da.from_array(X, chunks=(40, 4)), **grid)
    assert chunked.best_params == in_memory.best_params
    assert [r["bic"] for r in chunked.table] == pytest.approx(
        [r["bic"] for r in in_memory.table], rel=1e-10
    )
    with pytest.raises(ValueError, match="Dask array"):
        select_model(da.from_array(X, chunks=(40, 4)), criterion="cv")


def test_auto_start_is_kmeans_on_large_data_and_hc_on_small(monkeypatch):
    # "auto" resolves by the number of fitted rows; the resolved start gives
    # exactly the table of the start named explicitly (below the threshold,
    # "hc": the first run from the hierarchy, the others from k-means++).
    from gaussmix.selection import criteria

    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(c, 1.0, (300, 2)) for c in (-6.0, 0.0, 6.0)])
    grid = dict(n_components=range(1, 4), covariance_type=("full", "diag"), n_init=1)

    def scores(**kwargs):
        table = select_model(X, random_state=5, **grid, **kwargs).table
        return [(row["score"], row["n_iter"]) for row in table]

    small = scores()
    assert small == scores(init_params="hc")
    monkeypatch.setattr(criteria, "AUTO_KMEANS_ROWS", X.shape[0])
    large = scores()
    assert large == scores(init_params="kmeans")
    assert large != small
