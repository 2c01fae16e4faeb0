"""plot_error_ellipse(s) with matplotlib's Agg backend: the Ellipse patches drawn."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gaussmix import GMM, MVN, plot_error_ellipse, plot_error_ellipses

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

COV = np.array([[2.0, 0.8], [0.8, 1.0]])
MEAN = np.array([1.0, -2.0])


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def _ellipses(ax):
    return [a for a in ax.get_children() if isinstance(a, Ellipse)]


def _boundary_in_data_coords(ell):
    """Points of the drawn outline, in data coordinates (independent of to_ellipse)."""
    path = ell.get_path()
    return ell.get_patch_transform().transform(path.vertices)


def _same_angle_deg(a, b):
    # An ellipse is unchanged by a rotation of 180 degrees.
    return np.sin(np.radians(a - b)) == pytest.approx(0.0, abs=1e-9)


def test_plot_error_ellipse_default_factors(ax):
    mvn = MVN(mean=MEAN, covariance=COV)
    plot_error_ellipse(ax, mvn)
    ells = _ellipses(ax)
    assert len(ells) == 8
    factors = np.linspace(0.25, 2.0, 8)
    widths = sorted(e.width for e in ells)
    for factor, width in zip(factors, widths, strict=True):
        angle, w, h = mvn.to_ellipse(factor)
        assert width == pytest.approx(2 * w)
    for ell in ells:
        assert_allclose(ell.center, MEAN)
        factor = ell.width / (2 * mvn.to_ellipse(1.0)[1])
        angle, w, h = mvn.to_ellipse(factor)
        assert ell.height == pytest.approx(2 * h)
        assert _same_angle_deg(ell.angle, np.degrees(angle))
        assert ell.get_alpha() == pytest.approx(0.25)


def test_drawn_outline_is_a_mahalanobis_contour(ax):
    """Every point of the drawn outline has squared Mahalanobis distance factor^2."""
    mvn = MVN(mean=MEAN, covariance=COV)
    factors = [0.5, 1.0, 3.0]
    plot_error_ellipse(ax, mvn, factors=factors)
    ells = sorted(_ellipses(ax), key=lambda e: e.width)
    assert len(ells) == 3
    prec = np.linalg.inv(COV)
    for factor, ell in zip(factors, ells, strict=True):
        pts = _boundary_in_data_coords(ell) - MEAN
        d2 = np.einsum("ni,ij,nj->n", pts, prec, pts)
        # The outline is made of Bezier control points; those on the curve (every
        # third vertex of a unit-circle path) lie exactly on the ellipse.
        on_curve = np.abs(np.linalg.norm(ell.get_path().vertices, axis=1) - 1) < 1e-9
        assert on_curve.sum() >= 8
        assert_allclose(d2[on_curve], factor**2, rtol=1e-9)


def test_plot_error_ellipse_color_and_alpha(ax):
    mvn = MVN(mean=MEAN, covariance=COV)
    plot_error_ellipse(ax, mvn, color="red", alpha=0.6, factors=[1.0, 2.0])
    ells = _ellipses(ax)
    assert len(ells) == 2
    for ell in ells:
        assert ell.get_alpha() == pytest.approx(0.6)
        assert_allclose(ell.get_facecolor()[:3], to_rgb("red"))


def test_plot_error_ellipse_returns_the_patches(ax):
    mvn = MVN(mean=MEAN, covariance=COV)
    out = plot_error_ellipse(ax, mvn, factors=[1.0])
    assert len(out) == 1
    assert out[0] in _ellipses(ax)


@pytest.fixture
def gmm():
    covs = np.array([COV, [[0.5, -0.2], [-0.2, 0.3]], np.eye(2)])
    means = np.array([[0.0, 0.0], [4.0, 1.0], [-3.0, 2.0]])
    return GMM(3, priors=[0.3, 0.3, 0.4], means=means, covariances=covs)


def test_plot_error_ellipses_one_per_component_and_factor(ax, gmm):
    plot_error_ellipses(ax, gmm)
    ells = _ellipses(ax)
    assert len(ells) == 3 * 8
    for j in range(3):
        mine = [e for e in ells if np.allclose(e.center, gmm.means[j])]
        assert len(mine) == 8
        mvn = gmm.extract_mvn(j)
        unit_angle, unit_w, unit_h = mvn.to_ellipse(1.0)
        got = sorted(e.width / 2 for e in mine)
        assert_allclose(got, np.linspace(0.25, 2.0, 8) * unit_w, rtol=1e-9)
        for ell in mine:
            assert ell.height / ell.width == pytest.approx(unit_h / unit_w)
            assert _same_angle_deg(ell.angle, np.degrees(unit_angle))


def test_plot_error_ellipses_outline_is_component_contour(ax, gmm):
    plot_error_ellipses(ax, gmm, factors=[1.5])
    ells = _ellipses(ax)
    assert len(ells) == 3
    for j in range(3):
        (ell,) = [e for e in ells if np.allclose(e.center, gmm.means[j])]
        pts = _boundary_in_data_coords(ell) - gmm.means[j]
        on_curve = np.abs(np.linalg.norm(ell.get_path().vertices, axis=1) - 1) < 1e-9
        d2 = np.einsum("ni,ij,nj->n", pts, np.linalg.inv(gmm.covariances[j]), pts)
        assert_allclose(d2[on_curve], 1.5**2, rtol=1e-9)


def test_plot_error_ellipses_colors_cycle(ax, gmm):
    colors = ["red", "green", "blue"]
    plot_error_ellipses(ax, gmm, colors=colors, alpha=0.4, factors=[1.0, 2.0])
    ells = _ellipses(ax)
    assert len(ells) == 6
    for j, color in enumerate(colors):
        for ell in ells:
            if np.allclose(ell.center, gmm.means[j]):
                assert_allclose(ell.get_facecolor()[:3], to_rgb(color))
                assert ell.get_alpha() == pytest.approx(0.4)


def test_plotting_a_3d_model_is_an_error(ax):
    with pytest.raises(ValueError):
        plot_error_ellipse(ax, MVN(mean=np.zeros(3), covariance=np.eye(3)))


def test_savefig_with_agg(ax, gmm, tmp_path):
    plot_error_ellipses(ax, gmm)
    ax.set_xlim(-6, 7)
    ax.set_ylim(-4, 5)
    out = tmp_path / "ellipses.png"
    ax.figure.savefig(out)
    assert out.stat().st_size > 1000


def test_no_module_level_matplotlib_in_gaussmix():
    import types

    import gaussmix

    modules = [m for m in vars(gaussmix).values() if isinstance(m, types.ModuleType)]
    modules += [sys.modules[n] for n in list(sys.modules) if n.startswith("gaussmix.")]
    for module in modules:
        for value in vars(module).values():
            origin = getattr(value, "__module__", None) or getattr(value, "__name__", "")
            assert not str(origin).startswith("matplotlib"), (module.__name__, value)


@pytest.mark.slow
def test_matplotlib_imported_only_inside_plot_functions():
    """In a fresh interpreter (about 1.5 s: scipy's import time)."""
    code = (
        "import sys, gaussmix, gaussmix.gmm, gaussmix.mvn, gaussmix.utils; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at import time'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
