"""The EM driver: iterations, convergence rules, restarts, progress and warnings.

:func:`fit` runs ``n_init`` EM runs over any :class:`StatisticsSource` with any
model family and keeps the best. Each iteration is: E-step statistics of
all rows (the source), the family's objective, the convergence rules, the
family's M-step. After every iteration a ``callback(iteration,
mean_log_likelihood, change, elapsed)`` is called; returning True stops
the run. ``verbose`` prints the same numbers (and, under gmr's rule, the
change of the responsibilities) at the same point.

Convergence (one meaning everywhere in gaussmix, see :func:`convergence_rule`):

- ``tol`` a float: stop after the iteration whose objective changed by less
  than ``tol`` (scikit-learn's rule);
- ``tol="auto"``: gmr's rule, stop as soon as the Frobenius norm of the
  change of the responsibilities falls below ``R_diff`` (before the M-step);
  ``R_diff`` of 0 or None runs every iteration;
- ``tol=None``: no criterion, exactly ``n_iter`` iterations.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_float
from .families import Gaussians, ModelFamily
from .sources import StatisticsSource

__all__ = [
    "Callback",
    "ConvergenceRule",
    "ConvergenceWarning",
    "EMResult",
    "convergence_rule",
    "fit",
    "print_progress",
    "run_em",
]

#: ``callback(iteration, mean_log_likelihood, change, elapsed_seconds) -> stop``
Callback = Callable[[int, float, float, float], Any]


class ConvergenceWarning(UserWarning):
    """EM stopped at ``n_iter`` before its convergence criterion was met."""


class ConvergenceRule(NamedTuple):
    """When EM stops: on the objective's change (``tol``) or on the responsibilities' (``r_diff``).

    At most one of the two is set; neither: run exactly ``n_iter`` iterations.
    """

    tol: float | None
    r_diff: float | None

    @property
    def description(self) -> str | None:
        """How the rule reads in a warning, or None without a criterion."""
        if self.tol is not None:
            return f"tol={self.tol}"
        if self.r_diff is not None:
            return f"R_diff={self.r_diff}"
        return None


def convergence_rule(tol: Any, r_diff: Any) -> ConvergenceRule:
    """The one reading of ``tol`` and ``R_diff`` that every gaussmix API uses.

    Parameters
    ----------
    tol : float, "auto" or None
        A float >= 0: scikit-learn's rule on the change of the mean
        log-likelihood (``R_diff`` is then ignored). "auto": gmr's rule with
        ``R_diff``. None: no criterion.
    r_diff : float or None
        gmr's threshold on the Frobenius norm of the change of the
        responsibility matrix; 0 or None: no criterion.

    Raises
    ------
    ValueError
        For a negative or non-finite value.
    TypeError
        For a string other than "auto" or a non-number.
    """
    if isinstance(tol, str):
        if tol != "auto":
            raise TypeError(f"tol must be a float >= 0, 'auto' or None; got {tol!r}")
        if r_diff is None:
            return ConvergenceRule(None, None)
        value = check_float(r_diff, "R_diff", minimum=0.0)
        return ConvergenceRule(None, value if value > 0 else None)
    if tol is None:
        return ConvergenceRule(None, None)
    return ConvergenceRule(check_float(tol, "tol", minimum=0.0), None)


class EMResult(NamedTuple):
    """Outcome of one EM run (or the best of several).

    ``stopped``: the callback ended the fit (for :func:`fit`, in any run);
    ``run``: which of :func:`fit`'s runs it is (0-based).
    """

    state: Any
    converged: bool
    n_iter: int
    lower_bound: float
    stopped: bool
    run: int = 0


def print_progress(
    iteration: int,
    lower_bound: float,
    change: float,
    elapsed: float,
    r_change: float | None = None,
) -> None:
    """The ``verbose`` callback: one line per iteration on standard output.

    Under gmr's rule the driver also passes ``r_change``, the Frobenius norm of
    the change of the responsibilities, which is what decides convergence there.
    """
    r_text = "" if r_change is None else f"  R change {r_change:.3e}"
    print(
        f"EM iteration {iteration:4d}  mean log-likelihood {lower_bound: .8g}  "
        f"change {change: .3e}{r_text}  time {elapsed:.3f}s",
        file=sys.stdout,
        flush=True,
    )


def run_em(
    source: StatisticsSource,
    family: ModelFamily,
    state: Any,
    *,
    n_iter: int,
    rule: ConvergenceRule,
    callback: Callback | None = None,
    verbose: int = 0,
    lower_bound: float = -np.inf,
) -> EMResult:
    """One EM run from ``state`` (a state of ``family``).

    Parameters
    ----------
    source : StatisticsSource
    family : ModelFamily
    state
        Starting state, e.g. ``family.start(priors, means, covariances)``.
    n_iter : int
        Maximum number of iterations (E-steps).
    rule : ConvergenceRule
    callback : callable, optional
        See :data:`Callback`; called after the E-step, before the convergence
        rules. A true return value stops the run after this iteration's
        M-step (``stopped`` in the result; ``converged`` only if a rule was
        met in the same iteration).
    verbose : int, default=0
        With 1 or more, :func:`print_progress` before the callback.
    lower_bound : float, default=-inf
        The objective before the first iteration, against which its change
        is measured (a warm start passes the previous fit's).
    """
    use_rdiff = rule.r_diff is not None
    previous: Gaussians | None = None
    converged = stopped = False
    iteration = 0
    start_time = time.perf_counter()
    for iteration in range(1, n_iter + 1):
        gaussians = family.gaussians(state)
        stats, shift = source.statistics(
            gaussians, previous if use_rdiff else None, family.need_resp_sq
        )
        r_change = np.sqrt(stats.resp_change_sq) if use_rdiff and previous is not None else None
        # gmr's rule stops before the M-step, keeping the state of this E-step.
        r_met = r_change is not None and r_change < rule.r_diff
        new = state
        if not r_met:
            new = family.m_step(stats, shift)
            new, stats = source.refine(family, state, stats, shift, new)
        prior_bound = lower_bound
        lower_bound = family.objective(stats, new)
        change = lower_bound - prior_bound
        elapsed = time.perf_counter() - start_time
        if verbose:
            print_progress(iteration, lower_bound, change, elapsed, r_change)
        if callback is not None and callback(iteration, lower_bound, change, elapsed):
            stopped = True
        if r_met:
            converged = True
            break
        previous, state = gaussians, new
        if rule.tol is not None and abs(change) < rule.tol:
            converged = True
            break
        if stopped:
            break
    return EMResult(state, converged, iteration, lower_bound, stopped and not converged)


def fit(
    source: StatisticsSource,
    family: ModelFamily,
    initialize: Callable[[int], Any],
    *,
    n_init: int = 1,
    n_iter: int = 100,
    rule: ConvergenceRule,
    callback: Callback | None = None,
    verbose: int = 0,
    lower_bound: float = -np.inf,
    warn: bool = True,
    run_started: Callable[[int], Any] | None = None,
    run_ended: Callable[[int, EMResult], Any] | None = None,
    runner: Callable[..., EMResult] | None = None,
    batch: Callable[[list[Any]], list[EMResult]] | None = None,
) -> EMResult:
    """The best of ``n_init`` EM runs (highest final objective).

    The first run with the highest final objective wins; a run whose
    objective is -inf (``n_iter=0``: no E-step was scored) gives way to any
    later run, as scikit-learn's ``fit`` keeps the last initialization then.

    Parameters
    ----------
    source : StatisticsSource
    family : ModelFamily
    initialize : callable
        ``initialize(run)`` returns the starting state of run ``run`` (0-based).
    n_init, n_iter : int
    rule : ConvergenceRule
    callback : callable, optional
        Called after every iteration of every run (see :func:`run_em`); a
        new run starts again at iteration 1. A true return value stops the
        fit: the remaining runs are skipped, and the best run so far (the
        stopped one included) is the result, with that run's ``converged``.
    verbose : int, default=0
        With 1 or more, print one line per iteration (and a line when a run
        converges).
    lower_bound : float, default=-inf
        Passed to every :func:`run_em` (a warm start's previous objective).
    warn : bool, default=True
        Whether to issue the :class:`ConvergenceWarning` (callers with their
        own warning, e.g. scikit-learn's, pass False and read ``converged``).
    run_started : callable, optional
        ``run_started(run)`` before run ``run`` is initialized (e.g. its
        verbose header).
    run_ended : callable, optional
        ``run_ended(run, result)`` after each run.
    runner : callable, optional
        Runs one EM run in place of :func:`run_em`, with its arguments (e.g.
        :func:`gaussmix.em.dense.run_em` for small in-memory data).
    batch : callable, optional
        ``batch(states)`` runs EM from each of the ``n_init`` starting states
        at once and returns their results in order (e.g.
        :func:`gaussmix.em.dense.run_batch`); in place of ``runner``, and only
        without ``callback`` and ``verbose``. The starts are all made first
        (``run_started`` and ``initialize`` of every run, in order).

    Warns
    -----
    ConvergenceWarning
        When a criterion is set and the best run neither met it nor was
        stopped by the callback.
    """
    batched: list[EMResult] = []
    if batch is not None and callback is None and not verbose:
        states = []
        for run in range(n_init):
            if run_started is not None:
                run_started(run)
            states.append(initialize(run))
        batched = batch(states)
    best = None
    for run in range(n_init):
        if batched:
            result = batched[run]._replace(run=run)
        else:
            if run_started is not None:
                run_started(run)
            result = (runner or run_em)(
                source,
                family,
                initialize(run),
                n_iter=n_iter,
                rule=rule,
                callback=callback,
                verbose=verbose,
                lower_bound=lower_bound,
            )._replace(run=run)
        if run_ended is not None:
            run_ended(run, result)
        if result.converged and verbose:
            print("EM converged.", file=sys.stdout)
        if best is None or result.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
            best = result
        if result.stopped:
            best = best._replace(stopped=True)
            break
    assert best is not None
    if warn and rule.description is not None and not best.converged and not best.stopped:
        warnings.warn(
            f"EM did not converge within n_iter={n_iter} iterations ({rule.description}); "
            "increase n_iter, loosen the tolerance, or check the data's scaling.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return best
