"""Gaussian mixture models (gmr-compatible ``GMM``) and their initializers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import _gaussian, _missing, fitting
from ._ellipses import ellipse_axes, plot_error_ellipses
from ._linalg import safe_cholesky, symmetrize
from ._noisy_queries import NoisyQueries
from ._scores import MixtureScores
from ._validation import (
    CachedParameters,
    as_float_array,
    check_alpha,
    check_conditioning_values,
    check_float,
    check_indices,
    check_int,
    check_mixture,
    check_n_components,
    check_n_samples,
    check_points,
    check_samples,
    components_of_given_parameters,
    is_dask_collection,
    split_indices,
)
from .conditional import ConditionalGMM, warn_if_uncorrelated
from .em.driver import ConvergenceWarning
from .em.families import oas_shrinkage
from .fitting import (
    covariance_initialization,
    fit_mixture,
    from_responsibilities,
    kmeansplusplus_initialization,
)
from .io import Persistent
from .kernels.threads import resolve_n_jobs
from .mvn import MVN
from .utils import check_random_state

__all__ = [
    "GMM",
    "ConditionalGMM",
    "ConvergenceWarning",
    "covariance_initialization",
    "kmeansplusplus_initialization",
    "plot_error_ellipses",
]


class GMM(CachedParameters, Persistent, MixtureScores, NoisyQueries):
    """Gaussian mixture model.

    sum_j priors[j] * N(x | means[j], covariances[j]), with the methods of
    gmr's ``GMM`` (fit by EM, sample, densities, conditioning, regression)
    plus scikit-learn's EM options, scores and information criteria.

    Parameters
    ----------
    n_components : int
        Number of Gaussians.
    priors : array-like, shape (n_components,), optional
        Mixture weights (non-negative, summing to one).
    means : array-like, shape (n_components, n_features), optional
    covariances : array-like, shape (n_components, n_features, n_features), optional
        Parameters given here are the starting point of :meth:`from_samples`.
    verbose : int, default=0
        With 1 or more, EM prints one line per iteration.
    random_state : None, int, RandomState or Generator, optional
        Source of randomness for initialization and sampling.

    Attributes
    ----------
    converged_ : bool
        Whether the last :meth:`from_samples` met its convergence criterion.
    n_iter_ : int
        EM iterations run by the best initialization.
    lower_bound_ : float
        Mean log-likelihood of the training data at the last E-step.
    covariance_type_ : str
        Covariance structure imposed by the last fit ("full" before a fit).

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix import GMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-2, 0.5, (200, 2)), rng.normal(2, 0.5, (200, 2))])
    >>> gmm = GMM(n_components=2, random_state=0).from_samples(X)
    >>> gmm.predict([0], [[2.0]]).round(1)
    array([[2.]])
    """

    _PARAMETERS = ("priors", "means", "covariances", "n_components")
    _model_name = "GMM"

    def __init__(
        self,
        n_components: int,
        priors: ArrayLike | None = None,
        means: ArrayLike | None = None,
        covariances: ArrayLike | None = None,
        verbose: int = 0,
        random_state: Any = None,
    ) -> None:
        self.n_components = check_n_components(n_components)
        self.priors = None if priors is None else as_float_array(priors, "priors")
        self.means = None if means is None else as_float_array(means, "means")
        self.covariances = (
            None if covariances is None else as_float_array(covariances, "covariances")
        )
        self.n_components = components_of_given_parameters(
            self.n_components, self.priors, self.means, self.covariances
        )
        self.verbose = verbose
        self.random_state = check_random_state(random_state)
        self.covariance_type_ = "full"

    def __repr__(self) -> str:
        d = "?" if self.means is None else np.shape(self.means)[-1]
        return f"GMM(n_components={self.n_components}, n_features={d})"

    # ------------------------------------------------------------------
    def checked_parameters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The mixture's (priors, means, covariances), validated, as float64 arrays.

        Checked once per change of the parameters (cached). Raises
        ``ValueError`` when the mixture is not initialized or its parameters
        are invalid.
        """
        missing = [
            name for name in ("priors", "means", "covariances") if getattr(self, name) is None
        ]
        if missing:
            raise ValueError(
                f"GMM is not initialized: {', '.join(missing)} not set; call "
                "from_samples(X) or pass priors, means and covariances"
            )
        self.n_components = components_of_given_parameters(
            self.n_components, self.priors, self.means, self.covariances
        )
        return self._derived(
            "params",
            lambda: check_mixture(self.priors, self.means, self.covariances, self.n_components),
        )

    def _conditioner(self, in_idx: np.ndarray, out_idx: np.ndarray) -> _gaussian.Conditioner:
        """The components conditioned on ``in_idx``, factorized once per parameter change."""
        _, means, covs = self.checked_parameters()
        key = ("conditioner", in_idx.tobytes(), out_idx.tobytes())
        return self._derived(key, lambda: _gaussian.make_conditioner(means, covs, in_idx, out_idx))

    def _params_chol(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        priors, means, covs = self.checked_parameters()
        return priors, means, self._derived("chol", lambda: safe_cholesky(covs))

    @property
    def n_features(self) -> int:
        """Dimension of the modelled space."""
        return self.checked_parameters()[1].shape[1]

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def from_samples(
        self,
        X: ArrayLike,
        R_diff: float = 1e-4,
        n_iter: int = 100,
        init_params: str = "random",
        oracle_approximating_shrinkage: bool = False,
        *,
        covariance_type: str = "full",
        n_init: int = 1,
        reg_covar: float = 1e-6,
        tol: float | str | None = "auto",
        sample_weight: ArrayLike | None = None,
        dtype: Any = None,
        chunk_size: int | None = None,
        allow_missing: bool = False,
        n_jobs: int | None = None,
        callback: Callable[[int, float, float, float], Any] | None = None,
        persist: bool | None = None,
        noise_covariances: ArrayLike | None = None,
        projection: ArrayLike | None = None,
    ) -> GMM:
        """Fit the mixture to data with expectation maximization.

        Priors, means and covariances already set on this object (by the
        constructor or a previous fit) are the starting point; the missing
        ones are initialized with ``init_params``.

        Parameters
        ----------
        X : array-like or dask.array.Array, shape (n_samples, n_features)
            Training data (float32 data is not copied: it is converted chunk
            by chunk; a memory-mapped array, ``np.load(path, mmap_mode="r")``,
            is read chunk by chunk in place). A Dask array (chunked along
            rows) is fitted on its chunks where they live, on the active
            ``dask.distributed`` Client's cluster or Dask's default
            scheduler (:class:`gaussmix.em.dask_source.DaskSource`): the same E-step
            per chunk, the statistics added in a tree reduction, the M-step
            here; the initializations then see at most
            :data:`gaussmix.dask.INIT_SAMPLE_ROWS` rows drawn at random (all
            rows when there are fewer, giving the fit in memory exactly).
        R_diff : float, default=1e-4
            gmr's convergence criterion: stop when the Frobenius norm of the
            change of the responsibility matrix between two E-steps is below
            it. Used only with ``tol="auto"`` (the default); 0 or None: no
            criterion.
        n_iter : int, default=100
            Maximum number of EM iterations. 0 initializes only, as in gmr:
            the starting parameters (given or drawn with ``init_params``) are
            stored without an EM step (``n_iter_ = 0``, ``converged_ =
            False``, ``lower_bound_ = -inf``, no warning).
        init_params : {"random", "kmeans++"}, default="random"
            "random": means drawn from the data rows, identity covariances;
            "kmeans++": k-means++ means and :func:`covariance_initialization`.
        oracle_approximating_shrinkage : bool, default=False
            Shrink every covariance with OAS after each M-step.
        covariance_type : str, default="full"
            Structure imposed in the M-step: scikit-learn's "full", "diag",
            "spherical", "tied", or any of mclust's 14 codes (EII ... VVV,
            see :mod:`gaussmix.covariance`); ``covariances`` stays a
            (k, d, d) array.
        n_init : int, default=1
            Number of initializations; the one with the highest final mean
            log-likelihood is kept. The first starts from parameters already
            set, if any.
        reg_covar : float, default=1e-6
            Added to the diagonal of every covariance in the M-step.
        tol : float, "auto" or None, default="auto"
            Convergence rule, with one meaning throughout gaussmix
            (:func:`gaussmix.em.convergence_rule`): a float is scikit-learn's
            criterion (stop after the iteration whose mean log-likelihood
            changed by less than ``tol``; ``R_diff`` is ignored); "auto" is
            gmr's rule with ``R_diff``; None runs exactly ``n_iter``
            iterations.
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights; integer weights give the same fit as
            repeated rows.
        dtype : {None, numpy.float64, numpy.float32}, optional
            Precision of the E-step's products. Default float64 whatever
            the input. float32: full and VVV-like covariances run the
            compiled float32 kernel (products in float32, sums, softmax and
            log-likelihood in float64; statistics to about 1e-6 relative),
            the other structures the float64 kernel, which is faster than
            float32 products in numpy; without the kernel, numpy's products
            in float32.
        chunk_size : int, optional
            Rows per chunk (default: about 4 MiB of features, 4096 to 8192 rows).
        allow_missing : bool, default=False
            Accept NaN entries in X and fit with the EM for incomplete data
            of Ghahramani & Jordan (1994): each row contributes the
            likelihood of its observed entries and the conditional
            expectations of its missing ones (rows grouped by missing
            pattern). Rows with nothing observed are ignored. Every
            covariance type is supported; ``dtype`` and ``chunk_size`` do
            not apply.
        n_jobs : int or None, default=None
            Threads that share the row chunks of every iteration (None: all
            cores; -1 likewise, -2 all but one). Needs ``threadpoolctl``
            (installed with scikit-learn) to keep BLAS single-threaded inside
            each thread; without it EM runs in one thread. The result does
            not depend on n_jobs beyond the order of floating-point sums.
        callback : callable, optional
            ``callback(iteration, mean_log_likelihood, change, elapsed)``
            after every E-step of every run (iteration counts from 1 in each
            of the ``n_init`` runs; ``change`` is inf at the first;
            ``elapsed`` is the run's seconds so far). A true return value
            stops the fit after that iteration's M-step and skips the
            remaining runs; the best run so far is kept (``converged_`` is
            False unless that run had converged) and no ConvergenceWarning
            is issued.
        persist : bool or None, default=None
            Dask arrays only: keep the chunks in memory between iterations
            (True) or recompute them from their source every iteration
            (False, so that data larger than memory stream). None: keep them
            on a distributed cluster whose free worker memory holds the data
            at most half full, stream otherwise and with Dask's local
            schedulers; ``verbose`` says which.
        noise_covariances : array-like, optional
            Known Gaussian noise of each row: X holds noisy measurements
            x_i = v_i + e_i, e_i ~ N(0, S_i), of true values v_i drawn from
            the mixture. Shape (n, d, d) one covariance per row, (n, d)
            per-row variances (diagonal noise), or (d, d) / (1, d, d) one
            covariance for all rows (a 2-D array with n == d is ambiguous
            and refused). EM is then extreme deconvolution (Bovy, Hogg &
            Roweis 2011, :mod:`gaussmix.em.noisy`): the fitted mixture is
            the deconvolved, noise-free one, ``lower_bound_`` the mean
            log-likelihood of the convolved mixture (see
            :meth:`score_samples`), and ``reg_covar`` is added to the
            deconvolved covariances V_j (in the units of X squared). With
            ``allow_missing`` NaN entries are the projection onto each
            row's observed coordinates (the noise of the missing ones is
            ignored and may be NaN). A Dask X takes S as a Dask array chunked like its
            rows (or in memory); float64 memory-mapped X and S are read in
            place. Computed in float64 whatever ``dtype`` (float32 X and S
            are accepted and converted).
        projection : array-like, optional
            Bovy, Hogg & Roweis's R_i: X holds y_i = R_i v_i + e_i, m entries
            per row, of true values v_i of d dimensions drawn from the
            mixture. Shape (n, m, d) one map per row, or (m, d) / (1, m, d)
            one for all rows; the fitted mixture has d features.
            ``noise_covariances`` (optional: zero noise without) are then
            (n, m, m), (n, m) or (m, m); every R_i V_j R_i^T + S_i must be
            positive definite. The starts see the minimum-norm solutions
            R_i^+ y_i. Not with NaN entries.

        Returns
        -------
        self : GMM

        Raises
        ------
        ValueError
            For non-finite or non-2-D X, n_components > n_samples, unknown
            ``init_params`` or ``covariance_type``, bad weights or options;
            ``noise_covariances`` of the wrong shape, with NaN or infinite
            entries, not symmetric or not positive semi-definite;
            ``projection`` of the wrong shape or not finite.

        Warns
        -----
        ConvergenceWarning
            When a convergence criterion is active and n_iter is reached.
        """
        return fit_mixture(
            self,
            X,
            R_diff=R_diff,
            n_iter=n_iter,
            init_params=init_params,
            oracle_approximating_shrinkage=oracle_approximating_shrinkage,
            covariance_type=covariance_type,
            n_init=n_init,
            reg_covar=reg_covar,
            tol=tol,
            sample_weight=sample_weight,
            dtype=dtype,
            chunk_size=chunk_size,
            allow_missing=allow_missing,
            n_jobs=n_jobs,
            callback=callback,
            persist=persist,
            noise_covariances=noise_covariances,
            projection=projection,
        )

    from_responsibilities = classmethod(from_responsibilities)
    partial_fit = fitting.partial_fit_mixture
    from_stream = fitting.stream_fit_mixture

    def apply_oracle_approximating_shrinkage(self, n_samples_eff: float | ArrayLike) -> GMM:
        """Shrink every covariance with Oracle Approximating Shrinkage.

        Chen et al., "Shrinkage Algorithms for MMSE Covariance Estimation",
        IEEE Trans. Signal Process. 58(10), 2010.

        Parameters
        ----------
        n_samples_eff : float or array-like, shape (n_components,)
            Effective number of samples behind each covariance, e.g.
            sum(r)^2 / sum(r^2) for responsibilities r.

        Returns
        -------
        self : GMM
        """
        _, _, covs = self.checked_parameters()
        n_eff = as_float_array(n_samples_eff, "n_samples_eff", ndim=(0, 1), dtype=np.float64)
        n_eff = np.broadcast_to(n_eff, (self.n_components,)) if n_eff.ndim == 0 else n_eff
        if n_eff.shape != (self.n_components,) or (n_eff <= 0).any():
            raise ValueError(
                f"n_samples_eff must be a positive number or {self.n_components} positive numbers"
            )
        self.covariances = oas_shrinkage(covs, n_eff)
        return self

    # ------------------------------------------------------------------
    # Densities and scores
    # ------------------------------------------------------------------
    def to_probability_density(self, X: ArrayLike) -> np.ndarray:
        """Mixture density p(x) at each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
            A single point is treated as one sample.

        Returns
        -------
        p : ndarray, shape (n_samples,)
            exp(:meth:`score_samples`); underflows to 0 far from every
            component.

        Raises
        ------
        ValueError
            If the model is not initialized or X has the wrong number of
            features or non-finite entries.
        """
        return np.exp(self.score_samples(X))

    # ------------------------------------------------------------------
    # Sampling and confidence regions
    # ------------------------------------------------------------------
    def sample(self, n_samples: int) -> np.ndarray:
        """Draw samples from the mixture.

        Each sample picks a component with probability ``priors`` and is
        drawn from that Gaussian, using ``random_state``. With a
        ``RandomState`` (an int seed, a RandomState or None) the random
        stream is consumed as gmr 2.0.3 does and the same seed gives gmr's
        samples: the labels from ``choice(k, n, p=priors)``, then each
        component's samples (in increasing component order, grouped as gmr
        returns them) from ``multivariate_normal``. With a ``Generator`` the
        samples come in draw order from the Cholesky factors (faster).

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
            If the model is not initialized or n_samples is negative.
        TypeError
            If n_samples is not an integer.
        """
        priors, means, covs = self.checked_parameters()
        n = check_n_samples(n_samples, means.shape[1])
        labels = _gaussian.draw_components(self.random_state, priors, n)
        standard = self.random_state.standard_normal((n, means.shape[1]))
        if _gaussian.is_legacy_generator(self.random_state):
            factors = self._derived("sampling_factors", lambda: _gaussian.sampling_factors(covs))
        else:
            factors = self._params_chol()[2]
        return _gaussian.sample_components(self.random_state, means, factors, labels, standard)

    def sample_confidence_region(self, n_samples: int, alpha: float) -> np.ndarray:
        """Samples from the ``alpha`` confidence regions of the components.

        Each sample picks a component by its prior (drawn as in
        :meth:`sample`) and is then drawn exactly from that Gaussian
        restricted to its alpha region (see
        :meth:`MVN.sample_confidence_region`). gmr rejects Gaussian samples
        one at a time instead (with the wrong degrees of freedom), so here
        the same seed gives other numbers than gmr, by design.

        Parameters
        ----------
        n_samples : int
            Number of samples (>= 0).
        alpha : float in [0, 1]
            Probability mass of each component's region.

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)

        Raises
        ------
        ValueError
            If the model is not initialized, n_samples is negative or alpha
            is not in [0, 1] (0: every sample is its mean; 1: no restriction).
        """
        priors, means, chol = self._params_chol()
        n = check_n_samples(n_samples, means.shape[1])
        alpha = check_alpha(alpha)
        labels = _gaussian.draw_components(self.random_state, priors, n)
        return _gaussian.confidence_region_samples(self.random_state, means, chol, labels, alpha)

    def is_in_confidence_region(self, x: ArrayLike, alpha: float) -> bool | np.ndarray:
        """Whether x lies in the alpha region of its closest component.

        The closest component is the one with the smallest Mahalanobis
        distance; the threshold is chi2.ppf(alpha, d) with d the dimension.

        Parameters
        ----------
        x : array-like, shape (n_features,) or (n_points, n_features)
        alpha : float in [0, 1]

        Returns
        -------
        inside : bool or ndarray of bool, shape (n_points,)
        """
        _, means, chol = self._params_chol()
        alpha = check_alpha(alpha)
        points, single = check_points(x, means.shape[1])
        dist2 = _gaussian.squared_mahalanobis(points, means, chol).min(axis=1)
        from scipy.stats import chi2  # here, not at import: scipy.stats takes ~0.4 s

        inside = dist2 <= chi2.ppf(alpha, means.shape[1])
        return bool(inside[0]) if single else inside

    # ------------------------------------------------------------------
    # Marginals, conditionals, regression
    # ------------------------------------------------------------------
    def marginalize(self, indices: ArrayLike) -> GMM:
        """Marginal mixture of the dimensions in ``indices``.

        Parameters
        ----------
        indices : array-like of int
            Dimensions to keep.

        Returns
        -------
        marginal : GMM
            Same priors; means and covariances restricted to ``indices``.
        """
        priors, means, covs = self.checked_parameters()
        idx = check_indices(indices, means.shape[1])
        if idx.size == 0:
            raise ValueError("indices must name at least one dimension to keep")
        return GMM(
            self.n_components,
            priors=priors.copy(),
            means=means[:, idx],
            covariances=covs[:, idx][:, :, idx],
            verbose=self.verbose,
            random_state=self.random_state,
        )

    def condition(self, indices: ArrayLike, x: ArrayLike) -> GMM:
        """Conditional mixture p(others | given = x).

        Parameters
        ----------
        indices : array-like of int, shape (n_given,)
            Dimensions whose values are known.
        x : float or array-like, shape (n_given,) or (1, n_given)
            Their values.

        Returns
        -------
        conditional : GMM
            Over the remaining dimensions (increasing order); priors are the
            original ones reweighted by each component's marginal likelihood
            of x, means and covariances the components' conditionals.
        """
        priors, means, _covs = self.checked_parameters()
        in_idx, out_idx = split_indices(indices, means.shape[1])
        X_in = check_conditioning_values(x, in_idx.size)
        if X_in.shape[0] != 1:
            raise ValueError(
                f"x must be a single point for condition(); got {X_in.shape[0]} rows "
                "(use predict(indices, X) for many)"
            )
        cond = self._conditioner(in_idx, out_idx)
        log_w, _ = _gaussian.conditional_log_weights(X_in, priors, cond)
        return GMM(
            self.n_components,
            priors=np.exp(log_w[0]),
            means=_gaussian.conditional_means(X_in, cond)[0],
            covariances=cond.cond_cov.copy(),
            verbose=self.verbose,
            random_state=self.random_state,
        )

    def predict(
        self,
        indices: ArrayLike,
        X: ArrayLike,
        return_covariance: bool = False,
        *,
        noise_covariances: ArrayLike | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Conditional means E[others | given = x] for many inputs (GMR).

        Parameters
        ----------
        indices : array-like of int, shape (n_features_in,)
            Dimensions whose values are known.
        X : array-like, shape (n_samples, n_features_in)
            Their values, one row per query.
        return_covariance : bool, default=False
            Also return the covariance of each conditional mixture (law of
            total covariance: the weighted component covariances plus the
            spread of the component means).
        noise_covariances : array-like, optional
            The inputs are noisy measurements of x with these covariances
            S_i over the input dimensions ((n, d_in, d_in), (n, d_in)
            variances or (d_in, d_in) shared): each component's input
            covariance becomes Sigma_xx + S_i (see :meth:`condition_batch`).
            With a Dask X, per-row noise may be a Dask array too.

        Returns
        -------
        Y : ndarray, shape (n_samples, n_features_out)
            Means of the conditional mixtures, outputs in increasing index
            order.
        covariances : ndarray, shape (n_samples, n_features_out, n_features_out)
            Only with ``return_covariance=True``.

        For a Dask array X (2-D, chunked along rows), both are lazy Dask
        arrays chunked like X's rows, computed in the same tasks.
        """
        priors, means, _covs = self.checked_parameters()
        in_idx, out_idx = split_indices(indices, means.shape[1])
        warn_if_uncorrelated(getattr(self, "covariance_type_", "full"))
        if is_dask_collection(X):
            from .dask import lazy_predict

            return lazy_predict(
                self, in_idx, out_idx.size, X, bool(return_covariance), noise_covariances
            )
        if noise_covariances is not None:
            return self._noisy_input_prediction(
                in_idx, out_idx, X, noise_covariances, bool(return_covariance)
            )
        X_in = check_conditioning_values(X, in_idx.size, "X")
        cond = self._conditioner(in_idx, out_idx)
        mean, cov = _gaussian.predict_conditional(
            X_in,
            priors,
            cond,
            return_covariance=bool(return_covariance),
            n_jobs=resolve_n_jobs(None),
        )
        return (mean, cov) if return_covariance else mean

    def condition_batch(
        self, indices: ArrayLike, X: ArrayLike, *, noise_covariances: ArrayLike | None = None
    ) -> ConditionalGMM:
        """Conditional mixtures p(others | given = x_i) of many inputs at once.

        The batched form of :meth:`condition`: instead of one GMM per query,
        one object holding all of them as arrays, from which the mean,
        covariance, samples, densities and modes of every p(y | x_i) are
        computed without Python loops over rows or components.

        Parameters
        ----------
        indices : array-like of int, shape (n_features_in,)
            Dimensions whose values are known.
        X : array-like, shape (n_queries, n_features_in)
            Their values, one row per query (a single point may be 1-D).
        noise_covariances : array-like, optional
            The values are noisy measurements x_obs = x + e, e ~ N(0, S_i),
            with S_i over the input dimensions: (n, d_in, d_in), (n, d_in)
            variances or (d_in, d_in) / (1, d_in, d_in) shared. Each
            component then conditions on x_obs with its input covariance
            Sigma_xx + S_i: weights pi_j N(x_obs | mu_x, Sigma_xx + S_i),
            means mu_y + Sigma_yx (Sigma_xx + S_i)^-1 (x_obs - mu_x),
            covariances Sigma_yy - Sigma_yx (Sigma_xx + S_i)^-1 Sigma_xy
            (regression on the deconvolved mixture of
            ``from_samples(noise_covariances=...)``).

        Returns
        -------
        conditional : ConditionalGMM
            With ``priors`` (n_queries, k), ``means`` (n_queries, k, d_out)
            and ``covariances`` (k, d_out, d_out), or (n_queries, k, d_out,
            d_out) with per-row ``noise_covariances``.

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix import GMM
        >>> gmm = GMM(2, priors=[0.5, 0.5], means=[[0, -1], [0, 1]],
        ...           covariances=[np.eye(2) * 0.1] * 2, random_state=0)
        >>> cond = gmm.condition_batch([0], [[0.0], [0.1]])
        >>> cond.priors.shape, cond.means.shape, cond.covariances.shape
        ((2, 2), (2, 2, 1), (2, 1, 1))
        >>> [m.ravel().round(3).tolist() for m in cond.modes()]
        [[-1.0, 1.0], [-1.0, 1.0]]
        """
        priors, means, _covs = self.checked_parameters()
        in_idx, out_idx = split_indices(indices, means.shape[1])
        if noise_covariances is not None:
            return self._noisy_input_conditional(in_idx, out_idx, X, noise_covariances)
        X_in = check_conditioning_values(X, in_idx.size, "X")
        cond = self._conditioner(in_idx, out_idx)
        log_w, _ = _gaussian.conditional_log_weights(X_in, priors, cond)
        return ConditionalGMM(
            np.exp(log_w),
            _gaussian.conditional_means(X_in, cond),
            cond.cond_cov.copy(),
            output_indices=out_idx,
            random_state=self.random_state,
            mixture_type=type(self),
        )

    def impute(self, X: ArrayLike) -> np.ndarray:
        """Fill missing entries with their conditional means.

        Each NaN is replaced by E[x_missing | x_observed] of its row under
        the mixture (the conditional mixture's mean, computed for all rows
        sharing a missing pattern at once). Observed entries are returned
        unchanged; a row with nothing observed gets the mixture's mean.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Data with NaN marking missing entries.

        Returns
        -------
        X_filled : ndarray, shape (n_samples, n_features)
            A new array; X is not modified. For a Dask array X, a lazy Dask
            array chunked like X.
        """
        if is_dask_collection(X):
            from .dask import map_rows

            return map_rows(self.impute, X, self.n_features, self.n_features)
        priors, means, covs = self.checked_parameters()
        X = check_samples(
            X, n_features=means.shape[1], allow_nan=True, dtype=np.float64, min_samples=0
        )
        return _missing.impute(X, priors, means, covs)

    # ------------------------------------------------------------------
    # Summaries
    # ------------------------------------------------------------------
    def to_ellipses(self, factor: float = 1.0) -> list:
        """Error ellipses of all components of a 2-D mixture.

        Parameters
        ----------
        factor : float, default=1.0
            Multiple of the standard deviations (>= 0).

        Returns
        -------
        ellipses : list of (mean, (angle, width, height))
            One per component: ``mean`` is an ndarray of shape (2,),
            ``angle`` the rotation (radians) of the major axis from the first
            axis, in gmr's convention (see :meth:`MVN.to_ellipse`), ``width``
            and ``height`` the semi-axes (largest first).

        Raises
        ------
        ValueError
            If the model is not initialized, is not 2-D, or factor is
            negative.
        """
        _priors, means, covs = self.checked_parameters()
        if means.shape[1] != 2:
            raise ValueError(
                f"to_ellipses needs a 2-D GMM; this one has {means.shape[1]} dimensions"
            )
        factor = check_float(factor, "factor", minimum=0.0)
        angles, widths, heights = ellipse_axes(covs, factor)
        return [
            (means[j], (float(angles[j]), float(widths[j]), float(heights[j])))
            for j in range(means.shape[0])
        ]

    def to_mvn(self) -> MVN:
        """Single Gaussian with the mixture's mean and covariance (moment matching).

        Returns
        -------
        mvn : MVN
            Mean sum_j priors[j] means[j]; covariance the law of total
            covariance (weighted component covariances plus the spread of the
            means). It shares this model's ``verbose`` and ``random_state``.

        Raises
        ------
        ValueError
            If the model is not initialized.
        """
        priors, means, covs = self.checked_parameters()
        mean = priors @ means
        dev = means - mean
        cov = np.einsum("k,kij->ij", priors, covs) + (dev * priors[:, None]).T @ dev
        return MVN(
            mean=mean,
            covariance=symmetrize(cov),
            verbose=self.verbose,
            random_state=self.random_state,
        )

    def extract_mvn(self, component_idx: int) -> MVN:
        """The ``component_idx``-th Gaussian of the mixture as an MVN.

        Parameters
        ----------
        component_idx : int
            Index of the component, in [0, n_components).

        Returns
        -------
        mvn : MVN
            With ``means[component_idx]`` and ``covariances[component_idx]``;
            it shares this model's ``verbose`` and ``random_state``.

        Raises
        ------
        ValueError
            If the model is not initialized or component_idx is not in
            [0, n_components).
        TypeError
            If component_idx is not an integer.
        """
        _, means, covs = self.checked_parameters()
        idx = check_int(component_idx, "component_idx")
        if not 0 <= idx < self.n_components:
            raise ValueError(
                f"component_idx must be in [0, {self.n_components}); got {component_idx}"
            )
        # Views of the user's arrays (as gmr gives), copies of converted ones.
        mean, covariance = means[idx], covs[idx]
        return MVN(
            mean=mean if mean.flags.writeable else mean.copy(),
            covariance=covariance if covariance.flags.writeable else covariance.copy(),
            verbose=self.verbose,
            random_state=self.random_state,
        )
