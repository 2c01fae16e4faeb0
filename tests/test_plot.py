"""Plots, checked by what was drawn (Agg backend): artists, their data and image values."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import norm

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from gaussmix import GMM, MVN, plot_error_ellipse, plot_error_ellipses  # noqa: E402
from gaussmix.plot import (  # noqa: E402
    conditional_density,
    plot_conditional_density,
    plot_density,
    plot_mixture,
    plot_regression,
)

MEAN = np.array([0.5, -1.0])
COV = np.array([[2.0, 0.9], [0.9, 1.0]])


@pytest.fixture
def ax():
    figure, axes = plt.subplots()
    yield axes
    plt.close(figure)


def gaussian_as_gmm() -> GMM:
    return GMM(1, priors=[1.0], means=MEAN[None], covariances=COV[None])


def closed_form_conditional(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean and std of y | x for the bivariate Gaussian (MEAN, COV)."""
    mean = MEAN[1] + COV[0, 1] / COV[0, 0] * (x - MEAN[0])
    std = np.sqrt(COV[1, 1] - COV[0, 1] ** 2 / COV[0, 0])
    return mean, std


def bimodal_gmm() -> GMM:
    """At x = 0, y | x has two modes at -1 and +1."""
    return GMM(
        3,
        priors=[0.3, 0.3, 0.4],
        means=[[0.0, -1.0, 0.0], [0.0, 1.0, 2.0], [2.0, 0.0, -1.0]],
        covariances=[
            [[1.0, 0.2, 0.0], [0.2, 0.1, 0.0], [0.0, 0.0, 1.0]],
            [[1.0, -0.2, 0.1], [-0.2, 0.1, 0.0], [0.1, 0.0, 0.5]],
            np.eye(3) * 0.5,
        ],
    )


# ----------------------------------------------------------------------
# gmr's error ellipses keep their behaviour
# ----------------------------------------------------------------------
def test_plot_error_ellipse_one_patch_per_factor(ax):
    mvn = MVN(mean=MEAN, covariance=COV)
    patches = plot_error_ellipse(ax, mvn, color="r", alpha=0.5, factors=[1.0, 2.0])
    assert len(patches) == 2 and all(isinstance(p, Ellipse) for p in patches)
    assert all(p in ax.artists or p in ax.patches for p in patches)
    angle, width, height = mvn.to_ellipse(2.0)
    assert patches[1].center == tuple(MEAN)
    np.testing.assert_allclose([patches[1].width, patches[1].height], [2 * width, 2 * height])
    np.testing.assert_allclose(patches[1].angle, np.degrees(angle))
    assert patches[0].get_alpha() == 0.5
    np.testing.assert_allclose(patches[0].get_facecolor()[:3], [1.0, 0.0, 0.0])
    assert len(plot_error_ellipse(ax, mvn)) == 8  # gmr's default factors


def test_plot_error_ellipses_component_by_component(ax):
    gmm = bimodal_gmm().marginalize([0, 1])
    patches = plot_error_ellipses(ax, gmm, colors=["r", "g", "b"], factors=[0.5, 1.0])
    assert len(patches) == 6
    np.testing.assert_allclose([p.center for p in patches[:3]], gmm.means)
    np.testing.assert_allclose(patches[4].get_facecolor()[:3], [0.0, 0.5, 0.0])
    assert len(plot_error_ellipses(ax, gmm)) == 3 * 8


# ----------------------------------------------------------------------
# Regression plot
# ----------------------------------------------------------------------
def test_regression_line_and_band_match_closed_form(ax):
    x = np.linspace(-3, 4, 25)[::-1]  # unsorted input is sorted
    line, band = plot_regression(ax, gaussian_as_gmm(), x, n_std=1.5)
    assert list(ax.lines) == [line] and band in ax.collections and len(ax.collections) == 1
    mean, std = closed_form_conditional(np.sort(x))
    np.testing.assert_allclose(line.get_xdata(), np.sort(x))
    np.testing.assert_allclose(line.get_ydata(), mean)
    vertices = band.get_paths()[0].vertices
    for xi, mi in zip(np.sort(x), mean, strict=True):
        ys = vertices[np.isclose(vertices[:, 0], xi), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [mi - 1.5 * std, mi + 1.5 * std])


