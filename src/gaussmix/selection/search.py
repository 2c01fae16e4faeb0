"""Model selection: the number of components and the covariance structure in one call.

:func:`select_model` fits a grid of mixtures (``n_components`` x
``covariance_type``) to the same data and ranks them by an information
criterion (BIC, AIC, ICL) or by the held-out log-likelihood of K-fold
cross-validation, the way R's ``mclust`` ranks its models (Fraley & Raftery
2002). The data are validated and prepared once (shift, missing-value
patterns, chunks: one :mod:`gaussmix.em` source per covariance type, shared
by every candidate); candidates run on the cores; a failing candidate is
reported in the table, and degenerate fits (a component collapsed onto a
few points or onto one value of a discretized feature) are kept out of the
choice.

With ``y`` the same grid selects a Gaussian mixture regression
(:class:`gaussmix.sklearn.GaussianMixtureRegressor`) by the cross-validated
predictive log-likelihood log p(y | x) or R^2.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable
from contextlib import nullcontext
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import covariance as structures
from .._validation import (
    check_choice,
    check_float,
    check_int,
    check_n_components,
    check_samples,
    is_dask_collection,
)
from ..em.driver import ConvergenceWarning, convergence_rule
from ..em.families import Gaussians
from ..em.front import SourceRequest, check_data, open_source
from ..gmm import GMM
from ..kernels.threads import resolve_n_jobs
from .criteria import (
    CRITERIA,
    SELECT_INIT_PARAMS,
    DegenerateFitWarning,
    data_resolution,
    is_degenerate,
    n_parameters,
)
from .prepare import Prepared, final_statistics, fit_one, strategy_options
from .result import ModelSelection
from .screening import Screening, screens
from .workers import can_fork, run_tasks


# ----------------------------------------------------------------------
# select_model
# ----------------------------------------------------------------------
def _check_grid(n_components: Any, covariance_type: Any) -> tuple[list[int], list[str]]:
    if isinstance(n_components, int | np.integer) and not isinstance(n_components, bool):
        ks = [n_components]
    else:
        try:
            ks = list(n_components)
        except TypeError:
            raise TypeError(
                f"n_components must be an int or an iterable of ints; got {n_components!r}"
            ) from None
    if not ks:
        raise ValueError("n_components is empty; give at least one number of components")
    ks = list(dict.fromkeys(check_n_components(k) for k in ks))
    if covariance_type is None:
        types = list(structures.default_names())
    elif isinstance(covariance_type, str):
        types = list(structures.names()) if covariance_type == "all" else [covariance_type]
    else:
        try:
            types = list(covariance_type)
        except TypeError:
            raise TypeError(
                "covariance_type must be a string, 'all' or an iterable of strings; got "
                f"{covariance_type!r}"
            ) from None
    if not types:
        raise ValueError("covariance_type is empty; give at least one covariance type")
    types = list(dict.fromkeys(structures.canonical(t) for t in types))
    return ks, types


def _base_seed(random_state: Any) -> int:
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**62))
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer; got {random_state}")
        return int(random_state)
    raise ValueError(
        "random_state must be None, a non-negative int, a numpy RandomState or Generator; got "
        f"{random_state!r}"
    )


def _candidate_rng(seed: int, k: int, covariance_type: str, fold: int) -> np.random.Generator:
    # One stream per (k, type, fold): a candidate's fit does not depend on
    # the rest of the grid, on the order in which candidates run, or on
    # whether they run in parallel.
    key = (k, structures.get(covariance_type).seed_key, fold)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _splits(cv: Any, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of every fold: ``cv`` folds of shuffled rows, or as given."""
    if isinstance(cv, int | np.integer) and not isinstance(cv, bool):
        folds = check_int(cv, "cv", minimum=2)
        if folds > n:
            raise ValueError(f"cv={folds} folds need at least {folds} rows; X has {n}")
        order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))).permutation(n)
        tests = [np.sort(part) for part in np.array_split(order, folds)]
        everything = np.arange(n)
        return [(np.setdiff1d(everything, test), test) for test in tests]
    try:
        splits = [
            (np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp))
            for train, test in (cv.split(np.zeros((n, 1))) if hasattr(cv, "split") else cv)
        ]
    except (TypeError, ValueError):
        raise TypeError(
            "cv must be an int >= 2, a scikit-learn splitter or an iterable of (train, test) "
            f"index arrays; got {cv!r}"
        ) from None
    if not splits:
        raise ValueError("cv gave no (train, test) splits")
    for train, test in splits:
        if train.ndim != 1 or test.ndim != 1 or not train.size or not test.size:
            raise ValueError("every cv split needs non-empty 1-D train and test indices")
        if min(train.min(), test.min()) < 0 or max(train.max(), test.max()) >= n:
            raise ValueError(f"cv indices must lie in [0, {n - 1}]")
    return splits


