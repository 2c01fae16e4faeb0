"""The statistics source of a Dask array: the E-step on the workers, statistics added in a tree.

Importing this module imports dask; :func:`gaussmix.em.front.open_source`
imports it only when it is given a Dask collection, so ``import gaussmix``
never does. :class:`DaskSource` maps the engine's own module-level
:func:`~gaussmix.em.estep.e_step` (or :func:`~gaussmix.em.estep_missing.missing_e_step`)
over the chunks, where they live, packs each chunk's
:class:`~gaussmix.em.stats.Statistics` into one float64 vector, and adds the
vectors in a tree reduction; only that one vector reaches the client, which
runs the M-step. The chunks are kept on the workers between iterations
(``persist``) on a distributed cluster with room for them, and otherwise
recomputed from their source every iteration, so that data larger than
memory stream. The faces users call (lazy scoring, files read by workers)
are in :mod:`gaussmix.dask`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._deconvolution import NoiseCovariances
from .._validation import (
    check_int,
    check_n_components,
    check_noise_covariances,
    check_sample_weight,
)
from ..kernels.threads import single_threaded_blas
from .estep import (
    EStepParameters,
    MissingBlock,
    e_step,
    make_e_step_parameters,
)
from .estep_missing import missing_e_step
from .families import Gaussians, ModelFamily
from .sources import StatisticsSource, default_chunk_rows, redo_parameters
from .stats import Statistics

__all__ = [
    "INIT_SAMPLE_ROWS",
    "PERSIST_FRACTION",
    "DaskNoisySource",
    "DaskSource",
    "check_rows",
    "map_packed",
    "persist_policy",
]

#: Rows of the random sample that the initializations (random rows, k-means++
#: and its covariance spread) see when the data have more rows; with at most
#: this many rows they see all of them, exactly as a fit in memory does.
INIT_SAMPLE_ROWS = 100_000

#: Fraction of the workers' free memory the data may take for ``persist=None``
#: to keep them there.
PERSIST_FRACTION = 0.5

# Packed vectors added per node of the reduction tree.
_SPLIT_EVERY = 8


# ----------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------
def check_rows(
    X: Any, name: str = "X", n_features: int | None = None, *, for_fit: bool = True
) -> da.Array:
    """A 2-D Dask array of real numbers chunked along rows only, as floats.

    A Dask DataFrame is converted with ``to_dask_array(lengths=True)`` (one
    pass to count the rows of each partition). Integer and boolean arrays
    become float64 lazily, chunk by chunk. Nothing is computed otherwise.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
    name : str, default="X"
    n_features : int, optional
        Columns X must have.
    for_fit : bool, default=True
        A fit needs known row counts and at least one row; lazy outputs
        accept unknown (NaN) chunk sizes and no rows.

    Raises
    ------
    ValueError
        If X is not 2-D, is split along columns, has unknown (NaN) chunk
        sizes (for a fit), no rows (for a fit) or no columns, or the wrong
        number of columns.
    TypeError
        If X does not hold real numbers.
    """
    if hasattr(X, "to_dask_array") and not isinstance(X, da.Array):
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array or a Dask DataFrame; got "
            f"{type(X).__module__}.{type(X).__name__} (convert another Dask-backed "
            "collection to a Dask array, e.g. with its .data or .to_dask_array())"
        )
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got a {X.ndim}-D Dask array of shape {X.shape}")
    if for_fit and any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (NaN row counts, e.g. after boolean indexing "
            "or from a DataFrame's .values); call X.compute_chunk_sizes() first, or convert "
            "a Dask DataFrame with df.to_dask_array(lengths=True)"
        )
    if len(X.chunks[1]) > 1:
        raise ValueError(
            f"{name} is chunked along its columns (column chunks {X.chunks[1]}); every "
            f"chunk must hold whole rows: use {name}.rechunk({{1: -1}})"
        )
    if for_fit and X.shape[0] == 0:
        raise ValueError(f"{name} must have at least 1 row(s); got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} columns but the model expects {n_features}")
    kind = X.dtype.kind
    if kind in "iub" or (kind == "f" and X.dtype not in (np.float32, np.float64)):
        X = X.astype(np.float64)
    elif kind != "f":
        raise TypeError(f"{name} must contain real numbers; got dtype {X.dtype}")
    return X


def _weights_like(sample_weight: Any, X: da.Array) -> da.Array | None:
    """sample_weight as a Dask array with X's row chunks (validated in the first pass)."""
    if sample_weight is None:
        return None
    n = X.shape[0]
    if not isinstance(sample_weight, da.Array):
        weights = check_sample_weight(sample_weight, n)
        return da.from_array(weights, chunks=(X.chunks[0],))
    if sample_weight.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D; got shape {sample_weight.shape}")
    if any(np.isnan(size) for size in sample_weight.chunks[0]):
        raise ValueError(
            "sample_weight has unknown chunk sizes (NaN); call "
            "sample_weight.compute_chunk_sizes() first"
        )
    if sample_weight.shape[0] != n:
        raise ValueError(
            f"sample_weight must have length n_samples={n}; got {sample_weight.shape[0]}"
        )
    if sample_weight.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must contain real numbers; got {sample_weight.dtype}")
    weights = sample_weight.astype(np.float64)
    if weights.chunks[0] != X.chunks[0]:
        weights = weights.rechunk((X.chunks[0],))
    return weights


