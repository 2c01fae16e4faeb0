"""scikit-learn's ``BayesianGaussianMixture`` (variational inference) on gaussmix's engine."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from .. import covariance as structures
from ..em.variational import (
    VariationalBayes,
    VariationalPriors,
    VariationalState,
    expected_weights,
)
from ._checks import FLOAT_DTYPES, check_shape, check_spd, check_symmetric
from ._start import initial_responsibility_statistics
from .mixture import BaseMixture


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian Gaussian mixture: scikit-learn's ``BayesianGaussianMixture``.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`
    (Bishop 2006, ch. 10.2; Blei & Jordan 2006): a Dirichlet process
    (stick-breaking) or Dirichlet distribution prior on the weights and a
    Gaussian-Wishart prior on each component, fitted by variational
    inference. Surplus components get weights near zero, so ``n_components``
    is an upper bound. The E-step is quadratic in x like maximum likelihood's
    and runs through the same engine (:mod:`gaussmix.em.variational`); from
    the same start it reaches scikit-learn's parameters.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Or mclust's codes VVV, EEE, VVI, VII; mclust's ten other models have
        no variational updates and are refused (``ValueError``).
    tol : float, default=1e-3
        Stop when the lower bound (a sum over samples) changes by less than ``tol``.
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float, optional
        gamma_0 > 0 (default 1 / n_components); small values favour few components.
    mean_precision_prior : float, optional
        beta_0 > 0 (default 1).
    mean_prior : array-like, shape (n_features,), optional
        Default: the mean of X.
    degrees_of_freedom_prior : float, optional
        nu_0 > n_features - 1 (default n_features).
    covariance_prior : float or array-like, optional
        Default: the covariance of X (full, tied), its variances (diag) or
        their mean (spherical).
    random_state : int, RandomState or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    verbose_interval : int, default=10
    learning_decay : float in [0, 1], default=0.7
    learning_offset : float >= 0, default=10.0
        :meth:`partial_fit`'s step sizes, as for :class:`GaussianMixture`.
    total_samples : float, optional
        The data size of stochastic variational inference in
        :meth:`partial_fit`: the running statistics are scaled to it before
        the posterior update (Hoffman et al. 2013). Default: the rows seen so
        far, so that the posterior sharpens as data arrive (after :meth:`fit`,
        the rows given to ``partial_fit`` since); give the stream's size when
        it is known. The priors that default to the data's moments
        (``mean_prior``, ``covariance_prior``) are taken from the first batch.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As for :class:`GaussianMixture`; ``covariances_`` is the inverse of
        the posterior mean precision, ``weights_`` the posterior mean weights.
    weight_concentration_ : ndarray or tuple of two ndarrays
        Dirichlet parameters (k,), or the stick-breaking Beta parameters (a, b).
    mean_precision_ : ndarray, shape (k,)
    degrees_of_freedom_ : ndarray, shape (k,) (a float for tied covariances)
    weight_concentration_prior_, mean_precision_prior_, mean_prior_,
    degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from gaussmix.sklearn import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> bgm.means_.shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseMixture._parameter_constraints,
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})
        ],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: ArrayLike | None = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: float | ArrayLike | None = None,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples

    def _check_structure(self, structure: structures.CovarianceStructure) -> None:
        """The variational updates exist for the structures that declare them."""
        if not structure.variational:
            supported = [name for name in structures.names() if structures.get(name).variational]
            raise ValueError(
                f"covariance_type={self.covariance_type!r} has no variational updates; "
                f"BayesianGaussianMixture supports {', '.join(map(repr, supported))} (or "
                "their mclust codes); GaussianMixture fits mclust's other models"
            )

    def _prepare(self, X: np.ndarray) -> None:
        d = X.shape[1]
        ctype = self.covariance_type
        self.weight_concentration_prior_ = (
            1.0 / self.n_components
            if self.weight_concentration_prior is None
            else self.weight_concentration_prior
        )
        self.mean_precision_prior_ = (
            1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        )
        if self.mean_prior is None:
            self.mean_prior_ = X.mean(axis=0)
        else:
            self.mean_prior_ = check_array(self.mean_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            check_shape(self.mean_prior_, (d,), "means")
        if self.degrees_of_freedom_prior is None:
            self.degrees_of_freedom_prior_ = d
        elif self.degrees_of_freedom_prior > d - 1.0:
            self.degrees_of_freedom_prior_ = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' should be greater than "
                f"{d - 1}, but got {self.degrees_of_freedom_prior:.3f}."
            )
        structure = structures.get(ctype)
        if self.covariance_prior is None:
            if structure.compact_is_matrix:
                self.covariance_prior_ = np.atleast_2d(np.cov(X.T))
            elif not structure.isotropic:
                self.covariance_prior_ = np.var(X, axis=0, ddof=1)
            else:
                self.covariance_prior_ = np.var(X, axis=0, ddof=1).mean()
        elif structure.compact_is_matrix:
            prior = check_array(self.covariance_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            check_shape(prior, (d, d), f"{ctype} covariance_prior")
            check_spd(prior, f"{ctype} precision")
            self.covariance_prior_ = prior
        elif not structure.isotropic:
            prior = check_array(self.covariance_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            check_shape(prior, (d,), f"{ctype} covariance_prior")
            if (prior <= 0).any():
                raise ValueError(f"'{ctype} precision' should be positive")
            self.covariance_prior_ = prior
        else:
            self.covariance_prior_ = self.covariance_prior

    def _priors(self) -> VariationalPriors:
        return VariationalPriors(
            self.weight_concentration_prior_type,
            float(self.weight_concentration_prior_),
            float(self.mean_precision_prior_),
            np.asarray(self.mean_prior_, dtype=np.float64),
            float(self.degrees_of_freedom_prior_),
            np.asarray(self.covariance_prior_, dtype=np.float64),
        )

    def _family(self) -> VariationalBayes:
        return VariationalBayes(self.covariance_type, self.reg_covar, self._priors())

    def _initial_state(self, X, source, random_state, family) -> VariationalState:
        stats, shift = initial_responsibility_statistics(self, X, source, random_state)
        return family.m_step(stats, shift)

    def _current_state(self) -> VariationalState:
        k, d = self.means_.shape
        wc = self.weight_concentration_
        wc = np.stack(wc) if isinstance(wc, tuple) else np.asarray(wc)
        return VariationalState(
            wc.astype(np.float64),
            np.asarray(self.mean_precision_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.broadcast_to(np.asarray(self.degrees_of_freedom_, dtype=np.float64), (k,)).copy(),
            structures.get(self.covariance_type).from_compact(self.covariances_, k, d),
        )

    def _set_state(self, state: VariationalState, dtype) -> None:
        # scikit-learn's BayesianGaussianMixture computes and returns float64
        # whatever the input's precision (its GaussianMixture keeps float32).
        dtype = np.float64
        self._fitted_covariance_type = self.covariance_type
        ctype = self.covariance_type
        covariances = structures.get(ctype).to_compact(state.covariances)
        prec_chol = structures.get(ctype).precision_cholesky(covariances)
        wc = state.weight_concentration
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (wc[0].copy(), wc[1].copy())
        else:
            self.weight_concentration_ = wc.copy()
        self.mean_precision_ = state.mean_precision.copy()
        self.degrees_of_freedom_ = (
            float(state.degrees_of_freedom[0])
            if structures.get(ctype).shared
            else state.degrees_of_freedom.copy()
        )
        self.weights_ = expected_weights(state, self.weight_concentration_prior_type)
        self.means_ = state.means.astype(dtype)
        self.covariances_ = covariances.astype(dtype)
        self.precisions_cholesky_ = prec_chol.astype(dtype)
        self.precisions_ = structures.get(ctype).precisions(prec_chol).astype(dtype)

    _FITTED: ClassVar[tuple[str, ...]] = (
        "weights_",
        "means_",
        "covariances_",
        "weight_concentration_",
        "mean_precision_",
        "degrees_of_freedom_",
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "mean_prior_",
        "degrees_of_freedom_prior_",
        "covariance_prior_",
    )

    def _fitted_shapes(self, k: int, d: int) -> dict:
        ctype = self.covariance_type
        structure = structures.get(ctype)
        prior_shape = (
            (d, d) if structure.compact_is_matrix else () if structure.isotropic else (d,)
        )
        return {
            "means_": (k, d),
            "covariances_": structures.get(ctype).compact_shape(k, d),
            "weight_concentration_": (2, k)
            if self.weight_concentration_prior_type == "dirichlet_process"
            else (k,),
            "mean_precision_": (k,),
            "degrees_of_freedom_": () if structure.shared else (k,),
            "weight_concentration_prior_": (),
            "mean_precision_prior_": (),
            "mean_prior_": (d,),
            "degrees_of_freedom_prior_": (),
            "covariance_prior_": prior_shape,
        }

    def _restore(self, values: dict, k: int, d: int, dtype, source: str, n_iter: int) -> None:
        positive = (
            "weight_concentration_",
            "mean_precision_",
            "weight_concentration_prior_",
            "mean_precision_prior_",
        )
        for name in positive:
            if (values[name] <= 0).any():
                raise ValueError(f"{source}: {name} must be positive")
        if (values["degrees_of_freedom_"] <= d - 1).any() or values[
            "degrees_of_freedom_prior_"
        ] <= d - 1:
            raise ValueError(f"{source}: degrees of freedom must be greater than {d - 1}")
        for name in ("weight_concentration_prior_", "mean_precision_prior_"):
            setattr(self, name, float(values[name]))
        self.degrees_of_freedom_prior_ = float(values["degrees_of_freedom_prior_"])
        self.mean_prior_ = values["mean_prior_"]
        prior = values["covariance_prior_"]
        self.covariance_prior_ = float(prior) if prior.ndim == 0 else prior
        check_symmetric(values["covariances_"], self.covariance_type, source)
        state = VariationalState(
            values["weight_concentration_"],
            values["mean_precision_"],
            values["means_"],
            np.broadcast_to(values["degrees_of_freedom_"], (k,)).copy(),
            structures.get(self.covariance_type).from_compact(values["covariances_"], k, d),
        )
        with np.errstate(all="ignore"):
            log_priors = self._family().log_priors(state)
            weights = expected_weights(state, self.weight_concentration_prior_type)
        if not (np.isfinite(log_priors).all() and np.isfinite(weights).all()):
            raise ValueError(
                f"{source}: weight_concentration_, mean_precision_ and degrees_of_freedom_ "
                "give non-finite expected log weights"
            )
        try:
            self._set_state(state, dtype)
        except ValueError as exc:
            raise ValueError(f"{source}: covariances_ are not positive definite") from exc

    def _components(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, d = self.means_.shape
        family = VariationalBayes(self.covariance_type, self.reg_covar, self._priors())
        log_priors = family.log_priors(self._current_state())
        chol = structures.get(self.covariance_type).cholesky_from_precision_cholesky(
            self.precisions_cholesky_, k, d
        )
        return log_priors, np.asarray(self.means_, dtype=np.float64), chol
