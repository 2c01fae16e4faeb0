"""Mini-batches of rows read lazily from data that need not fit in memory.

The one-call stream fits (:func:`gaussmix.fit_stream`,
:meth:`gaussmix.GMM.from_stream`, ``fit_stream`` of the scikit-learn
estimators) read their data here, one batch at a time, so that memory stays
bounded by a few batches whatever the number of rows:

- an in-memory array, or an array memory-mapped from a file, is indexed one
  batch at a time (only that batch's rows are copied into memory);
- a path to a ``.npy`` file is memory-mapped (``numpy.load(mmap_mode="r")``);
- a Dask array is computed one chunk of rows at a time (its chunks should
  be a few batches large); the rows of a chunk are cut into batches, and
  the rows left over wait for the next chunk.

Shuffling (``shuffle=True``, each pass anew) matters when the rows are
ordered (sorted by time, by cluster, by file): stepwise EM assumes each
batch is a sample of the whole. An array is cut into at most 2^16 blocks of
consecutive rows (single rows up to 65,536 rows; 306 rows each at 20
million) and each batch gathers randomly chosen blocks, so a pass reads
the file in runs of a block rather than row by row and the permutation
holds at most 2^16 numbers. A Dask array's chunks are visited in random
order and the rows within the chunks in memory are permuted.

The next batch can be read while the current one is worked on
(:class:`ReadAhead`): a fit asks for it once its batch's E-step is done, so
that the read shares the machine with the M-step's serial arithmetic rather
than with the E-step's threads.

Nothing in this module imports Dask: a Dask collection is recognized and
computed through its own methods.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_int, check_samples, check_spread, is_dask_collection
from ..utils import check_random_state

__all__ = [
    "MAX_BLOCKS",
    "ReadAhead",
    "RowBatches",
    "check_batch",
    "check_batching",
    "check_first_batch",
    "default_batch_size",
    "open_rows",
]

#: Shuffled passes over an array cut it into at most this many blocks of consecutive rows.
MAX_BLOCKS = 1 << 16


def default_batch_size(n_rows: int, n_features: int) -> int:
    """Rows per batch when none is given: about 4 MiB of float64 rows, n / 32 at most.

    2^22 / (8 d) rows (32,768 rows of 16 features), at most 65,536, and at
    most n / 32 so that one pass has enough steps to forget its start; but
    never under 1,024 rows (all n rows when fewer: one step), so below
    32,768 rows a pass has fewer than 32 steps. Each batch pays a fixed cost (its E-step's
    parameters and thread hand-off, its M-step, about 1-2 ms at k = 16,
    d = 16) that larger batches spread over more rows. In an informal
    interleaved comparison (2M x 16 memory-mapped rows, k = 16, not a script
    of benchmarks/) one pass took 0.61 s with 16,384-row batches, 0.43 s with
    32,768 and 0.39 s with 65,536 (one batch EM iteration: 0.27 s), all three
    within 0.004 nats per row of batch EM's optimum; at 20M rows
    ``benchmarks/bench_online.py`` measures the default against batch EM.
    """
    rows = min(max(1024, (1 << 22) // (8 * max(1, n_features))), 65536, n_rows // 32)
    return int(max(1, min(n_rows, max(rows, 1024))))


class RowBatches(NamedTuple):
    """Rows to read in batches, opened by :func:`open_rows`.

    Attributes
    ----------
    data : ndarray, numpy.memmap or dask.array.Array
        The rows (never read whole).
    n_rows, n_features : int
    dask : bool
        Whether ``data`` is a Dask array (read one chunk at a time).
    """

    data: Any
    n_rows: int
    n_features: int
    dask: bool

    def batches(
        self,
        batch_size: int,
        *,
        n_passes: int = 1,
        shuffle: bool = True,
        random_state: Any = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(pass_number, batch)`` for ``n_passes`` passes (numbered from 1).

        Every batch is an in-memory float32 or float64 array of about
        ``batch_size`` rows (the last of a pass may be smaller); each pass
        reads every row once.
        """
        rng = check_random_state(random_state)
        for pass_number in range(1, n_passes + 1):
            read = self._dask_pass if self.dask else self._array_pass
            for batch in read(batch_size, shuffle, rng):
                yield pass_number, batch

    def _array_pass(self, batch_size: int, shuffle: bool, rng: Any) -> Iterator[np.ndarray]:
        n = self.n_rows
        if not shuffle:
            for start in range(0, n, batch_size):
                yield _as_rows(self.data[start : start + batch_size])
            return
        block = -(-n // MAX_BLOCKS)
        n_blocks = -(-n // block)
        order = rng.permutation(n_blocks)
        per_batch = max(1, round(batch_size / block))
        whole = n // block
        blocks = _block_view(self.data, whole, block)
        for first in range(0, n_blocks, per_batch):
            # Sorted, so that a memory-mapped file is read forward.
            chosen = np.sort(order[first : first + per_batch])
            if blocks is None:
                rows = (chosen[:, None] * block + np.arange(block)).ravel()
                yield _as_rows(self.data[rows[rows < n]])
                continue
            # Whole blocks are copied as blocks (one memcpy each, 2x faster than
            # row indices); the short last block, when drawn, comes last.
            batch = _as_rows(blocks[chosen[chosen < whole]].reshape(-1, self.n_features))
            if chosen[-1] >= whole:
                batch = np.concatenate([batch, _as_rows(self.data[whole * block :])])
            yield batch

    def _dask_pass(self, batch_size: int, shuffle: bool, rng: Any) -> Iterator[np.ndarray]:
        bounds = np.concatenate([[0], np.cumsum(self.data.chunks[0])])
        chunks = np.arange(len(bounds) - 1)
        if shuffle:
            chunks = rng.permutation(chunks)
        left = np.empty((0, self.n_features))
        for chunk in chunks:
            start, stop = int(bounds[chunk]), int(bounds[chunk + 1])
            if stop == start:
                continue
            rows = _as_rows(self.data[start:stop].compute())
            if len(left):
                rows = np.concatenate([left.astype(rows.dtype, copy=False), rows])
            if shuffle:
                rows = rows[rng.permutation(len(rows))]
            cut = (len(rows) // batch_size) * batch_size
            for first in range(0, cut, batch_size):
                yield rows[first : first + batch_size]
            left = rows[cut:]
        if len(left):
            yield left


_DONE = object()


class ReadAhead:
    """Items of an iterator read one ahead, on a thread of their own.

    ``next(reader)`` returns the item asked for by the last :meth:`prefetch`
    (waiting for it), or reads one now; :meth:`prefetch` starts reading the
    next item and returns at once. An exception raised while reading (or by
    ``prepare``) comes out of the ``next`` that would have returned the item.
    Use as a context manager: leaving it waits for a read in flight.

    Parameters
    ----------
    items : iterator
        Advanced by one thread at a time (never concurrently).
    prepare : callable, optional
        Called on each item in the reading thread (e.g. a check of the batch).

    Examples
    --------
    >>> with ReadAhead(iter(range(3))) as reader:
    ...     first = next(reader)
    ...     reader.prefetch()  # the next item is read while this one is used
    ...     rest = list(reader)
    >>> first, rest
    (0, [1, 2])
    """

    def __init__(self, items: Iterator, prepare: Callable[[Any], None] | None = None) -> None:
        self._items = items
        self._prepare = prepare
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gaussmix-read")
        self._pending: Future | None = None

    def _read(self) -> Any:
        try:
            item = next(self._items)
        except StopIteration:
            return _DONE
        if self._prepare is not None:
            self._prepare(item)
        return item

    def prefetch(self) -> None:
        """Start reading the next item (nothing if a read is already in flight)."""
        if self._pending is None:
            self._pending = self._executor.submit(self._read)

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> Any:
        self.prefetch()
        pending, self._pending = self._pending, None
        item = pending.result()
        if item is _DONE:
            raise StopIteration
        return item

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._executor.shutdown(wait=True)


def _block_view(data: np.ndarray, whole: int, block: int) -> np.ndarray | None:
    """The first ``whole * block`` rows as a (whole, block, d) view, or None.

    Only for C-contiguous arrays and memory maps, where the view costs nothing
    (reshaping anything else would copy all the rows).
    """
    if not isinstance(data, np.ndarray) or not data.flags.c_contiguous or whole == 0:
        return None
    return data[: whole * block].reshape(whole, block, data.shape[1])


def _as_rows(rows: Any) -> np.ndarray:
    """An in-memory float32/float64 array of the rows (float32 kept, others to float64)."""
    rows = np.asarray(rows)
    if rows.dtype not in (np.float32, np.float64):
        if rows.dtype.kind not in "iuf" and rows.dtype != np.bool_:
            raise TypeError(f"X must contain real numbers; got dtype {rows.dtype}")
        rows = rows.astype(np.float64)
    return rows


def open_rows(X: Any) -> RowBatches:
    """Open X for reading in batches, without reading its rows.

    Parameters
    ----------
    X : array-like, numpy.memmap, str or os.PathLike, or dask.array.Array
        Rows (n, d). A path names a ``.npy`` file, which is memory-mapped.
        A 1-D array is one column.

    Returns
    -------
    RowBatches

    Raises
    ------
    ValueError
        For a file that is not a ``.npy`` array, or X that is not 1-D or
        2-D, or has no rows or no columns.
    TypeError
        For X that is not numbers, or an iterator (of batches, say).
    """
    if isinstance(X, (str, os.PathLike)):
        path = os.fspath(X)
        if not os.path.exists(path):
            raise ValueError(f"X: no such file {path!r}")
        if not os.path.isfile(path):
            # a FIFO would block and a link to a device never ends: never open them
            raise ValueError(f"X: {path!r} is not a regular file; give a .npy file")
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise ValueError(f"X: no such file {path!r}") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"X: {path!r} is not a readable .npy file ({exc})") from None
        if not isinstance(data, np.ndarray):
            raise ValueError(f"X: {path!r} is an .npz archive; give one .npy array")
    elif is_dask_collection(X):
        if not hasattr(X, "chunks") or not hasattr(X, "compute"):
            raise TypeError(
                f"X: a Dask collection must be a dask.array.Array; got {type(X).__name__}"
            )
        data = X
    elif isinstance(X, np.ndarray):
        data = X
    elif isinstance(X, Iterator):
        raise TypeError(
            f"X: got an iterator ({type(X).__name__}); give an array, a memory-mapped array, "
            "a .npy path or a Dask array, which are read in batches; for batches that arrive "
            "one at a time, call partial_fit on each"
        )
    else:
        data = np.asarray(X)
        if data.dtype.kind == "O":
            data = _as_rows(data)
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features); got shape {tuple(data.shape)}")
    n, d = (int(size) for size in data.shape)
    if n == 0 or d == 0:
        raise ValueError(f"X must have at least one row and one column; got shape {(n, d)}")
    dask = is_dask_collection(data)
    if not dask and data.dtype.kind not in "iufb":
        raise TypeError(f"X must contain real numbers; got dtype {data.dtype}")
    return RowBatches(data, n, d, dask)


def check_batching(
    batch_size: Any, n_passes: Any, n_rows: int, n_features: int, n_components: Any = None
) -> tuple[int, int]:
    """Validated ``(batch_size, n_passes)``; ``batch_size=None`` is :func:`default_batch_size`.

    With ``n_components``, a ``batch_size`` too small for the first batch
    (which initializes the model) is refused here, before any row is read,
    unless X itself has fewer rows than components (the fit says so).
    """
    if batch_size is None:
        batch_size = default_batch_size(n_rows, n_features)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    n_passes = check_int(n_passes, "n_passes", minimum=1)
    batch_size = min(batch_size, n_rows)
    if batch_size < n_rows:
        check_first_batch(batch_size, n_components, batch_size)
    return batch_size, n_passes


def check_first_batch(n_rows: int, n_components: Any, batch_size: int) -> None:
    """Refuse a stream's first batch with fewer rows than components, naming ``batch_size``.

    The first batch initializes the model (its batch EM needs a row per
    component at least). ``n_components`` that is not an integer is left to
    the estimator's own check.
    """
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        return
    if n_rows < n_components:
        raise ValueError(
            f"batch_size={batch_size} is too small: the first batch ({n_rows} rows) "
            f"initializes the model and needs at least n_components={int(n_components)} "
            "rows; pass a larger batch_size"
        )


def check_batch(rows: np.ndarray, name: str = "X") -> None:
    """Refuse a batch with NaN or infinite entries or a spread whose squares overflow.

    The batch's minimum and maximum decide (they are finite only when every
    entry is, and their difference bounds every column's range); only a
    batch that fails is checked again by the front door's column-wise
    checks, which raise with their messages.

    Raises
    ------
    ValueError
        Naming ``name``, as :func:`gaussmix.em.front.check_data` does.
    """
    n, d = rows.shape
    # Over the flat array (one fast pass each): NaN propagates, inf shows, and
    # the overall range bounds every column's.
    low, high = float(rows.min()), float(rows.max())
    limit = np.sqrt(np.finfo(np.float64).max / (4.0 * n * d))
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(low) and np.isfinite(high) and high - low <= limit:
            return
    check_samples(rows, name)
    check_spread(rows, name)
