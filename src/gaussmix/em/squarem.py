"""Squared extrapolation of maximum-likelihood EM (SQUAREM) for runs that creep to their optimum.

Where EM's components overlap it converges linearly and slowly: in mclust's
14 x 9 grid on 20,000 x 8 rows, ten of the 126 runs over all the rows
(from the screened optima of :mod:`gaussmix.selection.screening`) took 40
to 100 iterations to ``tol`` = 1e-5, half of all their iterations. SQUAREM
(Varadhan & Roland 2008, Scand. J. Statist. 35(2), scheme S3) takes two EM
steps theta_1 = F(theta_0), theta_2 = F(theta_1), their first and second
differences r = theta_1 - theta_0, v = theta_2 - 2 theta_1 + theta_0, and
jumps to theta' = theta_0 - 2 a r + a^2 v with ``a = -norm(r) / norm(v)`` (a = -1
is theta_2 itself), followed by one EM step from theta'. Here:

- the parameters extrapolated are the priors, means and covariances as EM
  gives them (a linear combination keeps the priors' sum and the
  covariances' symmetry); a step whose priors fall below a quarter of
  theta_2's or whose covariances lose more than three quarters of theta_2's
  smallest eigenvalue is halved towards theta_2 (a -> (a - 1) / 2);
- theta' need not keep the covariance structure (equal shapes, shared
  orientations): only its E-step sees it, and the M-step after it imposes
  the structure again, started (iterative M-steps) from theta_2's
  covariances;
- theta' is kept only if its log-likelihood is at least theta_1's; else the
  run goes on from theta_2 (one E-step lost);
- convergence is tested as :func:`gaussmix.em.driver.run_em` tests it, on
  the change of the log-likelihood over a plain EM step only (never across
  a jump), and ``n_iter`` counts E-steps.

Plain EM and SQUAREM reach the same optimum from the same start where EM's
path leads to one; they stop at different points of the approach.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .driver import ConvergenceRule, EMResult
from .families import Gaussians, MaximumLikelihood
from .sources import StatisticsSource

__all__ = ["MAX_HALVINGS", "extrapolate", "run_squarem"]

#: Most halvings of an extrapolation step towards theta_2 before the jump is given up.
MAX_HALVINGS = 6


def extrapolate(theta0: Gaussians, theta1: Gaussians, theta2: Gaussians) -> Gaussians | None:
    """SQUAREM's jump from three successive EM states, or None where it would be theta_2.

    Parameters
    ----------
    theta0, theta1, theta2 : Gaussians
        theta_1 = F(theta_0), theta_2 = F(theta_1) for the EM map F.

    Returns
    -------
    Gaussians or None
        theta_0 - 2 a r + a^2 v with ``a = -norm(r) / norm(v)`` (at most -1), halved
        towards -1 until the priors keep a quarter of theta_2's and every
        covariance a quarter of theta_2's smallest eigenvalue (see the module's
        text); None where a is -1 or no halving was admissible.
    """
    parts = [
        (np.asarray(a), np.asarray(b), np.asarray(c))
        for a, b, c in zip(theta0, theta1, theta2, strict=True)
    ]
    r = [b - a for a, b, _ in parts]
    v = [c - 2.0 * b + a for a, b, c in parts]
    r_norm = np.sqrt(sum(float(np.vdot(x, x)) for x in r))
    v_norm = np.sqrt(sum(float(np.vdot(x, x)) for x in v))
    if not (np.isfinite(r_norm) and np.isfinite(v_norm)) or v_norm == 0.0:
        return None
    step = -r_norm / v_norm
    if step >= -1.0:
        return None
    floor = 0.25 * np.linalg.eigvalsh(theta2.covariances)[..., 0]
    for _ in range(MAX_HALVINGS):
        priors, means, covariances = (
            a - 2.0 * step * dr + step * step * dv
            for (a, _, _), dr, dv in zip(parts, r, v, strict=True)
        )
        if np.all(priors >= 0.25 * theta2.priors) and np.all(np.isfinite(covariances)):
            smallest = np.linalg.eigvalsh(covariances)[..., 0]
            if np.all(smallest >= floor):
                return Gaussians(priors / priors.sum(), means, covariances)
        step = 0.5 * (step - 1.0)
        if step >= -1.0:
            break
    return None


def run_squarem(
    source: StatisticsSource,
    family: MaximumLikelihood,
    state: Gaussians,
    *,
    n_iter: int,
    rule: ConvergenceRule,
) -> EMResult:
    """One maximum-likelihood EM run from ``state``, accelerated by SQUAREM (the module's text).

    Parameters
    ----------
    source : StatisticsSource
    family : MaximumLikelihood
        Without OAS shrinkage (its M-step is not EM's).
    state : Gaussians
        The start, of the family's structure.
    n_iter : int
        Most E-steps.
    rule : ConvergenceRule
        ``tol`` on the mean log-likelihood's change over a plain EM step
        (gmr's ``R_diff`` is not supported).

    Returns
    -------
    EMResult
        As :func:`gaussmix.em.driver.run_em` gives it: the state after the
        last M-step, whether ``tol`` was met, the E-steps taken, the mean
        log-likelihood of the last E-step.
    """
    if rule.r_diff is not None or family.oas:
        raise ValueError("SQUAREM runs maximum-likelihood EM with a tol rule and no OAS")
    iterations = 0
    bound = -np.inf

    def em_step(current: Gaussians, warm: np.ndarray | None = None) -> tuple[Gaussians, float]:
        nonlocal iterations
        iterations += 1
        gaussians = family.gaussians(current)
        stats, shift = source.statistics(gaussians, None, False)
        if warm is not None:
            family.e_step_covariances = warm
        new = family.m_step(stats, shift)
        new, stats = source.refine(family, current, stats, shift, new)
        return new, float(family.objective(stats, new))

    def met(change: float) -> bool:
        return rule.tol is not None and abs(change) < rule.tol

    def result(final: Any, converged: bool, value: float) -> EMResult:
        return EMResult(final, converged, iterations, value, False)

    theta0 = state
    while iterations < n_iter:
        theta1, value0 = em_step(theta0)
        if met(value0 - bound) or iterations >= n_iter:
            return result(theta1, met(value0 - bound), value0)
        theta2, value1 = em_step(theta1)
        if met(value1 - value0) or iterations >= n_iter:
            return result(theta2, met(value1 - value0), value1)
        jump = extrapolate(theta0, theta1, theta2)
        if jump is None:
            theta0, bound = theta2, value1
            continue
        theta3, value = em_step(jump, warm=theta2.covariances)
        if np.isfinite(value) and value >= value1:
            theta0, bound = theta3, value
        else:
            theta0, bound = theta2, value1
    return result(theta0, False, bound)
