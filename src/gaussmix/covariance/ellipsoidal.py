"""mclust's ellipsoidal models beyond VVV and EEE: VEE, EVE, VVE, EEV, VEV and EVV.

Sigma_k = lambda_k D_k A_k D_k^T with at least one of volume, shape and
orientation shared (E) and at least one free (V). The M-steps minimize eq.
(1) of :mod:`gaussmix.covariance.decomposed`:

- EEV and EVV have closed forms (Celeux & Govaert 1995, section 3.1): with the
  eigen-decomposition W_k = L_k Omega_k L_k^T (eigenvalues largest first),
  EEV's Sigma_k = L_k (sum_j Omega_j / n) L_k^T, and EVV's Sigma_k = lambda
  W_k / det(W_k)^(1/d) with lambda = sum_k det(W_k)^(1/d) / n.
- VEV: D_k = L_k (the shared shape sorted largest first pairs with each
  Omega_k's order, von Neumann's trace inequality), then the volumes and the
  shape alternate as in VEI, on the eigenvalues.
- VEE: Sigma_k = lambda_k C with det(C) = 1; lambda_k = tr(W_k C^-1) / (d n_k)
  and C = unit(sum_k W_k / lambda_k) alternate (Celeux & Govaert 1995).
- EVE and VVE share the orientation D: given D, the model's diagonal
  Delta_k = lambda_k A_k in D's basis has a closed form (EVI's or VVI's on
  diag(D^T W_k D)); given Delta_k, D minimizes sum_k tr(W_k D Delta_k^-1 D^T)
  over orthogonal matrices, which the majorization-minimization step of
  Browne & McNicholas (2014), "Orthogonal Stiefel manifold optimization for
  eigen-decomposed covariance parameter estimation in mixture models",
  Stat. Comput. 24, 203-210, lowers (see :func:`orientation_step`).

Every update is the exact minimum over one block of parameters or a
majorization step, so eq. (1) never rises within an M-step; the iterations
stop at ``tol`` (relative change of eq. (1)), ``max_iter`` or, warm-started,
``warm_max_iter`` (see :class:`~gaussmix.covariance.decomposed.Decomposed`).
"""

from __future__ import annotations

import numpy as np

from .._linalg import symmetrize
from .axis_aligned import variable_volume_equal_shape
from .decomposed import TINY, Decomposed, converged, floored, geometric_mean, sorted_eigh

__all__ = [
    "EqualOrientation",
    "EqualShape",
    "EqualShapeOrientation",
    "EqualShapeVolume",
    "EqualVolume",
    "EqualVolumeOrientation",
    "orientation_step",
]


def _rotate(orientations: np.ndarray, diagonals: np.ndarray) -> np.ndarray:
    """D_k diag(delta_k) D_k^T of (..., d, d) orientations and (..., d) diagonals."""
    return symmetrize((orientations * diagonals[..., None, :]) @ np.swapaxes(orientations, -1, -2))


def _unit_matrix_determinant(matrices: np.ndarray) -> np.ndarray:
    """Matrices (B, d, d) scaled to determinant 1 (TINY's root where not positive definite)."""
    sign, logdet = np.linalg.slogdet(matrices)
    logdet = np.where(sign > 0, logdet, np.log(TINY))
    return matrices / np.exp(logdet / matrices.shape[-1])[:, None, None]


def orientation_step(
    scatter: np.ndarray,
    inverse_diagonals: np.ndarray,
    orientation: np.ndarray,
    top: np.ndarray,
    scatter_axes: np.ndarray | None = None,
) -> np.ndarray:
    """One majorization-minimization step for the shared orientation D of B problems.

    Lowers g(D) = sum_k tr(W_k D M_k D^T) over orthogonal D, for diagonal
    M_k >= 0 (Browne & McNicholas 2014). With w_k >= the largest eigenvalue
    of W_k, each W_k = w_k I - P_k with P_k positive semi-definite, and
    tr(D M_k D^T) = tr(M_k) for orthogonal D, so g(D) = const - sum_k
    tr(P_k D M_k D^T). That sum is convex in D, hence at least its tangent at
    the current D_t: g(D) <= const - 2 tr(G^T D) with G = sum_k P_k D_t M_k,
    whose minimum over orthogonal D is U V^T for the SVD G = U S V^T.

    Parameters
    ----------
    scatter : ndarray, shape (B, k, d, d)
    inverse_diagonals : ndarray, shape (B, k, d)
        The diagonals of M_k (shifted by their minimum, which changes g by a
        constant and tightens the bound).
    orientation : ndarray, shape (B, d, d)
        D_t, orthogonal (columns are the axes).
    top : ndarray, shape (B, k)
        Upper bounds w_k of the scatter's eigenvalues.
    scatter_axes : ndarray, shape (B, k, d, d), optional
        W_k D_t, if already computed.

    Returns
    -------
    ndarray, shape (B, d, d)
        D_{t+1}, with g(D_{t+1}) <= g(D_t).
    """
    weights = inverse_diagonals - inverse_diagonals.min(axis=2, keepdims=True)
    if scatter_axes is None:
        scatter_axes = scatter @ orientation[:, None]
    spread = top[:, :, None, None] * orientation[:, None] - scatter_axes  # P_k D_t
    gradient = (spread * weights[:, :, None, :]).sum(axis=1)
    left, _, right = np.linalg.svd(gradient)
    return left @ right


