"""The front door of the engine: check the data, then choose the statistics source.

Every front end (``GMM.from_samples``, scikit-learn's estimators,
``select_model``) describes its data in a :class:`SourceRequest` and calls
:func:`open_source`, which checks the data (unless the front end already
did, in its own wording) and builds the first registered source that accepts
them: a Dask collection's :class:`~gaussmix.em.dask_source.DaskSource`
(imported only then), with ``noise_covariances`` a
:class:`~gaussmix.em.noisy.NoisySource` (extreme deconvolution), else an in-memory
:class:`~gaussmix.em.sources.ArraySource` (memory-mapped arrays read in
place) or, with NaN entries and ``allow_missing``, a
:class:`~gaussmix.em.sources.MissingValuesSource`. A new kind of source is one
module with its class plus one :func:`register_source` line at the bottom of
this file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._deconvolution import NoiseCovariances
from .._validation import (
    any_entry,
    check_n_components,
    check_noise_covariances,
    check_sample_weight,
    check_samples,
    check_spread,
    is_dask_collection,
    scale_sample_weight,
)
from ..kernels import compiled as _compiled
from ..kernels.buffers import readable_rows
from .sources import ArraySource, MissingValuesSource, StatisticsSource

__all__ = ["SourceRequest", "check_data", "open_source", "register_source"]


# ----------------------------------------------------------------------
# The front door
# ----------------------------------------------------------------------
class SourceRequest(NamedTuple):
    """What a front end asks of :func:`open_source`: the data and how to read them.

    ``X`` and ``sample_weight`` as the user gave them; the other fields are
    validated options (``chunk_rows`` a positive int or None, ``n_jobs`` a
    thread count, ``random_state`` a RandomState or Generator).
    ``noise_covariances`` (as the user gave them, or None) are the known
    noise covariances of the rows (extreme deconvolution); ``projection``
    (or None) the maps R_i of rows y_i = R_i v_i + noise.
    """

    X: Any
    sample_weight: Any
    covariance_type: str
    n_components: int
    allow_missing: bool = False
    dtype: Any = np.float64
    chunk_rows: int | None = None
    n_jobs: int = 1
    persist: bool | None = None
    random_state: Any = None
    verbose: int = 0
    validated: bool = False
    noise_covariances: Any = None
    projection: Any = None


#: (name, accepts(request), build(request)) of every kind of source, tried in order.
_SOURCE_KINDS: list[
    tuple[str, Callable[[SourceRequest], bool], Callable[[SourceRequest], Any]]
] = []


def register_source(
    name: str,
    accepts: Callable[[Any], bool],
    build: Callable[[SourceRequest], StatisticsSource],
    *,
    whole_request: bool = False,
) -> None:
    """Make :func:`open_source` build ``build(request)`` for data that ``accepts``.

    Sources registered later are tried first, so a specific kind of data
    (a Dask collection) goes before the in-memory catch-all. ``accepts``
    is given ``request.X``, or the whole :class:`SourceRequest` with
    ``whole_request=True`` (a source chosen by another field, such as
    ``noise_covariances``).
    """
    test = accepts if whole_request else (lambda request: accepts(request.X))
    _SOURCE_KINDS.insert(0, (name, test, build))


def open_source(request: SourceRequest) -> StatisticsSource:
    """Check the data of ``request`` and build the statistics source for them.

    Parameters
    ----------
    request : SourceRequest

    Returns
    -------
    source : StatisticsSource
        Its ``initialization_data()`` are the (in-memory) rows the starts see.

    Raises
    ------
    ValueError
        For invalid data (non-finite entries, NaN without ``allow_missing``,
        fewer rows that carry information than components, overflowing
        spread) or weights, naming the argument.
    """
    for _name, accepts, build in _SOURCE_KINDS:
        if accepts(request):
            return build(request)
    raise TypeError(f"no statistics source accepts X of type {type(request.X).__name__}")


def check_data(
    X: Any,
    sample_weight: Any,
    *,
    n_components: int,
    allow_missing: bool,
    scale_weights: bool = True,
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """The front door's checks of in-memory data, for every front end.

    Parameters
    ----------
    X : array-like, shape (n, d)
    sample_weight : array-like, shape (n,), or None
    n_components : int
        At most the rows that carry information.
    allow_missing : bool
        Whether NaN entries are missing values (else a ``ValueError``).
    scale_weights : bool, default=True
        Rescale weights by a power of two when their sum could overflow (EM
        depends only on their ratios; criteria that count rows by the weights'
        sum pass False).

    Returns
    -------
    X : ndarray
        Finite float rows (NaN only with ``allow_missing``).
    weights : ndarray or None
        Checked, rescaled by a power of two if their sum could overflow.
    missing : bool
        Whether X holds NaN.

    Raises
    ------
    ValueError
        Naming ``X`` or ``sample_weight``: non-finite entries, NaN without
        ``allow_missing``, no row with an observed value, more components
        than rows, squared deviations that overflow float64, bad weights.
    """
    X = check_samples(X, allow_nan=True)
    missing = any_entry(np.isnan, X)
    if missing and not allow_missing:
        raise ValueError(
            "X contains NaN (missing values); pass allow_missing=True to fit with "
            "the EM for incomplete data, or remove or impute them first"
        )
    check_n_components(n_components, X.shape[0])
    if missing:
        usable = int((~np.isnan(X)).any(axis=1).sum())
        if usable == 0:
            raise ValueError(
                "X has no row with an observed value (every entry is NaN); nothing to fit"
            )
        check_n_components(n_components, usable)
    check_spread(X)
    weights = check_sample_weight(sample_weight, X.shape[0])
    return X, scale_sample_weight(weights) if scale_weights else weights, missing


def _in_memory(request: SourceRequest) -> StatisticsSource:
    """ArraySource or MissingValuesSource for an array-like, after its checks."""
    X, weights = request.X, request.sample_weight
    if request.validated:
        missing = request.allow_missing and any_entry(np.isnan, X)
    else:
        X, weights, missing = check_data(
            X,
            weights,
            n_components=request.n_components,
            allow_missing=request.allow_missing,
        )
    X = _rows_in_place(X)
    if missing:
        return MissingValuesSource(
            X,
            weights,
            request.covariance_type,
            chunk_rows=request.chunk_rows,
            n_jobs=request.n_jobs,
        )
    return ArraySource(
        X,
        weights,
        request.covariance_type,
        dtype=request.dtype,
        chunk_rows=request.chunk_rows,
        n_jobs=request.n_jobs,
    )


def _rows_in_place(X: np.ndarray) -> np.ndarray:
    """:func:`gaussmix.kernels.buffers.readable_rows` of in-memory rows where the
    compiled kernels run; memory-mapped files are left as they are (a copy would load
    them)."""
    if (
        isinstance(X, np.ndarray)
        and not isinstance(X, np.memmap)
        and X.ndim == 2
        and X.size
        and _compiled.available()
    ):
        return readable_rows(X)
    return X


def _dask(request: SourceRequest) -> StatisticsSource:
    """DaskSource (imports dask); its checks run on the workers, in its first pass."""
    from .dask_source import DaskSource

    source = DaskSource(
        request.X,
        request.sample_weight,
        request.covariance_type,
        n_components=request.n_components,
        allow_missing=request.allow_missing,
        dtype=request.dtype,
        chunk_rows=request.chunk_rows,
        persist=request.persist,
        random_state=request.random_state,
        verbose=request.verbose,
    )
    # The starts see the initialization sample, in memory: check it as such.
    sample = check_samples(source.initialization_data(), allow_nan=True)
    check_n_components(request.n_components, sample.shape[0])
    check_spread(sample)
    return source


def _noisy(request: SourceRequest) -> StatisticsSource:
    """NoisySource for in-memory rows with known noise covariances, after their checks.

    Rows with NaN entries (``allow_missing``) go to a
    :class:`~gaussmix.em.projected.ProjectedSource`: the projection onto
    their observed coordinates.
    """
    from .noisy import NoisySource

    if is_dask_collection(request.X):
        return _dask_noisy(request)
    _refuse_dask(request)
    X, weights, missing = check_data(
        request.X,
        request.sample_weight,
        n_components=request.n_components,
        allow_missing=request.allow_missing,
    )
    noise = request.noise_covariances
    if missing:
        # NaN noise of the missing coordinates is allowed: those entries are not used.
        from .._validation_noise import blank_missing_noise

        noise = blank_missing_noise(noise, np.isnan(X))
    noise = NoiseCovariances(*check_noise_covariances(noise, *X.shape))
    if missing:
        from .._projection import ProjectedRows
        from .projected import ProjectedSource

        # Rows with nothing observed carry no information (as without noise).
        keep = np.flatnonzero(~np.isnan(X).all(axis=1))
        check_n_components(request.n_components, keep.size)
        rows = ProjectedRows.from_missing(X, noise).take(keep)
        return ProjectedSource(
            rows,
            None if weights is None else weights[keep],
            request.covariance_type,
            chunk_rows=request.chunk_rows,
            n_jobs=request.n_jobs,
        )
    return NoisySource(
        X,
        noise,
        weights,
        request.covariance_type,
        chunk_rows=request.chunk_rows,
        n_jobs=request.n_jobs,
    )


def _dask_noisy(request: SourceRequest) -> StatisticsSource:
    """DaskNoisySource (imports dask): X and its noise chunked alike by rows."""
    from .dask_source import DaskNoisySource
    from .noisy import NoisySource

    if request.projection is not None:
        _refuse_dask(request)
    d = request.X.shape[1]
    # The E-step each chunk runs, over a placeholder row until it is given the chunk's.
    template = NoisySource(
        np.zeros((1, d)),
        NoiseCovariances(np.zeros((d, d)), "shared"),
        None,
        request.covariance_type,
        chunk_rows=request.chunk_rows,
    )
    source = DaskNoisySource(
        request.X,
        request.noise_covariances,
        template,
        request.sample_weight,
        request.covariance_type,
        n_components=request.n_components,
        missing_rows=missing_rows_source,
        allow_missing=request.allow_missing,
        persist=request.persist,
        random_state=request.random_state,
        verbose=request.verbose,
    )
    sample = check_samples(source.initialization_data())
    check_n_components(request.n_components, sample.shape[0])
    check_spread(sample)
    return source


def missing_rows_source(
    X: np.ndarray, noise: NoiseCovariances, weights: np.ndarray | None, covariance_type: str
) -> StatisticsSource | None:
    """The XD source of noisy rows with NaN entries (None when nothing is observed).

    The projection onto each row's observed coordinates
    (:class:`~gaussmix.em.projected.ProjectedSource`), one thread; rows with
    nothing observed are left out. What a Dask array's chunks with missing
    entries run on their workers (the noise already blanked where missing).

    Parameters
    ----------
    X : ndarray, shape (c, d)
        Rows with NaN entries.
    noise : NoiseCovariances
    weights : ndarray, shape (c,), or None
    covariance_type : str

    Returns
    -------
    ProjectedSource or None
    """
    from .._projection import ProjectedRows
    from .projected import ProjectedSource

    keep = np.flatnonzero(~np.isnan(X).all(axis=1))
    if keep.size == 0:
        return None
    rows = ProjectedRows.from_missing(X, noise).take(keep)
    return ProjectedSource(rows, None if weights is None else weights[keep], covariance_type)


def _projected(request: SourceRequest) -> StatisticsSource:
    """ProjectedSource for rows y_i = R_i v_i + e_i (noise optional: zero without)."""
    from .._projection import ProjectedRows
    from .._validation_noise import check_projection
    from .projected import ProjectedSource

    if is_dask_collection(request.X):
        return _dask_projected(request)
    _refuse_dask(request)
    X, weights, missing = check_data(
        request.X,
        request.sample_weight,
        n_components=request.n_components,
        allow_missing=request.allow_missing,
    )
    if missing:
        raise ValueError(
            "X contains NaN: missing values together with a projection are not supported; "
            "drop the missing entries' rows from each R_i (projection) and y_i instead"
        )
    projection = check_projection(request.projection, *X.shape)
    noise = None
    if request.noise_covariances is not None:
        noise = NoiseCovariances(*check_noise_covariances(request.noise_covariances, *X.shape))
    return ProjectedSource(
        ProjectedRows.from_projection(X, noise, projection),
        weights,
        request.covariance_type,
        chunk_rows=request.chunk_rows,
        n_jobs=request.n_jobs,
    )


def projected_rows_source(
    Y: np.ndarray, noise: NoiseCovariances | None, projection: np.ndarray, weights: Any
) -> StatisticsSource:
    """The XD source of in-memory projected rows (one thread): what a Dask chunk runs.

    Parameters
    ----------
    Y : ndarray, shape (c, m)
        Measured rows, checked by the caller.
    noise : NoiseCovariances or None
    projection : ndarray, shape (c, m, d) or (m, d)
    weights : ndarray, shape (c,), or None

    Returns
    -------
    ProjectedSource
        For full covariances; the caller takes ``with_structure`` of its own.
    """
    from .._projection import ProjectedRows
    from .projected import ProjectedSource

    rows = ProjectedRows.from_projection(Y, noise, projection)
    return ProjectedSource(rows, weights, "full")


def _dask_projected(request: SourceRequest) -> StatisticsSource:
    """DaskProjectedSource (imports dask): Y, its noise and maps chunked alike by rows."""
    from .._validation_noise import check_projection
    from .dask_source import DaskProjectedSource

    n, m = request.X.shape
    projection = request.projection
    if is_dask_collection(projection):
        if projection.ndim != 3 or projection.shape[:2] != (n, m) or projection.shape[2] < 1:
            raise ValueError(
                f"projection has shape {projection.shape} for X of shape ({n}, {m}); allowed "
                f"as a Dask array: ({n}, {m}, d) one map per row (one map for all rows as a "
                "numpy array)"
            )
    else:
        projection = check_projection(projection, n, m)
    if request.allow_missing:
        raise ValueError(
            "allow_missing with a projection is not supported; drop the missing entries' "
            "rows from each R_i (projection) and y_i instead"
        )
    source = DaskProjectedSource(
        request.X,
        request.noise_covariances,
        projection,
        projected_rows_source,
        request.sample_weight,
        request.covariance_type,
        n_components=request.n_components,
        persist=request.persist,
        random_state=request.random_state,
        verbose=request.verbose,
    )
    sample = check_samples(source.initialization_data())
    check_n_components(request.n_components, sample.shape[0])
    check_spread(sample)
    return source


def _refuse_dask(request: SourceRequest) -> None:
    if not any(
        is_dask_collection(value)
        for value in (request.X, request.noise_covariances, request.projection)
    ):
        return
    if request.projection is not None:
        raise ValueError(
            "fitting with a projection is not supported for Dask arrays yet; fit in memory "
            "(X, projection and noise_covariances as numpy arrays); scoring a Dask array "
            "with a projection works (score_samples, score, bic)"
        )
    raise ValueError(
        "noise_covariances is a Dask array but X is not; pass X as a Dask array chunked "
        "like it, or both as numpy arrays"
    )


# One line a kind of source (later ones are tried first).
register_source("array", lambda X: True, _in_memory)
register_source("dask", is_dask_collection, _dask)
register_source(
    "noisy", lambda request: request.noise_covariances is not None, _noisy, whole_request=True
)
register_source(
    "projected", lambda request: request.projection is not None, _projected, whole_request=True
)
