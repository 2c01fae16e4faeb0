"""``strategy="mclust"`` on large data: starts compared on a subsample and shared by the grid.

On large data (at least :data:`SCREEN_MIN_ROWS` rows) a candidate's
``n_init`` EM runs over all the rows were most of a grid's time, and in
mclust's 14 x 9 grid on 20,000 x 8 rows about one cell in seven still ended
in a worse optimum than ``Mclust()``'s (hundreds to thousands of BIC units:
the top of our hierarchy grouped the true clusters otherwise, or the splits
of k above the data's fell elsewhere). Here the starts are run on the rows
of the first hierarchy (``Prepared.screen``: at most
:data:`~gaussmix.em.agglomerative.HC_ROWS` rows, as mclust's own hierarchy
sees), shared across the grid, and only the best goes on over all the rows.
In three steps:

1. every candidate's ``n_init`` starts (the hierarchies' partitions and
   k-means++ seeds drawn from the screened rows, as ``strategy="mclust"``
   starts them) run EM on the screened rows to ``tol``;
2. for every k, starts shared by the candidates with k components (mclust
   starts all 14 models from one partition): the partitions of the screened
   rows (each row to its most likely component) by the
   :data:`SHARED_PARTITIONS` candidates of k components with the best BIC on
   those rows, as hard partitions; and, from the best candidate of every
   k' > k, the mixture of k components that repeatedly merging its cheapest
   pair of components leaves (:func:`gaussmix.em.agglomerative.merge_components`:
   the merge that keeps the screened rows likeliest);
3. every candidate runs EM from the shared starts of its k on the screened
   rows too; of its screened runs' distinct optima (sound ones first,
   :func:`gaussmix.selection.is_degenerate`) the one whose parameters give
   all the rows the highest likelihood (one E-step each: the screened rows'
   own likelihood favours the optima that overfit them) runs EM over all the
   rows to ``tol`` x ``MCLUST_BEST_TOL`` (of ``gaussmix.selection.prepare``),
   accelerated by SQUAREM (:mod:`gaussmix.em.squarem`: on 20,000 x 8 rows 1,079
   E-steps where plain EM took 1,504; 123 of the 126 cells' BIC as good or
   better, VVE at k = 9 0.8 units worse, and one cell more at mclust's BIC
   or better against each of R's seeds 0, 1, 3 and 4).

Step 2 makes a candidate's fit depend on the rest of the grid (the fits of
other candidates with as many or more components) but not on the order in
which candidates run, the threads or ``n_jobs``: steps 1 and 3 are per
candidate, step 2 runs once between them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_n_components
from ..em import dense, driver, init, squarem
from ..em.agglomerative import HC_ROWS, component_log_joint, merge_components
from ..em.families import Gaussians, MaximumLikelihood
from ..fitting import store_fit
from ..gmm import GMM
from ..kernels import batched
from . import criteria
from .prepare import Prepared, best_sound_run, hierarchical_runs, is_sound

__all__ = [
    "SCREEN_DENSE_ELEMENTS",
    "SCREEN_MIN_ROWS",
    "SCREEN_ROWS_PER_PARAMETER",
    "SHARED_PARTITIONS",
    "Screening",
    "map_labels",
    "screens",
]

#: Fewest usable rows for which ``strategy="mclust"`` screens its starts on the
#: hierarchy's rows (fewer: every run over all the rows).
SCREEN_MIN_ROWS = 10_000

#: Screened rows needed per free parameter of the grid's largest unconstrained
#: (VVV) candidate; with fewer (many features) the starts are not screened.
SCREEN_ROWS_PER_PARAMETER = 4

#: Distinct partitions of the screened rows, by the best candidates of each k,
#: offered to every candidate with k components. On the 20,000 x 8 benchmark
#: data one reached at least ``Mclust()``'s BIC in 114, 111, 112, 114 and 113
#: of 126 cells (R seeds 0-4), three in 119, 116, 116, 118, 117, two (with the
#: merged mixtures) in 120, 117, 118, 119, 117.
SHARED_PARTITIONS = 2

#: Most entries (k n d) of one screened run's whitened rows for which a candidate's
#: screened runs go through :func:`gaussmix.em.dense.run_batch` together.
SCREEN_DENSE_ELEMENTS = 200_000


def screens(prepared: Prepared, options: dict, grid: list) -> bool:
    """Whether the grid's starts are screened: ``strategy="mclust"``, a float ``tol``,
    ``init_params`` "auto" or "hc", at least :data:`SCREEN_MIN_ROWS` complete rows in memory
    without ``sample_weight`` (the hierarchy draws its rows by weight), and at least
    :data:`SCREEN_ROWS_PER_PARAMETER` screened rows per parameter of the grid's largest
    unconstrained candidate."""
    if not (
        options.get("screen", False)
        and prepared.X is not None
        and prepared.weights is None
        and not prepared.missing
        and prepared.dense is None
        and prepared.usable_rows >= SCREEN_MIN_ROWS
        and options["rule"].tol is not None
        and options["init_params"] in ("auto", "hc")
    ):
        return False
    d = prepared.init_data.shape[1]
    largest = criteria.n_parameters(max(k for k, _ in grid), d, "full")
    screened = min(prepared.usable_rows, HC_ROWS)
    return screened >= SCREEN_ROWS_PER_PARAMETER * largest


def map_labels(X: np.ndarray, gaussians: tuple) -> np.ndarray | None:
    """Each row's most likely component (0-based); None when a covariance does not factorize."""
    log_joint = component_log_joint(X, *gaussians)
    return None if log_joint is None else np.argmax(log_joint, axis=0).astype(np.intp)