class EqualShapeOrientation(Decomposed):
    """lambda_k C, one shape and orientation with a volume per component (mclust's VEE)."""

    name = "VEE"
    mclust_name = "VEE"
    marker = "$\\ast$"  # R's pch 8
    color = "#5178EA"
    seed_key = 17
    warm_start = True

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        d = scatter.shape[-1]
        pooled = scatter.sum(axis=1)
        if previous is not None:  # the previous shape, where it has one
            warm = previous.sum(axis=1)
            usable = np.linalg.slogdet(warm)[0] > 0
            pooled[usable] = warm[usable]
        shape = _unit_matrix_determinant(symmetrize(pooled))
        traces = np.einsum("bkij,bji->bk", scatter, np.linalg.inv(shape))
        last = np.full(len(scatter), np.inf)
        scale = nk.sum(axis=1) * d
        active = np.arange(len(scatter))
        for _ in range(self.iterations(previous, max_iter)):
            if not active.size:
                break
            own, counts = scatter[active], nk[active]
            volumes = floored(traces[active] / (d * counts))
            shape[active] = _unit_matrix_determinant(
                symmetrize(np.einsum("bkij,bk->bij", own, 1.0 / volumes))
            )
            traces[active] = np.einsum("bkij,bji->bk", own, np.linalg.inv(shape[active]))
            current = d * (counts * np.log(volumes)).sum(axis=1) + (traces[active] / volumes).sum(
                axis=1
            )
            done = converged(last[active], current, scale[active], self.tol)
            last[active] = current
            active = active[~done]
        volumes = floored(traces / (d * nk))
        return volumes[:, :, None, None] * shape[:, None]

    def n_parameters(self, k: int, d: int) -> int:
        return k + (d - 1) + d * (d - 1) // 2


