"""Questions to a deconvolved mixture about noisy measurements: true values and regression.

A mixture fitted with ``from_samples(X, noise_covariances=S)`` describes the
true values v. Two kinds of questions involve a new noisy measurement:

- the true value of a measured row, p(v_i | x_i): per component the
  posterior N(b_ij, B_ij) of Bovy, Hogg & Roweis (2011, eq. 16), weighted by
  the convolved responsibilities (:meth:`NoisyQueries.true_value_posterior`,
  :meth:`NoisyQueries.sample_true_values`);
- regression on a noisy input, p(y | x_obs) with x_obs = x + e, e ~ N(0,
  S_in): per component the joint of (x_obs, y) is Gaussian with the input
  block's covariance Sigma_xx + S_in, so the conditional has weights
  pi_j N(x_obs | mu_x, Sigma_xx + S_in), means mu_y + Sigma_yx (Sigma_xx +
  S_in)^-1 (x_obs - mu_x) and covariances Sigma_yy - Sigma_yx (Sigma_xx +
  S_in)^-1 Sigma_xy (:func:`noisy_input_conditionals`).

:class:`NoisyQueries` is a base of :class:`gaussmix.GMM`; it needs only the
object's ``checked_parameters`` and ``random_state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._deconvolution import NoiseCovariances, deconvolve_chunk, noise_chunk_rows
from ._gaussian import LOG_2PI, mixture_moments, normalize_log_weights
from ._projection import ProjectedRows, projected_chunk_rows, projected_deconvolve_chunk
from ._validation import (
    as_float_array,
    check_conditioning_values,
    check_noise_covariances,
    check_samples,
    is_dask_collection,
)
from ._validation_noise import blank_missing_noise, check_projection
from .conditional import ConditionalGMM

__all__ = ["NoisyQueries", "measured_rows", "noisy_input_conditionals"]


def noisy_input_conditionals(
    X_in: np.ndarray,
    noise: NoiseCovariances,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    in_idx: np.ndarray,
    out_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditionals p(y | x_obs) given inputs measured with per-row noise, in row chunks.

    Parameters
    ----------
    X_in : ndarray, shape (n, d_in)
        Noisy measurements of the inputs.
    noise : NoiseCovariances
        Their noise covariances S_i over the d_in inputs.
    priors : ndarray, shape (k,)
    means : ndarray, shape (k, d)
    covariances : ndarray, shape (k, d, d)
    in_idx, out_idx : ndarray of int
        Input and output dimensions.

    Returns
    -------
    log_weights : ndarray, shape (n, k)
        log p(j | x_obs).
    cond_means : ndarray, shape (n, k, d_out)
    cond_covariances : ndarray, shape (n, k, d_out, d_out), or (k, d_out, d_out) for
        shared noise (then they do not depend on the row)
    """
    n, d_in = X_in.shape
    k, d_out = priors.shape[0], out_idx.size
    cov_ii = covariances[:, in_idx][:, :, in_idx]
    cov_io = covariances[:, in_idx][:, :, out_idx]
    cov_oo = covariances[:, out_idx][:, :, out_idx]
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    log_weights = np.empty((n, k))
    cond_means = np.empty((n, k, d_out))
    shared = noise.kind == "shared"
    cond_covs = np.empty((n, k, d_out, d_out)) if not shared else None
    step = max(1, (1 << 20) // max(1, k * d_in * (d_in + d_out + 1)))
    for start in range(0, n, step):
        rows = slice(start, min(start + step, n))
        total = cov_ii[None] + noise.rows(rows)[:, None]  # (c or 1, k, d_in, d_in)
        try:
            chol = np.linalg.cholesky(total)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "a component's input covariance plus a row's noise_covariances is not "
                "positive definite (Sigma_xx + S_i singular)"
            ) from exc
        diff = X_in[rows, None, :] - means[None, :, in_idx]  # (c, k, d_in)
        rhs = np.broadcast_to(cov_io, (*chol.shape[:2], d_in, d_out))
        lifted = np.linalg.solve(chol, rhs)  # L^-1 Sigma_xy: (c or 1, k, d_in, d_out)
        z = np.linalg.solve(chol, diff[..., None])[..., 0]  # (c, k, d_in)
        log_det = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(axis=-1)
        log_dens = -0.5 * (d_in * LOG_2PI + log_det + np.einsum("ckd,ckd->ck", z, z))
        log_weights[rows] = normalize_log_weights(log_dens + log_priors)[1]
        lifted_t = np.swapaxes(lifted, -1, -2)
        cond_means[rows] = means[None, :, out_idx] + np.einsum("...oi,...i->...o", lifted_t, z)
        if not shared:
            cond_covs[rows] = cov_oo[None] - lifted_t @ lifted
    if shared:
        # The conditional covariances of shared noise: a function of the components only.
        lifted = np.linalg.solve(np.linalg.cholesky(cov_ii + noise.values), cov_io)
        cond_covs = cov_oo - np.swapaxes(lifted, -1, -2) @ lifted
    cond_covs = 0.5 * (cond_covs + np.swapaxes(cond_covs, -1, -2))
    return log_weights, cond_means, cond_covs


