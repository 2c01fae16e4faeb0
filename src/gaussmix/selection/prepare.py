"""The data of a model search prepared once, and one candidate's fit on them.

One engine source per covariance type shares the expensive preparation
(:meth:`~gaussmix.em.sources.StatisticsSource.with_structure`); each candidate
starts from gmr's initializers or from a k-means start refined on a subsample,
and its table row reads the log-likelihood and the responsibilities' entropy off
the engine's statistics of one final E-step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import (
    check_choice,
    check_n_components,
)
from ..em import dense, driver, init
from ..em.agglomerative import HC_ROWS, Hierarchy
from ..em.families import Gaussians, MaximumLikelihood
from ..em.front import SourceRequest, open_source
from ..fitting import store_fit
from ..gmm import GMM
from . import criteria


# ----------------------------------------------------------------------
# Preparation: the data once, one source per covariance type
# ----------------------------------------------------------------------
class Prepared:
    """The validated rows of one fit set (all data, or a fold's training rows).

    ``X`` and ``weights`` are the rows in memory (None for a Dask array);
    ``init_data`` and ``init_weights`` the rows the initializations draw from.
    """

    def __init__(
        self,
        X: np.ndarray | None,
        weights: np.ndarray | None,
        covariance_types: list[str],
        missing: bool,
        n_jobs: int,
        base: Any = None,
        seed: int = 0,
        noise: tuple = (None, None),
    ) -> None:
        self.X, self.weights, self.missing = X, weights, missing
        self.sources: dict[str, Any] = {}
        if base is not None:  # a DaskSource: one pass over the chunks, already made
            self.init_weights = base.initialization_weights
        else:
            request = SourceRequest(
                X,
                weights,
                covariance_types[0],
                n_components=1,
                allow_missing=missing,
                n_jobs=1 if missing else n_jobs,
                validated=True,
                noise_covariances=noise[0],
                projection=noise[1],
            )
            base = open_source(request)
            self.init_weights = weights
        # Rows (total weight) that carry information, for the degenerate-fit
        # rule of cross-validation folds; None for Dask (the grid then reads
        # it off the statistics).
        self.n_samples: float | None = None
        if X is not None:
            usable = ~np.isnan(X).all(axis=1) if missing else slice(None)
            self.n_samples = float(base.n_samples if weights is None else weights[usable].sum())
        # The expensive preparation (the shift, the missing-value pattern
        # groups, a pass over Dask chunks) is done once; the sources of the
        # other covariance types share it and differ only in their type and
        # the chunk size of their features.
        for covariance_type in covariance_types:
            self.sources[covariance_type] = base.with_structure(covariance_type)
        self.init_data = base.initialization_data()
        self.usable_rows = base.n_samples
        # Small complete in-memory rows: EM runs on them directly (em.dense).
        self.dense: dense.DenseRows | None = None
        # Known noise or a projection: the rows are not draws of the mixture itself.
        self.noisy = noise[0] is not None or noise[1] is not None
        plain = not self.noisy and not missing and X is not None
        if plain and X.dtype == np.float64 and X.size <= dense.DENSE_MAX_ELEMENTS:
            self.dense = dense.DenseRows(X, weights)
        self._subsample_of = (covariance_types, n_jobs, seed)
        self._subsample: Prepared | None = None
        self._screen: Prepared | None = None
        self._hierarchies: dict[int, Hierarchy] = {}
        self._resolution: np.ndarray | None = None
        self._lock = threading.Lock()

    def hierarchy(self, tree: int = 0) -> Hierarchy:
        """The agglomerative hierarchy of the initialization data (``init_params="hc"``).

        Made once and shared by every candidate (one tree gives the partitions
        of every k); a subsample of large data is drawn from the stream
        ``(seed, 0, 4)``. ``tree`` > 0 (the later runs' starts of
        ``strategy="mclust"``): the hierarchy of another random subset,
        :data:`HC_SUBSET` of the rows (at most ``HC_ROWS``), drawn from the
        stream ``(seed, 0, 4, tree)``.
        """
        with self._lock:
            if tree not in self._hierarchies:
                self._hierarchies[tree] = self._new_hierarchy(tree)
            return self._hierarchies[tree]

    def make_hierarchies(self, trees: list[int], run: Callable[[list, Callable], list]) -> None:
        """Make those of the hierarchies ``trees`` not made yet, through ``run(trees, work)``.

        (``run`` puts them on the cores: the grid's workers.)
        """
        with self._lock:
            missing = [tree for tree in trees if tree not in self._hierarchies]
        if missing:
            # Imported here, once: forked workers would each import it (376
            # modules, 0.3-0.6 s) at every call, the parent never.
            import scipy.cluster.hierarchy  # noqa: F401
        made = run(missing, self._new_hierarchy)
        with self._lock:
            for tree, hierarchy in zip(missing, made, strict=True):
                self._hierarchies.setdefault(tree, hierarchy)

    def make_shared(self, options: dict, run: Callable[[list, Callable], list]) -> None:
        """Make what :func:`fit_one` reads of these rows on first use (the hierarchies of
        its hierarchical starts, the data's resolution) before the candidates go to forked
        workers, each of which would make its own. ``run`` as for :meth:`make_hierarchies`.
        """
        choice = options["init_params"]
        if choice == "hc" or (
            choice == "auto" and resolved_init(choice, self.usable_rows) == "kmeans++"
        ):
            self.make_hierarchies(list(range(hierarchical_runs(options))), run)
        if self.X is not None:
            self.resolution()

    def _new_hierarchy(self, tree: int) -> Hierarchy:
        seed = self._subsample_of[2]
        key = (0, 4) if tree == 0 else (0, 4, tree)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
        n = self.init_data.shape[0]
        rows = HC_ROWS if tree == 0 else min(HC_ROWS, max(2, int(HC_SUBSET * n)))
        return Hierarchy(self.init_data, self.init_weights, rng, max_rows=rows)

    def screen(self) -> Prepared:
        """The rows of the first hierarchy (:meth:`hierarchy`), prepared.

        Where ``strategy="mclust"`` compares the starts of large data
        (:mod:`gaussmix.selection.screening`): at most
        :data:`~gaussmix.em.agglomerative.HC_ROWS` rows, the very rows whose
        partitions the hierarchical starts are. Made once and shared.
        """
        rows = self.hierarchy(0).rows
        with self._lock:
            if self._screen is None:
                types, n_jobs, seed = self._subsample_of
                weights = None if self.init_weights is None else self.init_weights[rows]
                data = np.ascontiguousarray(self.init_data[rows], dtype=np.float64)
                self._screen = Prepared(data, weights, types, False, n_jobs, seed=seed)
            return self._screen

    def resolution(self) -> np.ndarray:
        """The smallest gaps of the initialization data's columns (the degenerate-fit rule's)."""
        with self._lock:
            if self._resolution is None:
                self._resolution = criteria.data_resolution(self.init_data)
            return self._resolution

    def subsample(self) -> Prepared:
        """The rows ``init_params="kmeans"`` starts are refined on, prepared.

        A quarter of the rows, at most :data:`KMEANS_SAMPLE_ROWS`; when that is
        under :data:`KMEANS_ROWS` rows, all the rows (self for complete
        in-memory data) and no refinement. Made
        once and shared by every candidate; the rows are drawn from the
        stream ``(seed, 0, 3)``, so no start depends on the rest of the grid.
        With missing values or a Dask array these are complete rows of the
        initialization data (missing entries filled with column means).
        """
        with self._lock:
            if self._subsample is None:
                n = self.init_data.shape[0]
                size = min(KMEANS_SAMPLE_ROWS, n // 4)
                if size < KMEANS_ROWS and self.X is not None and not self.missing:
                    self._subsample = self
                else:
                    types, n_jobs, seed = self._subsample_of
                    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 3)))
                    rows = (
                        np.sort(rng.choice(n, size=size, replace=False))
                        if size >= KMEANS_ROWS
                        else np.arange(n)
                    )
                    weights = None if self.init_weights is None else self.init_weights[rows]
                    data = np.ascontiguousarray(self.init_data[rows], dtype=np.float64)
                    self._subsample = Prepared(data, weights, types, False, n_jobs)
            return self._subsample


# ----------------------------------------------------------------------
# One candidate
# ----------------------------------------------------------------------
def fit_one(
    prepared: Prepared,
    k: int,
    covariance_type: str,
    rng: np.random.Generator,
    options: dict,
    warm: tuple | None = None,
) -> GMM:
    """EM for one candidate over its prepared source (``warm``: one more run from there)."""
    check_n_components(k, prepared.usable_rows)
    source = prepared.sources[covariance_type]
    family = MaximumLikelihood(covariance_type, options["reg_covar"])
    model = GMM(k, random_state=rng)
    n_init = options["n_init"]

    def initialize(run: int):
        if run == n_init:  # the warm start, after the cold runs
            return family.start(*warm)
        choice = options["init_params"]
        start = resolved_init(choice, prepared.usable_rows)
        # "hc", and "auto" below AUTO_KMEANS_ROWS rows, start the first run
        # from the agglomerative hierarchy, the others as "auto" does.
        hierarchical = choice == "hc" or (choice == "auto" and start == "kmeans++")
        if hierarchical and run < options.get("hc_trees", 1):
            return family.start(
                *init.hierarchical_start(
                    prepared.init_data,
                    prepared.init_weights,
                    k,
                    None,
                    prepared.hierarchy(run),
                    options["reg_covar"],
                )
            )
        if start == "hc":  # the other runs start as "auto" does
            start = resolved_init("auto", prepared.usable_rows)
        if start == "kmeans":
            return kmeans_start_of(prepared, k, covariance_type, rng, options, family)
        return family.start(
            *init.initial_parameters(
                prepared.init_data,
                prepared.init_weights,
                start,
                model.n_components,
                model.random_state,
            )
        )

    runs: list[driver.EMResult] = []
    batch = None
    if dense.dense_applies(prepared.dense, k, family, options["rule"]):
        # The runs of the candidate go through their iterations together.

        def batch(states, rule=options["rule"], lower_bounds=None):
            return dense.run_batch(
                prepared.dense,
                source,
                family,
                states,
                n_iter=options["n_iter"],
                rule=rule,
                lower_bounds=lower_bounds,
            )

    best = driver.fit(
        source,
        family,
        initialize,
        n_init=n_init + (warm is not None),
        n_iter=options["n_iter"],
        rule=options["rule"],
        run_ended=lambda run, result: runs.append(result),
        batch=batch,
    )
    polish = options.get("polish")
    if polish is not None and not best.stopped:
        # The best runs go on to the finer rule (they all stopped earlier).
        leaders = sorted(
            (run for run in runs if np.isfinite(run.lower_bound)),
            key=lambda run: -run.lower_bound,
        )
        sound = [run for run in leaders if is_sound(run, covariance_type, prepared, family)]
        leaders = (sound or leaders)[: options.get("polish_runs", 1)]
        if batch is not None:
            further = batch(
                [run.state for run in leaders],
                rule=polish,
                lower_bounds=[run.lower_bound for run in leaders],
            )
        else:
            further = [
                driver.run_em(
                    source,
                    family,
                    run.state,
                    n_iter=options["n_iter"],
                    rule=polish,
                    lower_bound=run.lower_bound,
                )
                for run in leaders
            ]
        runs = [
            more._replace(n_iter=run.n_iter + more.n_iter, run=run.run)
            for run, more in zip(leaders, further, strict=True)
        ]
        best = max(runs, key=lambda run: run.lower_bound) if runs else best
    best = best_sound_run(best, runs, covariance_type, prepared, family)
    return store_fit(
        model,
        family.mixture(best.state),
        covariance_type,
        best.converged,
        best.n_iter,
        best.lower_bound,
    )


def best_sound_run(
    best: driver.EMResult,
    runs: list[driver.EMResult],
    covariance_type: str,
    prepared: Prepared,
    family: MaximumLikelihood,
) -> driver.EMResult:
    """The run of highest likelihood whose fit is not degenerate, if any run is sound.

    With several starts the best likelihood can belong to a spurious optimum
    (a component collapsed onto a few rows or onto the data's rounding, see
    :func:`gaussmix.selection.is_degenerate`) while another run found a sound
    one; mclust refuses such fits, so the candidate keeps the best sound run
    (and is marked degenerate only when every run is).
    """
    if len(runs) < 2:
        return best

    def sound(run: driver.EMResult) -> bool:
        return is_sound(run, covariance_type, prepared, family)

    if sound(best):
        return best
    candidates = [run for run in runs if np.isfinite(run.lower_bound) and sound(run)]
    if not candidates:
        return best
    return max(candidates, key=lambda run: run.lower_bound)._replace(stopped=best.stopped)


def strategy_options(strategy: str, covariance_type: Any, rule: driver.ConvergenceRule) -> dict:
    """The options of :func:`fit_one` that ``select_model``'s ``strategy`` sets.

    Raises
    ------
    ValueError
        For a strategy not in :data:`STRATEGIES`.
    """
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    if strategy == "auto":
        every = isinstance(covariance_type, str) and covariance_type == "all"
        strategy = "mclust" if every else "standard"
    if strategy == "standard":
        return {"hc_trees": 1, "polish": None}
    if rule.tol is None:
        return {"hc_trees": MCLUST_TREES, "polish": None}
    return {
        "hc_trees": MCLUST_TREES,
        "polish": rule._replace(tol=rule.tol * MCLUST_BEST_TOL),
        "polish_runs": MCLUST_POLISHED,
        "screen": True,
    }


def is_sound(
    run: driver.EMResult, covariance_type: str, prepared: Prepared, family: MaximumLikelihood
) -> bool:
    """Whether a run's fit is not degenerate (:func:`gaussmix.selection.is_degenerate`)."""
    n = prepared.n_samples if prepared.n_samples is not None else float(prepared.usable_rows)
    fitted = family.mixture(run.state)
    reason = criteria.is_degenerate(
        fitted.priors, fitted.covariances, covariance_type, n, prepared.resolution()
    )
    return reason is None


def hierarchical_runs(options: dict) -> int:
    """How many of a candidate's ``n_init`` runs start from a hierarchy (run r from tree r):
    ``min(n_init, hc_trees)``, at least 1."""
    return min(options["n_init"], options.get("hc_trees", 1))


def resolved_init(init_params: str, n_rows: int) -> str:
    """The start ``init_params`` means for data of ``n_rows`` rows ("auto" resolved)."""
    if init_params == "auto":
        return "kmeans" if n_rows >= criteria.AUTO_KMEANS_ROWS else "kmeans++"
    return init_params


#: ``strategy``'s names (:func:`gaussmix.select_model`).
STRATEGIES = ("auto", "mclust", "standard")

#: Runs of a candidate that start from model-based hierarchies under
#: ``strategy="mclust"`` (the first from all the rows' tree, the others from
#: subsets'). With ``n_init=5``, every run to 1e-4 and the best on to 1e-5, two
#: reached at least mclust's BIC in 118, 119, 116 and 110 cells of Old Faithful,
#: iris, diabetes and the banknotes, one in 120, 119, 120 and 106, three in 116,
#: 115, 114 and 109.
MCLUST_TREES = 2

#: Under ``strategy="mclust"`` this many of a candidate's best runs (sound
#: ones first) go on from ``tol`` to ``tol`` x :data:`MCLUST_BEST_TOL`; one
#: reached 109, 117, 112 and 109 cells of the four data sets, two 118, 118, 115
#: and 110 (and every run to ``tol / 10``, the best one on: 118, 119, 116, 110,
#: at 1.05-1.45x the CPU time).
MCLUST_POLISHED = 2

#: ... to this fraction of ``tol``.
MCLUST_BEST_TOL = 0.01


#: The fraction of the rows (at most :data:`~gaussmix.em.agglomerative.HC_ROWS`)
#: agglomerated by the second and later hierarchies of ``strategy="mclust"``.
HC_SUBSET = 0.75

#: Rows (at most) of the subsample on which ``init_params="kmeans"`` starts are
#: made and refined by EM before the fit to all the rows.
KMEANS_SAMPLE_ROWS = 20_000

#: Rows (at most) of the subsample on which its k-means runs.
KMEANS_ROWS = 2048

#: k-means runs per start, the best (by the likelihood of their moments) kept.
KMEANS_STARTS = 3

#: The refinement on the subsample stops at this fraction of ``tol``.
KMEANS_TOL_FACTOR = 0.1


def kmeans_start_of(
    prepared: Prepared,
    k: int,
    covariance_type: str,
    rng: np.random.Generator,
    options: dict,
    family: MaximumLikelihood,
) -> Gaussians:
    """The starting state of ``init_params="kmeans"`` (see :func:`select_model`).

    :func:`gaussmix.em.init.kmeans_start` on the candidates' shared subsample
    (at most :data:`KMEANS_SAMPLE_ROWS` rows of the initialization data),
    then, when the data have more rows than that and the rule has a ``tol``,
    EM on the subsample until its change falls below ``tol`` x
    :data:`KMEANS_TOL_FACTOR`; its result starts the fit to all the rows.
    """
    sub = prepared.subsample()
    start = family.start(
        *init.kmeans_start(
            sub.init_data,
            k,
            rng,
            sub.init_weights,
            reg_covar=options["reg_covar"],
            sample_rows=sub.init_data.shape[0],
            kmeans_rows=KMEANS_ROWS,
            n_starts=KMEANS_STARTS,
            covariance_type=covariance_type,
        )
    )
    rule = options["rule"]
    if sub is prepared or rule.tol is None or sub.init_data.shape[0] >= prepared.usable_rows:
        # no subsample smaller than the data (small data with missing values
        # or a Dask array use all their rows, filled): nothing to refine on
        return start
    refined = driver.run_em(
        sub.sources[covariance_type],
        family,
        start,
        n_iter=options["n_iter"],
        rule=rule._replace(tol=rule.tol * KMEANS_TOL_FACTOR),
    )
    return refined.state


def final_statistics(prepared: Prepared, model: GMM) -> tuple[float, float, float]:
    """The engine's statistics of all rows at the model's final parameters.

    Returns the total (weighted) log-likelihood, n (the total weight of the
    rows that carry information: rows with nothing observed carry none) and
    the entropy of the responsibilities, -sum_i w_i sum_j r_ij ln r_ij (ICL's
    penalty), all from one E-step through the candidate's source.
    """
    source = prepared.sources[model.covariance_type_]
    stats, _ = source.statistics(
        Gaussians(model.priors, model.means, model.covariances), None, False
    )
    return float(stats.log_lik_sum), float(stats.weight_sum), float(stats.resp_entropy)
