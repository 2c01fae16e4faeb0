"""Gaussian mixture models (gmr-compatible ``GMM``) and their initializers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from . import _gaussian, _missing
from . import covariance as structures
from ._ellipses import ellipse_axes, plot_error_ellipses
from ._linalg import safe_cholesky, symmetrize
from ._validation import (
    INIT_PARAMS,
    CachedParameters,
    any_entry,
    as_float_array,
    check_alpha,
    check_choice,
    check_conditioning_values,
    check_float,
    check_indices,
    check_int,
    check_mixture,
    check_n_components,
    check_n_samples,
    check_points,
    check_priors,
    check_sample_weight,
    check_samples,
    check_spread,
    check_start_distance,
    coinciding_components,
    components_of_given_parameters,
    is_dask_collection,
    scale_sample_weight,
    split_indices,
)
from .em import driver, init
from .em.driver import ConvergenceWarning, convergence_rule
from .em.families import MaximumLikelihood, oas_shrinkage
from .em.sources import ArraySource, MissingValuesSource
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


def kmeansplusplus_initialization(
    X: ArrayLike, n_components: int, random_state: Any = None
) -> np.ndarray:
    """k-means++ initialization of the means of a GMM.

    The first center is a uniformly drawn sample; every next center is drawn
    with probability proportional to the squared distance to the **closest**
    center chosen so far (Arthur & Vassilvitskii, 2007).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Data.
    n_components : int
        Number of centers, 1 <= n_components <= n_samples.
    random_state : None, int, RandomState or Generator, optional

    Returns
    -------
    initial_means : ndarray, shape (n_components, n_features)

    Raises
    ------
    ValueError
        If n_components is not in [1, n_samples] or X is not finite 2-D.
    """
    X = check_samples(X, dtype=np.float64)
    k = check_n_components(n_components, X.shape[0])
    rng = check_random_state(random_state)
    return X[init.kmeans_plus_plus(X, k, rng)].copy()


def covariance_initialization(X: ArrayLike, n_components: int) -> np.ndarray:
    """Diagonal initial covariances from the spread of the data.

    The standard deviation along each dimension is the average absolute
    difference between all pairs of samples in that dimension divided by
    n_components (computed in O(n log n), not from the n^2 pairs).

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    n_components : int

    Returns
    -------
    initial_covariances : ndarray, shape (n_components, n_features, n_features)

    Raises
    ------
    ValueError
        If X is not finite 2-D, n_components is not a positive integer, or X
        spans a range whose squares overflow float64 (the rule of
        :meth:`GMM.from_samples`, see ``check_spread``).
    """
    X = check_samples(X, dtype=np.float64)
    k = check_n_components(n_components)
    check_spread(X)
    std = init.mean_pairwise_abs_difference(X) / k
    return np.broadcast_to(np.diag(std**2), (k, X.shape[1], X.shape[1])).copy()


class GMM(CachedParameters, Persistent):
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
    def _params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        _, means, covs = self._params()
        key = ("conditioner", in_idx.tobytes(), out_idx.tobytes())
        return self._derived(key, lambda: _gaussian.make_conditioner(means, covs, in_idx, out_idx))

    def _params_chol(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        priors, means, covs = self._params()
        return priors, means, self._derived("chol", lambda: safe_cholesky(covs))

    @property
    def n_features(self) -> int:
        """Dimension of the modelled space."""
        return self._params()[1].shape[1]

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
            scheduler (:class:`gaussmix.dask.DaskSource`): the same E-step
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
        covariance_type : {"full", "diag", "spherical", "tied"}, default="full"
            Structure imposed in the M-step (scikit-learn's definitions);
            ``covariances`` stays a (k, d, d) array.
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
            Precision of the E-step and M-step matrix products. Default
            float64 whatever the input; float32 roughly doubles the speed at
            about 1e-6 relative accuracy of the statistics (they are still
            accumulated in float64).
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

        Returns
        -------
        self : GMM

        Raises
        ------
        ValueError
            For non-finite or non-2-D X, n_components > n_samples, unknown
            ``init_params`` or ``covariance_type``, bad weights or options.

        Warns
        -----
        ConvergenceWarning
            When a convergence criterion is active and n_iter is reached.
        """
        init_params = check_choice(init_params, "init_params", INIT_PARAMS)
        covariance_type = structures.canonical(covariance_type)
        compute_dtype = _check_compute_dtype(dtype)
        source = None
        if is_dask_collection(X):
            # EM over the chunks where they live (gaussmix.dask imports dask, so only
            # here); the checks below then see the initialization sample, in memory.
            from .dask import DaskSource

            source = DaskSource(
                X,
                sample_weight,
                covariance_type,
                n_components=self.n_components,
                allow_missing=allow_missing,
                dtype=compute_dtype,
                chunk_rows=chunk_size,
                persist=persist,
                random_state=self.random_state,
                verbose=self.verbose,
            )
            X, sample_weight = source.initialization_data(), source.initialization_weights
        X = check_samples(X, allow_nan=True)
        missing = any_entry(np.isnan, X)
        if missing and not allow_missing:
            raise ValueError(
                "X contains NaN (missing values); pass allow_missing=True to fit with "
                "the EM for incomplete data, or remove or impute them first"
            )
        n, d = X.shape
        check_n_components(self.n_components, n)
        check_spread(X)
        n_iter = check_int(n_iter, "n_iter", minimum=0)
        n_init = check_int(n_init, "n_init", minimum=1)
        reg_covar = check_float(reg_covar, "reg_covar", minimum=0.0)
        rule = convergence_rule(tol, R_diff)
        if callback is not None and not callable(callback):
            raise TypeError(
                f"callback must be callable(iteration, mean_log_likelihood, change, "
                f"elapsed) or None; got {type(callback).__name__}"
            )
        weights = scale_sample_weight(check_sample_weight(sample_weight, n))
        if chunk_size is not None:
            chunk_size = check_int(chunk_size, "chunk_size", minimum=1)
        if n_jobs is not None:
            n_jobs = check_int(n_jobs, "n_jobs")
            if n_jobs == 0:
                raise ValueError("n_jobs must be a positive number of threads, -1 or None; got 0")
        start = self._starting_point(d)
        if missing:
            usable = int((~np.isnan(X)).any(axis=1).sum())
            if usable == 0:
                raise ValueError(
                    "X has no row with an observed value (every entry is NaN); nothing to fit"
                )
            check_n_components(self.n_components, usable)
            source = MissingValuesSource(
                X, weights, covariance_type, chunk_rows=chunk_size, n_jobs=resolve_n_jobs(n_jobs)
            )
        elif source is None:
            source = ArraySource(
                X,
                weights,
                covariance_type,
                dtype=compute_dtype,
                chunk_rows=chunk_size,
                n_jobs=resolve_n_jobs(n_jobs),
            )
        check_start_distance(start[1], source.shift)
        family = MaximumLikelihood(
            covariance_type, reg_covar, oas=bool(oracle_approximating_shrinkage)
        )
        X_init = source.initialization_data()

        def initialize(run: int):
            return family.start(
                *self._initial_parameters(
                    X_init, weights, init_params, start if run == 0 else None
                )
            )

        if n_iter == 0:
            return self._initialized_only(family.mixture(initialize(0)), covariance_type)
        best = driver.fit(
            source,
            family,
            initialize,
            n_init=n_init,
            n_iter=n_iter,
            rule=rule,
            callback=callback,
            verbose=self.verbose,
        )
        fitted = family.mixture(best.state)
        self.priors, self.means, self.covariances = fitted
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.covariance_type_ = covariance_type
        _warn_if_coinciding(fitted.means, fitted.covariances)
        return self

    def _initialized_only(self, start, covariance_type: str) -> GMM:
        """Store the starting parameters of an ``n_iter=0`` fit (gmr's initialization only)."""
        self.priors, self.means, self.covariances = start
        self.converged_ = False
        self.n_iter_ = 0
        self.lower_bound_ = -np.inf
        self.covariance_type_ = covariance_type
        return self

    def _starting_point(self, d: int) -> tuple:
        """Parameters already set on the object, validated against d and k."""
        k = self.n_components
        priors = means = covs = None
        if self.priors is not None:
            priors = as_float_array(self.priors, "priors", ndim=1, dtype=np.float64)
            check_priors(priors, k)
        if self.means is not None:
            means = as_float_array(self.means, "means", ndim=2, dtype=np.float64)
            if means.shape != (k, d):
                raise ValueError(
                    f"means must have shape ({k}, {d}) to match n_components and X; "
                    f"got {means.shape}"
                )
        if self.covariances is not None:
            covs = as_float_array(self.covariances, "covariances", ndim=3, dtype=np.float64)
            if covs.shape != (k, d, d):
                raise ValueError(
                    f"covariances must have shape ({k}, {d}, {d}) to match n_components "
                    f"and X; got {covs.shape}"
                )
            covs = symmetrize(covs)
            check_mixture(np.full(k, 1.0 / k), np.zeros((k, d)), covs, k)
        return priors, means, covs

    def _initial_parameters(self, X, weights, init_params, start) -> tuple:
        k, d = self.n_components, X.shape[1]
        priors, means, covs = start if start is not None else (None, None, None)
        if priors is None:
            priors = np.full(k, 1.0 / k)
        if means is None:
            if init_params == "random":
                means = init.random_initial_means(X, k, self.random_state, weights)
            else:
                means = X[init.kmeans_plus_plus(X, k, self.random_state, weights)].astype(
                    np.float64
                )
        if covs is None:
            if init_params == "random":
                covs = np.broadcast_to(np.eye(d), (k, d, d)).copy()
            else:
                std = init.data_spread(init.subsample_rows(X, self.random_state)) / k
                covs = np.broadcast_to(np.diag(std**2), (k, d, d)).copy()
        return priors, means, covs

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
        _, _, covs = self._params()
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
    def _log_density_and_resp(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        priors, means, chol = self._params_chol()
        X, _ = check_points(X, means.shape[1], "X")
        return _gaussian.mixture_log_density(X, priors, means, chol)

    def to_responsibilities(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        R : ndarray, shape (n_samples, n_components)
            Rows sum to one; computed in log space, so far outliers get
            finite values. For a Dask array X, a lazy Dask array chunked
            like X's rows.
        """
        if is_dask_collection(X):
            from .dask import map_rows

            return map_rows(self.to_responsibilities, X, self.n_features, self.n_components)
        return np.exp(self._log_density_and_resp(X)[1])

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

    def score_samples(self, X: ArrayLike) -> np.ndarray:
        """Log density log p(x) of each sample, computed in log space.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
            A single point is treated as one sample.

        Returns
        -------
        log_p : ndarray, shape (n_samples,)
            For a Dask array X (2-D), a lazy Dask array chunked like its rows
            (as are :meth:`to_probability_density`'s).

        Raises
        ------
        ValueError
            If the model is not initialized or X has the wrong number of
            features or non-finite entries (for a Dask array: when computed).
        """
        if is_dask_collection(X):
            from .dask import map_rows

            return map_rows(self.score_samples, X, self.n_features, None)
        priors, means, chol = self._params_chol()
        X, _ = check_points(X, means.shape[1], "X")
        # Row blocks: the densities' (rows, k, d) intermediates stay ~16 MB however
        # long X is (a memory-mapped X is read block by block).
        rows = max(1024, (1 << 21) // (means.shape[0] * means.shape[1]))
        return np.concatenate(
            [
                _gaussian.mixture_log_density(X[start : start + rows], priors, means, chol)[0]
                for start in range(0, max(1, X.shape[0]), rows)
            ]
        )

    def score(self, X: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Mean (optionally weighted) log-likelihood of the samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_features,)
        sample_weight : array-like, shape (n_samples,), optional
            Non-negative weights with a positive sum; None weighs all
            samples equally.

        Returns
        -------
        score : float
            The (weighted) average of :meth:`score_samples`.

        Raises
        ------
        ValueError
            If the model is not initialized, X is invalid, or the weights
            have the wrong length, negative entries or a zero sum.
        """
        log_p = self._scores_of_samples(X, "score")
        weights = check_sample_weight(sample_weight, log_p.shape[0])
        return float(np.average(log_p, weights=weights))

    def _n_parameters(self) -> int:
        k, d = self.n_components, self._params()[1].shape[1]
        return structures.get(self.covariance_type_).n_mixture_parameters(k, d)

    def bic(self, X: ArrayLike) -> float:
        """Bayesian information criterion, -2 log L + p log n (lower is better).

        p counts the free parameters of ``covariance_type_``: the
        covariance parameters, k * d means and k - 1 priors.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Data whose total log-likelihood L is used; n is its row count.

        Returns
        -------
        bic : float

        Raises
        ------
        ValueError
            If the model is not initialized or X is invalid.
        """
        log_p = self._scores_of_samples(X, "bic")
        return float(-2.0 * log_p.sum() + self._n_parameters() * np.log(log_p.shape[0]))

    def aic(self, X: ArrayLike) -> float:
        """Akaike information criterion, -2 log L + 2 p (lower is better).

        p counts the free parameters of ``covariance_type_`` (see :meth:`bic`).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Data whose total log-likelihood L is used.

        Returns
        -------
        aic : float

        Raises
        ------
        ValueError
            If the model is not initialized or X is invalid.
        """
        log_p = self._scores_of_samples(X, "aic")
        return float(-2.0 * log_p.sum() + 2.0 * self._n_parameters())

    def _scores_of_samples(self, X: ArrayLike, method: str) -> np.ndarray:
        # A summary of no samples is undefined (NaN mean, -inf BIC): refuse it.
        log_p = self.score_samples(X)
        if log_p.shape[0] == 0:
            raise ValueError(f"X has no samples; {method}() needs at least one row")
        return log_p

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
        priors, means, covs = self._params()
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
        priors, means, covs = self._params()
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
        priors, means, _covs = self._params()
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
        self, indices: ArrayLike, X: ArrayLike, return_covariance: bool = False
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
        priors, means, _covs = self._params()
        in_idx, out_idx = split_indices(indices, means.shape[1])
        _warn_if_uncorrelated(getattr(self, "covariance_type_", "full"))
        if is_dask_collection(X):
            from .dask import lazy_predict

            return lazy_predict(self, in_idx, out_idx.size, X, bool(return_covariance))
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

    def condition_batch(self, indices: ArrayLike, X: ArrayLike) -> ConditionalGMM:
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

        Returns
        -------
        conditional : ConditionalGMM
            With ``priors`` (n_queries, k), ``means`` (n_queries, k, d_out)
            and ``covariances`` (k, d_out, d_out).

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
        priors, means, _covs = self._params()
        in_idx, out_idx = split_indices(indices, means.shape[1])
        X_in = check_conditioning_values(X, in_idx.size, "X")
        cond = self._conditioner(in_idx, out_idx)
        log_w, _ = _gaussian.conditional_log_weights(X_in, priors, cond)
        return ConditionalGMM(
            np.exp(log_w),
            _gaussian.conditional_means(X_in, cond),
            cond.cond_cov.copy(),
            output_indices=out_idx,
            random_state=self.random_state,
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
        priors, means, covs = self._params()
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
        _priors, means, covs = self._params()
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
        priors, means, covs = self._params()
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
        _, means, covs = self._params()
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


class ConditionalGMM:
    """Many conditional mixtures p(y | x_i), one per query row, as arrays.

    Returned by :meth:`GMM.condition_batch`. Row i is the mixture
    sum_j priors[i, j] N(y | means[i, j], covariances[j]); the component
    covariances of a Gaussian conditional do not depend on x.

    Parameters
    ----------
    priors : ndarray, shape (n_queries, k)
        Posterior component weights given each query; rows sum to one.
    means : ndarray, shape (n_queries, k, d_out)
        Conditional means of every component for every query.
    covariances : ndarray, shape (k, d_out, d_out)
        Conditional covariances of the components.
    output_indices : ndarray of int, shape (d_out,)
        Dimensions of the joint model that y holds.
    random_state : None, int, RandomState or Generator, optional
    """

    def __init__(
        self,
        priors: np.ndarray,
        means: np.ndarray,
        covariances: np.ndarray,
        output_indices: np.ndarray | None = None,
        random_state: Any = None,
    ) -> None:
        self.priors = priors
        self.means = means
        self.covariances = covariances
        self.output_indices = output_indices
        self.random_state = check_random_state(random_state)

    def __len__(self) -> int:
        return self.priors.shape[0]

    def __repr__(self) -> str:
        n, k, d = self.means.shape
        return f"ConditionalGMM(n_queries={n}, n_components={k}, n_outputs={d})"

    def __getitem__(self, i: int) -> GMM:
        """The conditional mixture of query ``i`` as a :class:`GMM`.

        Parameters
        ----------
        i : int
            Query index; negative values count from the end.

        Returns
        -------
        gmm : GMM
            p(y | x_i) with priors (k,), means (k, d_out) and covariances
            (k, d_out, d_out); it shares this object's ``random_state``.

        Raises
        ------
        IndexError
            If i is not in [-n_queries, n_queries).
        TypeError
            If i is not an integer.
        """
        idx = check_int(i, "i")
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"query index {i} out of range for {n} queries")
        return GMM(
            self.priors.shape[1],
            priors=self.priors[idx],
            means=self.means[idx],
            covariances=self.covariances,
            random_state=self.random_state,
        )

    def mean(self) -> np.ndarray:
        """E[y | x_i] for every query.

        Returns
        -------
        mean : ndarray, shape (n_queries, d_out)
            The prior-weighted average of the component means.
        """
        return _gaussian.mixture_moments(self.priors, self.means, None)[0]

    def covariance(self) -> np.ndarray:
        """Cov[y | x_i] for every query (law of total covariance).

        Returns
        -------
        covariance : ndarray, shape (n_queries, d_out, d_out)
            The weighted component covariances plus the spread of the
            component means.
        """
        return _gaussian.mixture_moments(self.priors, self.means, self.covariances)[1]

    def sample(self, n_samples: int = 1) -> np.ndarray:
        """Draw ``n_samples`` from each conditional mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Samples per query (>= 0).

        Returns
        -------
        Y : ndarray, shape (n_queries, n_samples, d_out)

        Raises
        ------
        ValueError
            If n_samples is negative.
        TypeError
            If n_samples is not an integer.
        """
        n, k, d = self.means.shape
        s = check_n_samples(n_samples, n * d)
        # Inverse-CDF choice of a component per draw, vectorized over queries.
        cdf = np.cumsum(self.priors, axis=1)
        u = self.random_state.uniform(0.0, 1.0, size=(n, s)) * cdf[:, -1:]
        labels = np.minimum((u[:, :, None] > cdf[:, None, :]).sum(axis=2), k - 1)
        chol = safe_cholesky(self.covariances)
        z = self.random_state.standard_normal((n, s, d))
        out = np.take_along_axis(self.means, labels[:, :, None], axis=1)
        # Gathering one Cholesky factor per draw costs d^2 per draw: go through
        # the draws in chunks so that the gather stays small.
        flat_out, flat_labels, flat_z = out.reshape(-1, d), labels.reshape(-1), z.reshape(-1, d)
        for draws in _gaussian.row_chunks(flat_labels.size, d * d):
            flat_out[draws] += np.einsum("nij,nj->ni", chol[flat_labels[draws]], flat_z[draws])
        return out

    def score_samples(self, Y: ArrayLike) -> np.ndarray:
        """log p(y_i | x_i) of one output row per query.

        Parameters
        ----------
        Y : array-like, shape (n_queries, d_out)
            Row i is evaluated under the conditional mixture of query i.

        Returns
        -------
        log_p : ndarray, shape (n_queries,)

        Raises
        ------
        ValueError
            If Y is not a finite 2-D array with d_out columns and one row per
            query.
        """
        n, _k, d = self.means.shape
        Y = check_samples(Y, "Y", n_features=d, dtype=np.float64, min_samples=0)
        if Y.shape[0] != n:
            raise ValueError(f"Y must have one row per query ({n}); got {Y.shape[0]}")
        with np.errstate(divide="ignore"):
            log_w = np.log(self.priors)
        return _gaussian.conditional_mixture_log_density(
            Y, log_w, self.means, safe_cholesky(self.covariances)
        )

    def to_probability_density(self, Y: ArrayLike) -> np.ndarray:
        """p(y_i | x_i) of one output row per query.

        Parameters
        ----------
        Y : array-like, shape (n_queries, d_out)
            Row i is evaluated under the conditional mixture of query i.

        Returns
        -------
        p : ndarray, shape (n_queries,)
            exp(:meth:`score_samples`).

        Raises
        ------
        ValueError
            If Y is not a finite 2-D array with d_out columns and one row per
            query.
        """
        return np.exp(self.score_samples(Y))

    def modes(
        self,
        *,
        min_relative_density: float = 1e-3,
        return_density: bool = False,
        max_iter: int = 1000,
    ) -> list:
        """Local maxima of each p(y | x_i): the answers of a multimodal regression.

        Every query's mixture is climbed from each component mean with the
        fixed-point (mean-shift) iteration for Gaussian mixtures; starts
        that reach the same point are merged.

        Parameters
        ----------
        min_relative_density : float, default=1e-3
            Drop modes whose density is below this fraction of the query's
            highest mode (spurious bumps of negligible components).
        return_density : bool, default=False
            Also return the density at each mode.
        max_iter : int, default=1000
            Iterations of the fixed-point search (it converges linearly, slowly
            on flat peaks).

        Returns
        -------
        modes : list of ndarray, one (m_i, d_out) array per query
            Sorted by decreasing density.
        densities : list of ndarray, one (m_i,) array per query
            Only with ``return_density=True``.
        """
        rel = check_float(min_relative_density, "min_relative_density", minimum=0.0, maximum=1.0)
        max_iter = check_int(max_iter, "max_iter", minimum=1)
        n, k, d = self.means.shape
        if n == 0:
            return ([], []) if return_density else []
        all_modes = np.full((n, k, d), np.nan)
        all_logd = np.full((n, k), -np.inf)
        spread = np.sqrt(np.diagonal(self.covariances, axis1=1, axis2=2).min(axis=1).min())
        for rows in _gaussian.row_chunks(n, k * k * d * 4):
            points, log_d, _ = _gaussian.mixture_modes(
                self.priors[rows], self.means[rows], self.covariances, max_iter=max_iter
            )
            radius = np.full(points.shape[0], 1e-2 * max(spread, 1e-12))
            all_modes[rows], all_logd[rows] = _gaussian.merge_modes(points, log_d, radius)
        keep = all_logd >= all_logd[:, :1] + np.log(max(rel, 1e-300))
        counts = keep.sum(axis=1)
        modes = np.split(all_modes[keep], np.cumsum(counts)[:-1])
        if not return_density:
            return modes
        return modes, np.split(np.exp(all_logd[keep]), np.cumsum(counts)[:-1])


def _check_compute_dtype(dtype: Any) -> Any:
    if dtype is None:
        return np.float64
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(
            f"dtype must be None, numpy.float64 or numpy.float32; got {dtype!r}"
        ) from exc
    if resolved not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be None, numpy.float64 or numpy.float32; got {dtype!r}")
    return resolved.type


def _warn_if_coinciding(means: np.ndarray, covariances: np.ndarray) -> None:
    pairs = coinciding_components(means, covariances)
    if pairs:
        shown = ", ".join(f"{i} and {j}" for i, j in pairs[:5])
        warnings.warn(
            f"components {shown} coincide at the end of the fit (same mean and "
            "covariance): EM cannot separate identical components, so the fit has fewer "
            "distinct components than n_components. Try init_params='kmeans++', n_init > 1, "
            "other starting parameters, or scaling the data.",
            UserWarning,
            stacklevel=3,
        )


def _warn_if_uncorrelated(covariance_type: str) -> None:
    if not structures.get(covariance_type).quadratic:
        warnings.warn(
            f"this mixture was fitted with covariance_type={covariance_type!r}, which carries "
            "no correlation between inputs and outputs within a component: each component "
            "predicts a constant, and the regression only blends component means. Fit with "
            "covariance_type='full' (or 'tied') for regression.",
            UserWarning,
            stacklevel=3,
        )
