"""EM fitting of a gmr-style mixture: what ``GMM.from_samples`` does.

The options are checked, the data go through the engine's front door
(:func:`gaussmix.em.front.open_source`), gmr's initializers
(:func:`gaussmix.em.init.initial_parameters`) start each of ``n_init`` runs
of the driver, and :func:`store_fit` writes the result on the model (also
used by :func:`gaussmix.select_model` for each candidate). gmr's two
module-level initializers, :func:`kmeansplusplus_initialization` and
:func:`covariance_initialization`, are here too (``gaussmix.gmm`` re-exports
them under gmr's names).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import covariance as structures
from ._gaussian import n_phi_features
from ._linalg import symmetrize
from ._validation import (
    INIT_PARAMS,
    as_float_array,
    check_choice,
    check_float,
    check_int,
    check_mixture,
    check_n_components,
    check_priors,
    check_responsibilities,
    check_sample_weight,
    check_samples,
    check_spread,
    check_start_distance,
    coinciding_components,
    scale_sample_weight,
)
from .em import driver, init
from .em.batches import ReadAhead, check_batch, check_batching, check_first_batch, open_rows
from .em.driver import convergence_rule
from .em.estep import responsibility_statistics
from .em.families import Gaussians, MaximumLikelihood, m_step
from .em.front import SourceRequest, check_data, open_source
from .em.online import StepwiseEM
from .em.sources import default_chunk_rows
from .kernels.threads import resolve_n_jobs
from .utils import check_random_state

__all__ = [
    "OnlineState",
    "covariance_initialization",
    "fit_mixture",
    "kmeansplusplus_initialization",
    "partial_fit_mixture",
    "starting_point",
    "store_fit",
    "stream_chunk_rows",
    "stream_fit_mixture",
]


def kmeansplusplus_initialization(
    X: ArrayLike, n_components: int, random_state: Any = None
) -> np.ndarray:
    """k-means++ initialization of the means of a GMM.

    The first center is a uniformly drawn sample; every next center is drawn
    with probability proportional to the squared distance to the **closest**
    center chosen so far (Arthur & Vassilvitskii, 2007).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Data.
    n_components : int
        Number of centers, 1 <= n_components <= n_samples.
    random_state : None, int, RandomState or Generator, optional

    Returns
    -------
    initial_means : ndarray, shape (n_components, n_features)

    Raises
    ------
    ValueError
        If n_components is not in [1, n_samples] or X is not finite 2-D.
    """
    X = check_samples(X, dtype=np.float64)
    k = check_n_components(n_components, X.shape[0])
    rng = check_random_state(random_state)
    return X[init.kmeans_plus_plus(X, k, rng)].copy()


def covariance_initialization(X: ArrayLike, n_components: int) -> np.ndarray:
    """Diagonal initial covariances from the spread of the data.

    The standard deviation along each dimension is the average absolute
    difference between all pairs of samples in that dimension divided by
    n_components (computed in O(n log n), not from the n^2 pairs).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    n_components : int

    Returns
    -------
    initial_covariances : ndarray, shape (n_components, n_features, n_features)

    Raises
    ------
    ValueError
        If X is not finite 2-D, n_components is not a positive integer, or X
        spans a range whose squares overflow float64 (the rule of
        :meth:`GMM.from_samples`, see ``check_spread``).
    """
    X = check_samples(X, dtype=np.float64)
    k = check_n_components(n_components)
    check_spread(X)
    std = init.mean_pairwise_abs_difference(X) / k
    return np.broadcast_to(np.diag(std**2), (k, X.shape[1], X.shape[1])).copy()


def fit_mixture(
    model: Any,
    X: ArrayLike,
    *,
    R_diff: float,
    n_iter: int,
    init_params: str,
    oracle_approximating_shrinkage: bool,
    covariance_type: str,
    n_init: int,
    reg_covar: float,
    tol: float | str | None,
    sample_weight: ArrayLike | None,
    dtype: Any,
    chunk_size: int | None,
    allow_missing: bool,
    n_jobs: int | None,
    callback: Callable[[int, float, float, float], Any] | None,
    persist: bool | None,
    noise_covariances: ArrayLike | None = None,
    projection: ArrayLike | None = None,
) -> Any:
    """Fit ``model`` (a :class:`gaussmix.GMM`) to X; see :meth:`gaussmix.GMM.from_samples`.

    Returns
    -------
    model
        The same object, fitted.
    """
    init_params = check_choice(init_params, "init_params", INIT_PARAMS)
    covariance_type = structures.canonical(covariance_type)
    compute_dtype = _check_compute_dtype(dtype)
    if chunk_size is not None:
        chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
    if n_jobs is not None:
        n_jobs = check_int(n_jobs, "n_jobs")
        if n_jobs == 0:
            raise ValueError("n_jobs must be a positive number of threads, -1 or None; got 0")
    # The one front door: the data are checked first, then the source is chosen
    # (in memory, with missing values, memory-mapped or Dask); the EM options after.
    source = open_source(
        SourceRequest(
            X,
            sample_weight,
            covariance_type,
            n_components=model.n_components,
            allow_missing=bool(allow_missing),
            dtype=compute_dtype,
            chunk_rows=chunk_size,
            n_jobs=resolve_n_jobs(n_jobs),
            persist=persist,
            random_state=model.random_state,
            verbose=model.verbose,
            noise_covariances=noise_covariances,
            projection=projection,
        )
    )
    n_iter = check_int(n_iter, "n_iter", minimum=0)
    n_init = check_int(n_init, "n_init", minimum=1)
    reg_covar = check_float(reg_covar, "reg_covar", minimum=0.0)
    rule = convergence_rule(tol, R_diff)
    if callback is not None and not callable(callback):
        raise TypeError(
            f"callback must be callable(iteration, mean_log_likelihood, change, "
            f"elapsed) or None; got {type(callback).__name__}"
        )
    weights = scale_sample_weight(source.initialization_weights)
    start = starting_point(model, source.n_features)
    check_start_distance(start[1], source.shift)
    family = MaximumLikelihood(
        covariance_type, reg_covar, oas=bool(oracle_approximating_shrinkage)
    )
    X_init = source.initialization_data()

    def initialize(run: int):
        return family.start(
            *init.initial_parameters(
                X_init,
                weights,
                init_params,
                model.n_components,
                model.random_state,
                start if run == 0 else None,
            )
        )

    if n_iter == 0:
        # gmr's initialization only: the start, converged_ False, lower_bound_ -inf.
        return store_fit(model, family.mixture(initialize(0)), covariance_type, False, 0, -np.inf)
    best = driver.fit(
        source,
        family,
        initialize,
        n_init=n_init,
        n_iter=n_iter,
        rule=rule,
        callback=callback,
        verbose=model.verbose,
    )
    fitted = family.mixture(best.state)
    store_fit(model, fitted, covariance_type, best.converged, best.n_iter, best.lower_bound)
    _warn_if_coinciding(fitted.means, fitted.covariances)
    return model


class OnlineState(NamedTuple):
    """What :meth:`GMM.partial_fit <gaussmix.GMM.partial_fit>` keeps between batches (``online_``).

    Attributes
    ----------
    stepwise : StepwiseEM
        The running statistics and the step counter.
    covariance_type : str
        The structure of the stream's model.
    parameters : tuple of ndarray
        The (priors, means, covariances) the last step wrote on the model:
        when the model's parameters are other objects (assigned by the user,
        or by :meth:`~gaussmix.GMM.from_samples`), the running statistics
        belong to old parameters and the next step starts new ones from the
        model's current parameters.
    """

    stepwise: StepwiseEM
    covariance_type: str
    parameters: tuple


def partial_fit_mixture(
    model: Any,
    X: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    covariance_type: str | None = None,
    reg_covar: float = 1e-6,
    init_params: str = "random",
    learning_decay: float = 0.7,
    learning_offset: float = 10.0,
    allow_missing: bool = False,
    noise_covariances: ArrayLike | None = None,
) -> Any:
    """Update the mixture with one batch of rows: one step of stepwise (online) EM.

    ``GMM.partial_fit``: a stream of batches gives a model that is usable
    after every batch (e.g. for GMR with :meth:`~gaussmix.GMM.predict`) in
    memory bounded by the batch. The running expected sufficient statistics
    are blended with the batch's, s_t = (1 - eta_t) s_{t-1} + eta_t s(batch),
    eta_t = (t + learning_offset) ** -learning_decay, and the maximum
    likelihood M-step runs on them (Cappé & Moulines 2009; Liang & Klein
    2009; see :class:`gaussmix.em.StepwiseEM`).

    The first call starts from the parameters already set on the model (by
    the constructor or :meth:`~gaussmix.GMM.from_samples`), the missing ones
    initialized from the batch with ``init_params``; later calls continue
    the stream. Assigning new ``priors``, ``means`` or ``covariances`` starts
    new running statistics from them at the next call.

    Parameters
    ----------
    model : GMM
        Updated in place (``gmm.partial_fit(X)`` passes the model itself).
    X : array-like, shape (n_samples, n_features)
        The batch; the first one needs at least ``n_components`` rows, later
        ones the model's number of features.
    sample_weight : array-like, shape (n_samples,), optional
        Row weights (frequencies) in the step.
    covariance_type : str, optional
        Any name of :func:`gaussmix.covariance.names` or an mclust code; the
        first call's choice holds for the stream, and a different one later
        is an error. Default: the stream's, else the model's
        ``covariance_type_`` (the last fit's; "full" for a new GMM).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance after each M-step.
    init_params : {"random", "kmeans++", "hc"}, default="random"
        How the first batch initializes parameters that are not set (see
        :meth:`~gaussmix.GMM.from_samples`).
    learning_decay : float in [0, 1], default=0.7
    learning_offset : float >= 0, default=10.0
        The step size eta_t = (t + learning_offset) ** -learning_decay. A batch
        t steps back weighs about (1 - eta)^t: with ``learning_decay=0``
        (eta = 1) the model follows the latest batch only; for a constant
        step eta on a drifting stream, take ``learning_offset`` much larger
        than the number of batches and ``learning_decay = ln(1 / eta) /
        ln(learning_offset)`` (memory of about 1 / eta batches).
    allow_missing : bool, default=False
        Treat NaN entries as missing values (every column must have an
        observed value in every batch).
    noise_covariances : array-like, optional
        Known Gaussian noise of the batch's rows, in any shape that
        :meth:`~gaussmix.GMM.from_samples` accepts ((n, d, d), (n, d),
        (d, d)): the step is then one of extreme deconvolution (the
        statistics of the noise-free values, Bovy, Hogg & Roweis 2011), and
        the stream's model the deconvolved mixture. Batches may mix: those
        without noise take the ordinary step.

    Returns
    -------
    model : GMM
        With ``priors``, ``means``, ``covariances``, ``covariance_type_``,
        ``n_iter_`` (steps of the stream), ``lower_bound_`` (running average of
        the batches' mean log-likelihoods, each under the parameters before
        its step), ``converged_`` False and ``online_`` (:class:`OnlineState`).

    Raises
    ------
    ValueError
        For a first batch with fewer rows than components, a later batch
        with another number of features, another ``covariance_type`` than the
        stream's, bad weights or options.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GMM
    >>> rng = np.random.default_rng(0)
    >>> gmm = GMM(n_components=2, random_state=0)
    >>> for _ in range(30):
    ...     x = rng.uniform(-3, 3, size=(200, 1))
    ...     y = np.where(x < 0, -1.0, 1.0) + 0.1 * rng.normal(size=(200, 1))
    ...     gmm = gmm.partial_fit(np.hstack([x, y]), init_params="kmeans++")
    >>> gmm.predict([0], [[-2.0], [2.0]]).round(1)
    array([[-1.],
           [ 1.]])
    """
    online = getattr(model, "online_", None)
    parameters = (model.priors, model.means, model.covariances)
    continuing = online is not None and all(
        now is then for now, then in zip(parameters, online.parameters, strict=True)
    )
    if covariance_type is None:
        covariance_type = online.covariance_type if continuing else model.covariance_type_
    covariance_type = structures.canonical(covariance_type)
    if continuing and covariance_type != online.covariance_type:
        raise ValueError(
            f"covariance_type={covariance_type!r} differs from the stream's "
            f"{online.covariance_type!r}; assign new parameters or use a new GMM to change it"
        )
    init_params = check_choice(init_params, "init_params", INIT_PARAMS)
    reg_covar = check_float(reg_covar, "reg_covar", minimum=0.0)
    learning_decay = check_float(learning_decay, "learning_decay", minimum=0.0, maximum=1.0)
    learning_offset = check_float(learning_offset, "learning_offset", minimum=0.0)
    fitted = all(value is not None for value in parameters)
    X, weights, missing = check_data(
        X, sample_weight, n_components=1, allow_missing=bool(allow_missing)
    )
    if not fitted:
        k = check_n_components(model.n_components)
        usable = int((~np.isnan(X)).any(axis=1).sum()) if missing else X.shape[0]
        if usable < k:
            raise ValueError(
                "the first batch of partial_fit initializes the model and needs at least "
                f"n_components={k} rows; got {usable} (rows with an observed value). "
                "Pass a larger first batch"
            )
    if model.means is not None and np.ndim(model.means) == 2:
        if X.shape[1] != np.shape(model.means)[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model has {np.shape(model.means)[1]}; "
                "every batch of a stream must have the model's features"
            )
    source = open_source(
        SourceRequest(
            X,
            weights,
            covariance_type,
            n_components=1 if fitted else model.n_components,
            allow_missing=bool(allow_missing),
            chunk_rows=stream_chunk_rows(*X.shape, covariance_type, resolve_n_jobs(None)),
            n_jobs=resolve_n_jobs(None),
            validated=True,
            noise_covariances=noise_covariances,
        )
    )
    family = MaximumLikelihood(covariance_type, reg_covar)
    start = starting_point(model, source.n_features)
    if fitted:
        state = family.start(*start)
    else:
        state = family.start(
            *init.initial_parameters(
                source.initialization_data(),
                weights,
                init_params,
                model.n_components,
                model.random_state,
                start,
            )
        )
    stepwise = online.stepwise if continuing else StepwiseEM(source.shift)
    stepwise.learning_decay, stepwise.learning_offset = learning_decay, learning_offset
    new, bound = stepwise.step(family, source, state)
    store_fit(model, family.mixture(new), covariance_type, False, stepwise.n_steps, bound)
    model.online_ = OnlineState(
        stepwise, covariance_type, (model.priors, model.means, model.covariances)
    )
    return model


#: ``callback(rows_seen, pass_number, batch_mean_log_likelihood, elapsed_seconds) -> stop``
StreamCallback = Callable[[int, int, float, float], Any]


def stream_chunk_rows(n_rows: int, n_features: int, covariance_type: str, n_jobs: int) -> int:
    """Rows per E-step chunk of one batch: the engine's default, split for every thread.

    A batch of a few thousand rows is one or two of the default chunks, which
    the thread pool runs in the calling thread; smaller chunks (at least 256
    rows) let every thread take a share of the batch.
    """
    default = default_chunk_rows(n_phi_features(n_features, covariance_type))
    return int(max(256, min(default, -(-n_rows // (2 * max(1, n_jobs))))))


def stream_fit_mixture(
    model: Any,
    X: Any,
    *,
    batch_size: int | None = None,
    n_passes: int = 1,
    shuffle: bool = True,
    covariance_type: str = "full",
    init_params: str = "kmeans++",
    n_iter: int = 100,
    tol: float | str | None = 1e-3,
    reg_covar: float = 1e-6,
    learning_decay: float = 0.7,
    learning_offset: float = 10.0,
    callback: StreamCallback | None = None,
    n_jobs: int | None = None,
    n_init: int = 1,
) -> Any:
    """Fit the mixture by one or a few passes of stepwise EM over mini-batches.

    ``GMM.from_stream``: for data larger than memory (a memory-mapped or
    ``.npy`` file, a Dask array) or when one pass is all the time allows.
    Batches are read one at a time (see :mod:`gaussmix.em.batches`), so the
    memory is bounded by a few batches. The first batch starts the model by
    batch EM (as :meth:`~gaussmix.GMM.from_samples` with ``init_params``,
    ``n_iter`` and ``tol``, from the parameters already set on the model);
    then every batch of every pass, the first included, is one step of
    stepwise EM (as :meth:`~gaussmix.GMM.partial_fit`). ``partial_fit`` can
    continue the stream afterwards.

    Parameters
    ----------
    model : GMM
        Fitted in place (``gmm.from_stream(X)`` passes the model itself).
    X : array-like, numpy.memmap, str or os.PathLike, or dask.array.Array, shape (n, d)
        The rows; a path names a ``.npy`` file (memory-mapped). Never read
        whole: an array is indexed one batch at a time, a Dask array
        computed one chunk at a time.
    batch_size : int, optional
        Rows per batch; default about 4 MiB of rows (32,768 rows of 16 features), at most n / 32
        (at least 1,024).
        The first batch needs at least ``n_components`` rows.
    n_passes : int, default=1
        Passes over the rows.
    shuffle : bool, default=True
        Draw each pass's batches at random (blocks of consecutive rows for
        arrays, chunks and rows within them for Dask; see
        :mod:`gaussmix.em.batches`), from the model's ``random_state``.
        Without shuffling the rows are read in order, which suits data
        already in random order.
    covariance_type : str, default="full"
        Any name of :func:`gaussmix.covariance.names` or an mclust code.
    init_params : {"random", "kmeans++", "hc"}, default="kmeans++"
        How the first batch's EM starts (see :meth:`~gaussmix.GMM.from_samples`).
    n_iter : int, default=100
        Maximum EM iterations on the first batch.
    tol : float, "auto" or None, default=1e-3
        Convergence rule of the first batch's EM (see
        :meth:`~gaussmix.GMM.from_samples`; "auto" is gmr's rule with
        ``R_diff=1e-4``).
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance after each M-step.
    learning_decay, learning_offset : float, default=0.7, 10.0
        The step size eta_t = (t + learning_offset) ** -learning_decay of
        batch t (see :meth:`~gaussmix.GMM.partial_fit`).
    callback : callable, optional
        ``callback(rows_seen, pass_number, mean_log_likelihood, elapsed)``
        after every batch: the rows streamed so far (over all passes), the
        pass (from 1), the batch's mean log-likelihood under the parameters
        before its step and the seconds since the start. The model holds the
        parameters after that step when it is called. A true return value
        stops the fit after that batch.
    n_jobs : int, optional
        Threads sharing each batch's E-step; default every core.
    n_init : int, default=1
        Batch EM runs on the first batch from different starts, the best
        likelihood kept (as :meth:`~gaussmix.GMM.from_samples`). One pass
        rarely leaves the optimum its start leads to, so a poor start (two
        seeds in one cluster) persists; a few starts on the first batch cost
        little.

    Returns
    -------
    model : GMM
        Fitted: ``priors``, ``means``, ``covariances``, ``covariance_type_``,
        ``n_iter_`` (steps), ``lower_bound_`` (running average of the
        batches' mean log-likelihoods), ``converged_`` False, ``online_``.

    Raises
    ------
    ValueError
        For data that are not 2-D finite numbers (found in the batch that
        holds them), a first batch with fewer rows than components, bad
        options.
    TypeError
        For data that are not numbers or a callback that is not callable.
    """
    rows = open_rows(X)
    batch_size, n_passes = check_batching(
        batch_size, n_passes, rows.n_rows, rows.n_features, model.n_components
    )
    covariance_type = structures.canonical(covariance_type)
    init_params = check_choice(init_params, "init_params", INIT_PARAMS)
    reg_covar = check_float(reg_covar, "reg_covar", minimum=0.0)
    learning_decay = check_float(learning_decay, "learning_decay", minimum=0.0, maximum=1.0)
    learning_offset = check_float(learning_offset, "learning_offset", minimum=0.0)
    if callback is not None and not callable(callback):
        raise TypeError(
            "callback must be callable(rows_seen, pass_number, mean_log_likelihood, "
            f"elapsed) or None; got {type(callback).__name__}"
        )
    if n_jobs is not None:
        n_jobs = check_int(n_jobs, "n_jobs")
        if n_jobs == 0:
            raise ValueError("n_jobs must be a positive number of threads, -1 or None; got 0")
    threads = resolve_n_jobs(n_jobs)
    n_init = check_int(n_init, "n_init", minimum=1)
    family = MaximumLikelihood(covariance_type, reg_covar)
    state = stepwise = None
    rows_seen = 0
    started = time.perf_counter()
    batches = rows.batches(
        batch_size, n_passes=n_passes, shuffle=bool(shuffle), random_state=model.random_state
    )
    # Each batch is read and checked on a thread of its own while the previous
    # one's M-step runs (asked for once that batch's E-step is done).
    with ReadAhead(batches, prepare=lambda item: check_batch(item[1])) as reader:
        for pass_number, batch in reader:
            chunk_rows = stream_chunk_rows(len(batch), rows.n_features, covariance_type, threads)
            if state is None:
                if len(batch) < rows.n_rows:  # (blocks may round a batch down)
                    check_first_batch(len(batch), model.n_components, batch_size)
                fit_mixture(
                    model,
                    batch,
                    R_diff=1e-4,
                    n_iter=n_iter,
                    init_params=init_params,
                    oracle_approximating_shrinkage=False,
                    covariance_type=covariance_type,
                    n_init=n_init,
                    reg_covar=reg_covar,
                    tol=tol,
                    sample_weight=None,
                    dtype=None,
                    chunk_size=chunk_rows,
                    allow_missing=False,
                    n_jobs=threads,
                    callback=None,
                    persist=None,
                )
                state = family.start(model.priors, model.means, model.covariances)
            source = open_source(
                SourceRequest(
                    batch,
                    None,
                    covariance_type,
                    n_components=1,
                    chunk_rows=chunk_rows,
                    n_jobs=threads,
                    validated=True,
                )
            )
            if stepwise is None:
                stepwise = StepwiseEM(source.shift, learning_decay, learning_offset)
            stats, shift = source.statistics(family.gaussians(state), None, family.need_resp_sq)
            reader.prefetch()
            state, bound = stepwise.update(family, stats, shift)
            # The model is usable after every batch (a callback may read it).
            mixture = family.mixture(state)
            store_fit(model, mixture, covariance_type, False, stepwise.n_steps, bound)
            model.online_ = OnlineState(
                stepwise, covariance_type, (model.priors, model.means, model.covariances)
            )
            rows_seen += len(batch)
            elapsed = time.perf_counter() - started
            if callback is not None and callback(
                rows_seen, pass_number, stepwise.batch_log_likelihood, elapsed
            ):
                break
    return model


def from_responsibilities(
    cls: type,
    X: ArrayLike,
    responsibilities: ArrayLike,
    *,
    covariance_type: str = "full",
    reg_covar: float = 1e-6,
    sample_weight: ArrayLike | None = None,
    verbose: int = 0,
    random_state: Any = None,
) -> Any:
    """A mixture from the M-step of given responsibilities (no EM iteration).

    The weights, means and covariances that maximize the expected
    complete-data log-likelihood sum_i w_i sum_j r_ij ln(pi_j N(x_i | mu_j,
    Sigma_j)) under the covariance structure: the M-step of EM, for custom
    starts (``GMM.from_responsibilities(X, labels).from_samples(X)``
    continues with EM from it) and for checking a structure's M-step.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Complete rows.
    responsibilities : array-like, shape (n_samples, n_components) or (n_samples,)
        Soft responsibilities r_ij >= 0 (rows need not sum to one), or hard
        integer labels in [0, n_components).
    covariance_type : str, default="full"
        Any name of :func:`gaussmix.covariance.names` or an mclust code.
    reg_covar : float, default=1e-6
        Regularization, as in :meth:`GMM.from_samples` (kept within the
        structure's constraints, see :mod:`gaussmix.covariance.decomposed`).
    sample_weight : array-like, shape (n_samples,), optional
        Row weights w_i (multiply the responsibilities).
    verbose, random_state
        Given to the new :class:`GMM`.

    Returns
    -------
    GMM
        With ``n_components`` columns of responsibilities, ``covariance_type_``
        set, ``n_iter_ = 0``, ``converged_ = False``, ``lower_bound_ = -inf``.

    Raises
    ------
    ValueError
        For non-finite X, responsibilities of the wrong length or negative,
        a component with no responsibility, unknown ``covariance_type``.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GMM
    >>> X = np.array([[0.0, 0.0], [1.0, 0.5], [10.0, 10.0], [11.0, 9.0]])
    >>> gmm = GMM.from_responsibilities(X, np.array([0, 0, 1, 1]), covariance_type="EII")
    >>> gmm.means
    array([[ 0.5 ,  0.25],
           [10.5 ,  9.5 ]])
    """
    covariance_type = structures.canonical(covariance_type)
    reg_covar = check_float(reg_covar, "reg_covar", minimum=0.0)
    X = check_samples(X, dtype=np.float64)
    resp = check_responsibilities(responsibilities, X.shape[0])
    weights = check_sample_weight(sample_weight, X.shape[0])
    # Moments about the (weighted) mean keep the scatter's rounding small.
    shift = np.average(X, axis=0, weights=weights)
    stats = responsibility_statistics(X, resp, shift, covariance_type, weights)
    fitted = Gaussians(*m_step(stats, shift, covariance_type, reg_covar))
    model = cls(resp.shape[1], verbose=verbose, random_state=random_state)
    return store_fit(model, fitted, covariance_type, False, 0, -np.inf)


def store_fit(
    model: Any,
    fitted: Gaussians,
    covariance_type: str,
    converged: bool,
    n_iter: int,
    lower_bound: float,
) -> Any:
    """Write a fit's mixture and diagnostics on ``model``; returns ``model``."""
    model.priors, model.means, model.covariances = fitted
    model.converged_ = bool(converged)
    model.n_iter_ = int(n_iter)
    model.lower_bound_ = lower_bound
    model.covariance_type_ = covariance_type
    return model


def starting_point(model: Any, d: int) -> tuple:
    """The parameters already set on ``model`` (None where not set), validated against d and k."""
    k = model.n_components
    priors = means = covs = None
    if model.priors is not None:
        priors = as_float_array(model.priors, "priors", ndim=1, dtype=np.float64)
        check_priors(priors, k)
    if model.means is not None:
        means = as_float_array(model.means, "means", ndim=2, dtype=np.float64)
        if means.shape != (k, d):
            raise ValueError(
                f"means must have shape ({k}, {d}) to match n_components and X; got {means.shape}"
            )
    if model.covariances is not None:
        covs = as_float_array(model.covariances, "covariances", ndim=3, dtype=np.float64)
        if covs.shape != (k, d, d):
            raise ValueError(
                f"covariances must have shape ({k}, {d}, {d}) to match n_components "
                f"and X; got {covs.shape}"
            )
        covs = symmetrize(covs)
        check_mixture(np.full(k, 1.0 / k), np.zeros((k, d)), covs, k)
    return priors, means, covs


def _check_compute_dtype(dtype: Any) -> Any:
    if dtype is None:
        return np.float64
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(
            f"dtype must be None, numpy.float64 or numpy.float32; got {dtype!r}"
        ) from exc
    if resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be None, numpy.float64 or numpy.float32; got {dtype!r}")
    return resolved.type


def _warn_if_coinciding(means: np.ndarray, covariances: np.ndarray) -> None:
    pairs = coinciding_components(means, covariances)
    if pairs:
        shown = ", ".join(f"{i} and {j}" for i, j in pairs[:5])
        warnings.warn(
            f"components {shown} coincide at the end of the fit (same mean and "
            "covariance): EM cannot separate identical components, so the fit has fewer "
            "distinct components than n_components. Try init_params='kmeans++', n_init > 1, "
            "other starting parameters, or scaling the data.",
            UserWarning,
            stacklevel=3,
        )
