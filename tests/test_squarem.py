"""SQUAREM-accelerated maximum-likelihood EM (gaussmix.em.squarem).

References: the closed-form fixed point of a linear contraction (SQUAREM's jump lands on it
exactly), scikit-learn's GaussianMixture run to a tight tolerance from the same start (the same
optimum), plain EM run to the same tolerance (as good an optimum in fewer E-steps), the
covariance structure's own equalities, and the step halving of a jump that would leave the
admissible parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from gaussmix import covariance
from gaussmix.em import driver, squarem
from gaussmix.em.driver import convergence_rule
from gaussmix.em.families import Gaussians, MaximumLikelihood
from gaussmix.selection.prepare import Prepared


def _contraction(start: Gaussians, target: Gaussians, rate: float, steps: int) -> list:
    """States theta_t = target + rate^t (start - target): a linear map's iterates."""
    return [
        Gaussians(*(b + rate**t * (a - b) for a, b in zip(start, target, strict=True)))
        for t in range(steps)
    ]


def _state(rng, k: int, d: int) -> Gaussians:
    priors = rng.dirichlet(np.ones(k) * 5)
    means = rng.normal(size=(k, d))
    A = rng.normal(size=(k, d, d))
    return Gaussians(priors, means, A @ np.swapaxes(A, 1, 2) + np.eye(d))


