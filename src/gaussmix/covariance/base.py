"""The interface every covariance structure implements.

A covariance structure is a constraint on the k covariance matrices of a
mixture (full, shared by all components, diagonal, ...). Everything gaussmix
needs to know about one lives on its :class:`CovarianceStructure` object: its
names, the E-step's feature form, its M-step from the engine's scatter
matrices, its free-parameter count, and the per-type shapes scikit-learn's
estimators show. The rest of the package asks the object and never compares
covariance-type strings (``tests/test_architecture.py`` checks that).

The engine always works with full (k, d, d) covariance matrices: a
structure's job is to produce matrices that satisfy its constraint, and to
convert them to and from the compact shapes of scikit-learn's attributes.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np

from .._linalg import inverse_cholesky, symmetrize

__all__ = ["ILL_DEFINED", "OVERFLOW", "CovarianceStructure", "project_psd"]

#: scikit-learn's message for a covariance that is not positive definite.
ILL_DEFINED = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease the "
    "number of components, increase reg_covar, or scale the input data."
)


#: The message of covariances that float64 cannot hold (rows of 1e150 and more).
OVERFLOW = (
    "covariance matrices contain NaN or infinite values: the data's scale overflows "
    "float64 arithmetic; rescale X"
)


def project_psd(covariances: np.ndarray) -> np.ndarray:
    """Symmetric (k, d, d) matrices with negative eigenvalues clipped to zero.

    A collapsed component's scatter can round to a matrix with tiny negative
    eigenvalues (-1e-21); a covariance is positive semi-definite. Matrices
    that are already PSD are returned unchanged (the same object); those
    that a Cholesky factorization accepts without an eigendecomposition.
    """
    try:
        # Positive definite (the usual case): a Cholesky factorization, far
        # cheaper than the eigendecomposition, says so.
        np.linalg.cholesky(covariances)
        return covariances
    except np.linalg.LinAlgError:
        pass
    if not np.isfinite(covariances).all():
        # rows so large that their squares overflow (1e150 and up)
        raise ValueError(OVERFLOW)
    try:
        eigvals, eigvecs = np.linalg.eigh(covariances)
    except np.linalg.LinAlgError as error:
        raise ValueError(ILL_DEFINED) from error
    if (eigvals[:, 0] < 0).any():
        covariances = symmetrize(
            (eigvecs * np.maximum(eigvals, 0.0)[:, None, :]) @ np.swapaxes(eigvecs, 1, 2)
        )
    return covariances


@functools.cache
def _defined_at(cls: type, name: str) -> int:
    """The position in ``cls``'s method resolution order of the class defining ``name``."""
    return next(i for i, owner in enumerate(cls.__mro__) if name in vars(owner))