# ----------------------------------------------------------------------
# Where the chunks live
# ----------------------------------------------------------------------
def _active_client() -> Any:
    """The default ``dask.distributed`` Client, or None (without importing distributed)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _gigabytes(n_bytes: float) -> str:
    if n_bytes < 1e9:
        return f"{n_bytes / 1e6:.3g} MB"
    return f"{n_bytes / 1e9:.3g} GB"


def persist_policy(nbytes: int, persist: bool | None, client: Any) -> tuple[bool, str]:
    """Whether to keep the chunks in memory between iterations, and why (for ``verbose``).

    ``persist=None``: keep them on a distributed cluster whose workers' free
    memory holds the data at most :data:`PERSIST_FRACTION` full; recompute
    them from their source every iteration otherwise (Dask's local
    schedulers, no ``Client``). True or False decides.
    """
    size = _gigabytes(nbytes)
    if persist is not None:
        persist = bool(persist)
        where = "on the cluster's workers" if client is not None else "in this process"
        if persist:
            return True, f"Dask: keeping the {size} of data {where} (persist=True)"
        return False, (
            f"Dask: recomputing the {size} of data from their source every iteration "
            "(persist=False)"
        )
    if client is None:
        return False, (
            f"Dask: no distributed Client, so the {size} of data are recomputed from their "
            "source every iteration (they stream); persist=True keeps them in memory"
        )
    try:
        info = client.scheduler_info(n_workers=-1)  # every worker (newer distributed)
    except TypeError:
        info = client.scheduler_info()
    workers = info.get("workers", {})
    limits = [info.get("memory_limit") or 0 for info in workers.values()]
    used = sum(info.get("metrics", {}).get("memory", 0) for info in workers.values())
    if not workers or not all(limits):
        return False, (
            f"Dask: the workers' memory limits are unknown, so the {size} of data are "
            "recomputed from their source every iteration; persist=True keeps them on the "
            "workers"
        )
    free = sum(limits) - used
    if nbytes <= PERSIST_FRACTION * free:
        return True, (
            f"Dask: keeping the {size} of data on {len(workers)} worker(s) between "
            f"iterations ({_gigabytes(free)} free); persist=False streams them instead"
        )
    return False, (
        f"Dask: the {size} of data exceed half the {_gigabytes(free)} free on "
        f"{len(workers)} worker(s), so they are recomputed from their source every "
        "iteration; persist=True keeps them anyway"
    )


def _compute(*collections: Any) -> tuple:
    """dask.compute with BLAS single-threaded here (local threads share the cores)."""
    try:
        with single_threaded_blas():
            return dask.compute(*collections)
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            raise RuntimeError(
                "a Dask task of the EM fit failed on every worker that tried it (each "
                "died while running it; Dask retries a task on "
                "distributed.scheduler.allowed-failures workers): give the workers more "
                f"memory or use smaller row chunks ({exc})"
            ) from exc
        raise


# ----------------------------------------------------------------------
# Per-chunk work (module-level: it runs on the workers)
# ----------------------------------------------------------------------
def _summary_block(block: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """One pass's sums of a chunk: weighted sums and counts for the shift and the checks.

    Returns (1, 2 d + 6): sum_i w_i x_ij over observed entries, sum_i w_i
    over observed entries (per column), NaN count, infinity count, rows
    with an observed entry, negative weights, non-finite weights, weight sum.
    """
    block = block.astype(np.float64, copy=False)
    w = np.ones(block.shape[0]) if weights is None else weights[:, 0]
    observed = ~np.isnan(block)
    finite = np.where(observed, block, 0.0)
    n_inf = np.isinf(finite).sum()
    finite[np.isinf(finite)] = 0.0
    w_finite = np.where(np.isfinite(w), w, 0.0)
    return np.concatenate(
        [
            w_finite @ finite,
            w_finite @ observed,
            [
                block.size - observed.sum(),
                n_inf,
                observed.any(axis=1).sum(),
                (w < 0).sum(),
                (~np.isfinite(w)).sum(),
                w_finite.sum(),
            ],
        ]
    )[None, :]


def _block_statistics(
    params: EStepParameters,
    block: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    missing: bool,
) -> np.ndarray:
    """Packed :class:`Statistics` (1, P) of one chunk, by the engine's E-step functions."""
    w = None if weights is None else weights[:, 0]
    if missing:
        stats = missing_e_step(MissingBlock.from_rows(block), w, params)
    else:
        stats = e_step(block, w, params)
    return stats.pack()[None, :]


