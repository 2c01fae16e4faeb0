"""strategy="mclust" on large data: starts screened on the hierarchy's rows and shared by the grid
(gaussmix.selection.screening).

References: the BIC of every cell against a brute force that starts EM over all the rows from
every grouping of the data's true clusters (the optimum a screened search must reach); the
screened rows' partitions against scipy's log-densities; the fit's independence from the threads
and from the order of the grid; the rule of when screening applies.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from gaussmix import GMM, select_model
from gaussmix.em import dense
from gaussmix.em.driver import convergence_rule
from gaussmix.kernels import batched
from gaussmix.selection import screening, workers
from gaussmix.selection.criteria import n_parameters
from gaussmix.selection.prepare import Prepared, strategy_options


def _clusters(n: int = 10_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six clusters in 8-D (benchmarks/bench_mclust.py's generator), and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (6, 8))
    shapes = rng.normal(size=(6, 8, 8)) * 0.4 + np.eye(8)
    labels = rng.integers(0, 6, n)
    X = centres[labels] + np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(n, 8)))
    return X, labels


def _select(X: np.ndarray, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = select_model(
            X,
            n_components=options.pop("n_components", [1, 2, 3]),
            covariance_type=options.pop("covariance_type", "all"),
            strategy=options.pop("strategy", "mclust"),
            random_state=0,
            **options,
        )
    return {(row["covariance_type"], row["n_components"]): row["bic"] for row in result.table}


def _grouping_bic(X, labels, groups, covariance_type) -> float:
    """BIC of EM over all the rows started from one grouping of the true clusters."""
    k = len(groups)
    merged = np.empty_like(labels)
    for j, group in enumerate(groups):
        merged[np.isin(labels, group)] = j
    priors = np.bincount(merged, minlength=k) / len(X)
    means = np.array([X[merged == j].mean(axis=0) for j in range(k)])
    covariances = np.array([np.cov(X[merged == j].T) for j in range(k)])
    model = GMM(k, priors=priors, means=means, covariances=covariances).from_samples(
        X, covariance_type=covariance_type, n_iter=500, tol=1e-6
    )
    log_lik = model.score_samples(X).sum()
    return -2 * log_lik + n_parameters(k, X.shape[1], covariance_type) * math.log(len(X))


def _groupings(n_clusters: int, k: int):
    """Every partition of range(n_clusters) into k non-empty groups."""
    for assignment in itertools.product(range(k), repeat=n_clusters):
        if assignment[0] == 0 and len(set(assignment)) == k:
            first_seen = [assignment.index(g) for g in range(k)]
            if first_seen == sorted(first_seen):
                yield [[c for c in range(n_clusters) if assignment[c] == g] for g in range(k)]


@pytest.mark.slow
def test_screened_cells_reach_the_best_grouping_of_the_true_clusters():
    # Three groups of the six clusters: the best of the 90 groupings (EM over all the rows
    # from each) is the reference. Without screening (every run over all the rows, no shared
    # starts) VII at k = 3 ended 4,200 BIC units above it (on 12,000 such rows VVV too, 2,600).
    X, labels = _clusters()
    calls = []
    original = screening.Screening.__init__

    def spy(self, *args, **kwargs):
        calls.append(1)
        original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(screening.Screening, "__init__", spy)
        bic = _select(X, covariance_type=("VVV", "VII"), n_components=range(1, 7))
    assert calls, "the grid was not screened"
    for covariance_type in ("full", "spherical"):
        reference = min(
            _grouping_bic(X, labels, groups, covariance_type) for groups in _groupings(6, 3)
        )
        assert bic[(covariance_type, 3)] <= reference + 1.0, covariance_type


@pytest.mark.slow
def test_screening_does_not_depend_on_threads_or_the_order_of_the_grid(monkeypatch):
    # n_jobs=2: forked workers on Linux (gaussmix.selection.workers), then threads.
    X = _clusters(seed=1)[0][:, :3]
    one = _select(X, n_jobs=1, covariance_type=("VVV", "EEE", "VII", "VVE"))
    two = _select(X, n_jobs=2, covariance_type=("VVE", "VII", "VVV", "EEE"))
    assert one == two
    assert one == _select(X, n_jobs=2, covariance_type=("VVV", "EEE", "VII", "VVE"))
    monkeypatch.setattr(workers, "can_fork", lambda: False)
    assert one == _select(X, n_jobs=2, covariance_type=("VVE", "VII", "VVV", "EEE"))


@pytest.mark.slow
def test_screening_applies_only_to_mclusts_strategy_on_large_data(monkeypatch):
    X = _clusters(seed=2)[0][:, :3]
    calls = []
    original = screening.Screening.__init__

    def spy(self, *args, **kwargs):
        calls.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(screening.Screening, "__init__", spy)
    grid = {"n_components": [1, 2], "covariance_type": ("VVV", "VII"), "n_init": 2}
    _select(X, strategy="mclust", **grid)
    assert len(calls) == 1
    for options in (
        {"strategy": "standard"},  # scikit-learn's types and other grids: unchanged
        {"strategy": "mclust", "init_params": "kmeans"},
        {"strategy": "mclust", "warm_start": True},
        {"strategy": "mclust", "tol": None, "n_iter": 5},
    ):
        _select(X, **grid, **options)
        assert len(calls) == 1, options
    options = strategy_options("mclust", "all", convergence_rule(1e-3, None))
    options.update(init_params="auto", rule=convergence_rule(1e-3, None))
    cells = [(k, "VVV") for k in (1, 2, 3)]

    def prepared(rows):
        return Prepared(rows, None, ["VVV"], False, 1)

    assert screening.screens(prepared(X), options, cells)
    assert not screening.screens(prepared(X[: screening.SCREEN_MIN_ROWS - 1]), options, cells)
    weights = np.ones(len(X))
    assert not screening.screens(Prepared(X, weights, ["VVV"], False, 1), options, cells)
    # Many features: the screened rows (at most HC_ROWS) are too few for the largest
    # unconstrained candidate (VVV with 3 components in 20-D: 692 parameters).
    wide = np.random.default_rng(3).normal(size=(screening.SCREEN_MIN_ROWS, 20))
    assert not screening.screens(prepared(wide), options, cells)
    assert screening.screens(prepared(wide), options, cells[:1])


def test_screening_keeps_standard_strategy_unchanged(monkeypatch):
    X = _clusters(seed=4)[0][:, :3]
    grid = {"n_components": [1, 2], "covariance_type": ("VVV", "VII"), "n_init": 2}
    standard = _select(X, strategy="standard", **grid)
    monkeypatch.setattr(screening, "SCREEN_MIN_ROWS", 10**9)
    assert standard == _select(X, strategy="standard", **grid)


def test_map_labels_are_the_most_likely_components_by_scipy():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3)) * 3
    priors = np.array([0.2, 0.5, 0.3])
    means = rng.normal(size=(3, 3))
    factors = rng.normal(size=(3, 3, 3))
    covariances = factors @ np.swapaxes(factors, 1, 2) + np.eye(3)
    reference = np.argmax(
        [
            np.log(p) + multivariate_normal(m, c).logpdf(X)
            for p, m, c in zip(priors, means, covariances, strict=True)
        ],
        axis=0,
    )
    np.testing.assert_array_equal(screening.map_labels(X, (priors, means, covariances)), reference)
    singular = covariances.copy()
    singular[1] = 0.0
    assert screening.map_labels(X, (priors, means, singular)) is None


def test_optima_ranked_without_the_dense_kernel_by_the_engines_e_step(monkeypatch):
    # Where the compiled dense E-step does not run, numpy's would hold (n, B, k) arrays of
    # all the rows: the optima are ranked by the engine's E-step instead, to the same cells.
    X = _clusters(seed=6)[0][:, :3]
    # One process: the spy sees the calls (forked workers' calls stay in the workers).
    grid = {"n_components": [2, 3], "covariance_type": ("VVV", "EVE"), "n_init": 3, "n_jobs": 1}
    ranked = []
    original = dense.mean_log_likelihoods

    def spy(rows, states):
        ranked.append(len(rows.X))
        return original(rows, states)

    monkeypatch.setattr(dense, "mean_log_likelihoods", spy)
    if batched.has_dense_responsibilities():
        with_kernel = _select(X, **grid)
        assert ranked, "no candidate had optima to rank"
    else:
        with_kernel = None
    ranked.clear()
    monkeypatch.setattr(batched, "has_dense_responsibilities", lambda: False)
    without = _select(X, **grid)
    assert ranked == []
    if with_kernel is not None:
        assert without.keys() == with_kernel.keys()
        for cell, value in without.items():
            assert value == pytest.approx(with_kernel[cell], rel=1e-9, abs=1e-6), cell


def test_screened_noisy_or_projected_rows_rank_optima_by_the_convolved_likelihood(monkeypatch):
    # With known noise (and a projection of d = 2 true values onto m = 3 observed columns)
    # a candidate's optima are ranked by the convolved mixture's likelihood of the observed
    # rows, not by the plain mixture's (of the wrong columns: every cell failed).
    rng = np.random.default_rng(7)
    V = np.vstack([rng.normal(size=(6000, 2)), rng.normal(size=(6000, 2)) + 5.0])
    R = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    X = V @ R.T + rng.normal(size=(12_000, 3)) * 0.3
    calls, ranked = [], []
    original, rank = screening.Screening.__init__, dense.mean_log_likelihoods

    def spy(self, *args, **kwargs):
        calls.append(1)
        original(self, *args, **kwargs)

    def rank_spy(rows, states):
        ranked.append(1)
        return rank(rows, states)

    monkeypatch.setattr(screening.Screening, "__init__", spy)
    monkeypatch.setattr(dense, "mean_log_likelihoods", rank_spy)
    grid = {"n_components": [2, 3], "covariance_type": ("VVV", "VII")}
    for options in (
        {"noise_covariances": np.eye(3) * 0.09, "projection": R},
        {"noise_covariances": np.eye(3) * 0.09},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = select_model(X, strategy="mclust", random_state=0, **grid, **options)
        assert calls, "the grid was not screened"
        for row in result.table:
            assert row["error"] is None and np.isfinite(row["bic"]), row
        calls.clear()
    assert ranked == []


@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    relabel=st.permutations(range(5)),
    flips=st.lists(st.integers(0, 39), max_size=3),
)
@settings(max_examples=200, deadline=None)
def test_same_partition_up_to_the_names_of_the_groups(labels, relabel, flips):
    a = np.array(labels)
    b = np.array(relabel)[a]
    for i in flips:  # move a few rows to another group (or leave the partition as it was)
        if i < b.size:
            b[i] = (b[i] + 1) % 6
    # The reference: each group of one labeling meets one group of the other, both ways.
    meets_a = {x: {y for x2, y in zip(a, b, strict=True) if x2 == x} for x in set(a.tolist())}
    meets_b = {y: {x for x, y2 in zip(a, b, strict=True) if y2 == y} for y in set(b.tolist())}
    expected = all(len(v) == 1 for v in meets_a.values()) and all(
        len(v) == 1 for v in meets_b.values()
    )
    assert screening._same(a, b) is expected
    assert screening._same(b, a) is expected
