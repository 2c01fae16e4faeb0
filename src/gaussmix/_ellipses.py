"""Error ellipses of 2-D Gaussians (gmr's plotting functions).

Below the model classes, which call these functions; matplotlib is imported
inside them only, so ``import gaussmix`` never needs it.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ellipse_axes", "plot_error_ellipse", "plot_error_ellipses"]

_DEFAULT_FACTORS = np.linspace(0.25, 2.0, 8)


def ellipse_axes(
    covariances: np.ndarray, factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles and semi-axes of the error ellipses of k 2-D Gaussians, all at once.

    The angle follows gmr 2.0.3, which takes ``arctan2`` of the major
    eigenvector that ``scipy.linalg.eigh`` returns. An ellipse's angle is
    defined only modulo pi, so that convention is the sign LAPACK gives the
    eigenvector: for a 2x2 matrix ``eigh`` (driver ``evr``, LAPACK dstemr)
    takes it from dlaev2, whose formula is evaluated here in closed form for
    all k matrices (e.g. diag(5, 0.5) gives (-1, -0), angle -pi, and
    diag(0.5, 5) gives angle pi/2). The semi-axes come from the batched
    eigenvalues.

    Parameters
    ----------
    covariances : ndarray, shape (k, 2, 2)
        Symmetric positive semi-definite matrices (the lower triangle is read).
    factor : float
        Multiple of the standard deviations.

    Returns
    -------
    angles : ndarray, shape (k,)
        Rotation (radians, in [-pi, pi]) of the major axis from the first axis.
    widths : ndarray, shape (k,)
        Semi-axes along the major axes (largest eigenvalue).
    heights : ndarray, shape (k,)
        Semi-axes along the minor axes.

    References
    ----------
    LAPACK 3.12, dlaev2 (eigen decomposition of a 2x2 symmetric matrix) and
    dstemr (its use for n = 2).
    """
    a = covariances[:, 0, 0]
    b = covariances[:, 1, 0]
    c = covariances[:, 1, 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sm = a + c
        df = a - c
        adf = np.abs(df)
        tb = b + b
        ab = np.abs(tb)
        rt = np.where(
            adf > ab,
            adf * np.sqrt(1.0 + (ab / adf) ** 2),
            np.where(adf < ab, ab * np.sqrt(1.0 + (adf / ab) ** 2), ab * np.sqrt(2.0)),
        )
        rt1 = np.where(sm < 0, 0.5 * (sm - rt), np.where(sm > 0, 0.5 * (sm + rt), 0.5 * rt))
        rt2 = np.where(sm < 0, 0.5 * (sm + rt), np.where(sm > 0, 0.5 * (sm - rt), -0.5 * rt))
        sgn1 = np.where(sm < 0, -1, 1)
        cs = np.where(df >= 0, df + rt, df - rt)
        sgn2 = np.where(df >= 0, 1, -1)
        # |cs| > |tb|: ct = -tb / cs, sn1 = 1 / sqrt(1 + ct^2), cs1 = ct sn1;
        # otherwise tn = -cs / tb, cs1 = 1 / sqrt(1 + tn^2), sn1 = tn cs1
        # (cs1 = 1, sn1 = 0 when tb = 0).
        ct = -tb / cs
        sn_ct = 1.0 / np.sqrt(1.0 + ct * ct)
        tn = -cs / tb
        cs_tn = 1.0 / np.sqrt(1.0 + tn * tn)
        big_cs = np.abs(cs) > ab
        no_tb = ab == 0
        cs1 = np.where(big_cs, ct * sn_ct, np.where(no_tb, 1.0, cs_tn))
        sn1 = np.where(big_cs, sn_ct, np.where(no_tb, 0.0, tn * cs_tn))
    swap = sgn1 == sgn2
    cs1, sn1 = np.where(swap, -sn1, cs1), np.where(swap, cs1, sn1)
    # (cs1, sn1) belongs to rt1, the eigenvalue of larger magnitude; the
    # other eigenvector is (-sn1, cs1). The major axis is the larger eigenvalue's.
    first = rt1 >= rt2
    major_x = np.where(first, cs1, -sn1)
    major_y = np.where(first, sn1, cs1)
    angles = np.arctan2(major_y, major_x)
    vals = np.linalg.eigvalsh(covariances)
    semi = factor * np.sqrt(np.clip(vals[:, ::-1], 0.0, None))
    return angles, semi[:, 0], semi[:, 1]


def _ellipse(mean, angle, width, height, alpha, color):
    from matplotlib.patches import Ellipse

    ellipse = Ellipse(
        xy=tuple(mean), width=2.0 * width, height=2.0 * height, angle=float(np.degrees(angle))
    )
    ellipse.set_alpha(alpha)
    if color is not None:
        ellipse.set_color(color)
    return ellipse


def plot_error_ellipse(
    ax: Any,
    mvn: Any,
    color: Any = None,
    alpha: float = 0.25,
    factors: ArrayLike = _DEFAULT_FACTORS,
) -> list:
    """Draw error ellipses of a 2-D MVN, one per factor.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    mvn : MVN
        A two-dimensional Gaussian.
    color : color, optional
        Face and edge color of the ellipses.
    alpha : float, default=0.25
        Opacity of each ellipse.
    factors : array-like, default=np.linspace(0.25, 2.0, 8)
        Multiples of the standard deviations to draw.

    Returns
    -------
    ellipses : list of matplotlib.patches.Ellipse
        The added patches (axes' width is the diameter, twice the semi-axis).
    """
    patches = []
    for factor in np.atleast_1d(np.asarray(factors, dtype=float)):
        angle, width, height = mvn.to_ellipse(factor)
        patch = _ellipse(mvn.mean, angle, width, height, alpha, color)
        ax.add_artist(patch)
        patches.append(patch)
    return patches


def plot_error_ellipses(
    ax: Any,
    gmm: Any,
    colors: Any = None,
    alpha: float = 0.25,
    factors: ArrayLike = _DEFAULT_FACTORS,
) -> list:
    """Draw error ellipses of every component of a 2-D GMM, one per factor.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    gmm : GMM
        A two-dimensional mixture.
    colors : sequence of colors, optional
        Cycled over the drawn ellipses (component by component, factor by
        factor, as in gmr).
    alpha : float, default=0.25
    factors : array-like, default=np.linspace(0.25, 2.0, 8)

    Returns
    -------
    ellipses : list of matplotlib.patches.Ellipse
    """
    color_cycle = cycle(colors) if colors is not None else None
    patches = []
    for factor in np.atleast_1d(np.asarray(factors, dtype=float)):
        for mean, (angle, width, height) in gmm.to_ellipses(factor):
            color = next(color_cycle) if color_cycle is not None else None
            patch = _ellipse(mean, angle, width, height, alpha, color)
            ax.add_artist(patch)
            patches.append(patch)
    return patches
