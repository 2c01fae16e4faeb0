"""scikit-learn's ``GaussianMixture`` on gaussmix's EM engine, and what it shares
with ``BayesianGaussianMixture`` (fitting, scoring, sampling, files).
"""

from __future__ import annotations

import time
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import (
    BaseEstimator,
    DensityMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import _gaussian
from .. import covariance as structures
from .._linalg import safe_cholesky
from .._validation import check_sample_weight, check_spread, is_dask_collection
from ..em import driver
from ..em.driver import ConvergenceRule, EMResult
from ..em.families import Gaussians, MaximumLikelihood, m_step
from ..em.front import SourceRequest, open_source
from ..em.online import StepwiseEM
from ..fitting import stream_chunk_rows
from ..gmm import GMM
from ..kernels.threads import resolve_n_jobs
from ._checks import (
    FLOAT_DTYPES,
    check_parameters_fit_float,
    check_positive_definite,
    check_symmetric,
    checked_means,
    checked_precisions,
    checked_weights,
    log_gaussians,
    n_rows,
    validate_data,
)
from ._start import CheckedMaximumLikelihood, initial_responsibility_statistics
from .files import EstimatorFileMixin
from .streams import StreamFitMixin


class BaseMixture(StreamFitMixin, EstimatorFileMixin, DensityMixin, BaseEstimator):
    """What GaussianMixture and BayesianGaussianMixture share: fitting and the methods."""

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        # Any registered structure's name or alias (checked against the registry
        # when fitting, so structures registered later are accepted too).
        "covariance_type": [str],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "learning_decay": [Interval(Real, 0.0, 1.0, closed="both")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "total_samples": [None, Interval(Real, 0.0, None, closed="neither")],
    }

    # -- to be provided by the estimators ---------------------------------
    def _prepare(self, X: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _family(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _initial_state(self, X, source, random_state, family):  # pragma: no cover
        raise NotImplementedError

    def _current_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, state, dtype) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    # -- fitting ------------------------------------------------------------
    #: Whether ``fit`` takes ``noise_covariances`` (maximum likelihood only).
    _deconvolves = False

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: ArrayLike, y: Any = None, *, noise_covariances: ArrayLike | None = None
    ) -> BaseMixture:
        """Estimate the model's parameters with EM (``n_init`` runs, the best kept).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored
        noise_covariances : array-like, optional
            :class:`GaussianMixture` only, a fit parameter (not scikit-learn's
            convention; in a Pipeline ``step__noise_covariances=S``): the
            rows' known noise, (n, d, d), (n, d) or (d, d). The fit is then
            extreme deconvolution (see :meth:`gaussmix.GMM.from_samples` and
            the guide on noisy measurements): the fitted parameters are the
            noise-free mixture, ``lower_bound_`` the convolved one's mean
            log-likelihood. With a Dask X, a Dask array chunked like its rows
            (or a shared numpy covariance).

        Returns
        -------
        self
        """
        self._fit(X, noise_covariances)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X: ArrayLike, y: Any = None) -> np.ndarray:
        """Fit, then return the most probable component of each row (after a final E-step).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        labels : ndarray, shape (n_samples,)
        """
        return self.predict(self._fit(X))

    def _check_noise_allowed(self, noise: Any) -> None:
        if noise is not None and not self._deconvolves:
            raise ValueError(
                "noise_covariances is supported by GaussianMixture (maximum likelihood) "
                f"only; got {type(self).__name__}"
            )

    def _fit(self, X: ArrayLike, noise_covariances: Any = None) -> Any:
        self._check_noise_allowed(noise_covariances)
        self._check_structure(structures.get(self.covariance_type))
        check_parameters_fit_float(self)
        random_state = check_random_state(self.random_state)
        if is_dask_collection(X):
            source, X = self._dask_source(X, random_state, noise_covariances)
        else:
            X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_min_samples=2)
            source = None
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        check_spread(X, stored=X.dtype)
        self._prepare(X)
        if source is not None and getattr(self, "mean_prior", 0) is None:
            # A Dask array: the default mean prior is the mean of all rows (the
            # source's shift), not of the initialization sample.
            self.mean_prior_ = source.shift.astype(X.dtype)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            self._check_warm_start(X.shape[1])
        n_init = self.n_init if do_init else 1
        if source is None:
            source = open_source(
                SourceRequest(
                    X,
                    None,
                    self.covariance_type,
                    n_components=self.n_components,
                    n_jobs=resolve_n_jobs(None),
                    validated=True,
                    noise_covariances=noise_covariances,
                    dtype=X.dtype,
                )
            )
        family = self._family()
        rule = ConvergenceRule(float(self.tol), None)
        bounds: list[list[float]] = []  # each run's lower bounds

        def started(run: int) -> None:
            self._verbose_init_start(run)
            bounds.append([])

        def ended(_run: int, result: EMResult) -> None:
            if self.max_iter > 0:
                self._verbose_init_end(result.lower_bound, result.converged)

        def initialize(_run: int) -> Any:
            if do_init:
                return self._initial_state(X, source, random_state, family)
            return self._current_state()

        best = driver.fit(
            source,
            family,
            initialize,
            n_init=n_init,
            n_iter=self.max_iter,
            rule=rule,
            callback=self._recorder(bounds),
            lower_bound=-np.inf if do_init else self.lower_bound_,
            warn=False,
            run_started=started,
            run_ended=ended,
        )
        converged_best = bool(best.converged) and self.max_iter > 0
        best_bound = best.lower_bound if self.max_iter > 0 else -np.inf
        self.converged_ = converged_best
        if not converged_best and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                SklearnConvergenceWarning,
                stacklevel=3,
            )
        self._set_state(best.state, X.dtype)
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best_bound
        self.lower_bounds_ = bounds[best.run]
        self._online = None  # a fit starts afresh: partial_fit continues from its result
        return getattr(source, "X", X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self,
        X: ArrayLike,
        y: Any = None,
        sample_weight: ArrayLike | None = None,
        *,
        noise_covariances: ArrayLike | None = None,
    ) -> BaseMixture:
        """Update the model with one batch of rows: one step of stepwise (online) EM.

        The running expected sufficient statistics are blended with the
        batch's, s_t = (1 - eta_t) s_{t-1} + eta_t s(batch), with the step
        size eta_t = (t + learning_offset) ** -learning_decay, and the M-step
        runs on them (maximum likelihood: Cappé & Moulines 2009, Liang &
        Klein 2009; the Bayesian mixture: stochastic variational inference,
        Hoffman et al. 2013, the batch scaled to ``total_samples`` or to the
        rows seen so far). See :class:`gaussmix.em.StepwiseEM`.

        The first call initializes the model from its batch with
        ``init_params`` (or ``weights_init``, ``means_init``,
        ``precisions_init``; one start, ``n_init`` is not used) and fixes
        the number of features; after :meth:`fit` (or when the fitted
        parameters were replaced) the next call continues from the fitted
        parameters with new running statistics. ``max_iter``, ``tol`` and
        ``n_init`` do not apply: each call is one step. Every fitted attribute
        is valid after each call; ``n_iter_`` counts the steps,
        ``lower_bound_`` is the running average of the objective (for
        maximum likelihood, of the batches' mean log-likelihoods, each under
        the parameters before its step), ``lower_bounds_`` its history and
        ``converged_`` is False.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            The batch; the first one needs at least ``n_components`` rows.
        y : ignored
        sample_weight : array-like, shape (n_samples,), optional
            Row weights (frequencies) in the step; the first batch's
            initialization does not use them.
        noise_covariances : array-like, optional
            :class:`GaussianMixture` only: the batch's known noise, as in
            :meth:`fit` (the step is one of extreme deconvolution).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For a first batch with fewer rows than ``n_components``, a later
            batch whose number of features differs, or bad weights.

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix.sklearn import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> gm = GaussianMixture(n_components=2, random_state=0)
        >>> for _ in range(20):
        ...     centres = rng.choice([-5.0, 5.0], size=(100, 1))
        ...     gm = gm.partial_fit(centres + rng.normal(size=(100, 2)))
        >>> np.round(np.sort(gm.means_[:, 0]))
        array([-5.,  5.])
        """
        self._partial_fit(X, sample_weight, noise_covariances)
        return self

    def _partial_fit(self, X: ArrayLike, sample_weight: Any, noise: Any = None) -> None:
        self._check_noise_allowed(noise)
        self._check_structure(structures.get(self.covariance_type))
        check_parameters_fit_float(self)
        first = not hasattr(self, "means_")
        X = validate_data(
            self, X, reset=first, dtype=FLOAT_DTYPES, ensure_min_samples=2 if first else 1
        )
        if first and X.shape[0] < self.n_components:
            raise ValueError(
                f"the first batch of partial_fit initializes the model and needs at least "
                f"n_components={self.n_components} rows; got n_samples={X.shape[0]}. Pass a "
                "larger first batch"
            )
        check_spread(X, stored=X.dtype)
        weights = check_sample_weight(sample_weight, X.shape[0])
        threads = resolve_n_jobs(None)
        source = open_source(
            SourceRequest(
                X,
                weights,
                self.covariance_type,
                n_components=self.n_components,
                chunk_rows=stream_chunk_rows(*X.shape, self.covariance_type, threads),
                n_jobs=threads,
                validated=True,
                noise_covariances=noise,
            )
        )
        online = getattr(self, "_online", None)
        if first:
            self._prepare(X)
            family = self._family()
            state = self._initial_state(X, source, check_random_state(self.random_state), family)
        else:
            k = self.means_.shape[0]
            fitted = structures.canonical(
                getattr(self, "_fitted_covariance_type", self.covariance_type)
            )
            if (k, fitted) != (self.n_components, structures.canonical(self.covariance_type)):
                raise ValueError(
                    f"partial_fit continues the fitted model (n_components={k}, "
                    f"covariance_type={fitted!r}), which does not match the current "
                    f"parameters (n_components={self.n_components}, covariance_type="
                    f"{self.covariance_type!r}); call fit, or partial_fit on a new "
                    "estimator, to change them"
                )
            family = self._family()
            state = self._current_state()
        if first or online is None or online[1] is not self.means_:
            # New running statistics (first batch, after fit, or parameters replaced).
            online = (StepwiseEM(source.shift), None)
            self.lower_bounds_ = []
        stepwise = online[0]
        stepwise.learning_decay = float(self.learning_decay)
        stepwise.learning_offset = float(self.learning_offset)
        stepwise.total_samples = self.total_samples
        state, bound = stepwise.step(family, source, state)
        self._set_state(state, X.dtype)
        # The running statistics belong to these parameters (compared by identity).
        self._online = (stepwise, self.means_)
        self.converged_ = False
        self.n_iter_ = stepwise.n_steps
        self.lower_bound_ = bound
        self.lower_bounds_.append(bound)

    def _check_structure(self, structure: structures.CovarianceStructure) -> None:
        """Refuse a covariance structure this estimator cannot fit (none, here)."""

    def _check_warm_start(self, n_features: int) -> None:
        """A warm start continues the previous fit, which must have the same structure."""
        k, d = self.means_.shape
        fitted = getattr(self, "_fitted_covariance_type", self.covariance_type)
        fitted = structures.canonical(fitted)
        now = (self.n_components, structures.canonical(self.covariance_type), n_features)
        if (k, fitted, d) != now:
            raise ValueError(
                f"warm_start=True continues the previous fit (n_components={k}, "
                f"covariance_type={fitted!r}, {d} features), which does not match the "
                f"current parameters and data (n_components={now[0]}, "
                f"covariance_type={now[1]!r}, {now[2]} features); fit with "
                "warm_start=False to start again"
            )

    def _dask_source(self, X: Any, random_state: Any, noise: Any = None) -> tuple[Any, np.ndarray]:
        """A Dask array's statistics source and its bounded initialization sample.

        scikit-learn's ``validate_data`` would compute X into memory: the
        checks run on the workers instead (in the source's first pass), and
        the initialization (``KMeans`` and the others) runs on the source's
        random sample of at most 100,000 rows (all rows when X has fewer).
        """
        from ..em.dask_source import check_rows

        X = check_rows(X)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"Found array with {n} sample(s); a minimum of 2 is required.")
        if n < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got "
                f"n_components = {self.n_components}, n_samples = {n}"
            )
        try:
            source = open_source(
                SourceRequest(
                    X,
                    None,
                    self.covariance_type,
                    n_components=self.n_components,
                    random_state=random_state,
                    noise_covariances=noise,
                )
            )
        except ValueError as exc:
            if "allow_missing" in str(exc):  # the estimators have no such option
                raise ValueError("Input X contains NaN.") from None
            raise
        sample = source.initialization_data()
        self.n_features_in_ = sample.shape[1]
        return source, sample

    def _recorder(self, bounds: list[list[float]]):
        """The driver's callback: each run's bounds (into its list) and verbose lines."""
        verbose, interval = self.verbose, self.verbose_interval
        last = [time.perf_counter()]

        def record(iteration: int, lower_bound: float, change: float, _elapsed: float) -> bool:
            bounds[-1].append(lower_bound)
            if verbose and iteration % interval == 0:
                if verbose == 1:
                    print(f"  Iteration {iteration}")
                else:
                    now = time.perf_counter()
                    print(
                        f"  Iteration {iteration}\t time lapse {now - last[0]:.5f}s\t "
                        f"ll change {change:.5f}"
                    )
                    last[0] = now
            return False

        return record

    def _verbose_init_start(self, init: int) -> None:
        if self.verbose:
            print(f"Initialization {init}")
            self._init_time = time.perf_counter()

    def _verbose_init_end(self, lower_bound: float, converged: bool) -> None:
        if not self.verbose:
            return
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        else:
            elapsed = time.perf_counter() - self._init_time
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )

    # -- the fitted model --------------------------------------------------
    def _log_resp(self, X: np.ndarray) -> np.ndarray:
        return log_gaussians(X, *self._components())[1]

    def score_samples(
        self, X: ArrayLike, *, noise_covariances: ArrayLike | None = None
    ) -> np.ndarray:
        """Log-likelihood of each sample under the fitted model.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        noise_covariances : array-like, optional
            The rows' known noise: the log-likelihood of the mixture
            convolved with it (:meth:`gaussmix.GMM.score_samples`).

        Returns
        -------
        log_prob : ndarray, shape (n_samples,)
        """
        check_is_fitted(self)
        if noise_covariances is not None:
            if not is_dask_collection(X):  # a Dask X: lazy, chunked like X
                X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
            log_prob = self.to_gmm().score_samples(X, noise_covariances=noise_covariances)
            return log_prob.astype(np.result_type(X.dtype, self.means_.dtype), copy=False)
        if is_dask_collection(X):
            return self._lazy(X, "score_samples", None, np.result_type(X.dtype, self.means_.dtype))
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return log_gaussians(X, *self._components())[0].astype(dtype, copy=False)

    def _lazy(self, X: Any, method: str, columns: int | None, dtype: Any) -> Any:
        """``method`` over a Dask array's row chunks, lazily (the estimator is copied)."""
        from ..dask import map_rows

        return map_rows(getattr(self, method), X, self.n_features_in_, columns, dtype)

    def score(
        self, X: ArrayLike, y: Any = None, *, noise_covariances: ArrayLike | None = None
    ) -> float:
        """Mean log-likelihood of the samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : ignored
        noise_covariances : array-like, optional
            As for :meth:`score_samples`.

        Returns
        -------
        log_likelihood : float
        """
        if is_dask_collection(X):
            lazy = self.score_samples(X, noise_covariances=noise_covariances)
            return float(lazy.mean().compute())
        return float(np.mean(self.score_samples(X, noise_covariances=noise_covariances)))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, shape (n_samples,)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return self._lazy(X, "predict", None, np.int64)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return self._log_resp(X).argmax(axis=1)

    def predict_proba(
        self, X: ArrayLike, *, noise_covariances: ArrayLike | None = None
    ) -> np.ndarray:
        """Posterior probability of each component for each sample (rows sum to one).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        noise_covariances : array-like, optional
            The rows' known noise: responsibilities under the convolved mixture.

        Returns
        -------
        resp : ndarray, shape (n_samples, n_components)
        """
        check_is_fitted(self)
        if noise_covariances is not None:
            if not is_dask_collection(X):  # a Dask X: lazy, chunked like X
                X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
            resp = self.to_gmm().to_responsibilities(X, noise_covariances=noise_covariances)
            return resp.astype(np.result_type(X.dtype, self.means_.dtype), copy=False)
        if is_dask_collection(X):
            dtype = np.result_type(X.dtype, self.means_.dtype)
            return self._lazy(X, "predict_proba", self.n_components, dtype)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        dtype = np.result_type(X.dtype, self.means_.dtype)
        return np.exp(self._log_resp(X)).astype(dtype, copy=False)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture, grouped by component.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        y : ndarray, shape (n_samples,)
            The component of each sample.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
                "least one sample."
            )
        if n_samples > np.iinfo(np.int64).max:
            raise ValueError(
                f"Invalid value for 'n_samples': an integer of {len(str(n_samples))} digits; "
                f"at most {np.iinfo(np.int64).max} samples can be counted."
            )
        rng = check_random_state(self.random_state)
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        labels = np.repeat(np.arange(weights.shape[0]), counts)
        d = self.means_.shape[1]
        covariances = structures.get(self.covariance_type).from_compact(
            self.covariances_, weights.shape[0], d
        )
        chol = safe_cholesky(covariances)
        standard = rng.standard_normal((n_samples, self.means_.shape[1]))
        X = _gaussian.sample_components(
            rng, np.asarray(self.means_, dtype=np.float64), chol, labels, standard
        )
        return X, labels

    def to_gmm(self) -> GMM:
        """The fitted mixture as a :class:`gaussmix.GMM` (conditioning, GMR, plots, files).

        Returns
        -------
        gmm : GMM
            Weights, means and full covariances of the fit (for the Bayesian
            mixture: the posterior-mean mixture), with ``covariance_type_``
            set so that :meth:`GMM.bic` counts the right parameters.
        """
        check_is_fitted(self)
        weights = np.asarray(self.weights_, dtype=np.float64)
        gmm = GMM(
            weights.shape[0],
            priors=weights / weights.sum(),
            means=np.asarray(self.means_, dtype=np.float64),
            covariances=structures.get(self.covariance_type).from_compact(
                self.covariances_, weights.shape[0], self.means_.shape[1]
            ),
            random_state=self.random_state,
        )
        gmm.covariance_type_ = structures.canonical(self.covariance_type)
        gmm.converged_ = bool(self.converged_)
        gmm.n_iter_ = int(self.n_iter_)
        return gmm


