"""Stepwise (online) EM: running expected sufficient statistics, one batch at a time.

Batch EM sums the statistics of all rows before each M-step. Stepwise EM
(Cappé & Moulines 2009; Liang & Klein 2009) keeps a running average of the
statistics of the batches seen so far instead,

    ``s_t = (1 - eta_t) s_{t-1} + eta_t * (statistics of batch t per unit weight)``,

with the step size ``eta_t = (t + learning_offset) ** -learning_decay``
(Robbins-Monro: the steps sum to infinity and their squares do not when
0.5 < learning_decay <= 1), and runs the family's M-step on ``s_t`` after
every batch, so the model is usable after every batch and the memory does
not grow with the rows seen. The first batch's statistics start the running
ones (eta_1 = 1).

The M-step sees the running averages scaled to a data size: ``total_samples``
when given, else the weight seen so far. Maximum likelihood does not depend
on it; for variational Bayes it is the data size of stochastic variational
inference (Hoffman, Blei, Wang & Paisley 2013, eq. 17-18: the posterior's
natural parameters are the prior's plus the scaled statistics, which are
linear in ``s_t``, so blending the statistics is their update).

The running statistics are taken about one point, the latest batch's shift
(its mean): before a batch is blended in, the running sums are moved there
exactly (:meth:`Statistics.recentred`), and a batch whose moments are taken
about each component's mean (the E-step's precise path) is moved to the
running point, so sums about different points never mix, and moments stay
precise when a stream drifts far from where it began.

References
----------
O. Cappé and E. Moulines, "On-line expectation-maximization algorithm for
latent data models", J. R. Stat. Soc. B 71(3), 2009.
P. Liang and D. Klein, "Online EM for unsupervised models", NAACL 2009.
M. D. Hoffman, D. M. Blei, C. Wang and J. Paisley, "Stochastic variational
inference", JMLR 14, 2013.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .families import ModelFamily
from .sources import StatisticsSource
from .stats import Statistics

__all__ = ["StepwiseEM", "step_size"]


def step_size(step: int, learning_decay: float, learning_offset: float) -> float:
    """The weight eta_t of batch ``step`` (1-based): 1 for the first, else (t + offset)^-decay.

    Parameters
    ----------
    step : int
        t >= 1, the batch's number.
    learning_decay : float
        kappa in [0, 1]; 0 gives a constant step of 1 (each batch replaces
        the statistics: one EM iteration per batch on that batch alone).
    learning_offset : float
        tau >= 0; large values slow down the early steps.

    Returns
    -------
    eta : float
        In (0, 1].
    """
    if step <= 1:
        return 1.0
    return float(min(1.0, (step + learning_offset) ** -learning_decay))


class StepwiseEM:
    """Running statistics of stepwise EM and the step counter of one model.

    Parameters
    ----------
    shift : ndarray, shape (d,)
        The point the running moments are taken about at the start (then
        each batch's shift, see :meth:`blend`).
    learning_decay : float, default=0.7
    learning_offset : float, default=10.0
        See :func:`step_size`; public attributes, a caller may change them
        between steps.
    total_samples : float or None, default=None
        The data size the M-step sees the running averages at; None: the
        weight seen so far.

    Attributes
    ----------
    running : Statistics or None
        sum per unit weight, about ``shift``; None before the first step.
    n_steps : int
        Batches blended in.
    weight_seen : float
        Sum of the weights (rows when unweighted) of those batches.
    batch_log_likelihood : float
        The latest batch's mean log-likelihood (weighted) under the
        parameters before its step (NaN before the first step): for a batch
        not seen before, an unbiased estimate of the model's expected
        log-likelihood, which a progress report can show.

    Examples
    --------
    One step is an E-step of a batch under the current state, the blend and
    the family's M-step::

        online = StepwiseEM(batch_source.shift)
        state, bound = online.step(family, batch_source, state)
    """

    def __init__(
        self,
        shift: np.ndarray,
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
        total_samples: float | None = None,
    ) -> None:
        self.shift = np.asarray(shift, dtype=np.float64)
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples
        self.running: Statistics | None = None
        self.n_steps = 0
        self.weight_seen = 0.0
        self.batch_log_likelihood = float("nan")

    def blend(self, stats: Statistics, shift: np.ndarray) -> Statistics:
        """Blend one batch's summed statistics (about ``shift``) into the running ones.

        Parameters
        ----------
        stats : Statistics
            Sums over the batch (``weight_sum`` > 0).
        shift : ndarray, shape (d,) or (k, d)
            The point(s) their moments are taken about.

        Returns
        -------
        Statistics
            The statistics the M-step sees: the running averages about
            ``self.shift`` (now ``shift`` when it is one point), scaled to
            ``total_samples`` (or the weight seen).
        """
        shift = np.asarray(shift, dtype=np.float64)
        if shift.ndim == 1:
            # Follow the data: moments about the latest batch's point stay precise
            # when the stream drifts far from where it began (the old sums,
            # moved exactly, fade with their weight).
            if self.running is not None:
                self.running = self.running.recentred(self.shift, shift)
            self.shift = shift
        batch = stats.recentred(shift, self.shift).scaled(1.0 / stats.weight_sum)
        eta = step_size(self.n_steps + 1, self.learning_decay, self.learning_offset)
        if self.running is None or eta >= 1.0:
            self.running = batch
        else:
            self.running = self.running.scaled(1.0 - eta) + batch.scaled(eta)
        self.n_steps += 1
        self.weight_seen += stats.weight_sum
        size = self.weight_seen if self.total_samples is None else self.total_samples
        return self.running.scaled(size)

    def step(self, family: ModelFamily, source: StatisticsSource, state: Any) -> tuple[Any, float]:
        """One stepwise-EM step: the batch's E-step under ``state``, the blend, the M-step.

        Parameters
        ----------
        family : ModelFamily
        source : StatisticsSource
            The batch.
        state
            The family's current state.

        Returns
        -------
        state
            The M-step's result of the blended statistics.
        objective : float
            The family's objective of the blended statistics (for maximum
            likelihood the running average of the batches' mean
            log-likelihoods, each under the parameters before its step).
        """
        stats, shift = source.statistics(family.gaussians(state), None, family.need_resp_sq)
        return self.update(family, stats, shift)

    def update(
        self, family: ModelFamily, stats: Statistics, shift: np.ndarray
    ) -> tuple[Any, float]:
        """The second half of :meth:`step`: blend a batch's E-step statistics, then the M-step.

        For a caller that does something between the two (e.g. starts reading
        the next batch).

        Parameters
        ----------
        family : ModelFamily
        stats : Statistics
            The batch's E-step sums under the current state.
        shift : ndarray, shape (d,) or (k, d)
            The point(s) their moments are taken about.

        Returns
        -------
        state, objective
            As :meth:`step`.
        """
        self.batch_log_likelihood = stats.log_lik_sum / stats.weight_sum
        blended = self.blend(stats, shift)
        new = family.m_step(blended, self.shift)
        return new, family.objective(blended, new)
