"""Additive sufficient statistics of EM, and their packing into one flat array.

The E-step of any block of rows returns a :class:`Statistics`; the statistics
of disjoint blocks add up (``a + b``), so blocks can be computed in threads,
processes or on remote workers and reduced in any order. :meth:`Statistics.pack`
turns them into one float64 vector (what travels between processes: no
class, no pickle of Python objects), :meth:`Statistics.unpack` back.
"""

from __future__ import annotations

import numpy as np

from .._gaussian import n_phi_features
from .._linalg import upper_triangle

__all__ = ["Statistics"]


# Scalars stored after the moments and the squared responsibility sums.
_N_SCALARS = 4


class Statistics:
    """Sums over a set of rows under fixed parameters.

    Attributes
    ----------
    moments : ndarray, shape (k, n_phi)
        sum_i w_i r_ij phi(x_i - shift): the quadratic block, the first
        moments and (last column) the responsibility sums; the layout of
        :func:`gaussmix._gaussian.n_phi_features`.
    resp_sq_sum : ndarray, shape (k,)
        sum_i w_i r_ij^2 (effective sample sizes, for OAS shrinkage).
    log_lik_sum : float
        sum_i w_i log p(x_i) (for maximum likelihood: the data log-likelihood).
    weight_sum : float
        sum_i w_i.
    resp_change_sq : float
        sum_ij (r_ij - r_ij^prev)^2, gmr's convergence measure.
    resp_entropy : float
        -sum_i w_i sum_j r_ij ln r_ij, the responsibilities' entropy (a term
        of the variational lower bound).
    """

    __slots__ = (
        "log_lik_sum",
        "moments",
        "resp_change_sq",
        "resp_entropy",
        "resp_sq_sum",
        "weight_sum",
    )

    def __init__(
        self,
        moments: np.ndarray,
        resp_sq_sum: np.ndarray,
        log_lik_sum: float,
        weight_sum: float,
        resp_change_sq: float = 0.0,
        resp_entropy: float = 0.0,
    ) -> None:
        self.moments = moments
        self.resp_sq_sum = resp_sq_sum
        self.log_lik_sum = float(log_lik_sum)
        self.weight_sum = float(weight_sum)
        self.resp_change_sq = float(resp_change_sq)
        self.resp_entropy = float(resp_entropy)

    @property
    def resp_sum(self) -> np.ndarray:
        """(k,) sum_i w_i r_ij, the last column of the moments."""
        return self.moments[:, -1]

    @classmethod
    def zeros(cls, k: int, n_phi: int) -> Statistics:
        """Statistics of no rows (the neutral element of ``+``)."""
        return cls(np.zeros((k, n_phi)), np.zeros(k), 0.0, 0.0, 0.0, 0.0)

    def __iadd__(self, other: Statistics) -> Statistics:
        self.moments += other.moments
        self.resp_sq_sum += other.resp_sq_sum
        self.log_lik_sum += other.log_lik_sum
        self.weight_sum += other.weight_sum
        self.resp_change_sq += other.resp_change_sq
        self.resp_entropy += other.resp_entropy
        return self

    def __add__(self, other: Statistics) -> Statistics:
        total = Statistics(
            self.moments.copy(),
            self.resp_sq_sum.copy(),
            self.log_lik_sum,
            self.weight_sum,
            self.resp_change_sq,
            self.resp_entropy,
        )
        total += other
        return total

    def pack(self) -> np.ndarray:
        """All statistics as one float64 vector of k * n_phi + k + 4 numbers."""
        scalars = [self.log_lik_sum, self.weight_sum, self.resp_change_sq, self.resp_entropy]
        return np.concatenate([self.moments.ravel(), self.resp_sq_sum, scalars]).astype(
            np.float64, copy=False
        )

    @classmethod
    def unpack(cls, flat: np.ndarray, k: int, n_phi: int) -> Statistics:
        """Inverse of :meth:`pack` (copies, so the result owns its arrays)."""
        flat = np.asarray(flat, dtype=np.float64)
        if flat.shape != (cls.packed_size(k, n_phi),):
            raise ValueError(
                f"packed statistics must have {cls.packed_size(k, n_phi)} numbers for "
                f"k={k}, n_phi={n_phi}; got shape {flat.shape}"
            )
        size = k * n_phi
        scalars = flat[size + k :]
        return cls(
            flat[:size].reshape(k, n_phi).copy(),
            flat[size : size + k].copy(),
            scalars[0],
            scalars[1],
            scalars[2],
            scalars[3],
        )

    # -- the layout of the moments ---------------------------------------------
    def _quadratic_width(self, d: int) -> int:
        n_phi = self.moments.shape[1]
        if n_phi == d * (d + 1) // 2 + d + 1:
            return d * (d + 1) // 2
        if n_phi == 2 * d + 1:
            return d
        raise ValueError(f"moments of width {n_phi} do not belong to {d} features")

    def _diagonal_layout(self, d: int) -> bool:
        """Whether the second moments are stored as diagonals (identical layouts at d = 1)."""
        return self._quadratic_width(d) == d

    def first_moments(self, d: int) -> np.ndarray:
        """(k, d) sum_i w_i r_ij (x_i - shift), a view."""
        q = self._quadratic_width(d)
        return self.moments[:, q : q + d]

    def second_moments(self, d: int, quadratic: bool) -> np.ndarray:
        """sum_i w_i r_ij (x_i - shift)(x_i - shift)^T: (k, d, d), or its diagonal (k, d).

        The full symmetric matrices (a new array) when the features are
        ``quadratic``, the (k, d) diagonal (a view) for diagonal features.
        """
        q = self._quadratic_width(d)
        if d > 1 and quadratic != (q > d):
            layout = "quadratic" if q > d else "diagonal"
            raise ValueError(f"these statistics have {layout} features (width {q + d + 1})")
        if not quadratic:
            return self.moments[:, :d]
        k = self.moments.shape[0]
        iu, ju, _ = upper_triangle(d)
        full = np.zeros((k, d, d))
        full[:, iu, ju] = self.moments[:, :q]
        full[:, ju, iu] = self.moments[:, :q]
        return full

    def add_second_moment(self, component: int, matrix: np.ndarray) -> None:
        """Add a symmetric (d, d) matrix to one component's second moments, in place.

        Only the upper triangle is stored for quadratic features, the
        diagonal for diagonal ones.
        """
        d = matrix.shape[0]
        q = self._quadratic_width(d)
        if self._diagonal_layout(d):
            self.moments[component, :d] += np.diagonal(matrix)
        else:
            iu, ju, _ = upper_triangle(d)
            self.moments[component, :q] += matrix[iu, ju]

    def with_moments(self, moments: np.ndarray) -> Statistics:
        """These statistics with other moments (e.g. mapped to another layout); the rest kept."""
        return Statistics(
            moments,
            self.resp_sq_sum,
            self.log_lik_sum,
            self.weight_sum,
            self.resp_change_sq,
            self.resp_entropy,
        )

    def recentred(self, shift: np.ndarray, new_shift: np.ndarray) -> Statistics:
        """These statistics with their moments taken about ``new_shift`` instead (exact).

        With delta = shift - new_shift and s1 = sum r (x - shift):
        sum r (x - new_shift) = s1 + N delta and sum r (x - new_shift)(x -
        new_shift)^T = S2 + s1 delta^T + delta s1^T + N delta delta^T (only the
        diagonal for diagonal features), so that statistics taken about
        different points (each batch's own mean, or each component's mean on
        the precise path) can be added up.

        Parameters
        ----------
        shift : ndarray, shape (d,) or (k, d)
            The point(s) the moments are taken about now.
        new_shift : ndarray, shape (d,)
            The point to take them about.

        Returns
        -------
        Statistics
            A new object; the scalars and ``resp_sq_sum`` are unchanged.
        """
        d = new_shift.shape[-1]
        q = self._quadratic_width(d)
        k = self.moments.shape[0]
        delta = np.broadcast_to(np.asarray(shift, dtype=np.float64) - new_shift, (k, d))
        first = self.first_moments(d)
        counts = self.resp_sum[:, None]
        moments = self.moments.copy()
        if self._diagonal_layout(d):
            moments[:, :d] += 2.0 * first * delta + counts * delta**2
        else:
            iu, ju, _ = upper_triangle(d)
            moments[:, :q] += (
                first[:, iu] * delta[:, ju]
                + delta[:, iu] * first[:, ju]
                + counts * delta[:, iu] * delta[:, ju]
            )
        moments[:, q : q + d] += counts * delta
        return self.with_moments(moments)

    def scaled(self, factor: float) -> Statistics:
        """These statistics times ``factor`` (a new object): every sum scales.

        ``resp_change_sq`` is a convergence measure, not a sum over rows of the
        new data, and scales the same way.
        """
        return Statistics(
            self.moments * factor,
            self.resp_sq_sum * factor,
            self.log_lik_sum * factor,
            self.weight_sum * factor,
            self.resp_change_sq * factor,
            self.resp_entropy * factor,
        )

    @staticmethod
    def total(parts) -> Statistics:
        """The sum of an iterable of statistics, as a new object (at least one part)."""
        parts = iter(parts)
        total = None
        for part in parts:
            total = part.copy() if total is None else total.__iadd__(part)
        if total is None:
            raise ValueError("no statistics to add up")
        return total

    def copy(self) -> Statistics:
        """A deep copy."""
        return self.scaled(1.0)

    @staticmethod
    def n_columns(n_features: int, covariance_type: str) -> int:
        """n_phi, the width of ``moments``, for d features and a covariance type."""
        return n_phi_features(n_features, covariance_type)

    @staticmethod
    def packed_size(k: int, n_phi: int) -> int:
        """Length of :meth:`pack`'s vector."""
        return k * n_phi + k + _N_SCALARS

    def __repr__(self) -> str:
        k, n_phi = self.moments.shape
        return f"Statistics(k={k}, n_phi={n_phi}, weight_sum={self.weight_sum:g})"
