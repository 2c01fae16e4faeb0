"""A statistics source and a model family plugged into the engine from outside the package.

Each is written here as a user would (CONTRIBUTING.md, "Architecture"): a class and
one registration line for the source; a class handed to the driver for the family.
Nothing in gaussmix changes for them.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GMM
from gaussmix.em import driver
from gaussmix.em.driver import convergence_rule
from gaussmix.em.estep import e_step, make_e_step_parameters
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.em.front import SourceRequest, open_source, register_source
from gaussmix.em.sources import StatisticsSource, weighted_mean


class Blocks(list):
    """Rows kept as a list of (m_i, d) arrays, e.g. files read one at a time."""


class BlockSource(StatisticsSource):
    """Statistics of a list of row blocks, one E-step per block, summed."""

    def __init__(self, request: SourceRequest) -> None:
        self.blocks = [np.asarray(b, dtype=np.float64) for b in request.X]
        stacked = np.vstack(self.blocks)
        self.n_samples, self.n_features = stacked.shape
        self.shift = weighted_mean(stacked, None)
        self.covariance_type = request.covariance_type
        self.chunk_rows = 4096
        self._sample = stacked  # small here; a real source would keep a sample

    def statistics(self, gaussians, previous, need_resp_sq):
        params = make_e_step_parameters(
            self.covariance_type, gaussians, previous, self.shift, need_resp_sq=need_resp_sq
        )
        parts = [e_step(block, None, params) for block in self.blocks]
        total = parts[0]
        for part in parts[1:]:
            total += part
        return total, params.shift

    def initialization_data(self):
        return self._sample

    initialization_weights = None


register_source("blocks", lambda X: isinstance(X, Blocks), BlockSource)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (300, 2)), rng.normal(5, 0.7, (200, 2))])


def test_a_registered_source_fits_like_the_array_it_holds():
    X = _data()
    blocks = Blocks(np.array_split(X, 7))
    assert isinstance(open_source(SourceRequest(blocks, None, "full", 2)), BlockSource)
    for covariance_type in ("full", "diag"):
        ours = GMM(2, random_state=0).from_samples(
            blocks, covariance_type=covariance_type, tol=1e-10, n_iter=300
        )
        plain = GMM(2, random_state=0).from_samples(
            X, covariance_type=covariance_type, tol=1e-10, n_iter=300
        )
        assert_allclose(ours.means, plain.means, rtol=1e-8)
        assert_allclose(ours.covariances, plain.covariances, rtol=1e-8, atol=1e-12)
        assert ours.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-10)


class DirichletMAP(MaximumLikelihood):
    """Maximum a posteriori weights under a symmetric Dirichlet(alpha) prior.

    The M-step's weights become (N_j + alpha - 1) / (N + k (alpha - 1)); means
    and covariances stay maximum likelihood. The objective adds the log prior
    (up to a constant) so that EM still increases what it reports.
    """

    def __init__(self, covariance_type: str, reg_covar: float, alpha: float) -> None:
        super().__init__(covariance_type, reg_covar)
        self.alpha = alpha

    def m_step(self, stats, shift):
        new = super().m_step(stats, shift)
        counts = stats.resp_sum + self.alpha - 1.0
        return Gaussians(counts / counts.sum(), new.means, new.covariances)

    def objective(self, stats, state):
        log_prior = (self.alpha - 1.0) * np.log(state.priors).sum()
        return (stats.log_lik_sum + log_prior) / stats.weight_sum


def _map_fit(X, alpha, callback=None):
    source = open_source(SourceRequest(X, None, "full", 3))
    family = DirichletMAP("full", 1e-6, alpha)
    rng = np.random.default_rng(1)
    start = family.start(
        np.full(3, 1 / 3), X[rng.choice(len(X), 3, replace=False)], np.array([np.eye(2)] * 3)
    )
    return driver.fit(
        source,
        family,
        lambda run: start,
        n_iter=500,
        rule=convergence_rule(1e-12, None),
        callback=callback,
    )


def test_a_new_family_runs_on_the_driver_unchanged():
    X = _data(1)
    bounds = []
    result = _map_fit(X, alpha=50.0, callback=lambda i, lb, ch, el: bounds.append(lb))
    assert result.converged
    # EM on the MAP objective never goes down (up to rounding).
    assert np.all(np.diff(bounds) > -1e-9)
    # At the fixed point the weights are the MAP update of the final responsibilities.
    fitted = result.state
    source = open_source(SourceRequest(X, None, "full", 3))
    stats, _ = source.statistics(fitted, None, False)
    expected = (stats.resp_sum + 49.0) / (stats.resp_sum.sum() + 3 * 49.0)
    assert_allclose(fitted.priors, expected, rtol=1e-6)
    # A strong prior pulls the weights towards 1/3 compared with maximum likelihood.
    ml = _map_fit(X, alpha=1.0).state
    assert np.abs(fitted.priors - 1 / 3).max() < np.abs(ml.priors - 1 / 3).max()
