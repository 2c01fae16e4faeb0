"""A single multivariate normal distribution (gmr-compatible ``MVN``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _gaussian
from ._ellipses import ellipse_axes, plot_error_ellipse
from ._linalg import safe_cholesky, symmetrize
from ._validation import (
    CachedParameters,
    as_float_array,
    check_alpha,
    check_conditioning_values,
    check_float,
    check_indices,
    check_int,
    check_mean_covariance,
    check_n_samples,
    check_output_input_indices,
    check_points,
    check_samples,
    check_square_covariance,
    split_indices,
)
from .io import Persistent
from .utils import check_random_state

__all__ = ["MVN", "condition", "invert_indices", "plot_error_ellipse", "regression_coefficients"]


def invert_indices(n_features: int, indices: ArrayLike) -> np.ndarray:
    """Indices of the features not in ``indices`` (gmr helper), sorted.

    Parameters
    ----------
    n_features : int
        Total number of features.
    indices : array-like of int
        Indices to leave out.

    Returns
    -------
    remaining : ndarray of int
    """
    idx = check_indices(indices, check_int(n_features, "n_features", minimum=0))
    mask = np.ones(n_features, dtype=bool)
    mask[idx] = False
    return np.flatnonzero(mask)


class MVN(CachedParameters, Persistent):
    """Multivariate normal distribution N(mean, covariance).

    A thin object that holds a mean and a covariance and answers questions
    about them: densities, samples, confidence regions, marginals,
    conditionals and the unscented transform. Parameters may be assigned at
    any time (``mvn.mean = ...``); nothing derived from them is cached.

    Parameters
    ----------
    mean : array-like, shape (n_features,), optional
        Mean of the distribution.
    covariance : array-like, shape (n_features, n_features), optional
        Covariance matrix (symmetric positive semi-definite). A singular
        covariance is regularized as described in :mod:`gaussmix._linalg`.
    verbose : int, default=0
        Verbosity level.
    random_state : None, int, RandomState or Generator, optional
        Source of randomness for sampling; see
        :func:`gaussmix.utils.check_random_state`.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import MVN
    >>> mvn = MVN(mean=[0.0, 1.0], covariance=[[1.0, 0.5], [0.5, 2.0]], random_state=0)
    >>> mvn.condition([0], [1.0]).mean
    array([1.5])
    """

    _PARAMETERS = ("mean", "covariance")
    _model_name = "MVN"

    def __init__(
        self,
        mean: ArrayLike | None = None,
        covariance: ArrayLike | None = None,
        verbose: int = 0,
        random_state: Any = None,
    ) -> None:
        self.mean = None if mean is None else as_float_array(mean, "mean")
        self.covariance = None if covariance is None else as_float_array(covariance, "covariance")
        self.verbose = verbose
        self.random_state = check_random_state(random_state)

    def __repr__(self) -> str:
        d = "?" if self.mean is None else np.asarray(self.mean).reshape(-1).shape[0]
        return f"MVN(n_features={d})"

    # ------------------------------------------------------------------
    def checked_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """The Gaussian's (mean, covariance), validated, as float64 arrays.

        Checked once per change of the parameters (cached). Raises
        ``ValueError`` when either is not set or they are invalid.
        """
        if self.mean is None:
            raise ValueError("Mean has not been initialized; set mean or call from_samples(X)")
        if self.covariance is None:
            raise ValueError(
                "Covariance has not been initialized; set covariance or call from_samples(X)"
            )
        return self._derived("params", lambda: check_mean_covariance(self.mean, self.covariance))

    def _conditioner(self, in_idx: np.ndarray, out_idx: np.ndarray) -> _gaussian.Conditioner:
        """This Gaussian conditioned on ``in_idx``, factorized once per parameter change."""
        mean, cov = self.checked_parameters()
        key = ("conditioner", in_idx.tobytes(), out_idx.tobytes())
        return self._derived(
            key, lambda: _gaussian.make_conditioner(mean[None], cov[None], in_idx, out_idx)
        )

    def _chol(self, covariance: np.ndarray) -> np.ndarray:
        return self._derived("chol", lambda: safe_cholesky(covariance[None]))

    @property
    def n_features(self) -> int:
        """Dimension of the distribution."""
        return self.checked_parameters()[0].shape[0]

    # ------------------------------------------------------------------
    def from_samples(self, X: ArrayLike, bessels_correction: bool = True) -> MVN:
        """Maximum-likelihood (or unbiased) estimate of mean and covariance.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Samples.
        bessels_correction : bool, default=True
            Divide the scatter by n - 1 instead of n.

        Returns
        -------
        self : MVN

        Raises
        ------
        ValueError
            If X is not a finite 2-D array, or has a single row while
            ``bessels_correction`` is True.
        """
        X = check_samples(X, min_samples=2 if bessels_correction else 1, dtype=np.float64)
        self.mean = X.mean(axis=0)
        centred = X - self.mean
        dof = X.shape[0] - (1 if bessels_correction else 0)
        self.covariance = symmetrize(centred.T @ centred / dof)
        return self

    def sample(self, n_samples: int) -> np.ndarray:
        """Draw samples.

        With a ``RandomState`` (an int seed, a RandomState or None) the draw
        is ``random_state.multivariate_normal(mean, covariance, n_samples)``'s,
        as in gmr: the same seed gives gmr's samples. With a ``Generator`` the
        standard normal draws are mapped by the Cholesky factor (faster).

        Parameters
        ----------
        n_samples : int
            Number of samples (>= 0).

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)

        Raises
        ------
        ValueError
            If the MVN is not initialized or n_samples is negative.
        """
        mean, cov = self.checked_parameters()
        n = check_n_samples(n_samples, mean.shape[0])
        z = self.random_state.standard_normal((n, mean.shape[0]))
        if _gaussian.is_legacy_generator(self.random_state):
            factor = self._derived(
                "sampling_factor", lambda: _gaussian.sampling_factors(cov[None])
            )[0]
            return z @ factor.T + mean
        return mean + z @ self._chol(cov)[0].T

    def sample_confidence_region(self, n_samples: int, alpha: float) -> np.ndarray:
        """Draw samples from the ``alpha`` confidence region, exactly.

        The region is {x : (x - mean)^T Sigma^-1 (x - mean) <= chi2.ppf(alpha, d)},
        which holds probability ``alpha``. Samples follow the Gaussian
        restricted to it: a uniform direction times a radius whose square is
        chi2(d) truncated to [0, chi2.ppf(alpha, d)]. gmr rejects Gaussian
        samples one at a time instead (with d - 1 degrees of freedom), so the
        same seed gives other numbers than gmr here, by design.

        Parameters
        ----------
        n_samples : int
        alpha : float in [0, 1]
            Probability mass of the region, e.g. 0.6827 for 1 sigma in 1-D
            (0: every sample is the mean; 1: plain Gaussian samples).

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        """
        mean, cov = self.checked_parameters()
        n = check_n_samples(n_samples, mean.shape[0])
        alpha = check_alpha(alpha)
        labels = np.zeros(n, dtype=np.intp)
        return _gaussian.confidence_region_samples(
            self.random_state, mean[None], self._chol(cov), labels, alpha
        )

    def is_in_confidence_region(self, x: ArrayLike, alpha: float) -> bool | np.ndarray:
        """Whether x lies in the ``alpha`` confidence region.

        Uses chi2 with d degrees of freedom for the squared Mahalanobis
        distance (in 1-D this is the interval mean +- z * standard deviation).

        Parameters
        ----------
        x : array-like, shape (n_features,) or (n_points, n_features)
        alpha : float in [0, 1]

        Returns
        -------
        inside : bool, or ndarray of bool with shape (n_points,)
        """
        mean, _ = self.checked_parameters()
        alpha = check_alpha(alpha)
        dist2 = self.squared_mahalanobis_distance(x)
        from scipy.stats import chi2  # here, not at import: scipy.stats takes ~0.4 s

        inside = np.asarray(dist2) <= chi2.ppf(alpha, mean.shape[0])
        return bool(inside) if inside.ndim == 0 else inside

    def to_norm_factor_and_exponents(self, X: ArrayLike) -> tuple[float, np.ndarray]:
        """Normalization factor and exponents: density = factor * exp(exponent).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)

        Returns
        -------
        norm_factor : float
            ``(2 pi)^(-d/2) |Sigma|^(-1/2)``.
        exponents : ndarray, shape (n_samples,)
            -1/2 squared Mahalanobis distances.
        """
        mean, cov = self.checked_parameters()
        X, _ = check_points(X, mean.shape[0], "X")
        chol = self._chol(cov)
        exponents = -0.5 * _gaussian.squared_mahalanobis(X, mean[None], chol)[:, 0]
        return float(np.exp(_gaussian.log_normalizers(chol)[0])), exponents

    def to_log_probability_density(self, X: ArrayLike) -> np.ndarray:
        """Log density at each row of X.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
            A single point is treated as one sample.

        Returns
        -------
        log_p : ndarray, shape (n_samples,)

        Raises
        ------
        ValueError
            If mean or covariance is not set, or X has the wrong number of
            features or non-finite entries.
        """
        mean, cov = self.checked_parameters()
        X, _ = check_points(X, mean.shape[0], "X")
        return _gaussian.component_log_densities(X, mean[None], self._chol(cov))[:, 0]

    def to_probability_density(self, X: ArrayLike) -> np.ndarray:
        """Density at each row of X.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        p : ndarray, shape (n_samples,)
        """
        return np.exp(self.to_log_probability_density(X))

    def marginalize(self, indices: ArrayLike) -> MVN:
        """Marginal distribution of the dimensions in ``indices``.

        Parameters
        ----------
        indices : array-like of int
            Dimensions to keep, in the order wanted.

        Returns
        -------
        marginal : MVN
        """
        mean, cov = self.checked_parameters()
        idx = check_indices(indices, mean.shape[0])
        if idx.size == 0:
            raise ValueError("indices must name at least one dimension to keep")
        return MVN(
            mean=mean[idx],
            covariance=cov[np.ix_(idx, idx)],
            verbose=self.verbose,
            random_state=self.random_state,
        )

    def condition(self, indices: ArrayLike, x: ArrayLike) -> MVN:
        """Conditional distribution of the other dimensions given x at ``indices``.

        Parameters
        ----------
        indices : array-like of int, shape (n_given,)
            Dimensions whose values are known.
        x : float or array-like, shape (n_given,) or (1, n_given)
            Their values.

        Returns
        -------
        conditional : MVN
            p(others | given = x), over the remaining dimensions in increasing
            order.
        """
        mean, _cov = self.checked_parameters()
        in_idx, out_idx = split_indices(indices, mean.shape[0])
        X_in = check_conditioning_values(x, in_idx.size)
        if X_in.shape[0] != 1:
            raise ValueError(
                f"x must be a single point for condition(); got {X_in.shape[0]} rows "
                "(use predict(indices, X) for many)"
            )
        cond = self._conditioner(in_idx, out_idx)
        cond_mean = _gaussian.conditional_means(X_in, cond)[0, 0]
        return MVN(
            mean=cond_mean,
            covariance=cond.cond_cov[0].copy(),
            verbose=self.verbose,
            random_state=self.random_state,
        )

    def predict(self, indices: ArrayLike, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Conditional means and covariance for many inputs.

        Parameters
        ----------
        indices : array-like of int, shape (n_features_in,)
            Dimensions whose values are known.
        X : array-like, shape (n_samples, n_features_in)
            Their values, one row per query.

        Returns
        -------
        Y : ndarray, shape (n_samples, n_features_out)
            Conditional means.
        covariance : ndarray, shape (n_features_out, n_features_out)
            Conditional covariance (the same for every query).
        """
        mean, _cov = self.checked_parameters()
        in_idx, out_idx = split_indices(indices, mean.shape[0])
        X_in = check_conditioning_values(X, in_idx.size, "X")
        cond = self._conditioner(in_idx, out_idx)
        return _gaussian.conditional_means(X_in, cond)[:, 0, :], cond.cond_cov[0].copy()

    def squared_mahalanobis_distance(self, x: ArrayLike) -> float | np.ndarray:
        """Squared Mahalanobis distance (x - mean)^T Sigma^-1 (x - mean).

        Parameters
        ----------
        x : array-like, shape (n_features,) or (n_points, n_features)

        Returns
        -------
        d2 : float, or ndarray with shape (n_points,)
        """
        mean, cov = self.checked_parameters()
        points, single = check_points(x, mean.shape[0])
        dist2 = _gaussian.squared_mahalanobis(points, mean[None], self._chol(cov))[:, 0]
        return float(dist2[0]) if single else dist2

    def to_ellipse(self, factor: float = 1.0) -> tuple[float, float, float]:
        """Error ellipse of a 2-D Gaussian.

        Parameters
        ----------
        factor : float, default=1.0
            Multiple of the standard deviations.

        Returns
        -------
        angle : float
            Rotation (radians, in [-pi, pi]) of the major axis from the first
            axis. The axis has two directions; the angle is gmr's, that of the
            direction ``scipy.linalg.eigh`` gives the major eigenvector (e.g.
            -pi, not 0, for diag(5, 0.5)), see
            :func:`gaussmix._ellipses.ellipse_axes`.
        width : float
            Semi-axis along the major axis (largest).
        height : float
            Semi-axis along the minor axis.
        """
        mean, cov = self.checked_parameters()
        if mean.shape[0] != 2:
            raise ValueError(
                f"to_ellipse needs a 2-D MVN; this one has {mean.shape[0]} dimensions"
            )
        factor = check_float(factor, "factor", minimum=0.0)
        angles, widths, heights = ellipse_axes(cov[None], factor)
        return float(angles[0]), float(widths[0]), float(heights[0])

    def sigma_points(self, alpha: float = 1e-3, kappa: float = 0.0) -> np.ndarray:
        """Sigma points of the unscented transform.

        Parameters
        ----------
        alpha : float, default=1e-3
            Spread of the points around the mean.
        kappa : float, default=0.0
            Secondary scaling parameter.

        Returns
        -------
        points : ndarray, shape (2 * n_features + 1, n_features)
            The mean, then mean + the columns of sqrt((d + lambda) Sigma),
            then mean - those columns, lambda = alpha^2 (d + kappa) - d.
        """
        mean, cov = self.checked_parameters()
        alpha, kappa = _check_unscented(alpha, kappa, mean.shape[0])
        return _gaussian.gaussian_sigma_points(mean, cov, alpha, kappa)

    def estimate_from_sigma_points(
        self,
        transformed_sigma_points: ArrayLike,
        alpha: float = 1e-3,
        beta: float = 2.0,
        kappa: float = 0.0,
        random_state: Any = None,
    ) -> MVN:
        """Gaussian fitted to transformed sigma points (unscented transform).

        Parameters
        ----------
        transformed_sigma_points : array-like, shape (2 * n_features + 1, n_out)
            f applied to each of :meth:`sigma_points`.
        alpha, beta, kappa : float
            Must match those used for :meth:`sigma_points`; beta=2 is optimal
            for Gaussians.
        random_state : optional
            Random state of the result (defaults to this MVN's).

        Returns
        -------
        mvn : MVN
            The estimate of the distribution of f(x).
        """
        mean, _ = self.checked_parameters()
        d = mean.shape[0]
        points = as_float_array(transformed_sigma_points, "transformed_sigma_points", ndim=2)
        if points.shape[0] != 2 * d + 1:
            raise ValueError(
                f"transformed_sigma_points must have 2 * {d} + 1 = {2 * d + 1} rows; "
                f"got {points.shape[0]}"
            )
        alpha, kappa = _check_unscented(alpha, kappa, d)
        beta = check_float(beta, "beta")
        mean_w, cov_w = _gaussian.unscented_weights(d, alpha, beta, kappa)
        new_mean = mean_w @ points
        dev = points - new_mean
        new_cov = symmetrize((dev * cov_w[:, None]).T @ dev)
        rng = self.random_state if random_state is None else random_state
        return MVN(mean=new_mean, covariance=new_cov, verbose=self.verbose, random_state=rng)