class CovarianceStructure:
    """One covariance structure: its names, M-step, parameter count and shapes.

    Subclasses set the class attributes and implement :meth:`estimate`,
    :meth:`n_parameters`, :meth:`to_compact` and :meth:`from_compact`; the
    rest has working defaults for structures whose compact form is a
    (k, d, d), (d, d), (k, d) or (k,) array. Instances are stateless and
    shared: register one with :func:`gaussmix.covariance.register`.

    Attributes
    ----------
    name : str
        The name users pass as ``covariance_type`` (scikit-learn's for the
        four it knows).
    aliases : tuple of str
        Other names accepted for it (mclust's three-letter code among them).
    mclust_name : str
        mclust's code (volume, shape, orientation: Equal, Variable or Identity).
    features : {"quadratic", "diagonal"}
        The E-step's features: vech(y y^T), y and 1 (any covariance), or
        y * y, y and 1 (diagonal covariances only: 2d + 1 columns).
    shared : bool
        One covariance matrix for all components.
    isotropic : bool
        Each covariance a multiple of the identity.
    kernel : bool
        The compiled E-step kernel serves this structure's feature form.
    default_grid : bool
        Part of :func:`gaussmix.select_model`'s default grid (scikit-learn's four).
    variational : bool
        The variational-Bayes family (``BayesianGaussianMixture``) has updates
        for it (scikit-learn's four); other structures are refused there.
    marker : str
        Matplotlib marker of its line in model-selection plots (for mclust's
        14 models the closest match of ``mclust.options("bicPlotSymbols")``).
    marker_filled : bool
        Whether the marker is drawn filled (R's solid symbols) or open.
    color : str
        Matplotlib colour of its line (mclust's ``bicPlotColors``).
    warm_start : bool
        Its M-step iterates and accepts ``previous`` covariances to start
        from (``estimate(scatter, nk, reg_covar, previous=...)``).
    seed_key : int
        A number unique to the structure and fixed forever: the key of its
        own random stream in :func:`gaussmix.select_model` (so a candidate's
        seed does not depend on the order of the registry).
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    mclust_name: ClassVar[str] = ""
    features: ClassVar[str] = "quadratic"
    shared: ClassVar[bool] = False
    isotropic: ClassVar[bool] = False
    kernel: ClassVar[bool] = True
    variational: ClassVar[bool] = False
    default_grid: ClassVar[bool] = False
    marker: ClassVar[str] = "o"
    marker_filled: ClassVar[bool] = True
    color: ClassVar[str] = "C0"
    warm_start: ClassVar[bool] = False
    seed_key: ClassVar[int] = -1

    # -- the engine ------------------------------------------------------------
    @property
    def quadratic(self) -> bool:
        """Whether the E-step needs the full quadratic features."""
        return self.features == "quadratic"

    def n_phi(self, d: int) -> int:
        """Columns of the E-step's features and of the statistics' moments."""
        if self.quadratic:
            return d * (d + 1) // 2 + d + 1
        return 2 * d + 1

    def estimate(self, scatter: np.ndarray, nk: np.ndarray, reg_covar: float) -> np.ndarray:
        """The M-step: covariances (k, d, d) from the components' scatter.

        Parameters
        ----------
        scatter : ndarray, shape (k, d, d) or (k, d)
            sum_i r_ij (x_i - mu_j)(x_i - mu_j)^T of each component; only its
            diagonal, (k, d), for ``features == "diagonal"``.
        nk : ndarray, shape (k,)
            The components' responsibility sums (plus 10 eps, as scikit-learn).
        reg_covar : float
            Added to the diagonal of every covariance.

        Returns
        -------
        covariances : ndarray, shape (k, d, d)
        """
        raise NotImplementedError

    def estimate_batch(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        reg_covar: float,
        previous: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`estimate` of B independent problems at once (the EM runs of a batch).

        Parameters
        ----------
        scatter : ndarray, shape (B, k, d, d) or (B, k, d)
        nk : ndarray, shape (B, k)
        reg_covar : float
        previous : ndarray, shape (B, k, d, d), optional
            Starting covariances of iterative M-steps (``warm_start``).

        Returns
        -------
        covariances : ndarray, shape (B, k, d, d)
            ``estimate`` of each problem. This default calls :meth:`estimate`
            once per problem; the registered structures compute the batch
            in array operations, and fall back to this loop in a subclass
            that overrides their per-problem M-step (``estimate``, or
            ``maximize`` of a :class:`~gaussmix.covariance.Decomposed` model).
        """
        warm = self.warm_start and previous is not None
        return np.stack(
            [
                self.estimate(scatter[b], nk[b], reg_covar, previous=previous[b])
                if warm
                else self.estimate(scatter[b], nk[b], reg_covar)
                for b in range(len(nk))
            ]
        )

    def _overrides_below(self, batch: str, *single: str) -> bool:
        """Whether this object's class defines one of the per-problem methods ``single``
        below the class whose method ``batch`` it inherits.

        That batched method then does not know the override (a subclass of
        ``Full`` with its own ``estimate``), and the batch must be solved
        one problem at a time.
        """
        depth = functools.partial(_defined_at, type(self))
        return any(depth(name) < depth(batch) for name in single)

    def project(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        """Impose the structure on full (k, d, d) starting covariances."""
        raise NotImplementedError

    def project_batch(self, covariances: np.ndarray, priors: np.ndarray) -> np.ndarray:
        """:meth:`project` of B starts at once.

        Each start's result is :meth:`project`'s of it alone; structures with an
        iterative M-step take the B problems in one batch.

        Parameters
        ----------
        covariances : ndarray, shape (B, k, d, d)
        priors : ndarray, shape (B, k)

        Returns
        -------
        ndarray, shape (B, k, d, d)
        """
        return np.stack([self.project(c, p) for c, p in zip(covariances, priors, strict=True)])

    def n_parameters(self, k: int, d: int) -> int:
        """Free parameters of the k covariances (as mclust and scikit-learn count)."""
        raise NotImplementedError

    def n_mixture_parameters(self, k: int, d: int) -> int:
        """Free parameters of the whole mixture: covariances, k d means, k - 1 weights.

        The count BIC and AIC use; scikit-learn's ``_n_parameters`` and
        mclust's ``nMclustParams`` agree with it.
        """
        return self.n_parameters(k, d) + k * d + k - 1

    def min_component_rows(self, d: int) -> int:
        """Effective rows a component needs for a non-singular covariance (0: pooled)."""
        return 0 if self.shared else (d + 1 if self.quadratic else 2)

    # -- scikit-learn's attribute shapes ------------------------------------------
    def compact_shape(self, k: int, d: int) -> tuple[int, ...]:
        """Shape of scikit-learn's ``covariances_`` (and ``precisions_``) attribute."""
        if self.isotropic:
            return (k,)
        if not self.quadratic:
            return (k, d)
        return (d, d) if self.shared else (k, d, d)

    def to_compact(self, covariances: np.ndarray) -> np.ndarray:
        """Full (k, d, d) covariances in :meth:`compact_shape`."""
        raise NotImplementedError

    def from_compact(self, compact: np.ndarray, k: int, d: int) -> np.ndarray:
        """Inverse of :meth:`to_compact`: full (k, d, d) covariances."""
        raise NotImplementedError

    @property
    def compact_is_matrix(self) -> bool:
        """Whether the compact form holds matrices (else variances)."""
        return self.quadratic

    def precision_cholesky(self, compact: np.ndarray) -> np.ndarray:
        """scikit-learn's ``precisions_cholesky_`` from compact covariances.

        Upper-triangular U with U U^T = Sigma^-1 for matrices, 1 / sqrt(var)
        for variances. Raises scikit-learn's "ill-defined empirical
        covariance" ``ValueError`` when a covariance is not positive definite.
        """
        if self.compact_is_matrix:
            try:
                chol = np.linalg.cholesky(compact)
            except np.linalg.LinAlgError:
                raise ValueError(ILL_DEFINED) from None
            return np.swapaxes(inverse_cholesky(chol), -1, -2)
        if (compact <= 0.0).any():
            raise ValueError(ILL_DEFINED)
        return 1.0 / np.sqrt(compact)

    def precisions(self, precision_cholesky: np.ndarray) -> np.ndarray:
        """scikit-learn's ``precisions_`` from its ``precisions_cholesky_``."""
        if self.compact_is_matrix:
            return precision_cholesky @ np.swapaxes(precision_cholesky, -1, -2)
        return precision_cholesky**2

    def from_precisions(self, precisions: np.ndarray, k: int, d: int) -> np.ndarray:
        """Full (k, d, d) covariances from compact precisions."""
        precisions = np.asarray(precisions, dtype=np.float64)
        if self.compact_is_matrix:
            inverse = np.linalg.inv(precisions)
            return self.from_compact(symmetrize(inverse), k, d)
        return self.from_compact(1.0 / precisions, k, d)

    def cholesky_from_precision_cholesky(
        self, precision_cholesky: np.ndarray, k: int, d: int
    ) -> np.ndarray:
        """Lower Cholesky factors (k, d, d) of the covariances from ``precisions_cholesky_``.

        For U with U U^T = Sigma^-1, Sigma = U^-T U^-1, so L = U^-T.
        """
        prec_chol = np.asarray(precision_cholesky, dtype=np.float64)
        if self.compact_is_matrix:
            chol = np.swapaxes(inverse_cholesky(prec_chol), -1, -2)
            return np.broadcast_to(chol, (k, d, d)) if chol.ndim == 2 else chol
        std = 1.0 / prec_chol
        std = np.broadcast_to(std[:, None], (k, d)) if std.ndim == 1 else std
        return std[:, :, None] * np.eye(d)

    def check_compact_precisions(self, precisions: np.ndarray, k: int, d: int) -> None:
        """Raise scikit-learn's errors for user-given ``precisions_init`` of this structure."""
        name = f"{self.name} precision"
        shape = self.compact_shape(k, d)
        if precisions.shape != shape:
            raise ValueError(
                f"The parameter '{name}' should have the shape of {shape}, "
                f"but got {precisions.shape}"
            )
        if self.compact_is_matrix:
            symmetric = np.allclose(precisions, np.swapaxes(precisions, -1, -2))
            if not symmetric or (np.linalg.eigvalsh(precisions) <= 0.0).any():
                raise ValueError(f"'{name}' should be symmetric, positive-definite")
        elif (precisions <= 0.0).any():
            raise ValueError(f"'{name}' should be positive")

    def __repr__(self) -> str:
        return f"<covariance structure {self.name!r} ({self.mclust_name})>"