class _SharedOrientation(Decomposed):
    """EVE and VVE: Sigma_k = D Delta_k D^T with one orientation D."""

    warm_start = True

    def diagonals(self, rotated: np.ndarray, nk: np.ndarray) -> np.ndarray:
        """Delta_k (B, k, d) minimizing eq. (1) given D, from diag(D^T W_k D) (B, k, d)."""
        raise NotImplementedError

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        B, k, d, _ = scatter.shape
        scatter = symmetrize(scatter)
        # Start from the axes of the pooled scatter (EEE's orientation) or,
        # if better, from the previous covariances' shared axes: those
        # diagonalize every Sigma_k, hence a generic combination of them.
        orientation = np.linalg.eigh(scatter.sum(axis=1))[1]
        if previous is not None:
            axes = np.linalg.eigh(np.einsum("k,bkij->bij", np.linspace(1, 2, k), previous))[1]
            better = (
                self.evaluate(scatter, nk, axes)[0] < self.evaluate(scatter, nk, orientation)[0]
            )
            orientation[better] = axes[better]
        top = np.linalg.eigvalsh(scatter)[..., -1]
        last = np.full(B, np.inf)
        scale = nk.sum(axis=1) * d
        diagonals = np.empty((B, k, d))
        active = np.arange(B)
        for _ in range(self.iterations(previous, max_iter)):
            if not active.size:
                break
            own, axes = scatter[active], orientation[active]
            scatter_axes = own @ axes[:, None]
            current, diagonals[active] = self.evaluate(own, nk[active], axes, scatter_axes)
            done = converged(last[active], current, scale[active], self.tol)
            last[active] = current
            going = ~done
            active = active[going]
            orientation[active] = orientation_step(
                own[going],
                1.0 / diagonals[active],
                axes[going],
                top[active],
                scatter_axes[going],
            )
        return _rotate(orientation[:, None], diagonals)

    def evaluate(
        self,
        scatter: np.ndarray,
        nk: np.ndarray,
        orientation: np.ndarray,
        scatter_axes: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Eq. (1) (B,) at the best diagonals for ``orientation`` (B, d, d), and those
        diagonals (B, k, d)."""
        if scatter_axes is None:
            scatter_axes = scatter @ orientation[:, None]
        rotated = (orientation[:, None] * scatter_axes).sum(axis=2)  # diag(D^T W_k D)
        diagonals = floored(self.diagonals(np.maximum(rotated, 0.0), nk))
        value = (nk * np.log(diagonals).sum(axis=2)).sum(axis=1) + (rotated / diagonals).sum(
            axis=(1, 2)
        )
        return value, diagonals


class EqualVolumeOrientation(_SharedOrientation):
    """lambda D A_k D^T: one volume and orientation, a shape per component (mclust's EVE)."""

    name = "EVE"
    mclust_name = "EVE"
    marker = "D"  # R's pch 5
    marker_filled = False
    color = "#716EE7"
    seed_key = 18

    def diagonals(self, rotated: np.ndarray, nk: np.ndarray) -> np.ndarray:
        volume_k = geometric_mean(rotated)
        volume = volume_k.sum(axis=1) / nk.sum(axis=1)
        return volume[:, None, None] * rotated / floored(volume_k)[:, :, None]

    def n_parameters(self, k: int, d: int) -> int:
        return 1 + k * (d - 1) + d * (d - 1) // 2


class EqualOrientation(_SharedOrientation):
    """lambda_k D A_k D^T: one orientation, volume and shape per component (mclust's VVE)."""

    name = "VVE"
    mclust_name = "VVE"
    marker = "$◈$"  # R's pch 9
    color = "#9B60B8"
    seed_key = 19

    def diagonals(self, rotated: np.ndarray, nk: np.ndarray) -> np.ndarray:
        return rotated / nk[:, :, None]

    def n_parameters(self, k: int, d: int) -> int:
        return k * d + d * (d - 1) // 2


class EqualShapeVolume(Decomposed):
    """lambda D_k A D_k^T: one volume and shape, an orientation per component (mclust's EEV)."""

    name = "EEV"
    mclust_name = "EEV"
    marker = "$\\boxplus$"  # R's pch 12
    color = "#B2508B"
    seed_key = 20

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        eigvals, eigvecs = sorted_eigh(symmetrize(scatter))
        pooled = eigvals.sum(axis=1) / nk.sum(axis=1)[:, None]
        return _rotate(eigvecs, np.broadcast_to(pooled[:, None, :], eigvals.shape))

    def n_parameters(self, k: int, d: int) -> int:
        return 1 + (d - 1) + k * d * (d - 1) // 2


class EqualShape(Decomposed):
    """lambda_k D_k A D_k^T: one shape, volume and orientation per component (mclust's VEV)."""

    name = "VEV"
    mclust_name = "VEV"
    marker = "$\\boxtimes$"  # R's pch 7
    color = "#C03F60"
    seed_key = 21
    warm_start = True

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        eigvals, eigvecs = sorted_eigh(symmetrize(scatter))
        start = None if previous is None else sorted_eigh(previous)[0].sum(axis=1)
        volumes, shape = variable_volume_equal_shape(
            eigvals, nk, self.tol, self.iterations(previous, max_iter), start
        )
        return _rotate(eigvecs, volumes[:, :, None] * shape[:, None, :])

    def n_parameters(self, k: int, d: int) -> int:
        return k + (d - 1) + k * d * (d - 1) // 2


class EqualVolume(Decomposed):
    """lambda C_k, det(C_k) = 1: one volume, a shape and orientation per component (EVV)."""

    name = "EVV"
    mclust_name = "EVV"
    marker = "$⧈$"  # R's pch 14
    color = "#C82A36"
    seed_key = 22

    def maximize_batch(self, scatter, nk, previous=None, max_iter=None):
        d = scatter.shape[-1]
        scatter = symmetrize(scatter)
        sign, logdet = np.linalg.slogdet(scatter)
        volume_k = np.where(sign > 0, np.exp(logdet / d), 0.0)
        volume = volume_k.sum(axis=1) / nk.sum(axis=1)
        return scatter * (volume[:, None] / floored(volume_k))[:, :, None, None]

    def n_parameters(self, k: int, d: int) -> int:
        return k * d * (d + 1) // 2 - (k - 1)

    def min_component_rows(self, d: int) -> int:
        return d + 1