def _blas_single() -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - without threadpoolctl candidates run in turn
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


#: Fewest EM runs (candidates x ``n_init``) for which small data's grid goes to forked
#: workers (two cores: mclust's 14 x 9 grid, 630 runs, 0.5-0.65x the one-process time
#: on four classic data sets; 14 x 3, 0.45-1.1x; 4 types x 9, 36 runs, no gain).
FORK_MIN_RUNS = 100

#: Fewest rows for which candidates run in parallel threads: below this an
#: EM iteration is mostly Python overhead under the GIL and threads did not
#: help (grid k = 1..6 x 4 types, 8 features, 2 cores: equal at 3,000 and
#: 6,000 rows, 1.3x at 12,000, 1.5x at 40,000, equal to row blocks at 100,000).
PARALLEL_MIN_ROWS = 5000


def select_model(
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    n_components: int | Iterable[int] = range(1, 10),
    covariance_type: str | Iterable[str] | None = None,
    criterion: str = "bic",
    cv: int | Iterable = 5,
    n_init: int = 5,
    init_params: str = "auto",
    n_iter: int = 100,
    tol: float | str | None = 1e-3,
    reg_covar: float = 1e-6,
    sample_weight: ArrayLike | None = None,
    allow_missing: bool = False,
    random_state: Any = None,
    warm_start: bool = False,
    n_jobs: int | None = None,
    noise_covariances: ArrayLike | None = None,
    projection: ArrayLike | None = None,
    strategy: str = "auto",
) -> ModelSelection:
    """Fit a grid of Gaussian mixtures and choose one by BIC, AIC, ICL or cross-validation.

    Every pair of ``n_components`` and ``covariance_type`` is fitted by EM
    (as :meth:`GMM.from_samples` with the same options) and scored; the
    candidate with the lowest score among the sound ones is returned as it
    was fitted in the grid (under cross-validation: fitted again to all the
    data). Criteria, lower is better (scikit-learn's
    sign; mclust reports -BIC):

    - "bic": -2 log L + p log n (Schwarz 1978);
    - "aic": -2 log L + 2 p (Akaike 1974);
    - "icl": BIC + 2 E, E = -sum_i sum_j r_ij log r_ij the entropy of the
      responsibilities at the fitted parameters (Biernacki, Celeux & Govaert
      2000, in the entropy form of McLachlan & Peel 2000; mclust uses the
      hard labels instead); it favours well-separated clusters;
    - "cv": minus the mean held-out log-likelihood per row over ``cv``
      folds (with ``y``: of log p(y | x)); the chosen candidate is then
      fitted to all the data;
    - "r2" (with ``y`` only): minus the mean held-out R^2 of the
      regression's predictions (uniform average over outputs).

    log L is the (weighted) log-likelihood of the data at the final
    parameters, p :func:`n_parameters`, n the number of rows (the sum of
    ``sample_weight``; with missing values, of the rows with an observed
    entry).

    Degenerate candidates (:func:`is_degenerate`: a component on too few
    rows, or narrower than the rounding of a discretized feature) are
    marked in the table and never chosen; a :class:`DegenerateFitWarning`
    says so. Of a candidate's ``n_init`` runs the one kept is the best
    sound one (mclust refuses spurious fits), so a candidate is degenerate
    only when every run is. A candidate that fails (e.g. more components than rows) is
    reported with its error and does not stop the grid.

    Parameters
    ----------
    X : array-like or dask.array.Array, shape (n_samples, n_features)
        Data (NaN entries with ``allow_missing=True``). A Dask array is
        prepared in one pass over its chunks and every candidate's EM runs
        where the chunks live (:class:`gaussmix.em.dask_source.DaskSource`), for the
        criteria "bic" and "aic" without ``y``.
    y : array-like, shape (n_samples,) or (n_samples, n_targets), optional
        Targets: select a Gaussian mixture regression of y on X instead
        (criteria "cv", "r2", or "bic"/"aic"/"icl" of the joint density of
        [X, y]); ``best_model`` is then a fitted
        :class:`gaussmix.sklearn.GaussianMixtureRegressor` (needs
        scikit-learn).
    n_components : int or iterable of int, default=range(1, 10)
    covariance_type : str, "all", iterable of str or None, default=None
        Names (or aliases, such as mclust's codes) of registered covariance
        structures (:mod:`gaussmix.covariance`); None: the default grid,
        :func:`gaussmix.covariance.default_names` ("full", "tied", "diag",
        "spherical", mclust's VVV, EEE, VVI, VII: the fast closed-form
        structures); "all": every registered one, mclust's 14 models (EII,
        VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV, in
        that order) as ``Mclust()`` searches them.
    criterion : {"bic", "aic", "icl", "cv", "r2"}, default="bic"
    cv : int, scikit-learn splitter or iterable of (train, test), default=5
        Folds of "cv" and "r2": that many folds of rows shuffled with
        ``random_state``, or the given splits (e.g. ``KFold(5).split(X)``).
    n_init : int, default=5
        EM runs per candidate, the best likelihood kept. The default is
        more than :meth:`GMM.from_samples`'s 1 because a ranking is only as
        good as the optima it compares: with 1 run the choice agreed with
        mclust's in 6 of 10 seeds on Old Faithful and on mclust's diabetes
        data, with 3 in 9 and 8, with 5 in 10 and 10 (iris: 10 of 10 each).
        Pass 1 for speed on large data.
    init_params : {"auto", "kmeans", "kmeans++", "random", "hc"}, default="auto"
        Starting point of every EM run. "hc" starts the first run of each
        candidate as mclust does, from the k-cluster partition of one
        model-based agglomerative hierarchy shared by the grid
        (:mod:`gaussmix.em.agglomerative`; at most
        :data:`~gaussmix.em.agglomerative.HC_ROWS` rows agglomerated), and
        the other ``n_init - 1`` runs as "auto" does; the best run is kept.
        "kmeans++" and "random" are :meth:`GMM.from_samples`'s (k-means++ or
        random rows as means, equal priors; covariances from the data's
        spread, or the identity).
        "kmeans" starts near an optimum instead, at a lower cost per
        candidate on large data: on a subsample shared by the grid (a quarter
        of the rows, at most :data:`KMEANS_SAMPLE_ROWS`), the best of
        :data:`KMEANS_STARTS` k-means runs (greedy k-means++ seeds and Lloyd
        iterations on at most :data:`KMEANS_ROWS` rows, ranked by the
        likelihood of their clusters' moments in the candidate's covariance
        structure) gives priors, means and covariances
        (:func:`gaussmix.em.init.kmeans_start`); EM on the subsample
        refines them to ``tol`` x :data:`KMEANS_TOL_FACTOR` (with a float
        ``tol``), and EM on all the rows goes on from there. ``n_iter`` in
        the table counts the iterations over all the rows only. "auto" (the
        default) is "kmeans" from :data:`AUTO_KMEANS_ROWS` fitted rows on and
        "hc" below (its first run from the hierarchy, the others from
        k-means++: on a 20,000 x 8 grid of mclust's 14 models with
        ``n_init=1``, "hc" chose mclust's model where "kmeans++" chose one
        more component). Below the threshold k-means costs more than the
        iterations it saves (at 30,000 x 8 rows the grid took 1.0-1.1x the
        CPU time of "kmeans++", at 12,000 rows 1.6-1.9x). On the benchmark grid (k = 1..9
        x 4 types, ``n_init=1``, 100,000 x 8 rows, five seeds) "kmeans" ran
        94-103 iterations over all the rows instead of 230-261 (plus 155-198
        over the 20,000-row subsample), in 0.62x the CPU time, and chose
        k = 6 (the data's) for every seed where "kmeans++" chose 7 for two;
        the BIC, averaged over the seeds, was lower or equal for 35 of the 36
        candidates (spherical k = 8: 710 higher); 16 of the 180 single fits
        (mostly k above the data's) ended in other, worse local optima. With
        ``y`` the final regressor is refitted from k-means++ seeds.
    n_iter : int, default=100
        Maximum EM iterations per run.
    tol : float, "auto" or None, default=1e-3
        Convergence rule as in :meth:`GMM.from_samples` (a float: change
        of the mean log-likelihood, scikit-learn's rule).
    reg_covar : float, default=1e-6
    sample_weight : array-like, shape (n_samples,), optional
        Integer weights give the same selection as repeated rows.
    allow_missing : bool, default=False
        Fit data with NaN entries (EM for incomplete data); not with ``y``.
    random_state : None, int, RandomState or Generator, optional
        Seeds one independent stream per candidate (and fold), so a
        candidate's fit does not depend on the rest of the grid or on
        ``n_jobs``.
    warm_start : bool, default=False
        Give every candidate of another covariance type one more EM run
        that starts from the "full" candidate with the same k (its
        covariances projected onto the structure), keeping the better
        likelihood: never a worse optimum than without it, at the cost of
        that run. Needs "full" in the grid (ignored otherwise).
    n_jobs : int or None, default=None
        Cores to use (None: all). With at least two candidates (or fold
        fits) per core and :data:`PARALLEL_MIN_ROWS` rows or more,
        candidates run in parallel: in forked worker processes where the
        starts are screened (``strategy="mclust"`` on large data) and a fork
        is safe (Linux, no other Python thread running:
        :func:`gaussmix.selection.workers.can_fork`), else in threads. On
        fewer rows, grids of at least :data:`FORK_MIN_RUNS` EM runs
        (candidates x ``n_init``) run in forked workers where a fork is
        safe; otherwise each iteration's rows are split across the cores,
        as in :meth:`GMM.from_samples` (which needs four row chunks; smaller
        data then run in one thread). BLAS is kept to one thread throughout.
        Results do not depend on it.
    noise_covariances : array-like, optional
        Known noise of the rows, as in :meth:`GMM.from_samples`: every
        candidate is fitted by extreme deconvolution and scored by the
        likelihood of its convolved mixture (log L, the entropy of ICL and
        n from the convolved model's final E-step); criteria "bic", "aic"
        and "icl" only, without ``y``, in memory.
    projection : array-like, optional
        Bovy, Hogg & Roweis's R_i, as in :meth:`GMM.from_samples` (the
        candidates have R_i's d features; the rounding rule of
        :func:`is_degenerate` does not apply to projected rows).
    strategy : {"auto", "mclust", "standard"}, default="auto"
        How each candidate's ``n_init`` runs start and stop. "standard": as
        described above. "mclust" (for mclust's 14 models): the first two
        runs start from model-based hierarchies, the one of all the rows
        (as ``Mclust()`` starts) and the one of another random subset
        (``MCLUST_TREES`` and ``HC_SUBSET`` of
        ``gaussmix.selection.prepare``), the others as "auto" does; with a float ``tol``
        every run stops at ``tol``, then the two best (sound) runs go on to
        ``tol / 100`` (1e-5 with the default; each gets ``n_iter`` more
        iterations) and the better is kept. mclust runs one EM per
        candidate from its hierarchy, to a relative change of 1e-5 of the
        log-likelihood. On Old Faithful, iris, mclust's diabetes data and
        the Swiss banknotes "mclust" reached at least ``Mclust()``'s BIC in
        91-98 % of the 14 x 9 cells, "standard" with the same ``n_init`` in
        56-85 % (``benchmarks/bench_mclust.py``). On large data (at least
        ``SCREEN_MIN_ROWS`` = 10,000 complete rows in memory without
        ``sample_weight``, a float
        ``tol``, ``init_params`` "auto" or "hc", no ``warm_start``, and at
        least ``SCREEN_ROWS_PER_PARAMETER`` of the screened rows per
        parameter of the largest unconstrained candidate; names of
        :mod:`gaussmix.selection.screening`) the runs are screened
        instead: every run's EM is on the (at most 2,000) rows of the first
        hierarchy; each k's candidates also start from starts they share
        (the best candidates' partitions of those rows, and the mixtures left
        by merging the pairs of components of the best larger fits); of the
        distinct optima, the one whose parameters give all the rows the
        highest likelihood runs EM over all the rows to ``tol / 100``: one
        run over all the rows per candidate. A candidate's fit then depends
        on the other candidates of the grid (not on their order or the
        threads). On 20,000 x 8 rows it reached ``Mclust()``'s BIC in 117-120
        of 126 cells against five of R's random subsets (every run over all
        the rows: 104-109), with about 35 % less CPU time. "auto": "mclust"
        when ``covariance_type="all"``, else "standard".

    Returns
    -------
    result : ModelSelection
        ``best_model``, ``best_params``, ``table``, ``plot()``,
        ``to_text()``, ``to_csv()``.

    Raises
    ------
    ValueError
        For invalid data or options, or when every candidate failed or was
        degenerate (the message lists why).

    Warns
    -----
    DegenerateFitWarning
        When degenerate candidates were left out of the choice.
    ConvergenceWarning
        Once, naming the candidates whose best run did not converge.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import select_model
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, (200, 2)), rng.normal(3, 1, (200, 2))])
    >>> result = select_model(X, n_components=range(1, 5), random_state=0)
    >>> result.best_params
    {'n_components': 2, 'covariance_type': 'spherical'}
    """
    criterion = check_choice(criterion, "criterion", CRITERIA)
    ks, types = _check_grid(n_components, covariance_type)
    init_params = check_choice(init_params, "init_params", SELECT_INIT_PARAMS)
    rule = convergence_rule(tol, 1e-4)
    options = {
        "n_init": check_int(n_init, "n_init", minimum=1),
        "n_iter": check_int(n_iter, "n_iter", minimum=1),
        "reg_covar": check_float(reg_covar, "reg_covar", minimum=0.0),
        "rule": rule,
        "init_params": init_params,
        **strategy_options(strategy, covariance_type, rule),
    }
    regression = y is not None
    if criterion == "r2" and not regression:
        raise ValueError("criterion='r2' needs targets y; for a density use 'cv' or 'bic'")
    if n_jobs is not None:
        n_jobs = check_int(n_jobs, "n_jobs")
        if n_jobs == 0:
            raise ValueError("n_jobs must be a positive number of threads, -1 or None; got 0")
    seed = _base_seed(random_state)
    warm_start = bool(warm_start) and structures.FULL.name in types
    grid = [(k, t) for t in types for k in ks]
    noisy = noise_covariances is not None or projection is not None
    if noisy and (regression or criterion not in ("bic", "aic", "icl")):
        raise ValueError(
            "with noise_covariances or projection select_model supports criterion 'bic', "
            f"'aic' or 'icl' without y; got criterion={criterion!r}"
            f"{' and y' if regression else ''}"
        )
    if is_dask_collection(X):
        if regression or criterion not in ("bic", "aic"):
            raise ValueError(
                "with a Dask array select_model supports criterion 'bic' or 'aic' without y; "
                f"got criterion={criterion!r}{' and y' if regression else ''}"
            )
        return _select_dask(
            X,
            sample_weight,
            allow_missing,
            grid,
            types,
            criterion,
            seed,
            options,
            warm_start,
            noise_covariances,
            projection,
        )
    if regression:
        if allow_missing:
            raise ValueError("allow_missing=True is not supported with y (regression)")
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported with y: GaussianMixtureRegressor.fit takes none"
            )
        X = check_samples(X, dtype=np.float64)
        Y = check_samples(np.asarray(y, dtype=float).reshape(X.shape[0], -1), "y")
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {Y.shape[0]} rows but X has {X.shape[0]}")
        data = np.hstack([X, Y])
        n_inputs = X.shape[1]
    else:
        data = X
        n_inputs = None
    # The engine's front-door checks (values, NaN, spread, weights); the number of
    # components is checked per candidate.
    data, weights, missing = check_data(
        data, sample_weight, n_components=1, allow_missing=allow_missing, scale_weights=False
    )
    cores = resolve_n_jobs(n_jobs)
    resolution = data_resolution(data)
    if projection is not None:
        # Measured rows are not on the true values' axes: no rounding rule.
        resolution = np.zeros(1)
    cross_validated = criterion in ("cv", "r2")

    splits = _splits(cv, data.shape[0], seed) if cross_validated else []
    n_fit_rows = min((train.size for train, _ in splits), default=data.shape[0])
    n_tasks = len(ks) * len(types) * max(1, len(splits))
    # Where the cores go: across candidates (no per-iteration hand-off to
    # threads, and small data cannot be split into row blocks) when there
    # are at least two candidates per core and enough rows for threads to
    # help; otherwise inside every iteration, over row blocks, as
    # GMM.from_samples does. Small data's candidates go to forked worker
    # processes where that is safe (gaussmix.selection.workers) and the grid
    # has enough EM runs to pay for the fork.
    enough = cores > 1 and n_tasks >= 2 * cores
    forking = (
        enough
        and not cross_validated
        and not is_dask_collection(data)
        and n_fit_rows < PARALLEL_MIN_ROWS
        and n_tasks * options["n_init"] >= FORK_MIN_RUNS
        and can_fork()
    )
    spread = enough and (n_fit_rows >= PARALLEL_MIN_ROWS or forking)
    parallel = cores if spread else 1
    inner_jobs = 1 if spread else cores

    def prepare(rows: np.ndarray | None) -> Prepared:
        X_rows = data if rows is None else data[rows]
        w_rows = weights if rows is None or weights is None else weights[rows]
        if noisy:
            # Information criteria only: always all the rows.
            return Prepared(
                X_rows,
                w_rows,
                types,
                missing,
                inner_jobs,
                seed=seed,
                noise=(noise_covariances, projection),
            )
        return Prepared(X_rows, w_rows, types, missing, inner_jobs, seed=seed)

    # BLAS stays single-threaded: the products of one candidate are skinny
    # (rows x features) GEMMs that gain nothing from BLAS threads, and the
    # cores are used by row blocks or by candidates instead (measured: a grid
    # on 12,000 x 8 rows ran 3-4x slower with multi-threaded BLAS).
    with warnings.catch_warnings(record=True) as caught, _blas_single():
        warnings.simplefilter("always")
        if cross_validated:
            table, fits = _cross_validate(
                grid,
                data,
                weights,
                n_inputs,
                criterion,
                splits,
                seed,
                options,
                prepare,
                parallel,
                missing,
            )
        else:
            table, fits = _information_criteria(
                grid, prepare(None), criterion, seed, options, parallel, forking, warm_start
            )
    _reissue(caught)
    best_index = _choose(table, fits, resolution, options, stacklevel=3)
    best = table[best_index]
    key = (best["n_components"], best["covariance_type"])
    models = {key_: value[0] for key_, value in fits.items() if not cross_validated and value}
    if regression:
        best_model = _fit_regressor(data[:, :n_inputs], data[:, n_inputs:], key, seed, options)
    elif cross_validated:
        best_model = fit_one(prepare(None), *key, _candidate_rng(seed, *key, 0), options)
        models = {key: best_model}
    else:
        best_model = models[key]
    return ModelSelection(table, best_index, best_model, criterion, models)


