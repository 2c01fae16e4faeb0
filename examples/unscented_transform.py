"""The unscented transform: propagate a Gaussian through a nonlinear function.
===========================================================================

A position known in polar coordinates (range r, bearing theta) with Gaussian
noise is converted to Cartesian coordinates. The unscented transform pushes
the 2d + 1 sigma points of the Gaussian (``MVN.sigma_points``) through the
function and fits a Gaussian to them (``MVN.estimate_from_sigma_points``).
Compared with a large Monte Carlo sample and with linearization (first-order
Taylor, as in an extended Kalman filter), it captures the curved shape's
mean shift and spread far better.

Usage: ``python examples/unscented_transform.py [OUTPUT_DIR] [--fast]``;
writes ``unscented_transform.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import MVN
from gaussmix.plot import plot_error_ellipse


def polar_to_cartesian(points: np.ndarray) -> np.ndarray:
    r, theta = points[:, 0], points[:, 1]
    return np.column_stack([r * np.cos(theta), r * np.sin(theta)])


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    polar = MVN(mean=[1.0, np.pi / 2], covariance=np.diag([0.02**2, 0.5**2]), random_state=0)

    # Unscented transform (alpha=1 spreads the sigma points to one std or so).
    sigma = polar.sigma_points(alpha=1.0, kappa=1.0)
    unscented = polar.estimate_from_sigma_points(
        polar_to_cartesian(sigma), alpha=1.0, beta=2.0, kappa=1.0
    )

    # Reference: Monte Carlo.
    samples = polar_to_cartesian(polar.sample(5_000 if fast else 100_000))
    monte_carlo = MVN(random_state=0).from_samples(samples)

    # Linearization: Jacobian at the mean.
    r, theta = polar.mean
    jacobian = np.array([[np.cos(theta), -r * np.sin(theta)], [np.sin(theta), r * np.cos(theta)]])
    linearized = MVN(
        mean=polar_to_cartesian(polar.mean[None])[0],
        covariance=jacobian @ polar.covariance @ jacobian.T,
    )
    for name, mvn in (
        ("Monte Carlo", monte_carlo),
        ("unscented", unscented),
        ("linearized", linearized),
    ):
        print(
            f"{name:>11}: mean {np.round(mvn.mean, 3)}, "
            f"std {np.round(np.sqrt(np.diag(mvn.covariance)), 3)}"
        )

    figure = Figure(figsize=(6.5, 5))
    ax = figure.add_subplot()
    ax.scatter(*samples[:3000].T, s=2, color="0.6", alpha=0.5, linewidths=0, label="samples")
    for mvn, color, label in (
        (monte_carlo, "k", "Monte Carlo"),
        (unscented, "C0", "unscented transform"),
        (linearized, "C3", "linearization"),
    ):
        for ellipse in plot_error_ellipse(ax, mvn, color=color, alpha=1.0, factors=[1.0, 2.0]):
            ellipse.set_fill(False)
            ellipse.set_linewidth(2)
        ax.plot(*mvn.mean, "+", color=color, markersize=12, mew=2, label=label)
    transformed = polar_to_cartesian(sigma)
    ax.scatter(*transformed.T, s=40, color="C0", marker="D", label="sigma points")
    ax.set(xlim=(-1.6, 1.6), ylim=(-0.4, 1.6), aspect="equal", xlabel="x", ylabel="y")
    ax.set_title("polar -> Cartesian: 1 and 2 std ellipses")
    ax.legend(loc="lower center", fontsize="small", ncols=2)
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "unscented_transform.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
