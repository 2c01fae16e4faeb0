"""A grid's candidates on the cores: in forked worker processes where that is safe, else threads.

A candidate's EM on in-memory rows spends much of its time in Python
(M-steps of small matrices, bookkeeping) holding the GIL, so candidates in
threads share little: mclust's 14 x 9 grid on 20,000 x 8 rows took 0.9x
its one-thread time on two threads, and 0.65x in two forked processes (the
same fits). :func:`run_tasks` forks workers where a fork is safe and cheap
(:func:`can_fork`): Linux, the calling thread the process's only Python
thread but the idle threads of gaussmix's own row-block pool (a fork
copies only the calling thread: a lock held by another thread would stay
held in the child) and not itself a daemonic worker. The
workers see the parent's memory as it was at the fork (the rows are not
copied or pickled); each task's result, and the warnings it raised, come
back pickled. Elsewhere, when a worker dies or a result cannot be pickled, the
tasks run in threads.
Every task's result is the same either way: a candidate draws only from
its own random stream.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from typing import Any

from .. import _gaussian
from ..kernels import threads

__all__ = ["can_fork", "run_tasks"]

# The work of the tasks now in forked workers: set before the fork, so every
# worker inherits it (a closure over the parent's data need not be pickled).
# One forking section at a time (can_fork admits only a lone thread, and the
# lock keeps a second caller out all the same).
_work: Callable[[Any], Any] | None = None
_forking = threading.Lock()


def can_fork() -> bool:
    """Whether :func:`run_tasks` may run tasks in forked worker processes here.

    Linux (elsewhere a fork is unavailable or unsafe with the system's
    libraries), no other Python thread in the process but the idle threads
    of gaussmix's own row-block pool (:mod:`gaussmix.kernels.threads`), and
    the process not a daemonic worker itself (which may not have children).
    """
    if not (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    ):
        return False
    current = threading.current_thread()
    others = [thread for thread in threading.enumerate() if thread is not current]
    # The idle threads of gaussmix's own row-block pool wait for work holding nothing.
    return not others or (
        threads.pool_is_idle()
        and all(thread.name.startswith(threads.POOL_THREAD_PREFIX) for thread in others)
    )


def run_tasks(
    tasks: list, work: Callable[[Any], Any], parallel: int, processes: bool = False
) -> list:
    """``work(task)`` for every task on ``parallel`` workers (or in turn); results in order.

    Parameters
    ----------
    tasks : list
        ``(k, covariance_type, ...)`` tuples, the costliest (most
        components, full features) started first so that the workers finish
        together; or other tasks, started in order.
    work : callable
        ``work(task)``; it reports its own failures in its result (an
        exception escaping it is raised here, as in turn).
    parallel : int
        Workers; 1 runs the tasks in turn in this thread.
    processes : bool, default=False
        Forked worker processes where :func:`can_fork`; threads otherwise.

    Returns
    -------
    list
        ``work(task)`` of every task, in the order of ``tasks``.
    """
    if parallel <= 1 or len(tasks) <= 1:
        return [work(task) for task in tasks]

    def cost(task: Any) -> int:
        if not isinstance(task, tuple):
            return 0
        return -task[0] * (2 if _gaussian.uses_full_features(task[1]) else 1)

    order = sorted(range(len(tasks)), key=lambda i: cost(tasks[i]))
    ordered = [tasks[i] for i in order]
    done = None
    if processes and can_fork():
        done = _in_processes(ordered, work, parallel)
    if done is None:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            done = list(pool.map(work, ordered))
    results: list = [None] * len(tasks)
    for i, result in zip(order, done, strict=True):
        results[i] = result
    return results


def _in_processes(tasks: list, work: Callable[[Any], Any], parallel: int) -> list | None:
    """The tasks in forked workers, their warnings issued here; None if a worker died."""
    global _work
    with _forking:
        _work = work
        try:
            pool = ProcessPoolExecutor(parallel, mp_context=multiprocessing.get_context("fork"))
            try:
                with warnings.catch_warnings():
                    # Python 3.12+ warns of any fork in a process with other OS
                    # threads (BLAS's idle pool has some); none holds a lock of
                    # ours. The workers fork at the first submission.
                    warnings.filterwarnings("ignore", ".*fork", DeprecationWarning)
                    futures = [pool.submit(_run_one, task) for task in tasks]
                packed = [future.result() for future in futures]
            except BaseException:
                # An interrupt (or a dead worker) ends the call promptly: the
                # queued tasks are dropped, the running ones finish.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        except BrokenProcessPool:
            return None
        finally:
            _work = None
    if any(payload is None for payload in packed):
        return None  # a result or warning that cannot travel: the tasks go to threads
    done = [pickle.loads(payload) for payload in packed]
    for _, caught in done:
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
    return [result for result, _ in done]


def _run_one(task: Any) -> bytes | None:
    """One task in a worker: its result and the warnings it raised, pickled; None where
    they cannot be (a local object, a lock), and the parent then runs the tasks itself."""
    assert _work is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _work(task)
    found = [(w.message, w.category, w.filename, w.lineno) for w in caught]
    try:
        return pickle.dumps((result, found), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None
