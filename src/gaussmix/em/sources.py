"""Statistics sources: where the E-step's rows come from.

A source holds the prepared data (validated once, before the first
iteration) and, given the Gaussians of an iteration, returns the summed
:class:`Statistics` of all its rows and the point their moments were taken
about. It chooses which module-level E-step function of
:mod:`gaussmix.em.estep` runs on which block, and where (threads here; a
distributed source maps the same functions over remote chunks and adds the
packed results).

- :class:`ArraySource`: an in-memory array without missing entries
  (memory-mapped arrays included: read in place).
- :class:`MissingValuesSource`: an in-memory array with NaN entries.
- :class:`gaussmix.em.dask_source.DaskSource`: a Dask array's chunks, where
  they live (imported only when a Dask collection arrives).

:func:`gaussmix.em.front.open_source` is the one front door: every front end (``GMM.from_samples``,
scikit-learn's estimators, ``select_model``) hands it the data and it checks
them, then picks the source. A new source subclasses :class:`StatisticsSource`,
implements :meth:`~StatisticsSource.statistics` and
:meth:`~StatisticsSource.initialization_data`, and is registered with one line,
:func:`gaussmix.em.front.register_source`; the driver does not change.
"""

from __future__ import annotations

import copy
import threading

import numpy as np

from .._gaussian import (
    PRECISION_LIMIT,
    n_phi_features,
    shared_shift_error,
)
from ..kernels.threads import map_blocks
from .estep import (
    EStepParameters,
    MissingBlock,
    e_step,
    make_e_step_parameters,
    pooled_log_lik_term,
    scatter_about,
)
from .estep_missing import missing_unit_statistics, missing_work, prepare_missing, unit_cost
from .families import Gaussians, ModelFamily
from .stats import Statistics

__all__ = [
    "ArraySource",
    "MissingValuesSource",
    "StatisticsSource",
    "default_chunk_rows",
    "weighted_mean",
]

# Rows per chunk: the (features, rows) buffer then holds about 2^19 float64
# numbers (4 MiB), which keeps both GEMMs efficient and the softmax in cache.
_CHUNK_ELEMENTS = 1 << 19


