"""Error ellipses of 2-D Gaussians (gmr's plotting functions).

Below the model classes, which call these functions; matplotlib is imported
inside them only, so ``import gaussmix`` never needs it.
"""

from __future__ import annotations

from itertools import cycle
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["plot_error_ellipse", "plot_error_ellipses"]

_DEFAULT_FACTORS = np.linspace(0.25, 2.0, 8)


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