@pytest.mark.parametrize("rate", [0.5, 0.9, 0.99])
def test_the_jump_lands_on_a_linear_contractions_fixed_point(rate):
    rng = np.random.default_rng(0)
    start, target = _state(rng, 3, 2), _state(rng, 3, 2)
    # Mix towards the target so that every state stays admissible.
    start = Gaussians(*(0.05 * a + 0.95 * b for a, b in zip(start, target, strict=True)))
    jump = squarem.extrapolate(*_contraction(start, target, rate, 3))
    assert jump is not None
    for got, want in zip(jump, target, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_no_jump_where_the_second_difference_vanishes():
    rng = np.random.default_rng(1)
    state = _state(rng, 2, 2)
    assert squarem.extrapolate(state, state, state) is None


def test_a_jump_past_the_admissible_parameters_is_halved_towards_theta2():
    rng = np.random.default_rng(2)
    start, target = _state(rng, 3, 2), _state(rng, 3, 2)
    target = Gaussians(np.array([0.02, 0.49, 0.49]), target.means, target.covariances)
    start = Gaussians(np.array([0.9, 0.05, 0.05]), start.means, start.covariances)
    states = _contraction(start, target, 0.9, 3)
    jump = squarem.extrapolate(*states)
    theta2 = states[2]
    assert jump is not None
    assert np.all(jump.priors >= 0.25 * theta2.priors - 1e-15)
    floor = 0.25 * np.linalg.eigvalsh(theta2.covariances)[:, 0]
    assert np.all(np.linalg.eigvalsh(jump.covariances)[:, 0] >= floor - 1e-12)
    # It stopped short of the fixed point, whose first prior is under the bound.
    assert not np.allclose(jump.priors, target.priors)
    np.testing.assert_allclose(jump.priors.sum(), 1.0)


def _overlapping(n: int = 3_000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n // 2, 2)) @ np.array([[1.0, 0.6], [0.0, 0.8]])
    b = rng.normal(size=(n - n // 2, 2)) * 0.9 + np.array([1.2, 0.4])
    return np.vstack([a, b])


def _start(X: np.ndarray, k: int) -> Gaussians:
    rng = np.random.default_rng(5)
    means = X[rng.choice(len(X), k, replace=False)]
    covariances = np.repeat(np.cov(X.T)[None], k, axis=0)
    return Gaussians(np.full(k, 1.0 / k), means, covariances)


def _run(X, covariance_type, start, tol, accelerated):
    family = MaximumLikelihood(covariance_type, 1e-6)
    source = Prepared(X, None, [covariance_type], False, 1).sources[covariance_type]
    state = family.start(*start)
    run = squarem.run_squarem if accelerated else driver.run_em
    return run(source, family, state, n_iter=5_000, rule=convergence_rule(tol, None))


def test_the_optimum_is_scikit_learns_from_the_same_start():
    mixture = pytest.importorskip("sklearn.mixture")
    X = _overlapping(1_500)
    start = _start(X, 3)
    result = _run(X, "full", start, 1e-11, True)
    assert result.converged
    reference = mixture.GaussianMixture(
        3,
        tol=1e-11,
        max_iter=20_000,
        reg_covar=1e-6,
        weights_init=start.priors,
        means_init=start.means,
        precisions_init=np.linalg.inv(start.covariances),
    ).fit(X)
    # A flat optimum (overlapping clusters): the two stop within 1e-7 nats of each other
    # (ours not below), their parameters within 2e-3.
    ours = result.state
    log_lik = np.log(
        sum(
            p * multivariate_normal(m, c).pdf(X)
            for p, m, c in zip(ours.priors, ours.means, ours.covariances, strict=True)
        )
    ).mean()
    assert reference.score(X) - 1e-10 <= log_lik <= reference.score(X) + 1e-7
    order, theirs = np.argsort(ours.means[:, 0]), np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(ours.means[order], reference.means_[theirs], atol=2e-3)
    np.testing.assert_allclose(ours.priors[order], reference.weights_[theirs], atol=2e-3)
    np.testing.assert_allclose(ours.covariances[order], reference.covariances_[theirs], atol=2e-3)
    assert result.n_iter < reference.n_iter_


@pytest.mark.parametrize("covariance_type", ["VVV", "EEV", "VEV", "EVE", "VII"])
def test_as_good_an_optimum_as_plain_em_in_fewer_e_steps(covariance_type):
    X = _overlapping(seed=1)
    start = _start(X, 4)
    name = covariance.get(covariance_type).name
    plain = _run(X, name, start, 1e-8, False)
    fast = _run(X, name, start, 1e-8, True)
    assert fast.converged
    assert fast.lower_bound >= plain.lower_bound - 1e-7
    assert fast.n_iter < plain.n_iter
    # The structure holds: the covariances' sorted eigenvalues (the shapes times the volumes).
    values = np.linalg.eigvalsh(fast.state.covariances)
    if covariance_type in ("EEV", "EVE"):  # equal volumes
        np.testing.assert_allclose(np.prod(values, axis=1), np.prod(values[0]), rtol=1e-6)
    if covariance_type in ("EEV", "VEV"):  # equal shapes
        shapes = values / np.prod(values, axis=1, keepdims=True) ** (1 / values.shape[1])
        np.testing.assert_allclose(shapes, np.repeat(shapes[:1], len(shapes), 0), rtol=1e-6)
    if covariance_type == "VII":
        np.testing.assert_allclose(values[:, 0], values[:, -1], rtol=1e-9)


def test_gmrs_rule_and_oas_are_refused():
    X = _overlapping(300)
    source = Prepared(X, None, ["full"], False, 1).sources["full"]
    state = MaximumLikelihood("full", 1e-6).start(*_start(X, 2))
    with pytest.raises(ValueError, match="tol rule and no OAS"):
        squarem.run_squarem(
            source,
            MaximumLikelihood("full", 1e-6),
            state,
            n_iter=10,
            rule=convergence_rule("auto", 1e-3),
        )
    with pytest.raises(ValueError, match="tol rule and no OAS"):
        squarem.run_squarem(
            source,
            MaximumLikelihood("full", 1e-6, oas=True),
            state,
            n_iter=10,
            rule=convergence_rule(1e-3, None),
        )


def test_n_iter_caps_the_e_steps():
    X = _overlapping(seed=2)
    for n_iter in (1, 2, 3, 4, 7):
        capped = squarem.run_squarem(
            Prepared(X, None, ["full"], False, 1).sources["full"],
            MaximumLikelihood("full", 1e-6),
            MaximumLikelihood("full", 1e-6).start(*_start(X, 4)),
            n_iter=n_iter,
            rule=convergence_rule(0.0, None),  # never met
        )
        assert capped.n_iter == n_iter and not capped.converged
        assert np.isfinite(capped.lower_bound)