# ----------------------------------------------------------------------
# The source
# ----------------------------------------------------------------------
class DaskSource(StatisticsSource):
    """Rows of a Dask array, E-step on the workers, statistics added in a tree.

    Construction makes one pass over the data (fused with drawing the
    initialization sample): the shift about which moments are taken (the
    weighted column means; observed ones with missing values), the checks
    that need the values (finite entries, NaN only with ``allow_missing``,
    valid weights) and the number of rows that carry information.

    Parameters
    ----------
    X : dask.array.Array, shape (n, d)
        Chunked along rows only (see :func:`check_rows`).
    sample_weight : dask.array.Array or array-like, shape (n,), optional
        Non-negative weights; rechunked like X's rows if needed.
    covariance_type : str
    n_components : int
        Checked against the rows that carry information.
    allow_missing : bool, default=False
        Fit NaN entries as missing values (each chunk grouped by missing
        pattern with :class:`~gaussmix.em.estep.MissingBlock`).
    dtype : numpy float type, default=numpy.float64
        Precision of the numpy path's feature GEMMs (as in memory).
    chunk_rows : int, optional
        Rows per feature chunk inside a Dask chunk (numpy path).
    persist : bool or None, default=None
        See :func:`persist_policy`.
    random_state : RandomState or Generator, optional
        Draws the initialization sample when X has more than ``init_rows``
        rows (nothing is drawn otherwise).
    init_rows : int, optional
        Rows of the initialization sample (default :data:`INIT_SAMPLE_ROWS`).
    verbose : int, default=0
        With 1 or more, print where the chunks live.

    Attributes
    ----------
    n_samples, n_features, shift, covariance_type
        As for every :class:`~gaussmix.em.sources.StatisticsSource`.
    n_rows : int
        All rows of X.
    missing : bool
        Whether the missing-values E-step runs (X had NaN).
    persisted : bool
    persist_message : str
    initialization_weights : ndarray or None
        Weights of :meth:`initialization_data`'s rows.

    Raises
    ------
    ValueError
        For the problems :func:`check_rows` names, non-finite entries,
        NaN without ``allow_missing``, bad weights, or more components than
        rows that carry information.
    """

    def __init__(
        self,
        X: Any,
        sample_weight: Any,
        covariance_type: str,
        *,
        n_components: int,
        allow_missing: bool = False,
        dtype: Any = np.float64,
        chunk_rows: int | None = None,
        persist: bool | None = None,
        random_state: Any = None,
        init_rows: int | None = None,
        verbose: int = 0,
    ) -> None:
        X = check_rows(X)
        weights = _weights_like(sample_weight, X)
        n, d = X.shape
        check_n_components(n_components, n)
        init_rows = check_int(
            INIT_SAMPLE_ROWS if init_rows is None else init_rows, "init_rows", minimum=1
        )
        if chunk_rows is not None:
            chunk_rows = check_int(chunk_rows, "chunk_size", minimum=1)
        self.covariance_type = covariance_type
        self.n_rows, self.n_features = n, d
        self.dtype = dtype
        self.chunk_rows = chunk_rows or self.chunk_rows_for(covariance_type)
        self.use_kernel = X.dtype in (np.float64, np.float32)

        self.persisted, self.persist_message = persist_policy(
            X.nbytes + (0 if weights is None else weights.nbytes), persist, _active_client()
        )
        if verbose:
            print(self.persist_message, file=sys.stdout, flush=True)
        if self.persisted:
            X, weights = (X.persist(), None) if weights is None else dask.persist(X, weights)
        self.X, self.weights = X, weights

        sample = None
        if n > init_rows:
            sample = _distinct_sorted(random_state, n, init_rows)
        self._init_index = sample  # the sampled rows (None: all), for per-row inputs
        summary = map_packed(_summary_block, X, weights, 2 * d + 6)
        rows = X if sample is None else X[sample]
        row_weights = None if weights is None else (weights if sample is None else weights[sample])
        summary, rows, row_weights = _compute(summary, rows, row_weights)
        self._check_summary(summary, d, n, allow_missing, weights is not None)

        self.missing = bool(summary[2 * d] > 0)
        self.shift = summary[:d] / summary[d : 2 * d]
        self.n_samples = int(summary[2 * d + 2])
        if self.missing:
            check_n_components(n_components, self.n_samples)
            rows = np.where(np.isnan(rows), self.shift, rows)
        self._init_rows, self.initialization_weights = rows, row_weights

    @staticmethod
    def _check_summary(
        summary: np.ndarray, d: int, n: int, allow_missing: bool, weighted: bool
    ) -> None:
        sum_w = summary[d : 2 * d]
        n_nan, n_inf, observed_rows, negative, bad_weights, weight_sum = summary[2 * d :]
        if n_inf:
            allowed = "finite numbers or NaN" if allow_missing else "finite numbers"
            raise ValueError(f"X contains infinite values; only {allowed} are allowed")
        if n_nan and not allow_missing:
            raise ValueError(
                "X contains NaN (missing values); pass allow_missing=True to fit with "
                "the EM for incomplete data, or remove or impute them first"
            )
        if weighted:
            if bad_weights:
                raise ValueError(
                    "sample_weight contains NaN or infinite values; only finite numbers "
                    "are allowed"
                )
            if negative:
                raise ValueError("sample_weight must be non-negative; got negative entries")
            if not weight_sum > 0:
                raise ValueError("sample_weight must have a positive sum; got all zeros")
        if observed_rows == 0:
            raise ValueError(
                "X has no row with an observed value (every entry is NaN); nothing to fit"
            )
        if not (sum_w > 0).all():
            empty = np.flatnonzero(~(sum_w > 0)).tolist()
            raise ValueError(f"X has columns with no observed value: {empty}; drop them")

    @property
    def n_phi(self) -> int:
        """Columns of the statistics' moments for the current structure."""
        return Statistics.n_columns(self.n_features, self.covariance_type)

    def chunk_rows_for(self, covariance_type: str) -> int:
        """The default feature chunk inside a Dask chunk for the structure."""
        return default_chunk_rows(Statistics.n_columns(self.n_features, covariance_type))

    def initialization_data(self) -> np.ndarray:
        """All rows if X has at most ``init_rows``, else a uniform random sample of that many.

        In row order; missing entries filled with the observed column means.
        """
        return self._init_rows

    def _reduce(self, params: EStepParameters) -> Statistics:
        k = params.means.shape[0]
        parts = map_packed(
            _block_statistics,
            self.X,
            self.weights,
            Statistics.packed_size(k, self.n_phi),
            shared=params,
            missing=self.missing,
        )
        (flat,) = _compute(parts)
        return Statistics.unpack(flat, k, self.n_phi)

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Statistics of all rows: the E-step on every chunk, packed, added in a tree."""
        # The same parameters for complete and incomplete data: missing_e_step
        # sends a chunk's complete rows (and frequent patterns) through the
        # complete-data E-step, compiled kernel included, as in memory.
        params = make_e_step_parameters(
            self.covariance_type,
            gaussians,
            previous,
            self.shift,
            need_resp_sq=need_resp_sq,
            dtype=np.float64 if self.missing else self.dtype,
            chunk_rows=self.chunk_rows,
            use_kernel=self.use_kernel,
            pooled=not self.missing,
        )
        return self._reduce(params), params.shift

    def refine(
        self, family: ModelFamily, state, stats: Statistics, shift: np.ndarray, new
    ) -> tuple:
        """One more pass about the components' means if ``new`` is imprecise.

        As :meth:`gaussmix.em.sources.ArraySource.refine` does in memory.
        """
        params = None if self.missing else redo_parameters(self, family, state, shift, new)
        if params is None:
            return new, stats
        redone = self._reduce(params)
        return family.m_step(redone, params.shift), redone


def _noisy_block_statistics(
    job: tuple,
    block: np.ndarray,
    noise_block: np.ndarray | None,
    weights: np.ndarray | None,
    *,
    kind: str,
) -> np.ndarray:
    """Packed XD statistics (1, P) of one chunk: the template NoisySource over its rows."""
    template, gaussians, previous, need_resp_sq, shared_noise, missing_rows = job
    values = shared_noise if kind == "shared" else noise_block
    missing = np.isnan(block)
    if missing.any():
        # Missing entries: the projection onto each row's observed coordinates,
        # as in memory; rows with nothing observed add nothing.
        noise = NoiseCovariances(_blank_missing(values, missing, kind), kind)
        source = missing_rows(block, noise, weights, template.covariance_type)
        if source is None:
            k, d = gaussians.means.shape
            n_phi = Statistics.n_columns(d, template.covariance_type)
            return Statistics.zeros(k, n_phi).pack()[None, :]
    else:
        source = template.over_rows(block, NoiseCovariances(values, kind), weights)
    stats, _ = source.statistics(gaussians, previous, need_resp_sq)
    return stats.pack()[None, :]


def _blank_missing(values: np.ndarray, missing: np.ndarray, kind: str) -> np.ndarray:
    """Per-row noise with the missing coordinates' entries set to 0 (never read; NaN allowed)."""
    if kind == "variances":
        return np.where(missing, 0.0, values)
    if kind == "matrices":
        return np.where(missing[:, :, None] | missing[:, None, :], 0.0, values)
    return values