class Screening:
    """Steps 1 and 2 of the module's text for a grid; ``fit`` is step 3 for one candidate.

    Parameters
    ----------
    prepared : Prepared
        All the rows (their ``Prepared.screen()`` rows are screened).
    grid : list of (k, covariance_type)
    options : dict
        :func:`gaussmix.select_model`'s options (``n_init``, ``n_iter``,
        ``rule``, ``reg_covar``, ``hc_trees``, ``polish``).
    rng_of : callable
        ``rng_of(k, covariance_type)``: the candidate's random stream.
    run : callable
        ``run(tasks, work)``: ``work`` of every task, results in order (the
        grid's threads).
    """

    def __init__(
        self,
        prepared: Prepared,
        grid: list,
        options: dict,
        rng_of: Callable[[int, str], np.random.Generator],
        run: Callable[[list, Callable], list],
    ) -> None:
        self.prepared, self.options, self.rng_of = prepared, options, rng_of
        # The hierarchies every candidate starts from (the first's rows are the
        # screened rows), made on the workers before the candidates run: in
        # forked workers each would otherwise make its own.
        prepared.make_hierarchies(list(range(hierarchical_runs(options))), run)
        self.screen = prepared.screen()
        # All the rows, for ranking a candidate's screened optima in one E-step
        # where the compiled kernel runs and the rows are the mixture's own draws.
        # Elsewhere each optimum takes an E-step of the engine's row blocks: numpy's
        # dense E-step would hold (n, B, k) arrays of all the rows (1.5 GB and 4.8 s
        # at 1M x 8, 5 optima of k = 9), and with known noise or a projection the
        # likelihood is the convolved mixture's (of m observed columns, not d).
        self.rows = None
        if batched.has_dense_responsibilities() and not prepared.noisy:
            self.rows = dense.DenseRows(prepared.X, None)
            self.rows.columns()  # made here: forked workers would each copy all the rows
        self.hc_starts: dict[tuple[int, int], Any] = {}
        for tree in range(hierarchical_runs(options)):
            for k in sorted({k for k, _ in grid}):
                try:
                    self.hc_starts[(tree, k)] = self._hierarchical_start(tree, k)
                except Exception as exc:  # raised again in the candidates of k
                    self.hc_starts[(tree, k)] = exc
        first = dict(zip(grid, run(grid, self._first), strict=True))
        self.first: dict[tuple, Any] = {cell: runs for cell, (runs, _) in first.items()}
        best = [first[cell][1] for cell in grid]
        self.shared = self._shared_starts(sorted({k for k, _ in grid}), best)

    # step 1 ------------------------------------------------------------
    def _first(self, task: tuple) -> tuple:
        """The candidate's screened runs (or the exception to report) and :meth:`_best`."""
        k, covariance_type = task
        try:
            check_n_components(k, self.prepared.usable_rows)
            runs = self._screened_runs(k, covariance_type, self._own_starts(k, covariance_type))
        except Exception as exc:  # reported by fit, in the candidate's row
            return exc, None
        return runs, self._best(k, covariance_type, runs)

    def _best(self, k: int, covariance_type: str, runs: list[driver.EMResult]) -> tuple | None:
        """Step 2's view of a candidate (made in step 1's workers): the BIC on the screened
        rows, partition and mixture of its best screened optimum; None without one that
        partitions the rows into k groups."""
        screen = self.screen
        candidates = self._candidates(runs, covariance_type)
        if not candidates:
            return None
        mixture = tuple(candidates[0].state)
        labels = map_labels(screen.init_data, mixture)
        if labels is None or np.unique(labels).size != k:
            return None
        n = screen.n_samples if screen.n_samples is not None else float(screen.usable_rows)
        p = criteria.n_parameters(k, screen.init_data.shape[1], covariance_type)
        return -2.0 * candidates[0].lower_bound * n + p * np.log(n), labels, mixture

    def _own_starts(self, k: int, covariance_type: str) -> list[Gaussians]:
        screen, options = self.screen, self.options
        family = MaximumLikelihood(covariance_type, options["reg_covar"])
        random_state = GMM(k, random_state=self.rng_of(k, covariance_type)).random_state
        starts: list[tuple] = []
        for run in range(options["n_init"]):
            if run < options.get("hc_trees", 1):
                parameters = self._hierarchical_start(run, k)
            else:
                parameters = init.initial_parameters(
                    screen.init_data, screen.init_weights, "kmeans++", k, random_state
                )
            starts.append(parameters)
        return family.starts(starts)

    def _hierarchical_start(self, tree: int, k: int) -> tuple:
        """The moments of hierarchy ``tree``'s k-cluster partition (the same for every
        covariance type: made once, before the workers fork, by :meth:`__init__`)."""
        found = self.hc_starts.get((tree, k))
        if found is None:
            prepared = self.prepared
            found = init.hierarchical_start(
                prepared.init_data,
                prepared.init_weights,
                k,
                None,
                prepared.hierarchy(tree),
                self.options["reg_covar"],
            )
        if isinstance(found, Exception):
            raise found
        return found

    def _screened_runs(
        self, k: int, covariance_type: str, starts: list[Gaussians]
    ) -> list[driver.EMResult]:
        """EM from each start on the screened rows, to ``tol``."""
        family = MaximumLikelihood(covariance_type, self.options["reg_covar"])
        source = self.screen.sources[covariance_type]
        n_iter, rule = self.options["n_iter"], self.options["rule"]
        rows = self.screen.dense
        if dense.dense_applies(rows, k, family, rule, max_elements=SCREEN_DENSE_ELEMENTS):
            # The starts go through their iterations together (0.9x the grid's time
            # on 20,000 x 8 rows, the same fits).
            return dense.run_batch(rows, source, family, starts, n_iter=n_iter, rule=rule)
        return [driver.run_em(source, family, start, n_iter=n_iter, rule=rule) for start in starts]

    def _candidates(
        self, runs: list[driver.EMResult], covariance_type: str
    ) -> list[driver.EMResult]:
        """The runs' distinct optima, highest screened likelihood first, sound ones only if any."""
        family = MaximumLikelihood(covariance_type, self.options["reg_covar"])
        finite = [run for run in runs if np.isfinite(run.lower_bound)]
        sound = [run for run in finite if is_sound(run, covariance_type, self.screen, family)]
        distinct: dict[float, driver.EMResult] = {}
        for run in sorted(sound or finite, key=lambda run: -run.lower_bound):
            distinct.setdefault(round(run.lower_bound, 9), run)
        return list(distinct.values())

    # step 2 ------------------------------------------------------------
    def _shared_starts(self, ks: list[int], best: list[tuple | None]) -> dict[int, list[tuple]]:
        """For every k of the grid, the starts (priors, means, covariances) shared by its cells.

        ``best``: :meth:`_best` of every candidate, in the grid's order.
        """
        screen = self.screen
        X, w, reg = screen.init_data, screen.init_weights, self.options["reg_covar"]
        ranked: dict[int, list[tuple]] = {}
        for found in best:
            if found is not None:
                ranked.setdefault(len(found[2][0]), []).append(found)
        starts: dict[int, list[tuple]] = {k: [] for k in ks}
        for k, found in ranked.items():
            found.sort(key=lambda item: item[0])
            partitions = _distinct([labels for _, labels, _ in found])[:SHARED_PARTITIONS]
            starts[k].extend(init.partition_moments(X, labels, k, w, reg) for labels in partitions)
        for top in sorted(ranked, reverse=True):
            mixture = ranked[top][0][2]
            for m in range(top - 1, 1, -1):  # one component has one optimum
                mixture = merge_components(X, *mixture, weights=w)
                if mixture is None:
                    break
                if m in starts:
                    starts[m].append(mixture)
        return {k: self._distinct_starts(found) for k, found in starts.items()}

    def _distinct_starts(self, starts: list[tuple]) -> list[tuple]:
        """The starts whose partitions of the screened rows differ, in order."""
        kept, partitions = [], []
        for start in starts:
            labels = map_labels(self.screen.init_data, start)
            if labels is not None and not any(_same(labels, other) for other in partitions):
                kept.append(start)
                partitions.append(labels)
        return kept

    # step 3 ------------------------------------------------------------
    def fit(self, k: int, covariance_type: str, rng: np.random.Generator) -> GMM:
        """Step 3 for one candidate: its fit over all the rows."""
        first = self.first[(k, covariance_type)]
        if isinstance(first, Exception):
            raise first
        options = self.options
        family = MaximumLikelihood(covariance_type, options["reg_covar"])
        shared = family.starts(self.shared.get(k, []))
        runs = list(first) + self._screened_runs(k, covariance_type, shared)
        candidates = self._candidates(runs, covariance_type) or runs[:1]
        source = self.prepared.sources[covariance_type]
        leader = candidates[0]
        if len(candidates) > 1 and self.rows is not None:
            values = dense.mean_log_likelihoods(self.rows, [run.state for run in candidates])
            leader = candidates[int(np.argmax(values))]
        elif len(candidates) > 1:

            def all_rows(run: driver.EMResult) -> float:
                stats, _ = source.statistics(family.gaussians(run.state), None, False)
                value = stats.log_lik_sum / stats.weight_sum
                return value if np.isfinite(value) else -np.inf

            leader = max(candidates, key=all_rows)
        final = squarem.run_squarem(
            source,
            family,
            leader.state,
            n_iter=options["n_iter"],
            rule=options.get("polish") or options["rule"],
        )
        final = best_sound_run(final, [final], covariance_type, self.prepared, family)
        return store_fit(
            GMM(k, random_state=rng),
            family.mixture(final.state),
            covariance_type,
            final.converged,
            final.n_iter,
            final.lower_bound,
        )


def _distinct(partitions: list[np.ndarray]) -> list[np.ndarray]:
    """The partitions, each once (equal up to the names of the groups), in order."""
    kept: list[np.ndarray] = []
    for labels in partitions:
        if not any(_same(labels, other) for other in kept):
            kept.append(labels)
    return kept


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings (ints >= 0) are the same partition: every group of one meets
    exactly one group of the other."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    meets = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb) > 0
    return bool((meets.sum(axis=1) <= 1).all() and (meets.sum(axis=0) <= 1).all())