def _select_dask(
    X: Any,
    sample_weight: Any,
    allow_missing: bool,
    grid: list,
    types: list[str],
    criterion: str,
    seed: int,
    options: dict,
    warm_start: bool,
    noise_covariances: Any = None,
    projection: Any = None,
) -> ModelSelection:
    """The grid over a Dask array: one DaskSource pass prepares every candidate.

    With ``noise_covariances`` (and a ``projection``) the source is a
    DaskNoisySource (DaskProjectedSource: extreme deconvolution on the chunks)
    and the criteria are the convolved model's.

    Candidates run in turn (each iteration already runs on every chunk at
    once); the degenerate-fit rule reads the resolution off the
    initialization sample (at most ``gaussmix.dask.INIT_SAMPLE_ROWS`` rows),
    whose gaps are at least the data's, so it errs on the side of caution.
    """
    base = open_source(
        SourceRequest(
            X,
            sample_weight,
            types[0],
            n_components=1,
            allow_missing=allow_missing,
            random_state=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, 1))),
            noise_covariances=noise_covariances,
            projection=projection,
        )
    )
    prepared = Prepared(None, None, types, base.missing, 1, base=base, seed=seed)
    with warnings.catch_warnings(record=True) as caught, _blas_single():
        warnings.simplefilter("always")
        table, fits = _information_criteria(
            grid, prepared, criterion, seed, options, 1, False, warm_start
        )
    _reissue(caught)
    best_index = _choose(table, fits, data_resolution(prepared.init_data), options, stacklevel=4)
    best = table[best_index]
    models = {key: value[0] for key, value in fits.items()}
    best_model = models[(best["n_components"], best["covariance_type"])]
    return ModelSelection(table, best_index, best_model, criterion, models)


