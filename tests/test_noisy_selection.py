"""select_model and the command line with known noise (extreme deconvolution).

References: the scores of the convolved mixture from scipy.stats densities row by row,
and the same fit through GMM.from_samples.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from gaussmix import GMM, select_model
from gaussmix.cli import main


def _noisy_data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    V = np.vstack(
        [
            rng.multivariate_normal([-2, 0], [[0.3, 0.1], [0.1, 0.2]], n // 2),
            rng.multivariate_normal([2, 1], [[0.2, 0], [0, 0.4]], n - n // 2),
        ]
    )
    S = rng.uniform(0.2, 1.0, (n, 2))
    return V + rng.normal(size=V.shape) * np.sqrt(S), S


def _convolved_log_likelihood(gmm, X, S):
    total = 0.0
    for x, s in zip(X, S, strict=True):
        total += logsumexp(
            [
                np.log(p) + multivariate_normal(m, c + np.diag(s)).logpdf(x)
                for p, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
            ]
        )
    return total


@pytest.mark.parametrize("criterion", ["bic", "aic", "icl"])
def test_the_table_scores_the_convolved_mixture(criterion):
    X, S = _noisy_data()
    result = select_model(
        X,
        noise_covariances=S,
        n_components=[1, 2],
        covariance_type=["full", "diag"],
        criterion=criterion,
        random_state=0,
        n_init=1,
    )
    for row in result.table:
        model = result.models[(row["n_components"], row["covariance_type"])]
        log_lik = _convolved_log_likelihood(model, X, S)
        assert row["log_likelihood"] == pytest.approx(log_lik, rel=1e-9)
        p = row["n_parameters"]
        assert row["bic"] == pytest.approx(-2 * log_lik + p * np.log(len(X)), rel=1e-9)
        assert row["bic"] == pytest.approx(model.bic(X, noise_covariances=S), rel=1e-9)
        if criterion == "icl":
            resp = model.to_responsibilities(X, noise_covariances=S)
            entropy = -(resp * np.log(np.maximum(resp, 1e-300))).sum()
            assert row["icl"] == pytest.approx(row["bic"] + 2 * entropy, rel=1e-9)
    assert result.best_params["n_components"] == 2
    # The chosen model is the deconvolved one: narrower than the noisy clusters.
    best = result.best_model
    assert np.all(np.diagonal(best.covariances, axis1=1, axis2=2) < 0.6)


def test_select_model_with_a_projection_and_with_missing_entries():
    X, S = _noisy_data(seed=1, n=400)
    result = select_model(
        X,
        noise_covariances=S,
        projection=np.eye(2),
        n_components=[1, 2],
        covariance_type="full",
        random_state=0,
        n_init=1,
    )
    assert result.best_params["n_components"] == 2
    X_nan = X.copy()
    X_nan[::7, 1] = np.nan
    result = select_model(
        X_nan,
        noise_covariances=S,
        allow_missing=True,
        n_components=[1, 2],
        covariance_type="full",
        random_state=0,
        n_init=1,
    )
    assert result.best_params["n_components"] == 2


def test_select_model_refuses_noise_with_cross_validation_or_targets():
    X, S = _noisy_data(n=100)
    with pytest.raises(ValueError, match="with noise_covariances or projection select_model"):
        select_model(X, noise_covariances=S, criterion="cv", n_components=[1])
    with pytest.raises(ValueError, match="and y"):
        select_model(X[:, :1], X[:, 1], noise_covariances=S[:, :1], n_components=[1])


def test_cli_fit_and_select_with_noise(tmp_path, capsys):
    X, S = _noisy_data(seed=2, n=300)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "S.npy", S)
    model = tmp_path / "m.json"
    argv = [
        "fit",
        str(tmp_path / "X.npy"),
        "-k",
        "2",
        "--seed",
        "0",
        "--tol",
        "none",
        "--n-iter",
        "20",
    ]
    assert main([*argv, "--noise", str(tmp_path / "S.npy"), "-o", str(model)]) == 0
    err = capsys.readouterr().err
    assert "convolved" in err
    fitted = GMM.load(str(model))
    expected = GMM(2, random_state=0).from_samples(
        X, noise_covariances=S, init_params="kmeans++", n_iter=20, tol=None
    )
    assert_allclose(fitted.covariances, expected.covariances, rtol=1e-10)
    assert (
        main(
            [
                "select",
                str(tmp_path / "X.npy"),
                "-k",
                "1-2",
                "--covariance-type",
                "full",
                "--noise",
                str(tmp_path / "S.npy"),
                "--seed",
                "0",
            ]
        )
        == 0
    )
    assert "best: n_components=2" in capsys.readouterr().out
    np.save(tmp_path / "bad.npy", -S)
    assert main([*argv, "--noise", str(tmp_path / "bad.npy")]) == 1
    assert "noise_covariances must hold non-negative variances" in capsys.readouterr().err
    assert main([*argv, "--noise", str(tmp_path / "S.csv")]) == 1
    assert "--noise must be a .npy file" in capsys.readouterr().err
