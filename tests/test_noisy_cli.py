"""The command line with noisy inputs: ``gaussmix predict --noise`` and ``score --noise``.

References we did not write: the Gaussian conditional of a one-component model with the
input covariance plus the noise (explicit inverse), and the convolved log-likelihood
from scipy.stats.multivariate_normal densities row by row.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM
from gaussmix.cli import main

MEAN = np.array([0.5, -1.0, 2.0])
COV = np.array([[2.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.5]])


def _files(tmp_path, rng, n=7):
    model = tmp_path / "model.json"
    GMM(1, priors=[1.0], means=[MEAN], covariances=[COV]).save(model)
    X = rng.normal(size=(n, 2)) * 2
    np.save(tmp_path / "in.npy", X)
    return model, X


@pytest.mark.parametrize("form", ["variances", "matrices", "shared"])
def test_cli_predict_with_noise_is_the_conditional_with_inflated_inputs(tmp_path, capsys, form):
    rng = np.random.default_rng(0)
    model, X = _files(tmp_path, rng)
    n = X.shape[0]
    given = [2, 0]  # DATA's columns are these model dimensions, in this order
    A = rng.normal(size=(n, 2, 2)) * 0.5
    S = {
        "variances": rng.uniform(0.1, 1.0, (n, 2)),
        "matrices": A @ np.swapaxes(A, 1, 2) + 0.05 * np.eye(2),
        "shared": A[0] @ A[0].T + 0.05 * np.eye(2),
    }[form]
    np.save(tmp_path / "S.npy", S)
    out = tmp_path / "out.csv"
    argv = ["predict", str(model), str(tmp_path / "in.npy"), "--given", "2,0", "-o", str(out)]
    assert main([*argv, "--noise", str(tmp_path / "S.npy"), "--std"]) == 0
    table = np.loadtxt(out, delimiter=",", ndmin=2, comments="d")
    dense = S[:, :, None] * np.eye(2) if form == "variances" else np.broadcast_to(S, (n, 2, 2))
    for i in range(n):
        inverse = np.linalg.inv(COV[np.ix_(given, given)] + dense[i])
        gain = COV[1, given] @ inverse
        assert table[i, 0] == pytest.approx(MEAN[1] + gain @ (X[i] - MEAN[given]), rel=1e-9)
        variance = COV[1, 1] - gain @ COV[given, 1]
        assert table[i, 1] == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert main([*argv, "--noise", str(tmp_path / "S.npy")]) == 0
    assert_allclose(np.loadtxt(out, delimiter=",", ndmin=2, comments="d")[:, 0], table[:, 0])


def test_cli_score_with_noise_is_the_convolved_likelihood(tmp_path, capsys):
    rng = np.random.default_rng(1)
    gmm = GMM(
        2,
        priors=[0.3, 0.7],
        means=[[0.0, 1.0], [2.0, -1.0]],
        covariances=[np.eye(2) * 0.5, [[1.0, 0.4], [0.4, 0.8]]],
    )
    model = tmp_path / "model.json"
    gmm.save(model)
    X = rng.normal(size=(40, 2)) * 2
    S = rng.uniform(0.1, 1.0, (40, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "S.npy", S)
    assert (
        main(["score", str(model), str(tmp_path / "X.npy"), "--noise", str(tmp_path / "S.npy")])
        == 0
    )
    lines = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    terms = [
        [
            np.log(gmm.priors[j])
            + multivariate_normal(gmm.means[j], gmm.covariances[j] + np.diag(S[i])).logpdf(X[i])
            for j in range(2)
        ]
        for i in range(40)
    ]
    total = logsumexp(terms, axis=1).sum()
    p = 2 * 3 + 2 * 2 + 1
    assert float(lines["mean log-likelihood"]) == pytest.approx(total / 40, rel=1e-9)
    assert float(lines["BIC"]) == pytest.approx(-2 * total + p * np.log(40), rel=1e-9)
    assert float(lines["AIC"]) == pytest.approx(-2 * total + 2 * p, rel=1e-9)


def test_cli_noise_of_the_wrong_shape_or_with_missing_values_is_refused(tmp_path, capsys):
    rng = np.random.default_rng(2)
    model, X = _files(tmp_path, rng)
    np.save(tmp_path / "S.npy", np.ones((3, 2)))
    argv = ["predict", str(model), str(tmp_path / "in.npy"), "--given", "0,2"]
    assert main([*argv, "--noise", str(tmp_path / "S.npy")]) == 1
    assert "noise_covariances has shape (3, 2)" in capsys.readouterr().err
    X[1, 0] = np.nan
    np.save(tmp_path / "gaps.npy", X)
    np.save(tmp_path / "S.npy", np.ones(X.shape))
    argv = ["predict", str(model), str(tmp_path / "gaps.npy"), "--given", "0,2"]
    assert main([*argv, "--allow-missing", "--noise", str(tmp_path / "S.npy")]) == 1
    assert "--noise with missing inputs is not supported" in capsys.readouterr().err
