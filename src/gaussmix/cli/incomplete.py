"""Scores and predictions of rows with missing entries (NaN): the missing ones marginalized.

A Gaussian mixture's marginal over the observed entries of a row is the
mixture of the components' marginals (same priors), so log p(x_obs) and
E[y | x_obs] are the complete-data formulas on the observed dimensions. Rows
are grouped by their pattern of missing entries; each group is one batched
call on the marginal or conditional mixture of its observed dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _patterns(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean mask (patterns, p) and each row's pattern (n,)."""
    return np.unique(missing, axis=0, return_inverse=True)


def observed_log_likelihood(model: Any, X: np.ndarray) -> np.ndarray:
    """log p(x_obs) of every row under ``model`` (a GMM), NaN entries marginalized out.

    Parameters
    ----------
    model : GMM
    X : ndarray, shape (n, d)
        NaN marks a missing entry; a row must have at least one observed entry.

    Returns
    -------
    log_p : ndarray, shape (n,)

    Raises
    ------
    ValueError
        If a row has no observed entry (its likelihood is that of nothing).
    """
    missing = np.isnan(X)
    empty = np.flatnonzero(missing.all(axis=1))
    if empty.size:
        raise ValueError(
            f"data row {empty[0] + 1} has no observed entry (all NaN); it has no likelihood"
        )
    patterns, which = _patterns(missing)
    log_p = np.empty(X.shape[0])
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(which.reshape(-1) == p)
        observed = np.flatnonzero(~pattern)
        marginal = model if observed.size == X.shape[1] else model.marginalize(observed)
        log_p[rows] = marginal.score_samples(X[np.ix_(rows, observed)])
    return log_p


def predict_observed(
    model: Any, given: list[int], X: np.ndarray, return_covariance: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """GMR of the dimensions not in ``given`` from the observed entries of each row.

    Parameters
    ----------
    model : GMM
    given : list of int
        The model dimensions X's columns hold.
    X : ndarray, shape (n, len(given))
        NaN marks a missing input, which is marginalized out; a row with no
        observed input gets the outputs' marginal mean and covariance.
    return_covariance : bool, default=False

    Returns
    -------
    means : ndarray, shape (n, d_out)
    covariances : ndarray, shape (n, d_out, d_out)
        With ``return_covariance``.
    """
    d = model.n_features
    outputs = [j for j in range(d) if j not in given]
    n = X.shape[0]
    means = np.empty((n, len(outputs)))
    covariances = np.empty((n, len(outputs), len(outputs)))
    patterns, which = _patterns(np.isnan(X))
    for p, pattern in enumerate(patterns):
        rows = np.flatnonzero(which.reshape(-1) == p)
        observed = np.flatnonzero(~pattern)
        kept = [given[j] for j in observed]
        if not kept:
            marginal = model.marginalize(outputs).to_mvn()  # law of total covariance
            means[rows] = marginal.mean
            covariances[rows] = marginal.covariance
            continue
        joint = model.marginalize(sorted(kept + outputs))
        order = sorted(kept + outputs)
        inputs = [order.index(j) for j in kept]
        mean, covariance = joint.predict(inputs, X[np.ix_(rows, observed)], return_covariance=True)
        means[rows] = mean
        covariances[rows] = covariance
    return (means, covariances) if return_covariance else means