class GaussianMixture(BaseMixture):
    """Gaussian mixture fitted by EM: scikit-learn's ``GaussianMixture``, on gaussmix's engine.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, defaults, fitted attributes (in scikit-learn's shapes
    per covariance type), methods, errors and warnings, and from the same
    start the same parameters after the same iterations. The E-steps run
    through gaussmix's quadratic-feature E-step (compiled kernel, threads
    over row blocks), many times faster than scikit-learn's.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : str, default="full"
        scikit-learn's "full", "tied", "diag", "spherical", or any of
        mclust's 14 codes (EII, VII, EEI, VEI, EVI, VVI, EEE, VEE, EVE, VVE,
        EEV, VEV, EVV, VVV; :mod:`gaussmix.covariance`). For mclust's ten
        models beyond scikit-learn's four, ``covariances_``, ``precisions_``
        and ``precisions_cholesky_`` are full (n_components, n_features,
        n_features) arrays, as for "full".
    tol : float, default=1e-3
        EM stops when the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations per run; 0 returns the initialization.
    n_init : int, default=1
        Runs from different initializations; the best lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Initial responsibilities: the labels of scikit-learn's
        ``KMeans(n_clusters=k, n_init=1)`` (for float64 data computed by
        gaussmix's compiled k-means, :func:`gaussmix.em.kmeans.sklearn_kmeans`,
        with the same draws and stopping rule, so the same labels but for rows
        within rounding of two centres; float32 data run scikit-learn's),
        ``kmeans_plusplus`` centers, uniform random ones, or random rows
        (the same random draws as scikit-learn).
    weights_init, means_init, precisions_init : array-like, optional
        Initial weights (k,), means (k, d) and precisions (shape per
        covariance type: full (k, d, d), tied (d, d), diag (k, d),
        spherical (k,)).
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
        Continue from the fitted parameters on the next ``fit`` (one run).
    verbose : int, default=0
    verbose_interval : int, default=10
    learning_decay : float in [0, 1], default=0.7
        :meth:`partial_fit`'s step size decays as eta_t = (t +
        learning_offset) ** -learning_decay (0.5 < learning_decay <= 1 for
        convergence on a stationary stream). A constant step forgets: the
        statistics of a batch t steps back weigh (1 - eta)^t, a memory of
        about 1 / eta batches. ``learning_decay=0`` gives eta = 1, the latest
        batch only; for a drifting stream choose ``learning_offset`` much
        larger than the number of batches and ``learning_decay = ln(1 / eta) /
        ln(learning_offset)``, e.g. ``learning_offset=1e8, learning_decay=0.25``
        for eta of about 0.01 over a million batches.
    learning_offset : float >= 0, default=10.0
        Slows down :meth:`partial_fit`'s early steps.
    total_samples : float, optional
        The data size the running statistics are scaled to in
        :meth:`partial_fit` (no effect for maximum likelihood but the
        ``10 * eps`` guard of empty components); default: the rows seen so far.

    Attributes
    ----------
    weights_ : ndarray, shape (k,)
    means_ : ndarray, shape (k, d)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes per covariance type as above; ``precisions_cholesky_`` is
        upper triangular U with precision U U^T (full, tied), or the square
        root of the precisions (diag, spherical).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training data at the last E-step of the best run.
    lower_bounds_ : list of float
        The lower bound of every iteration of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray
        Only when X has feature names.

    See Also
    --------
    BayesianGaussianMixture : variational inference of the same model.
    gaussmix.GMM : the same model with gmr's API, conditioning and regression.

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]), 6)
    array([ 1., 10.])
    """

    _deconvolves = True
    _parameter_constraints: ClassVar[dict] = {
        **BaseMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: ArrayLike | None = None,
        means_init: ArrayLike | None = None,
        precisions_init: ArrayLike | None = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
        total_samples: float | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples

    def _prepare(self, X: np.ndarray) -> None:
        k, d = self.n_components, X.shape[1]
        self._inits = (
            None if self.weights_init is None else checked_weights(self.weights_init, k),
            None if self.means_init is None else checked_means(self.means_init, k, d),
            None
            if self.precisions_init is None
            else checked_precisions(self.precisions_init, self.covariance_type, k, d),
        )

    def _family(self) -> MaximumLikelihood:
        return CheckedMaximumLikelihood(self.covariance_type, self.reg_covar)

    def _initial_state(self, X, source, random_state, family) -> Gaussians:
        k, (n, d) = self.n_components, X.shape
        weights_init, means_init, precisions_init = self._inits
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            stats, shift = initial_responsibility_statistics(self, X, source, random_state)
            _, means, covariances = m_step(stats, shift, self.covariance_type, self.reg_covar)
            # scikit-learn divides by n, not by the responsibilities' sum.
            weights = (stats.resp_sum + 10.0 * np.finfo(np.float64).eps) / n
        if weights_init is not None:
            weights = np.asarray(weights_init, dtype=np.float64)
        if means_init is not None:
            means = np.asarray(means_init, dtype=np.float64)
        if precisions_init is not None:
            covariances = structures.get(self.covariance_type).from_precisions(
                precisions_init, k, d
            )
        check_positive_definite(covariances)
        return Gaussians(weights, means, covariances)

    def _current_state(self) -> Gaussians:
        k, d = self.means_.shape
        return Gaussians(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            structures.get(self.covariance_type).from_compact(self.covariances_, k, d),
        )

    def _set_state(self, state: Gaussians, dtype) -> None:
        self._fitted_covariance_type = self.covariance_type
        covariances = structures.get(self.covariance_type).to_compact(state.covariances)
        prec_chol = structures.get(self.covariance_type).precision_cholesky(covariances)
        self.weights_ = state.priors.astype(dtype)
        self.means_ = state.means.astype(dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        self.precisions_ = structures.get(self.covariance_type).precisions(prec_chol).astype(dtype)

    def _fitted_shapes(self, k: int, d: int) -> dict:
        return {
            "weights_": (k,),
            "means_": (k, d),
            "covariances_": structures.get(self.covariance_type).compact_shape(k, d),
        }

    def _restore(self, values: dict, k: int, d: int, dtype, source: str, n_iter: int) -> None:
        weights = values["weights_"]
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"{source}: weights_ must be non-negative with a positive sum")
        # Fitted weights sum to one; only an initialization (max_iter=0) keeps
        # scikit-learn's unnormalized start (counts / n).
        if abs(weights.sum() - 1.0) > 1e-6 * k and n_iter != 0:
            raise ValueError(f"{source}: weights_ must sum to 1; got {weights.sum():.6g}")
        check_symmetric(values["covariances_"], self.covariance_type, source)
        covariances = structures.get(self.covariance_type).from_compact(
            values["covariances_"], k, d
        )
        try:
            self._set_state(Gaussians(weights, values["means_"], covariances), dtype)
        except ValueError as exc:
            raise ValueError(f"{source}: covariances_ are not positive definite") from exc

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, d = self.means_.shape
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(self.weights_, dtype=np.float64))
        chol = structures.get(self.covariance_type).cholesky_from_precision_cholesky(
            self.precisions_cholesky_, k, d
        )
        return log_weights, np.asarray(self.means_, dtype=np.float64), chol

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return structures.get(self.covariance_type).n_mixture_parameters(k, d)

    def bic(self, X: ArrayLike, *, noise_covariances: ArrayLike | None = None) -> float:
        """Bayesian information criterion, -2 n score + p ln n (lower is better).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        noise_covariances : array-like, optional
            The rows' known noise: the score of the convolved mixture.

        Returns
        -------
        bic : float
        """
        n = n_rows(X)
        score = self.score(X, noise_covariances=noise_covariances)
        return -2.0 * score * n + self._n_parameters() * np.log(n)

    def aic(self, X: ArrayLike, *, noise_covariances: ArrayLike | None = None) -> float:
        """Akaike information criterion, -2 n score + 2 p (lower is better).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        noise_covariances : array-like, optional
            As for :meth:`bic`.

        Returns
        -------
        aic : float
        """
        n = n_rows(X)
        return -2.0 * self.score(X, noise_covariances=noise_covariances) * n + 2 * (
            self._n_parameters()
        )