def test_regression_band_uses_total_variance_of_the_mixture(ax):
    gmm = bimodal_gmm()
    x = np.linspace(-2, 3, 30)
    line, band = plot_regression(ax, gmm, x, input_index=0, output_index=2, n_std=2.0)
    mean, cov = gmm.predict([0], x[:, None], return_covariance=True)
    np.testing.assert_allclose(line.get_ydata(), mean[:, 1])
    vertices = band.get_paths()[0].vertices
    upper = np.array([vertices[np.isclose(vertices[:, 0], xi), 1].max() for xi in x])
    np.testing.assert_allclose(upper, mean[:, 1] + 2.0 * np.sqrt(cov[:, 1, 1]))
    # Between two branches the band is far wider than a single branch.
    line, _ = plot_regression(ax, gmm, [0.0], output_index=1, n_std=None)
    assert abs(line.get_ydata()[0]) < 0.3


def test_regression_without_band_and_defaults(ax):
    line, band = plot_regression(ax, gaussian_as_gmm(), n_std=None, n_points=50, label="GMR")
    assert band is None and not ax.collections
    assert line.get_label() == "GMR" and line.get_xdata().size == 50
    # The default grid spans the input's marginal ±3 std.
    sd = np.sqrt(COV[0, 0])
    np.testing.assert_allclose(line.get_xdata()[[0, -1]], [MEAN[0] - 3 * sd, MEAN[0] + 3 * sd])
    line, band = plot_regression(ax, MVN(mean=MEAN, covariance=COV), [0.0, 1.0])
    np.testing.assert_allclose(line.get_ydata(), closed_form_conditional(np.array([0.0, 1.0]))[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_index": 2}, ValueError, "input_index=2 is out of range"),
        ({"input_index": 1, "output_index": 1}, ValueError, "must differ"),
        ({"output_index": 1.5}, TypeError, "output_index must be an integer"),
        ({"x": [[0.0, 1.0]]}, ValueError, "x must be a 1-D array"),
        ({"x": [0.0, np.nan]}, ValueError, "finite"),
        ({"n_std": -1.0}, ValueError, "n_std must be"),
    ],
)
def test_regression_errors(ax, kwargs, error, message):
    with pytest.raises(error, match=message):
        plot_regression(ax, gaussian_as_gmm(), **kwargs)


def test_one_dimensional_model_cannot_be_a_regression(ax):
    gmm = GMM(1, priors=[1.0], means=[[0.0]], covariances=[[[1.0]]])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        plot_regression(ax, gmm)
    with pytest.raises(TypeError, match="GMM or an MVN"):
        plot_regression(ax, "model.json")


# ----------------------------------------------------------------------
# Conditional density
# ----------------------------------------------------------------------
def test_conditional_density_matches_closed_form():
    x = np.array([-1.0, 0.5, 2.0])
    y = np.linspace(-4, 2, 7)
    density = conditional_density(gaussian_as_gmm(), x, y)
    mean, std = closed_form_conditional(x)
    np.testing.assert_allclose(density, norm.pdf(y[:, None], mean[None, :], std), rtol=1e-10)


def test_conditional_density_of_a_mixture_matches_condition():
    gmm = bimodal_gmm()
    x = np.array([-1.0, 0.0, 1.5])
    y = np.linspace(-3, 4, 40)
    density = conditional_density(gmm, x, y, input_index=0, output_index=2)
    for col, xi in enumerate(x):
        expected = gmm.condition([0], [xi]).marginalize([1]).to_probability_density(y[:, None])
        np.testing.assert_allclose(density[:, col], expected, rtol=1e-9)
    wide = np.linspace(-10, 10, 4001)
    totals = conditional_density(gmm, x, wide, output_index=2).sum(axis=0) * (wide[1] - wide[0])
    np.testing.assert_allclose(totals, 1.0, rtol=1e-6)


