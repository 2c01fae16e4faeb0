"""A grid's candidates on forked worker processes or threads (gaussmix.selection.workers).

References: the tasks run in turn in this process (results in order, bit for bit), the
process ids the work reports (the tasks really left this process), warnings raised in a
worker seen by the caller, a worker that dies (the tasks then run in threads), and the
rule that no process forks while another Python thread runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from gaussmix.selection import workers

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")


def _in_a_fresh_process(check: str) -> None:
    """Run this module's ``check`` in a new interpreter: the suite's own process may have other
    threads (a Dask cluster's), and then no worker forks (``workers.can_fork``)."""
    script = f"import runpy; runpy.run_path({__file__!r})[{check!r}]()"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _grid() -> list[tuple]:
    return [(k, covariance_type) for k in range(1, 5) for covariance_type in ("full", "diag")]


def _draws(task: tuple) -> tuple:
    k, covariance_type = task
    rng = np.random.default_rng([k, len(covariance_type)])
    return rng.normal(size=(k, 3)), os.getpid()


def _check_tasks_in_forked_workers_give_the_results_in_order() -> None:
    assert workers.can_fork()
    tasks = _grid()
    forked = workers.run_tasks(tasks, _draws, 2, processes=True)
    in_turn = workers.run_tasks(tasks, _draws, 1)
    for (a, _), (b, own) in zip(forked, in_turn, strict=True):
        np.testing.assert_array_equal(a, b)
        assert own == os.getpid()
    assert os.getpid() not in {pid for _, pid in forked}


def _check_warnings_of_forked_workers_reach_the_caller() -> None:
    def warn(task: tuple) -> int:
        warnings.warn(f"cell {task}", RuntimeWarning, stacklevel=1)
        return os.getpid()

    tasks = _grid()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pids = workers.run_tasks(tasks, warn, 2, processes=True)
    assert os.getpid() not in pids
    assert sorted(str(w.message) for w in caught) == sorted(f"cell {task}" for task in tasks)
    assert all(w.category is RuntimeWarning for w in caught)


def _check_a_worker_that_dies_leaves_the_tasks_to_threads() -> None:
    parent = os.getpid()

    def die_in_a_worker(task: tuple) -> tuple:
        if os.getpid() != parent:
            os._exit(3)
        return task

    tasks = _grid()
    assert workers.run_tasks(tasks, die_in_a_worker, 2, processes=True) == tasks


def test_no_fork_while_another_thread_runs():
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not workers.can_fork()
        pids = workers.run_tasks(_grid(), _draws, 2, processes=True)
        assert {pid for _, pid in pids} == {os.getpid()}
    finally:
        release.set()
        other.join()


def test_an_error_escaping_the_work_is_raised_to_the_caller():
    def fail(task: tuple) -> None:
        raise ValueError(f"bad cell {task}")

    with pytest.raises(ValueError, match="bad cell"):
        workers.run_tasks(_grid(), fail, 2, processes=True)


def _check_the_idle_row_block_pool_does_not_keep_the_workers_from_forking() -> None:
    from gaussmix.kernels import threads

    threads.map_blocks(lambda rows, index: rows, 4_000, 500, 2, blas=False)
    pool = [t for t in threading.enumerate() if t.name.startswith(threads.POOL_THREAD_PREFIX)]
    assert pool, "the row blocks did not use the pool"
    assert workers.can_fork()
    pids = workers.run_tasks(_grid(), _draws, 2, processes=True)
    assert os.getpid() not in {pid for _, pid in pids}


@linux_only
def test_tasks_in_forked_workers_give_the_results_in_order():
    _in_a_fresh_process("_check_tasks_in_forked_workers_give_the_results_in_order")


@linux_only
def test_warnings_of_forked_workers_reach_the_caller():
    _in_a_fresh_process("_check_warnings_of_forked_workers_reach_the_caller")


@linux_only
def test_a_worker_that_dies_leaves_the_tasks_to_threads():
    _in_a_fresh_process("_check_a_worker_that_dies_leaves_the_tasks_to_threads")


@linux_only
def test_the_idle_row_block_pool_does_not_keep_the_workers_from_forking():
    _in_a_fresh_process("_check_the_idle_row_block_pool_does_not_keep_the_workers_from_forking")


def _check_a_screened_grid_is_the_same_forked_in_threads_and_in_turn() -> None:
    from gaussmix import select_model

    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(size=(5_000, 3)), rng.normal(size=(5_000, 3)) * 0.5 + 3.0])
    forks = []
    original = workers._in_processes

    def spy(*args):
        forks.append(1)
        return original(*args)

    workers._in_processes = spy

    def table(n_jobs: int, forking: bool) -> list:
        workers.can_fork = (lambda: True) if forking else (lambda: False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = select_model(
                X,
                n_components=[1, 2, 3],
                covariance_type=("VVV", "EVE", "VII"),
                strategy="mclust",
                random_state=0,
                n_jobs=n_jobs,
            )
        return [(row["covariance_type"], row["n_components"], row["bic"]) for row in result.table]

    forked = table(2, True)
    assert forks, "the grid did not fork"
    assert forked == table(2, False) == table(1, False)


@linux_only
def test_a_screened_grid_is_the_same_forked_in_threads_and_in_turn():
    _in_a_fresh_process("_check_a_screened_grid_is_the_same_forked_in_threads_and_in_turn")


def _check_an_interrupt_drops_the_queued_tasks() -> None:
    import tempfile
    import time
    from pathlib import Path

    log = Path(tempfile.mkdtemp()) / "ran"
    tasks = [(k, "diag") for k in range(1, 41)]

    def work(task: tuple) -> int:
        with log.open("a") as file:
            file.write(f"{task[0]}\n")
        if task[0] == 40:  # the costliest: among the first to run
            raise KeyboardInterrupt
        time.sleep(0.05)
        return task[0]

    try:
        workers.run_tasks(tasks, work, 2, processes=True)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interrupt did not reach the caller")
    ran = log.read_text().split()
    assert "40" in ran and len(ran) < len(tasks), len(ran)


@linux_only
def test_an_interrupt_drops_the_queued_tasks():
    _in_a_fresh_process("_check_an_interrupt_drops_the_queued_tasks")


def _check_small_data_forks_only_grids_of_enough_runs() -> None:
    from gaussmix import select_model
    from gaussmix.selection import search

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) * 0.6 + 3.0])
    forks = []
    original = workers._in_processes

    def spy(*args):
        forks.append(1)
        return original(*args)

    workers._in_processes = spy

    def table(**options) -> list:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = select_model(X, random_state=0, **options)
        return [(row["covariance_type"], row["n_components"], row["bic"]) for row in result.table]

    # 14 types x 3 k x n_init=5: 210 runs (at least FORK_MIN_RUNS) fork ...
    grid = {"n_components": [1, 2, 3], "covariance_type": "all"}
    assert 42 * 5 >= search.FORK_MIN_RUNS
    forked = table(n_jobs=2, **grid)
    assert forks, "the grid did not fork"
    assert forked == table(n_jobs=1, **grid)
    # ... 4 types x 3 k x n_init=1 (12 runs) run in turn.
    forks.clear()
    table(n_jobs=2, n_components=[1, 2, 3], covariance_type=("full", "diag", "tied", "spherical"))
    assert not forks


@linux_only
def test_small_data_forks_only_grids_of_enough_runs():
    _in_a_fresh_process("_check_small_data_forks_only_grids_of_enough_runs")


def _check_a_result_that_cannot_be_pickled_leaves_the_tasks_to_threads() -> None:
    def locked(task: tuple) -> tuple:
        return task, threading.Lock(), os.getpid()  # a lock does not pickle

    tasks = _grid()
    results = workers.run_tasks(tasks, locked, 2, processes=True)
    assert [task for task, _, _ in results] == tasks
    assert {pid for _, _, pid in results} == {os.getpid()}  # run here, in threads


@linux_only
def test_a_result_that_cannot_be_pickled_leaves_the_tasks_to_threads():
    _in_a_fresh_process("_check_a_result_that_cannot_be_pickled_leaves_the_tasks_to_threads")
