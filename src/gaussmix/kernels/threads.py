"""Run the row-chunk loops of EM and prediction on several cores.

The chunk loops are dominated by skinny GEMMs and elementwise passes, which
the BLAS library barely parallelizes by itself. Splitting the rows into one
contiguous block per core and running the blocks in threads (numpy releases
the GIL) uses all cores, provided BLAS is kept to one thread per block: that
needs ``threadpoolctl`` (installed with scikit-learn, ``gaussmix[sklearn]``).
Without it, or for small inputs, everything runs in the calling thread.

Results are combined in block order, so a given number of workers always
gives the same bits.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from typing import Any

_controller: Any = None
_executor: ThreadPoolExecutor | None = None
# One parallel section at a time: BLAS limits set by threadpoolctl are
# process-wide, so overlapping sections from different user threads would
# restore them in the wrong order. A caller that finds the lock taken runs
# its blocks in its own thread instead of waiting.
_section = threading.Lock()


def _reset_after_fork() -> None:
    # A forked child inherits the executor object but not its threads.
    global _executor, _section
    _executor = None
    _section = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


_has_threadpoolctl: bool | None = None


def _blas_limits_possible() -> bool:
    # Whether threadpoolctl is installed, without making its controller (which
    # inspects every loaded library: ~20 ms, paid only by work that calls BLAS).
    global _has_threadpoolctl
    if _has_threadpoolctl is None:
        _has_threadpoolctl = importlib.util.find_spec("threadpoolctl") is not None
    return _has_threadpoolctl


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of worker threads: ``None`` means every core (when usable)."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        n_jobs = cores
    elif n_jobs < 0:
        n_jobs = max(1, cores + 1 + n_jobs)
    if n_jobs > 1 and not _blas_limits_possible():
        return 1
    return max(1, int(n_jobs))


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    controller = _blas_controller()
    with controller.limit(limits=1, user_api="blas") if controller else nullcontext():
        yield


#: Name prefix of the row-block pool's threads.
POOL_THREAD_PREFIX = "gaussmix-rows"


def pool_is_idle() -> bool:
    """Whether no row-block section runs: the pool's threads (if any) wait for work.

    They then hold no lock that a forked child could need (the child drops
    the pool, see ``_reset_after_fork``).
    """
    return not _section.locked()


def _pool() -> ThreadPoolExecutor:
    # Created once with one worker per core and never shut down while in use;
    # more blocks than workers simply queue.
    global _executor
    if _executor is None:
        workers = max(2, os.cpu_count() or 1)
        _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=POOL_THREAD_PREFIX)
    return _executor


def row_blocks(n_rows: int, chunk_rows: int, workers: int) -> list[slice]:
    """Split rows into at most ``workers`` contiguous blocks of whole chunks."""
    n_chunks = -(-n_rows // chunk_rows)
    workers = max(1, min(workers, n_chunks // 2 if n_chunks >= 4 else 1))
    per_block = -(-n_chunks // workers)
    blocks = []
    for start_chunk in range(0, n_chunks, per_block):
        start = start_chunk * chunk_rows
        blocks.append(slice(start, min(n_rows, start + per_block * chunk_rows)))
    return blocks


def map_blocks(
    work: Callable[[slice, int], Any],
    n_rows: int,
    chunk_rows: int,
    n_jobs: int,
    *,
    blas: bool = True,
) -> list:
    """Apply ``work(rows, block_index)`` to each row block; results in block order.

    ``blas=False`` says that ``work`` calls no BLAS (compiled kernels): BLAS's
    thread limits are then left alone, which spares their cost.
    """
    blocks = row_blocks(n_rows, chunk_rows, n_jobs)
    limits = single_threaded_blas if blas else nullcontext
    if len(blocks) == 1:
        # Small data: one block in this thread. Its chunk-sized GEMMs gain
        # nothing from BLAS threads, whose start-up and spinning cost up to 9x
        # (12,000 x 8 rows, k = 4, measured with model selection's grids).
        with limits():
            return [work(blocks[0], 0)]
    if not _section.acquire(blocking=False):
        return [work(rows, index) for index, rows in enumerate(blocks)]
    try:
        with limits():
            # The calling thread takes the first block itself instead of
            # waiting idle: one hand-off fewer, which small batches notice.
            pool = _pool()
            futures = [pool.submit(work, rows, index) for index, rows in enumerate(blocks[1:], 1)]
            try:
                first = work(blocks[0], 0)
            finally:
                wait(futures)
            return [first] + [future.result() for future in futures]
    finally:
        _section.release()