def test_conditional_density_image(ax):
    gmm = bimodal_gmm()
    x = np.linspace(-1, 1, 5)
    y = np.linspace(-2, 2, 9)
    image = plot_conditional_density(ax, gmm, x, y, output_index=1, cmap="magma")
    assert list(ax.images) == [image]
    values = np.asarray(image.get_array())
    assert values.shape == (9, 5)
    np.testing.assert_allclose(values, conditional_density(gmm, x, y, output_index=1))
    assert image.origin == "lower" and image.get_cmap().name == "magma"
    np.testing.assert_allclose(image.get_extent(), [-1.25, 1.25, -2.25, 2.25])
    # Two modes at x = 0: the density at y = ±1 is far above its value at y = 0.
    column = values[:, 2]
    assert column[2] > 5 * column[4] and column[6] > 5 * column[4]


def test_conditional_density_image_defaults_and_colorbar(ax):
    image = plot_conditional_density(ax, gaussian_as_gmm(), n_points=30, colorbar=True)
    assert np.asarray(image.get_array()).shape == (30, 30)
    assert len(ax.figure.axes) == 2  # the colorbar's axes
    assert ax.figure.axes[1].get_ylabel() == "p(y | x)"


def test_conditional_density_image_needs_even_grids(ax):
    with pytest.raises(ValueError, match="y must be increasing and evenly spaced"):
        plot_conditional_density(ax, gaussian_as_gmm(), [0.0, 1.0], [0.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="x must be increasing"):
        plot_conditional_density(ax, gaussian_as_gmm(), [1.0, 0.0], [0.0, 1.0])


# ----------------------------------------------------------------------
# Densities and the overview figure
# ----------------------------------------------------------------------
def test_plot_density_is_the_marginal(ax):
    gmm = bimodal_gmm()
    x = np.linspace(-4, 5, 50)
    line = plot_density(ax, gmm, x, index=2, color="k")
    expected = sum(
        w * norm.pdf(x, m[2], np.sqrt(c[2, 2]))
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    )
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-10)


def test_plot_mixture_one_dimension():
    gmm = GMM(2, priors=[0.5, 0.5], means=[[-1.0], [1.0]], covariances=[[[0.2]], [[0.5]]])
    data = np.linspace(-2, 2, 40)[:, None]
    figure = plot_mixture(gmm, data)
    (ax,) = figure.axes
    assert len(ax.lines) == 1 and len(ax.patches) > 3  # density over histogram bars
    heights = np.array([bar.get_height() for bar in ax.patches])
    widths = np.array([bar.get_width() for bar in ax.patches])
    np.testing.assert_allclose((heights * widths).sum(), 1.0)


def test_plot_mixture_two_dimensions():
    gmm = bimodal_gmm().marginalize([0, 1])
    data = gmm.sample(100)
    figure = plot_mixture(gmm, data, factors=[1.0, 2.0, 3.0])
    (ax,) = figure.axes
    assert sum(isinstance(p, Ellipse) for p in ax.patches) == 3 * 3
    np.testing.assert_allclose(ax.collections[0].get_offsets(), data)
    lo, hi = ax.get_xlim()
    assert lo <= data[:, 0].min() and hi >= data[:, 0].max()


def test_plot_mixture_pairs_and_subsampling():
    gmm = bimodal_gmm()
    data = gmm.sample(300)
    figure = plot_mixture(gmm, data, max_points=50)
    assert len(figure.axes) == 9
    visible = [a for a in figure.axes if a.axison]
    assert len(visible) == 6  # lower triangle and diagonal
    pair = figure.axes[3]  # row 1, column 0: dims (0, 1)
    assert sum(isinstance(p, Ellipse) for p in pair.patches) == 3 * 2
    assert pair.collections[0].get_offsets().shape == (50, 2)
    assert len(figure.axes[0].lines) == 1
    figure = plot_mixture(MVN(mean=[0.0, 1.0, 2.0], covariance=np.eye(3)), dims=[2, 0])
    assert len(figure.axes) == 1 and figure.axes[0].get_xlabel() == "dimension 2"


def test_plot_mixture_errors():
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        plot_mixture(bimodal_gmm(), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="distinct"):
        plot_mixture(bimodal_gmm(), dims=[1, 1])


def test_matplotlib_is_imported_lazily():
    code = "import sys, gaussmix, gaussmix.plot; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