def true_value_posteriors(
    rows: ProjectedRows | tuple[np.ndarray, NoiseCovariances],
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior weights, means and covariances of the true values of measured rows.

    Parameters
    ----------
    rows : ProjectedRows, or (X, noise) for rows x_i = v_i + e_i
    priors, means, covariances : ndarray
        The deconvolved mixture, (k,), (k, d), (k, d, d).

    Returns
    -------
    weights : ndarray, shape (n, k)
        The convolved responsibilities p(j | x_i).
    b : ndarray, shape (n, k, d)
    B : ndarray, shape (n, k, d, d), or (k, d, d) when every row shares it
    """
    k, d = means.shape
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
    if isinstance(rows, ProjectedRows):
        n = rows.n_samples
        step = projected_chunk_rows(k, rows.n_measured, d)
        shared = rows.observed is None and rows.projection.ndim == 2
        shared = shared and (rows.noise is None or rows.noise.kind == "shared")
    else:
        X, noise = rows
        n = X.shape[0]
        step = noise_chunk_rows(k, d)
        shared = noise.kind == "shared"
    weights, b = np.empty((n, k)), np.empty((n, k, d))
    B = np.zeros((k, d, d) if shared else (n, k, d, d))
    for start in range(0, n, step):
        part = slice(start, min(start + step, n))
        if isinstance(rows, ProjectedRows):
            log_dens, g, lifted = projected_deconvolve_chunk(*rows.chunk(part), means, covariances)
            b[part] = means + np.einsum("kde,cke->ckd", covariances, g)
            VH = covariances @ np.swapaxes(lifted, -1, -2) @ lifted  # V R^T T^-1 R
            posterior = covariances - VH @ covariances
        else:
            log_dens, b[part], posterior = deconvolve_chunk(
                X[part], noise.rows(part), means, covariances
            )
        weights[part] = np.exp(normalize_log_weights(log_dens + log_priors)[1])
        if shared:
            B[:] = posterior[0]
        else:
            B[part] = posterior
    return weights, b, 0.5 * (B + np.swapaxes(B, -1, -2))


class NoisyQueries:
    """True values of noisy rows and regression on noisy inputs (a base of GMM)."""

    def true_value_posterior(
        self,
        X: ArrayLike,
        noise_covariances: ArrayLike | None = None,
        *,
        projection: ArrayLike | None = None,
    ) -> ConditionalGMM:
        """Posterior mixtures p(v_i | x_i) of the true values of measured rows.

        The rows are measurements x_i = R_i v_i + e_i, e_i ~ N(0, S_i), of
        true values v_i drawn from this (deconvolved) mixture; R_i = I
        without ``projection``. Per component the posterior is N(b_ij,
        B_ij) (Bovy, Hogg & Roweis 2011, eq. 16), weighted by the convolved
        responsibilities.

        Parameters
        ----------
        X : array-like, shape (n_samples, m)
            Measured rows (m = n_features without ``projection``). Without a
            projection, NaN entries are missing: row i then measures only
            its observed coordinates (the projection onto them), and its
            posterior fills in the others; a row with nothing observed gets
            the mixture itself.
        noise_covariances : array-like, optional
            S_i as in :meth:`from_samples`: (n, m, m), (n, m) variances or
            (m, m) / (1, m, m) shared; per-row entries of missing
            coordinates are ignored (they may be NaN). None: no noise (needs
            ``projection`` or missing entries; the observed values are then
            exact).
        projection : array-like, optional
            R_i, (n, m, d) or (m, d) / (1, m, d).

        Returns
        -------
        posterior : ConditionalGMM
            Row i is p(v_i | x_i): ``mean()`` the denoised rows E[v_i | x_i],
            ``covariance()`` their uncertainty, ``sample(s)`` posterior draws.
            Its covariances are (k, d, d) when every row has the same
            projection and noise and no missing entry, else (n, k, d, d).

        Raises
        ------
        ValueError
            If the model is not initialized, X or the noise or projection
            are invalid, none of noise, projection and missing entries is
            given, NaN entries come with a projection, or a Dask array is
            given.
        """
        priors, means, covariances = self.checked_parameters()
        rows = measured_rows(X, noise_covariances, projection, means.shape[1])
        weights, b, B = true_value_posteriors(rows, priors, means, covariances)
        return ConditionalGMM(
            weights,
            b,
            B,
            output_indices=np.arange(means.shape[1]),
            random_state=self.random_state,
            mixture_type=type(self),
        )

    def sample_true_values(
        self,
        X: ArrayLike,
        noise_covariances: ArrayLike | None = None,
        n_samples: int = 1,
        *,
        projection: ArrayLike | None = None,
    ) -> np.ndarray:
        """Draws of the true values of measured rows given their measurements.

        Parameters
        ----------
        X, noise_covariances, projection
            As for :meth:`true_value_posterior`.
        n_samples : int, default=1
            Draws per row.

        Returns
        -------
        V : ndarray, shape (n_rows, n_samples, n_features)
            Independent draws from p(v_i | x_i), using the model's
            ``random_state``.

        Raises
        ------
        ValueError
            As :meth:`true_value_posterior`, or for a negative n_samples.
        """
        return self.true_value_posterior(X, noise_covariances, projection=projection).sample(
            n_samples
        )

    def _noisy_input_prediction(
        self,
        in_idx: np.ndarray,
        out_idx: np.ndarray,
        X: Any,
        noise_covariances: Any,
        return_covariance: bool,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Mean (and covariance) of p(y | x_obs) (see :meth:`GMM.predict`)."""
        cond = self._noisy_input_conditional(in_idx, out_idx, X, noise_covariances)
        mean, cov = mixture_moments(
            cond.priors, cond.means, cond.covariances if return_covariance else None
        )
        return (mean, cov) if return_covariance else mean

    def _noisy_input_conditional(
        self, in_idx: np.ndarray, out_idx: np.ndarray, X: Any, noise_covariances: Any
    ) -> ConditionalGMM:
        """p(y | x_obs) for inputs measured with noise (see :meth:`GMM.condition_batch`)."""
        if is_dask_collection(X) or is_dask_collection(noise_covariances):
            raise ValueError(
                "noise_covariances is a Dask array but X is not: pass X as a Dask array "
                "chunked like it (predict), or both as numpy arrays (condition_batch takes "
                "numpy arrays only)"
            )
        priors, means, covariances = self.checked_parameters()
        X_in = check_conditioning_values(X, in_idx.size, "X").astype(np.float64, copy=False)
        noise = NoiseCovariances(*check_noise_covariances(noise_covariances, *X_in.shape))
        log_w, cond_means, cond_covs = noisy_input_conditionals(
            X_in, noise, priors, means, covariances, in_idx, out_idx
        )
        return ConditionalGMM(
            np.exp(log_w),
            cond_means,
            cond_covs,
            output_indices=out_idx,
            random_state=self.random_state,
            mixture_type=type(self),
        )


def measured_rows(
    X: Any, noise_covariances: Any, projection: Any, n_features: int
) -> ProjectedRows | tuple[np.ndarray, NoiseCovariances]:
    """Checked measured rows: ProjectedRows with a projection or NaN entries, else (X, noise).

    NaN entries of X (without a projection) are missing: the projection onto
    each row's observed coordinates; NaN noise of those coordinates is
    allowed (:func:`gaussmix._validation_noise.blank_missing_noise`), and
    without ``noise_covariances`` the observed entries are exact.

    Raises
    ------
    ValueError
        Naming ``X``, ``noise_covariances`` or ``projection``; for Dask
        arrays; when neither noise, a projection nor a missing entry is
        given.
    """
    if any(is_dask_collection(v) for v in (X, noise_covariances, projection)):
        raise ValueError(
            "noise_covariances with a Dask array is not supported here; pass numpy arrays"
        )
    if projection is None:
        X = np.atleast_2d(as_float_array(X, "X", ndim=(1, 2), allow_nan=True, dtype=np.float64))
        if X.shape[1] != n_features:
            raise ValueError(
                f"X must have {n_features} feature(s) per row; got shape {np.shape(X)}"
            )
        missing = np.isnan(X)
        if noise_covariances is None:
            if not missing.any():
                raise ValueError(
                    "noise_covariances is None and projection is None: without noise the "
                    "true values are the rows themselves; pass the rows' noise_covariances"
                )
            return ProjectedRows.from_missing(X, None)  # exact observed entries
        if not missing.any():
            return X, NoiseCovariances(*check_noise_covariances(noise_covariances, *X.shape))
        noise = blank_missing_noise(noise_covariances, missing)
        noise = NoiseCovariances(*check_noise_covariances(noise, *X.shape))
        return ProjectedRows.from_missing(X, noise)
    if np.ndim(X) == 1:
        X = np.asarray(X)[None]  # one measured row of m entries
    X = check_samples(X, dtype=np.float64)
    R = check_projection(projection, *X.shape)
    if R.shape[-1] != n_features:
        raise ValueError(
            f"projection maps from {R.shape[-1]} dimensions; the mixture has {n_features}"
        )
    noise = None
    if noise_covariances is not None:
        noise = NoiseCovariances(*check_noise_covariances(noise_covariances, *X.shape))
    return ProjectedRows.from_projection(X, noise, R)
