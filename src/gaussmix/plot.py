"""Plotting helpers for mixtures and Gaussian mixture regression.

matplotlib is imported inside each function only, so ``import gaussmix``
never needs it (install it with ``pip install gaussmix[plot]``).

- :func:`plot_error_ellipse`, :func:`plot_error_ellipses`: gmr's error
  ellipses of a 2-D MVN or of every component of a 2-D GMM.
- :func:`plot_regression`: GMR mean and a ±n_std confidence band for a 1-D input.
- :func:`plot_conditional_density`: p(y | x) as an image for 1-D x and y.
- :func:`conditional_density`: the same density on a grid, as an array.
- :func:`plot_density`: a 1-D marginal density curve.
- :func:`plot_mixture`: an overview figure (data, ellipses, marginals) of a
  mixture of any dimension, as drawn by ``gaussmix plot``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._ellipses import plot_error_ellipse, plot_error_ellipses
from ._validation import as_float_array, check_float, check_int
from .gmm import GMM
from .mvn import MVN

__all__ = [
    "conditional_density",
    "plot_conditional_density",
    "plot_density",
    "plot_error_ellipse",
    "plot_error_ellipses",
    "plot_mixture",
    "plot_regression",
]


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def _as_gmm(model: Any, name: str = "gmm") -> Any:
    """A GMM as is; an MVN as a one-component GMM."""
    if isinstance(model, GMM):
        return model
    if isinstance(model, MVN):
        mean, covariance = model.checked_parameters()
        return GMM(1, priors=[1.0], means=mean[None], covariances=covariance[None])
    raise TypeError(f"{name} must be a GMM or an MVN; got {type(model).__name__}")


def _dimension(index: Any, n_features: int, name: str) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {index!r}")
    if not -n_features <= index < n_features:
        raise ValueError(
            f"{name}={index} is out of range for a model with {n_features} dimensions; "
            f"use 0 to {n_features - 1}"
        )
    return int(index) % n_features


def _in_out(gmm: Any, input_index: Any, output_index: Any) -> tuple[int, int]:
    d = gmm.n_features
    if d < 2:
        raise ValueError(
            f"the model needs at least 2 dimensions (an input and an output); got {d}"
        )
    i = _dimension(input_index, d, "input_index")
    o = (
        (1 if i == 0 else 0)
        if output_index is None
        else _dimension(output_index, d, "output_index")
    )
    if i == o:
        raise ValueError(f"input_index and output_index must differ; both are {i}")
    return i, o


def _default_grid(gmm: Any, index: int, n_points: int, n_std: float = 3.0) -> np.ndarray:
    """n_points evenly spaced values covering the marginal of one dimension."""
    _priors, means, covs = gmm.checked_parameters()
    std = np.sqrt(covs[:, index, index])
    return np.linspace(
        (means[:, index] - n_std * std).min(), (means[:, index] + n_std * std).max(), n_points
    )


def _grid(values: Any, gmm: Any, index: int, n_points: int, name: str, even: bool) -> np.ndarray:
    if values is None:
        return _default_grid(gmm, index, check_int(n_points, "n_points", minimum=2, maximum=10**7))
    grid = as_float_array(values, name, dtype=np.float64)
    minimum = 2 if even else 1
    if grid.ndim != 1 or grid.size < minimum:
        raise ValueError(
            f"{name} must be a 1-D array of at least {minimum} value(s); got shape {grid.shape}"
        )
    if not np.isfinite(grid).all():
        raise ValueError(f"{name} must contain finite values only")
    if even:
        step = np.diff(grid)
        if not (step > 0).all() or not np.allclose(step, step[0], rtol=1e-6, atol=0):
            raise ValueError(f"{name} must be increasing and evenly spaced (e.g. np.linspace)")
    return grid


# ----------------------------------------------------------------------
# Regression
# ----------------------------------------------------------------------
def plot_regression(
    ax: Any,
    gmm: Any,
    x: ArrayLike | None = None,
    *,
    input_index: int = 0,
    output_index: int | None = None,
    n_std: float | None = 2.0,
    color: Any = None,
    alpha: float = 0.3,
    label: str | None = None,
    n_points: int = 200,
) -> tuple[Any, Any]:
    """Plot the GMR mean of one output and its ±``n_std`` confidence band.

    The band is mean ± n_std·σ(x) with σ(x)² the output's variance under the
    conditional mixture p(y | x) (law of total variance, from
    ``gmm.predict(..., return_covariance=True)``); it widens where the
    components disagree, e.g. between the branches of a multimodal p(y | x).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    gmm : GMM or MVN
        The joint model; other dimensions than the input and the output are
        marginalized out.
    x : array-like, shape (n_points,), optional
        Input values (sorted before plotting). Default: ``n_points`` values
        spanning the input's marginal ±3 standard deviations.
    input_index : int, default=0
        Model dimension of the input (horizontal axis).
    output_index : int, optional
        Model dimension to plot (vertical axis); default the first dimension
        that is not the input.
    n_std : float or None, default=2.0
        Half-width of the band in standard deviations; None draws no band.
    color : color, optional
        Of the line and the band (matplotlib's next color by default).
    alpha : float, default=0.3
        Opacity of the band.
    label : str, optional
        Legend label of the line.
    n_points : int, default=200
        Grid size when ``x`` is None.

    Returns
    -------
    line : matplotlib.lines.Line2D
        The mean, y = E[output | input = x].
    band : matplotlib.collections.PolyCollection or None
        The confidence band (None when ``n_std`` is None).

    Raises
    ------
    ValueError
        If the model has fewer than 2 dimensions, the indices are out of
        range or equal, or ``x`` is not 1-D and finite.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from gaussmix import GMM
    >>> from gaussmix.plot import plot_regression
    >>> gmm = GMM(1, priors=[1.0], means=[[0.0, 0.0]], covariances=[[[1.0, 0.8], [0.8, 1.0]]])
    >>> line, band = plot_regression(plt.gca(), gmm, [-1.0, 0.0, 1.0])
    >>> line.get_ydata().round(2).tolist()
    [-0.8, 0.0, 0.8]
    """
    gmm = _as_gmm(gmm)
    i, o = _in_out(gmm, input_index, output_index)
    xs = np.sort(_grid(x, gmm, i, n_points, "x", even=False))
    joint = gmm.marginalize([i, o])
    mean, cov = joint.predict([0], xs[:, None], return_covariance=True)
    mean = mean[:, 0]
    if n_std is not None:
        n_std = check_float(n_std, "n_std", minimum=0.0)
    (line,) = ax.plot(xs, mean, color=color, label=label)
    band = None
    if n_std is not None:
        half = n_std * np.sqrt(np.clip(cov[:, 0, 0], 0.0, None))
        band = ax.fill_between(
            xs, mean - half, mean + half, color=line.get_color(), alpha=alpha, linewidth=0
        )
    return line, band


# ----------------------------------------------------------------------
# Conditional density
# ----------------------------------------------------------------------
def conditional_density(
    gmm: Any,
    x: ArrayLike,
    y: ArrayLike,
    *,
    input_index: int = 0,
    output_index: int | None = None,
) -> np.ndarray:
    """p(y | x) of one output given one input, on a grid.

    Computed in log space as log p(x, y) - log p(x) from the marginal
    mixtures of (input, output) and of the input.

    Parameters
    ----------
    gmm : GMM or MVN
    x : array-like, shape (n_x,)
        Input values.
    y : array-like, shape (n_y,)
        Output values.
    input_index, output_index : int
        As in :func:`plot_regression`.

    Returns
    -------
    density : ndarray, shape (n_y, n_x)
        ``density[j, i] = p(y[j] | x[i])``; every column integrates to 1
        over y (up to the grid's coverage).
    """
    gmm = _as_gmm(gmm)
    i, o = _in_out(gmm, input_index, output_index)
    xs = as_float_array(x, "x", ndim=(0, 1), dtype=np.float64).reshape(-1)
    ys = as_float_array(y, "y", ndim=(0, 1), dtype=np.float64).reshape(-1)
    # One conditional mixture per x (weights normalized in log space), so an
    # x far from every component still gives finite weights, not 0 / 0.
    cond = gmm.marginalize([i, o]).condition_batch([0], xs[:, None])
    rows = np.tile(np.arange(xs.size), ys.size)  # grid entry (j, i) -> x[i]
    grid = type(cond)(cond.priors[rows], cond.means[rows], cond.covariances)
    density = grid.to_probability_density(np.repeat(ys, xs.size)[:, None])
    return density.reshape(ys.size, xs.size)


def plot_conditional_density(
    ax: Any,
    gmm: Any,
    x: ArrayLike | None = None,
    y: ArrayLike | None = None,
    *,
    input_index: int = 0,
    output_index: int | None = None,
    n_points: int = 200,
    cmap: Any = "viridis",
    colorbar: bool = False,
    **imshow_kwargs: Any,
) -> Any:
    """Show the conditional density p(y | x) as an image (1-D input and output).

    Each image column is the full predictive distribution of the output at
    one input value, so several branches of a multimodal regression appear
    as several bright ridges (where the GMR mean would lie between them).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    gmm : GMM or MVN
    x, y : array-like, shape (n_x,) and (n_y,), optional
        Increasing, evenly spaced grids of input and output values (pixel
        centres). Default: ``n_points`` values spanning each marginal ±3
        standard deviations.
    input_index, output_index : int
        As in :func:`plot_regression`.
    n_points : int, default=200
        Grid size of a grid not given.
    cmap : str or Colormap, default="viridis"
    colorbar : bool, default=False
        Add a colorbar labelled p(y | x).
    **imshow_kwargs
        Passed to :meth:`matplotlib.axes.Axes.imshow`.

    Returns
    -------
    image : matplotlib.image.AxesImage
        Its array (``image.get_array()``) is :func:`conditional_density` on
        the grid, shape (n_y, n_x), with ``origin="lower"``.

    Raises
    ------
    ValueError
        If a grid is not increasing and evenly spaced, or the indices are bad.
    """
    gmm = _as_gmm(gmm)
    i, o = _in_out(gmm, input_index, output_index)
    xs = _grid(x, gmm, i, n_points, "x", even=True)
    ys = _grid(y, gmm, o, n_points, "y", even=True)
    density = conditional_density(gmm, xs, ys, input_index=i, output_index=o)
    dx, dy = xs[1] - xs[0], ys[1] - ys[0]
    extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    options = {"aspect": "auto", "interpolation": "nearest", "cmap": cmap, **imshow_kwargs}
    image = ax.imshow(density, origin="lower", extent=extent, **options)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="p(y | x)")
    return image


# ----------------------------------------------------------------------
# Densities and overview
# ----------------------------------------------------------------------
def plot_density(
    ax: Any,
    gmm: Any,
    x: ArrayLike | None = None,
    *,
    index: int = 0,
    color: Any = None,
    label: str | None = None,
    n_points: int = 200,
) -> Any:
    """Plot the 1-D marginal density of one dimension of a mixture.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    gmm : GMM or MVN
    x : array-like, shape (n_points,), optional
        Where to evaluate (sorted); default spans the marginal ±3 std.
    index : int, default=0
        The dimension.
    color : color, optional
    label : str, optional
    n_points : int, default=200

    Returns
    -------
    line : matplotlib.lines.Line2D
    """
    gmm = _as_gmm(gmm)
    i = _dimension(index, gmm.n_features, "index")
    xs = np.sort(_grid(x, gmm, i, n_points, "x", even=False))
    density = gmm.marginalize([i]).to_probability_density(xs[:, None])
    (line,) = ax.plot(xs, density, color=color, label=label)
    return line


def _limits(gmm: Any, index: int, data: np.ndarray | None, n_std: float) -> tuple[float, float]:
    grid = _default_grid(gmm, index, 2, n_std)
    lo, hi = grid[0], grid[-1]
    if data is not None and data.shape[0]:
        lo, hi = min(lo, data[:, index].min()), max(hi, data[:, index].max())
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad


def plot_mixture(
    gmm: Any,
    X: ArrayLike | None = None,
    *,
    dims: ArrayLike | None = None,
    figure: Any = None,
    factors: ArrayLike = (1.0, 2.0),
    max_points: int = 5000,
) -> Any:
    """Overview figure of a mixture, optionally with data.

    One dimension: the density over a histogram of the data. Two: a scatter
    plot with every component's error ellipses. More: a grid of all pairs of
    ``dims`` (ellipses of the marginal mixtures below the diagonal, marginal
    densities on it).

    Parameters
    ----------
    gmm : GMM or MVN
    X : array-like, shape (n_samples, n_features), optional
        Data to show (at most ``max_points`` evenly picked rows are drawn).
    dims : array-like of int, optional
        Dimensions to show; default all, at most the first 5.
    figure : matplotlib.figure.Figure, optional
        Drawn into (cleared first); default a new Figure (not registered with
        pyplot, so nothing opens on screen; use ``figure.savefig``).
    factors : array-like, default=(1.0, 2.0)
        Standard-deviation multiples of the ellipses.
    max_points : int, default=5000

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    gmm = _as_gmm(gmm)
    d = gmm.n_features
    if dims is None:
        dims_list = list(range(min(d, 5)))
    else:
        dims_list = [_dimension(j, d, "dims") for j in np.atleast_1d(np.asarray(dims))]
        if not dims_list or len(set(dims_list)) != len(dims_list):
            raise ValueError(f"dims must name distinct dimensions; got {dims_list}")
    data = None
    if X is not None:
        data = np.asarray(X, dtype=float)
        if data.ndim != 2 or data.shape[1] != d:
            raise ValueError(
                f"X must have shape (n_samples, {d}) to match the model; got {data.shape}"
            )
        if data.shape[0] > max_points:
            data = data[np.linspace(0, data.shape[0] - 1, max_points).astype(int)]
    m = len(dims_list)
    if figure is None:
        size = 4.5 if m <= 2 else 2.2 * m
        figure = Figure(figsize=(size * 1.15, size))
    else:
        figure.clear()
    colors = [f"C{j % 10}" for j in range(gmm.n_components)]
    point_style = {"s": 4, "color": "0.3", "alpha": 0.5, "linewidths": 0}
    reach = max(3.0, float(np.max(factors)) + 0.5)
    limits = {j: _limits(gmm, j, data, reach) for j in dims_list}

    def draw_density(ax: Any, j: int) -> None:
        if data is not None:
            ax.hist(data[:, j], bins="auto", range=limits[j], density=True, color="0.8")
        plot_density(ax, gmm, np.linspace(*limits[j], 300), index=j, color="C0")
        ax.set_xlim(*limits[j])

    def draw_pair(ax: Any, a: int, b: int) -> None:
        if data is not None:
            ax.scatter(data[:, a], data[:, b], **point_style)
        plot_error_ellipses(ax, gmm.marginalize([a, b]), colors=colors, factors=factors)
        ax.set_xlim(*limits[a])
        ax.set_ylim(*limits[b])

    names = getattr(gmm, "feature_names_", None)

    def label(j: int, short: bool = False) -> str:
        if names is not None:
            return str(names[j])
        return f"dim {j}" if short else f"dimension {j}"

    if m == 1:
        ax = figure.add_subplot()
        draw_density(ax, dims_list[0])
        ax.set_xlabel(label(dims_list[0]))
        ax.set_ylabel("density")
    elif m == 2:
        ax = figure.add_subplot()
        draw_pair(ax, *dims_list)
        ax.set_xlabel(label(dims_list[0]))
        ax.set_ylabel(label(dims_list[1]))
    else:
        axes = figure.subplots(m, m, squeeze=False)
        for row, b in enumerate(dims_list):
            for col, a in enumerate(dims_list):
                ax = axes[row, col]
                if col > row:
                    ax.set_axis_off()
                    continue
                if col == row:
                    draw_density(ax, a)
                    ax.set_yticks([])
                else:
                    draw_pair(ax, a, b)
                if row == m - 1:
                    ax.set_xlabel(label(a, short=True))
                if col == 0 and row > 0:
                    ax.set_ylabel(label(b, short=True))
    figure.tight_layout()
    return figure