def _check_noise_block(
    noise_block: np.ndarray, x_block: np.ndarray, n_features: int, offset: int
) -> np.ndarray:
    """check_noise_covariances on a chunk's rows (row numbers of the whole array)."""
    if noise_block.ndim == 2 and noise_block.shape[0] == n_features:
        # (d, d) variances of a chunk of d rows would read as one shared covariance.
        noise_block = noise_block[:, :, None] * np.eye(n_features)
    kind = "variances" if noise_block.ndim == 2 else "matrices"
    noise_block = _blank_missing(noise_block, np.isnan(x_block), kind)
    try:
        check_noise_covariances(noise_block, noise_block.shape[0], n_features)
    except ValueError as exc:
        raise ValueError(f"{exc} (in the Dask chunk starting at row {offset})") from None
    return np.zeros((1, 1))


class DaskNoisySource(DaskSource):
    """Rows of a Dask array with known noise: extreme deconvolution's E-step on the workers.

    Each chunk of X and of its noise covariances (chunked alike by rows)
    runs the in-memory :class:`~gaussmix.em.noisy.NoisySource` E-step on
    the worker that holds it (``template.over_rows``), and the packed
    statistics are added in a tree, as :class:`DaskSource` does without
    noise; construction adds one pass that checks every chunk's noise.

    Parameters
    ----------
    X : dask.array.Array, shape (n, d)
    noise_covariances : dask.array.Array or ndarray
        (n, d) variances or (n, d, d) covariances (rechunked like X's rows),
        or an in-memory (d, d) / (1, d, d) covariance shared by all rows.
    template : NoisySource
        The E-step to run on each chunk (its structure and chunking).
    missing_rows : callable, optional
        ``missing_rows(block, noise, weights, covariance_type)``: the source of a
        chunk's rows with NaN entries (None when none is observed); needed for
        ``allow_missing`` (given by the front door, which builds every source).
    sample_weight, covariance_type, n_components, persist, random_state, verbose
        As for :class:`DaskSource`.
    allow_missing : bool, default=False
        Whether NaN entries of X are missing values: a chunk's rows with NaN
        run the in-memory :class:`~gaussmix.em.projected.ProjectedSource`
        E-step (the projection onto their observed coordinates), and the noise
        of missing coordinates may be NaN (never read).

    Raises
    ------
    ValueError
        As :class:`DaskSource` (NaN entries without ``allow_missing``), and for
        noise of the wrong shape, non-finite where observed, not symmetric or
        not positive semi-definite.
    """

    def __init__(
        self,
        X: Any,
        noise_covariances: Any,
        template: Any,
        sample_weight: Any,
        covariance_type: str,
        *,
        n_components: int,
        missing_rows: Callable[..., Any] | None = None,
        allow_missing: bool = False,
        persist: bool | None = None,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            X,
            sample_weight,
            covariance_type,
            n_components=n_components,
            allow_missing=allow_missing,
            persist=persist,
            random_state=random_state,
            verbose=verbose,
        )
        self.template = template.with_structure(covariance_type)
        self.missing_rows = missing_rows
        if self.missing and missing_rows is None:
            raise ValueError("X contains NaN: give missing_rows to fit missing values under noise")
        self._set_noise(noise_covariances)

    def _set_noise(self, noise_covariances: Any) -> None:
        """Check the noise (chunk by chunk for per-row noise) and keep it chunked like X."""
        n, d = self.n_rows, self.n_features
        self.shared_noise = None
        if self.missing and not isinstance(noise_covariances, da.Array):
            per_row = np.asarray(noise_covariances)
            if per_row.ndim in (2, 3) and per_row.shape[0] == n and (per_row.shape[:2] != (d, d)):
                # Per-row noise may hold NaN at missing coordinates: checked chunk
                # by chunk beside X's chunks, as a Dask array's noise is.
                noise_covariances = da.from_array(
                    per_row, chunks=(self.X.chunks[0], *per_row.shape[1:])
                )
        if not isinstance(noise_covariances, da.Array):
            values, kind = check_noise_covariances(noise_covariances, n, d)
            if kind == "shared":
                self.shared_noise = values
                self.noise, self.noise_kind = None, kind
                return
            noise = da.from_array(values, chunks=(self.X.chunks[0], *values.shape[1:]))
        else:
            if noise_covariances.dtype.kind not in "iubf":
                raise TypeError(
                    "noise_covariances must contain real numbers; got dtype "
                    f"{noise_covariances.dtype}"
                )
            noise = noise_covariances.astype(np.float64)
            if (
                noise.ndim not in (2, 3)
                or noise.shape[0] != n
                or noise.shape[1:]
                not in (
                    (d,),
                    (d, d),
                )
            ):
                raise ValueError(
                    f"noise_covariances has shape {noise.shape} for X of shape ({n}, {d}); "
                    f"allowed as a Dask array: ({n}, {d}) per-row variances or ({n}, {d}, {d}) "
                    "per-row covariances (a shared covariance as a numpy array)"
                )
            noise = noise.rechunk((self.X.chunks[0], *noise.shape[1:]))
            offsets = np.concatenate([[0], np.cumsum(self.X.chunks[0])[:-1]])
            checks = [
                dask.delayed(_check_noise_block)(block, x_block, d, int(offset))
                for block, x_block, offset in zip(
                    noise.to_delayed().ravel(), self.X.to_delayed().ravel(), offsets, strict=True
                )
            ]
            _compute(*checks)
        if self.persisted:
            noise = noise.persist()
        self.noise = noise
        self.noise_kind = "variances" if noise.ndim == 2 else "matrices"

    def with_structure(self, covariance_type: str) -> DaskNoisySource:
        """The same chunks and checked noise; the chunks' E-step for ``covariance_type``."""
        clone = super().with_structure(covariance_type)
        clone.template = self.template.with_structure(covariance_type)
        return clone

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """XD statistics of all rows (about each component's mean), chunk by chunk."""
        k = gaussians.means.shape[0]
        size = Statistics.packed_size(k, self.n_phi)
        job = dask.delayed(
            (
                self.template,
                gaussians,
                previous,
                need_resp_sq,
                self.shared_noise,
                self.missing_rows,
            ),
            pure=True,
        )
        blocks = self.X.to_delayed().ravel()
        noise_blocks = (
            [None] * len(blocks) if self.noise is None else list(self.noise.to_delayed().ravel())
        )
        weight_blocks = (
            [None] * len(blocks) if self.weights is None else list(self.weights.to_delayed())
        )
        task = dask.delayed(_noisy_block_statistics, pure=True)
        parts = [
            da.from_delayed(task(job, x, s, w, kind=self.noise_kind), (1, size), np.float64)
            for x, s, w in zip(blocks, noise_blocks, weight_blocks, strict=True)
        ]
        total = da.concatenate(parts).sum(axis=0, split_every=_SPLIT_EVERY)
        (flat,) = _compute(total)
        stats = Statistics.unpack(flat, k, self.n_phi)
        return stats, np.array(gaussians.means, dtype=np.float64)

    def refine(
        self, family: ModelFamily, state, stats: Statistics, shift: np.ndarray, new
    ) -> tuple:
        """Nothing to redo: the moments are taken about each component's own mean."""
        return new, stats


def map_packed(
    function: Callable[..., np.ndarray],
    X: da.Array,
    weights: da.Array | None,
    width: int,
    shared: Any = None,
    **kwargs: Any,
) -> da.Array:
    """Sum over X's chunks of ``function([shared, ]block[, weights]) -> (1, width)``, as a tree.

    ``shared`` (the iteration's parameters) enters the graph once, as one
    task that every chunk's task reads, rather than once per chunk.
    """
    arrays = [X] if weights is None else [X, weights[:, None]]
    if shared is not None:
        arrays.insert(0, dask.delayed(shared, pure=True))
    parts = da.map_blocks(
        function,
        *arrays,
        chunks=((1,) * X.numblocks[0], (width,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
        **kwargs,
    )
    return parts.sum(axis=0, split_every=_SPLIT_EVERY)


def _distinct_sorted(rng: Any, n: int, m: int) -> np.ndarray:
    """m distinct row indices out of n, uniformly at random, sorted; O(m) memory."""
    integers = rng.integers if isinstance(rng, np.random.Generator) else rng.randint
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < m:
        chosen = np.union1d(chosen, integers(0, n, size=m - chosen.size + 16))
    if chosen.size > m:
        chosen = np.sort(rng.choice(chosen, size=m, replace=False))
    return chosen


def _projected_block_statistics(job: tuple, block, noise_block, map_block, weights, *, kind):
    """Packed XD statistics (1, P) of one chunk of projected rows (the front's builder)."""
    build, covariance_type, gaussians, previous, need_resp_sq, shared_noise, shared_map = job
    noise = None
    if kind is not None:
        noise = NoiseCovariances(shared_noise if kind == "shared" else noise_block, kind)
    source = build(block, noise, shared_map if map_block is None else map_block, weights)
    stats, _ = source.with_structure(covariance_type).statistics(gaussians, previous, need_resp_sq)
    return stats.pack()[None, :]


def _check_map_block(map_block: np.ndarray, offset: int) -> np.ndarray:
    if not np.isfinite(map_block).all():
        raise ValueError(
            f"projection must contain only finite numbers (in the Dask chunk starting at "
            f"row {offset})"
        )
    return np.zeros((1, 1))


class DaskProjectedSource(DaskNoisySource):
    """Projected noisy rows y_i = R_i v_i + e_i of a Dask array: XD's general E-step per chunk.

    Y (n, m), its noise (n, m)/(n, m, m) chunked like its rows (or one shared
    (m, m), or none) and the maps R_i (n, m, d) chunked like its rows (or one
    (m, d) for all rows); every chunk runs the in-memory
    :class:`~gaussmix.em.projected.ProjectedSource` E-step on its worker
    (``build(Y, noise, R, weights)``, given by the front door) and the packed
    statistics add up in a tree. The fitted mixture has d features. Starts
    come from a random sample of rows, R_i^+ y_i.

    Parameters
    ----------
    X : dask.array.Array, shape (n, m)
    noise_covariances : dask.array.Array, ndarray or None
    projection : dask.array.Array or ndarray
        (n, m, d) per row or (m, d) shared (checked for shapes by the caller).
    build : callable
        ``build(Y, noise, R, weights) -> ProjectedSource`` of in-memory rows.
    sample_weight, covariance_type, n_components, persist, random_state, verbose
        As for :class:`DaskSource`.
    """

    def __init__(
        self,
        X: Any,
        noise_covariances: Any,
        projection: Any,
        build: Callable[..., Any],
        sample_weight: Any,
        covariance_type: str,
        *,
        n_components: int,
        persist: bool | None = None,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        DaskSource.__init__(
            self,
            X,
            sample_weight,
            covariance_type,
            n_components=n_components,
            persist=persist,
            random_state=random_state,
            verbose=verbose,
        )
        self.build, self.missing_rows, self.template = build, None, None
        if noise_covariances is None:
            self.noise = self.shared_noise = self.noise_kind = None
        else:
            self._set_noise(noise_covariances)
        self.shared_map = self.maps = None
        if isinstance(projection, da.Array):
            maps = projection.astype(np.float64).rechunk((self.X.chunks[0], *projection.shape[1:]))
            offsets = np.concatenate([[0], np.cumsum(self.X.chunks[0])[:-1]])
            checks = [
                dask.delayed(_check_map_block)(block, int(offset))
                for block, offset in zip(maps.to_delayed().ravel(), offsets, strict=True)
            ]
            _compute(*checks)
            self.maps = maps.persist() if self.persisted else maps
        elif projection.ndim == 3:
            self.maps = da.from_array(projection, chunks=(self.X.chunks[0], *projection.shape[1:]))
        else:
            self.shared_map = projection
        # The starts: R_i^+ y_i of the rows sampled for the initialization.
        sample = self._init_rows
        if self.shared_map is not None:
            starts = sample @ np.linalg.pinv(self.shared_map).T
        else:  # the maps of the same sampled rows
            index = self._init_index
            (sampled,) = _compute(self.maps if index is None else self.maps[index])
            starts = np.einsum("ndm,nm->nd", np.linalg.pinv(sampled), sample)
        self._init_rows = starts
        self.n_features = projection.shape[-1]
        self.shift = np.average(starts, axis=0, weights=self.initialization_weights)

    def with_structure(self, covariance_type: str) -> DaskProjectedSource:
        """The same chunks, maps and noise for another covariance structure."""
        return DaskSource.with_structure(self, covariance_type)

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """XD statistics of all rows (about each component's mean), chunk by chunk."""
        k, d = gaussians.means.shape
        size = Statistics.packed_size(k, Statistics.n_columns(d, self.covariance_type))
        shared = (self.build, self.covariance_type, gaussians, previous, need_resp_sq)
        job = dask.delayed((*shared, self.shared_noise, self.shared_map), pure=True)
        blocks = self.X.to_delayed().ravel()
        none = [None] * len(blocks)
        noise = none if self.noise is None else list(self.noise.to_delayed().ravel())
        maps = none if self.maps is None else list(self.maps.to_delayed().ravel())
        weights = none if self.weights is None else list(self.weights.to_delayed())
        task = dask.delayed(_projected_block_statistics, pure=True)
        parts = [
            da.from_delayed(task(job, y, s, r, w, kind=self.noise_kind), (1, size), np.float64)
            for y, s, r, w in zip(blocks, noise, maps, weights, strict=True)
        ]
        total = da.concatenate(parts).sum(axis=0, split_every=_SPLIT_EVERY)
        (flat,) = _compute(total)
        stats = Statistics.unpack(flat, k, Statistics.n_columns(d, self.covariance_type))
        return stats, np.array(gaussians.means, dtype=np.float64)