def _check_unscented(alpha: Any, kappa: Any, d: int) -> tuple[float, float]:
    alpha = check_float(alpha, "alpha", minimum=0.0, min_inclusive=False)
    kappa = check_float(kappa, "kappa")
    if d + kappa <= 0:
        raise ValueError(
            f"kappa={kappa} gives a degenerate unscented transform for d={d}: the spread "
            f"alpha^2 (d + kappa) must be positive, so use kappa > {-d}"
        )
    with np.errstate(over="ignore", under="ignore"):
        spread = float(np.float64(alpha) ** 2 * (d + kappa))
    if not 1e-150 <= spread <= 1e150:
        # The weights are 1 / (2 spread) and the offsets sqrt(spread * Sigma):
        # outside this range they overflow or vanish.
        raise ValueError(
            f"alpha={alpha!r} and kappa={kappa!r} give the sigma-point spread "
            f"alpha^2 (d + kappa) = {spread:.3g} for d={d}; it must lie in [1e-150, 1e150] "
            "(typical alpha: 1e-3 to 1)"
        )
    return alpha, kappa


def regression_coefficients(
    covariance: ArrayLike,
    i_out: ArrayLike,
    i_in: ArrayLike,
    cov_12: ArrayLike | None = None,
) -> np.ndarray:
    """Regression coefficients Sigma_oi Sigma_ii^-1 of a Gaussian (gmr's function).

    Parameters
    ----------
    covariance : array-like, shape (d, d)
    i_out : array-like of int, shape (d_out,)
        Output dimensions.
    i_in : array-like of int, shape (d_in,)
        Input dimensions.
    cov_12 : array-like, shape (d_out, d_in), optional
        The block Sigma_oi, if already extracted (gmr compatibility).

    Returns
    -------
    coefficients : ndarray, shape (d_out, d_in)
        E[x_out | x_in] = mean_out + coefficients @ (x_in - mean_in).
    """
    cov = check_square_covariance(covariance)
    d = cov.shape[0]
    out_idx, in_idx = check_output_input_indices(i_out, i_in, d)
    mean = np.zeros(d)
    coef = _gaussian.make_conditioner(mean[None], cov[None], in_idx, out_idx).coef[0]
    if cov_12 is not None:
        cov_oi = as_float_array(cov_12, "cov_12", ndim=2, dtype=np.float64)
        if cov_oi.shape != (out_idx.size, in_idx.size):
            raise ValueError(
                f"cov_12 must have shape (len(i_out), len(i_in)) = "
                f"({out_idx.size}, {in_idx.size}); got {cov_oi.shape}"
            )
        chol = safe_cholesky(cov[np.ix_(in_idx, in_idx)][None])[0]
        coef = np.linalg.solve(chol.T, np.linalg.solve(chol, cov_oi.T)).T
    return coef


def condition(
    mean: ArrayLike, covariance: ArrayLike, i_out: ArrayLike, i_in: ArrayLike, X: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional means and covariance of a Gaussian (gmr's function).

    Parameters
    ----------
    mean : array-like, shape (d,)
    covariance : array-like, shape (d, d)
    i_out, i_in : array-like of int
        Output and input dimensions.
    X : array-like, shape (n, d_in) or (d_in,)
        Input values.

    Returns
    -------
    means : ndarray, shape (n, d_out)
    covariance : ndarray, shape (d_out, d_out)
    """
    mean, cov = check_mean_covariance(mean, covariance)
    d = mean.shape[0]
    out_idx, in_idx = check_output_input_indices(i_out, i_in, d)
    X_in = check_conditioning_values(X, in_idx.size, "X", "i_in")
    cond = _gaussian.make_conditioner(mean[None], cov[None], in_idx, out_idx)
    return _gaussian.conditional_means(X_in, cond)[:, 0, :], cond.cond_cov[0]