def default_chunk_rows(n_features_phi: int) -> int:
    """Rows per chunk: ~4 MiB of features, between 4096 and 8192 rows (measured best)."""
    return int(max(4096, min(8192, _CHUNK_ELEMENTS // n_features_phi)))


def weighted_mean(X: np.ndarray, weights: np.ndarray | None, chunk: int = 1 << 13) -> np.ndarray:
    """Column means of X (optionally weighted), chunked and in float64."""
    total = np.zeros(X.shape[1])
    ones = np.ones(min(chunk, X.shape[0]))
    for start in range(0, X.shape[0], chunk):
        block = X[start : start + chunk].astype(np.float64, copy=False)
        # a product with a vector, not block.sum(axis=0): numpy's axis-0
        # reductions of narrow rows are several times slower than BLAS. Chunks of
        # 8,192 rows: larger vector products start BLAS's threads, which wait for
        # a free core on a busy machine (4 ms for 32,768 x 16 rows, 0.07 ms in one
        # thread)
        w = ones[: block.shape[0]] if weights is None else weights[start : start + chunk]
        total += w @ block
    return total / (X.shape[0] if weights is None else weights.sum())


def redo_parameters(
    source: StatisticsSource, family: ModelFamily, state, shift: np.ndarray, new
) -> EStepParameters | None:
    """E-step parameters that redo an iteration about each component's mean, or None.

    A shared-shift source calls this from ``refine``: when the M-step's result
    ``new`` lies too far from ``source.shift`` for moments about it to be
    precise (e.g. a component collapsed onto a far outlier), its parameters
    cannot be read off those moments, and the iteration's statistics are
    recomputed about the means of ``state`` (the E-step's own components).
    None when the iteration already ran about the means or ``new`` is precise.

    Parameters
    ----------
    source : StatisticsSource
        Needs ``shift``, ``covariance_type`` and ``chunk_rows``.
    family : ModelFamily
    state
        The family state whose E-step produced the statistics.
    shift : ndarray, shape (d,) or (k, d)
        The point those statistics were taken about.
    new
        The state the M-step made of them.

    Returns
    -------
    EStepParameters or None
    """
    if shift is not source.shift:
        return None
    fitted = family.gaussians(new)
    if shared_shift_error(fitted.means, fitted.covariances, source.shift) <= PRECISION_LIMIT:
        return None
    current = family.gaussians(state)
    return EStepParameters(
        covariance_type=source.covariance_type,
        shift=current.means,
        priors=current.priors,
        means=current.means,
        covariances=current.covariances,
        need_resp_sq=family.need_resp_sq,
        chunk_rows=source.chunk_rows,
    )


class StatisticsSource:
    """Base class of statistics sources.

    Attributes
    ----------
    n_samples : int
        Rows that carry information (rows with nothing observed excluded).
    n_features : int
    shift : ndarray, shape (d,)
        The shared point the moments are taken about (the data's mean).
    covariance_type : str
    """

    n_samples: int
    n_features: int
    shift: np.ndarray
    covariance_type: str

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Summed statistics under ``gaussians`` and the point they are taken about.

        Parameters
        ----------
        gaussians : Gaussians
            The components of this iteration's E-step.
        previous : Gaussians or None
            The previous iteration's, when the change of the responsibilities
            is needed (gmr's R_diff).
        need_resp_sq : bool
            Whether to compute sum r^2.

        Returns
        -------
        stats : Statistics
        shift : ndarray, shape (d,) or (k, d)
        """
        raise NotImplementedError

    def initialization_data(self) -> np.ndarray:
        """Rows (complete, float) for the random and k-means++ initializations."""
        raise NotImplementedError

    def refine(
        self, family: ModelFamily, state, stats: Statistics, shift: np.ndarray, new
    ) -> tuple:
        """Redo an M-step whose result the statistics could not resolve.

        Returns ``(new_state, stats)``, by default unchanged.
        """
        return new, stats

    def with_structure(self, covariance_type: str) -> StatisticsSource:
        """A source over the same prepared rows for another covariance structure.

        The expensive preparation (the shift, missing-value patterns, a pass
        over remote chunks) is shared, not redone: a shallow copy whose
        structure and feature chunk size change (see :meth:`chunk_rows_for`).
        """
        clone = copy.copy(self)
        clone.covariance_type = covariance_type
        clone.chunk_rows = self.chunk_rows_for(covariance_type)
        return clone

    def chunk_rows_for(self, covariance_type: str) -> int:
        """Rows per feature chunk for ``covariance_type`` (by default the current ones)."""
        return self.chunk_rows


class ArraySource(StatisticsSource):
    """Rows of an in-memory array without missing entries.

    The shared-shift E-step (kernel or numpy) runs on row blocks in threads;
    an iteration whose components lie too far from the shift for its moments
    to be precise (:func:`gaussmix._gaussian.shared_shift_error`) takes the
    precise path instead, about each component's own mean.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        float64 or float32 rows (read in place, never copied).
    weights : ndarray, shape (n,), optional
    covariance_type : str
    dtype : numpy float type, default=numpy.float64
        Precision of the feature GEMMs on the numpy path (float64 uses the
        compiled kernel when it is built for the covariance type).
    chunk_rows : int, optional
    n_jobs : int, default=1
        Threads sharing the row blocks.
    """

    def __init__(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        covariance_type: str,
        dtype=np.float64,
        chunk_rows: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.X, self.weights, self.covariance_type = X, weights, covariance_type
        self.initialization_weights = weights
        self.n_samples, self.n_features = X.shape
        self.shift = weighted_mean(X, weights)
        rows = chunk_rows or default_chunk_rows(n_phi_features(X.shape[1], covariance_type))
        self.chunk_rows = max(1, min(rows, X.shape[0]))
        self.dtype = dtype
        self.n_jobs = n_jobs
        # The kernel reads float64 and float32 rows; make_e_step_parameters
        # checks the rest (float64 products, kernel built for the covariance type).
        self.use_kernel = X.dtype in (np.float64, np.float32)
        self._scatter: np.ndarray | None = None

    def initialization_data(self) -> np.ndarray:
        """The array itself (complete rows)."""
        return self.X

    def pooled_scatter(self) -> np.ndarray:
        """sum_i w_i (x_i - shift)(x_i - shift)^T of all rows (d, d), computed once.

        What a shared covariance's M-step reads of the second moments; it does
        not change between iterations (the shift is fixed), so the whitened
        E-step's blocks leave it out and :meth:`statistics` adds it.
        """
        if self._scatter is None:
            total = np.zeros((self.n_features, self.n_features))
            for start in range(0, self.n_samples, 1 << 16):
                rows = slice(start, start + (1 << 16))
                centred = np.subtract(self.X[rows], self.shift, dtype=np.float64)
                weights = None if self.weights is None else self.weights[rows]
                total += scatter_about(centred, weights)
            self._scatter = total
        return self._scatter

    def chunk_rows_for(self, covariance_type: str) -> int:
        """The default chunk for the structure's features, at most all rows."""
        rows = default_chunk_rows(n_phi_features(self.n_features, covariance_type))
        return max(1, min(rows, self.n_samples))

    def e_step_parameters(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> EStepParameters:
        """The E-step parameters of an iteration (shared-shift or precise path)."""
        return make_e_step_parameters(
            self.covariance_type,
            gaussians,
            previous,
            self.shift,
            need_resp_sq=need_resp_sq,
            dtype=self.dtype,
            chunk_rows=self.chunk_rows,
            use_kernel=self.use_kernel,
            pooled=True,
        )

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Statistics of all rows: row blocks in threads (shared-shift or precise path)."""
        params = self.e_step_parameters(gaussians, previous, need_resp_sq)
        whitened = params.whitening is not None
        if whitened:
            params = params._replace(block_scatter=False)
        X, weights = self.X, self.weights

        def block(rows: slice, _index: int) -> Statistics:
            return e_step(X[rows], None if weights is None else weights[rows], params)

        # The compiled kernels call no BLAS: its thread limits are left alone (the
        # whitened path without linear features multiplies by W with BLAS).
        kernel = params.linear_kernel_theta if whitened else params.kernel_theta
        compiled = kernel is not None
        parts = map_blocks(block, self.n_samples, self.chunk_rows, self.n_jobs, blas=not compiled)
        total = Statistics.total(parts)
        if whitened:
            total.add_second_moment(0, self.pooled_scatter())
            total.log_lik_sum += pooled_log_lik_term(params, self.pooled_scatter())
        return total, params.shift

    def refine(
        self, family: ModelFamily, state, stats: Statistics, shift: np.ndarray, new
    ) -> tuple:
        """Redo the iteration about each component's mean if ``new`` is imprecise."""
        params = redo_parameters(self, family, state, shift, new)
        if params is None:
            return new, stats
        redone = e_step(self.X, self.weights, params)
        return family.m_step(redone, params.shift), redone


class MissingValuesSource(StatisticsSource):
    """Rows of an in-memory array with NaN entries (EM for incomplete data).

    Rows are grouped once, here: complete rows, and the others by number of
    missing entries (sorted by pattern). Every iteration runs the work units
    of :func:`gaussmix.em.estep_missing.missing_e_step` in threads: complete rows by
    :func:`~gaussmix.em.estep.e_step` (the compiled kernel included), the
    others by the precision form. Moments are taken about the observed
    column means (or each component's mean when
    :func:`~gaussmix.em.estep.make_e_step_parameters` picks the precise path).

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Data; NaN marks a missing entry.
    weights : ndarray, shape (n,), optional
    covariance_type : str
    chunk_rows : int, optional
        Rows per feature chunk of the complete-data E-step.
    n_jobs : int, default=1
        Threads sharing the work units.

    Raises
    ------
    ValueError
        If a column has no observed value or no row has one.
    """

    def __init__(
        self,
        X: np.ndarray,
        weights: np.ndarray | None,
        covariance_type: str,
        chunk_rows: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        observed = ~np.isnan(X)
        if not observed.any(axis=0).all():
            empty = np.flatnonzero(~observed.any(axis=0)).tolist()
            raise ValueError(f"X has columns with no observed value: {empty}; drop them")
        if not observed.any(axis=1).any():
            raise ValueError("X has no row with an observed value")
        w = np.ones(X.shape[0]) if weights is None else weights
        wo = observed * w[:, None]
        self.shift = (np.nan_to_num(X) * wo).sum(axis=0) / wo.sum(axis=0)
        self._observed = observed
        self.X, self.weights, self.covariance_type = X, weights, covariance_type
        self.initialization_weights = weights
        self.n_samples = int(observed.any(axis=1).sum())
        self.n_features = X.shape[1]
        self.block = MissingBlock.from_rows(X)
        rows = chunk_rows or default_chunk_rows(n_phi_features(X.shape[1], covariance_type))
        self.chunk_rows = max(1, min(rows, X.shape[0]))
        self.n_jobs = n_jobs
        self.use_kernel = X.dtype in (np.float64, np.float32)

    def initialization_data(self) -> np.ndarray:
        """All rows, missing entries filled with the observed column means."""
        return np.where(self._observed, self.X, self.shift)

    def statistics(
        self, gaussians: Gaussians, previous: Gaussians | None, need_resp_sq: bool
    ) -> tuple[Statistics, np.ndarray]:
        """Expected statistics of all rows: complete rows by the complete-data E-step
        (kernel included), the others by missing count; work units in threads."""
        params = make_e_step_parameters(
            self.covariance_type,
            gaussians,
            previous,
            self.shift,
            need_resp_sq=need_resp_sq,
            chunk_rows=self.chunk_rows,
            use_kernel=self.use_kernel,
        )
        block, weights = self.block, self.weights
        prepared = prepare_missing(block, params)
        units = missing_work(prepared)
        # The units' costs differ several-fold (complete rows, patterns, rare
        # patterns): the threads take them one at a time, largest first, and
        # the results are summed in the units' own order, so the sums do not
        # depend on which thread took what.
        order = sorted(range(len(units)), key=lambda i: -unit_cost(prepared, units[i]))
        results: list = [None] * len(units)
        lock = threading.Lock()

        def work(_rows: slice, _index: int) -> None:
            while True:
                with lock:
                    if not order:
                        return
                    index = order.pop(0)
                results[index] = missing_unit_statistics(
                    block, weights, params, prepared, units[index]
                )

        map_blocks(work, len(units), 1, self.n_jobs)
        total = Statistics.zeros(*self._shape(params))
        for stats in results:
            total += stats
        return total, params.shift

    def _shape(self, params: EStepParameters) -> tuple[int, int]:
        return params.means.shape[0], n_phi_features(self.n_features, self.covariance_type)