def _reissue(caught: list) -> None:
    """The warnings recorded during the grid, less the per-candidate ConvergenceWarnings."""
    for warning in caught:
        if not issubclass(warning.category, ConvergenceWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _choose(
    table: list[dict], fits: dict, resolution: np.ndarray, options: dict, stacklevel: int
) -> int:
    """Mark degenerate candidates, choose the best sound one, warn; its row index."""
    for row in table:
        model_list = fits.get((row["n_components"], row["covariance_type"]), [])
        if row["error"] is None and row["degenerate"] is None and model_list:
            n_fit = row.pop("_n_fit")
            reasons = [
                is_degenerate(m.priors, m.covariances, m.covariance_type_, n, resolution)
                for m, n in zip(model_list, n_fit, strict=True)
            ]
            row["degenerate"] = next((r for r in reasons if r), None)
        row.pop("_n_fit", None)
    candidates = [
        i for i, row in enumerate(table) if row["error"] is None and row["degenerate"] is None
    ]
    if not candidates:
        reasons = "; ".join(
            f"k={row['n_components']} {row['covariance_type']}: "
            f"{row['error'] or 'degenerate: ' + str(row['degenerate'])}"
            for row in table[:5]
        )
        error = ValueError(f"every candidate failed or was degenerate ({reasons}, ...)")
        error.table = table  # the grid with the reasons, for callers that show it (the CLI)
        raise error
    best_index = min(candidates, key=lambda i: (table[i]["score"], table[i]["n_parameters"]))
    table[best_index]["best"] = True
    _warn_about(table, best_index, options["rule"].description is not None, stacklevel + 1)
    return best_index


def _new_row(k: int, covariance_type: str, d: int) -> dict:
    return {
        "n_components": k,
        "covariance_type": covariance_type,
        "score": None,
        "bic": None,
        "aic": None,
        "icl": None,
        "log_likelihood": None,
        "n_parameters": n_parameters(k, d, covariance_type),
        "converged": None,
        "n_iter": None,
        "seconds": None,
        "degenerate": None,
        "error": None,
        "best": False,
    }


def _failure(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


def _information_criteria(
    grid: list,
    prepared: Prepared,
    criterion: str,
    seed: int,
    options: dict,
    parallel: int,
    forking: bool,
    warm_start: bool,
) -> tuple[list[dict], dict]:
    d = prepared.init_data.shape[1]
    fitted: dict = {}
    screening = None
    if not warm_start and screens(prepared, options, grid):
        screening = Screening(
            prepared,
            grid,
            options,
            lambda k, covariance_type: _candidate_rng(seed, k, covariance_type, 0),
            lambda tasks, work: run_tasks(tasks, work, parallel, processes=True),
        )
    # The screened grid's candidates go to forked workers where that is safe
    # (gaussmix.selection.workers: 0.65x the wall time of threads on 20,000 x 8),
    # and small data's (forking); what they share is made first, here.
    forked = screening is not None or forking
    if forking:
        prepared.make_shared(options, lambda tasks, work: run_tasks(tasks, work, parallel, True))

    def work(task: tuple) -> tuple:
        k, covariance_type = task
        start = time.perf_counter()
        try:
            warm = None
            if warm_start and structures.get(covariance_type) is not structures.FULL:
                source = fitted.get((k, structures.FULL.name))
                if source is not None:
                    warm = (source.priors, source.means, source.covariances)
            rng = _candidate_rng(seed, k, covariance_type, 0)
            if screening is not None:
                model = screening.fit(k, covariance_type, rng)
            else:
                model = fit_one(prepared, k, covariance_type, rng, options, warm)
            log_lik, n, entropy = final_statistics(prepared, model)
            entropy = entropy if criterion == "icl" else None
            return model, (log_lik, n), entropy, time.perf_counter() - start, None
        except Exception as exc:  # a failing candidate is reported, not fatal
            return None, None, None, time.perf_counter() - start, _failure(exc)

    order = (
        [task for task in grid if structures.get(task[1]) is structures.FULL] if warm_start else []
    )
    results = dict(zip(order, run_tasks(order, work, parallel, forked), strict=True))
    fitted.update({task: result[0] for task, result in results.items() if result[0] is not None})
    rest = [task for task in grid if task not in results]
    results.update(zip(rest, run_tasks(rest, work, parallel, forked), strict=True))

    table, fits = [], {}
    for k, covariance_type in grid:
        model, likelihood, entropy, seconds, error = results[(k, covariance_type)]
        row = _new_row(k, covariance_type, d)
        row["seconds"] = seconds
        if error is not None:
            row["error"] = error
        else:
            p = row["n_parameters"]
            log_lik, n = likelihood
            row["log_likelihood"] = log_lik
            row["bic"] = -2.0 * log_lik + p * math.log(n)
            row["aic"] = -2.0 * log_lik + 2.0 * p
            if entropy is not None:
                row["icl"] = row["bic"] + 2.0 * entropy
            row["score"] = row[criterion]
            row["converged"] = bool(model.converged_)
            row["n_iter"] = int(model.n_iter_)
            row["_n_fit"] = [n]
            fits[(k, covariance_type)] = [model]
        table.append(row)
    return table, fits


def _cross_validate(
    grid: list,
    data: np.ndarray,
    weights: np.ndarray | None,
    n_inputs: int | None,
    criterion: str,
    splits: list,
    seed: int,
    options: dict,
    prepare: Any,
    parallel: int,
    missing: bool,
) -> tuple[list[dict], dict]:
    folds = [test for _, test in splits]
    trains = [prepare(train) for train, _ in splits]
    tasks = [(k, t, f) for k, t in grid for f in range(len(splits))]

    def held_out(model: GMM, test: np.ndarray) -> float:
        X_test = data[test]
        w = None if weights is None else weights[test]
        if n_inputs is not None:
            inputs = np.arange(n_inputs)
            if criterion == "r2":
                Y = X_test[:, n_inputs:]
                predicted = model.predict(inputs, X_test[:, :n_inputs])
                residual = np.average((Y - predicted) ** 2, axis=0, weights=w)
                spread = np.average((Y - np.average(Y, axis=0, weights=w)) ** 2, axis=0, weights=w)
                with np.errstate(divide="ignore", invalid="ignore"):
                    r2 = np.where(spread > 0, 1.0 - residual / spread, 0.0)
                return float(r2.mean())
            log_p = model.condition_batch(inputs, X_test[:, :n_inputs]).score_samples(
                X_test[:, n_inputs:]
            )
            return float(np.average(log_p, weights=w))
        if missing:
            source = open_source(
                SourceRequest(
                    X_test,
                    w,
                    model.covariance_type_,
                    n_components=1,
                    allow_missing=True,
                    validated=True,
                )
            )
            stats, _ = source.statistics(
                Gaussians(model.priors, model.means, model.covariances), None, False
            )
            return float(stats.log_lik_sum / stats.weight_sum)
        return float(np.average(model.score_samples(X_test), weights=w))

    def work(task: tuple) -> tuple:
        k, covariance_type, fold = task
        start = time.perf_counter()
        try:
            model = fit_one(
                trains[fold],
                k,
                covariance_type,
                _candidate_rng(seed, k, covariance_type, fold + 1),
                options,
            )
            return model, held_out(model, folds[fold]), time.perf_counter() - start, None
        except Exception as exc:
            return None, None, time.perf_counter() - start, _failure(exc)

    results = dict(zip(tasks, run_tasks(tasks, work, parallel), strict=True))
    table, fits = [], {}
    d = data.shape[1]
    for k, covariance_type in grid:
        parts = [results[(k, covariance_type, f)] for f in range(len(splits))]
        row = _new_row(k, covariance_type, d)
        row["seconds"] = sum(part[2] for part in parts)
        errors = [part[3] for part in parts if part[3] is not None]
        if errors:
            row["error"] = errors[0]
        else:
            mean_score = float(np.mean([part[1] for part in parts]))
            row["score"] = -mean_score
            if criterion == "cv":
                row["log_likelihood"] = mean_score
            row["converged"] = all(part[0].converged_ for part in parts)
            row["n_iter"] = int(sum(part[0].n_iter_ for part in parts))
            row["_n_fit"] = [train.n_samples for train in trains]
            fits[(k, covariance_type)] = [part[0] for part in parts]
        table.append(row)
    return table, fits


def _fit_regressor(
    X: np.ndarray,
    Y: np.ndarray,
    key: tuple,
    seed: int,
    options: dict,
) -> Any:
    from ..sklearn import GaussianMixtureRegressor

    k, covariance_type = key
    rule = options["rule"]
    tol = rule.tol if rule.tol is not None else ("auto" if rule.r_diff is not None else None)
    regressor = GaussianMixtureRegressor(
        n_components=k,
        random_state=int(
            np.random.SeedSequence(
                seed, spawn_key=(k, structures.get(covariance_type).seed_key)
            ).generate_state(1)[0]
        ),
        n_iter=options["n_iter"],
        # The regressor has no "kmeans" start: its refit uses k-means++ seeds.
        init_params="kmeans++"
        if options["init_params"] in ("kmeans", "auto")
        else options["init_params"],
        covariance_type=covariance_type,
        n_init=options["n_init"],
        reg_covar=options["reg_covar"],
        tol=tol,
    )
    return regressor.fit(X, Y[:, 0] if Y.shape[1] == 1 else Y)


def _warn_about(table: list[dict], best_index: int, has_rule: bool, stacklevel: int) -> None:
    best_score = table[best_index]["score"]
    degenerate = [row for row in table if row["degenerate"]]
    if degenerate:
        better = [row for row in degenerate if row["score"] < best_score]
        names = ", ".join(f"k={r['n_components']} {r['covariance_type']}" for r in degenerate[:6])
        more = "" if len(degenerate) <= 6 else f" and {len(degenerate) - 6} more"
        extra = (
            f"; {len(better)} of them scored better than the chosen model, which a plain "
            "minimum would have picked"
            if better
            else ""
        )
        warnings.warn(
            f"{len(degenerate)} degenerate candidate(s) were not chosen ({names}{more}){extra}; "
            "see the table's 'degenerate' column",
            DegenerateFitWarning,
            stacklevel=stacklevel,
        )
    unconverged = [
        row for row in table if has_rule and row["error"] is None and row["converged"] is False
    ]
    if unconverged:
        names = ", ".join(f"k={r['n_components']} {r['covariance_type']}" for r in unconverged[:6])
        more = "" if len(unconverged) <= 6 else f" and {len(unconverged) - 6} more"
        warnings.warn(
            f"EM did not converge for {len(unconverged)} candidate(s) ({names}{more}); "
            "increase n_iter or loosen tol",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )
