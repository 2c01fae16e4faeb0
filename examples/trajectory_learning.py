"""Trajectory learning from demonstrations (imitation learning with GMR).
======================================================================

A few noisy demonstrations of a 2-D motion are stacked as samples of
(t, x, y). A GMM of this joint density, conditioned on time, reproduces the
motion as E[x, y | t] with a covariance that tells where the demonstrations
agree (narrow) and where they vary (wide); sampling p(x, y | t) gives new,
plausible motions.

Usage: ``python examples/trajectory_learning.py [OUTPUT_DIR] [--fast]``;
writes ``trajectory_learning.png``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gaussmix import GMM, MVN
from gaussmix.datasets import make_demonstrations
from gaussmix.plot import plot_error_ellipse, plot_regression


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    demos = make_demonstrations(n_demos=6, n_steps=60 if fast else 150, random_state=0)
    samples = demos.reshape(-1, 3)  # rows (t, x, y)
    gmm = GMM(n_components=8, random_state=0).from_samples(
        samples, n_iter=300, init_params="kmeans++", tol=1e-5
    )

    t = np.linspace(0, 1, 100)
    mean, covariance = gmm.predict([0], t[:, None], return_covariance=True)
    reference = demos[:, :, 1:].mean(axis=0)
    error = np.abs(np.interp(demos[0, :, 0], t, mean[:, 0]) - reference[:, 0]).max()
    print(f"largest distance of the reproduced x(t) from the demonstrations' mean: {error:.3f}")

    # Sample new motions: draw from p(x, y | t) with one shared standard normal per motion,
    # so that each drawn motion is smooth.
    rng = np.random.default_rng(1)
    chol = np.linalg.cholesky(covariance)
    new_motions = [mean + np.einsum("tij,j->ti", chol, rng.standard_normal(2)) for _ in range(3)]

    figure = Figure(figsize=(12, 4))
    space, x_of_t, y_of_t = figure.subplots(1, 3)
    for demo in demos:
        space.plot(demo[:, 1], demo[:, 2], color="0.6", lw=1)
    for k in range(0, t.size, 9):
        plot_error_ellipse(
            space,
            MVN(mean=mean[k], covariance=covariance[k]),
            color="C0",
            alpha=0.15,
            factors=[1.0, 2.0],
        )
    for motion in new_motions:
        space.plot(motion[:, 0], motion[:, 1], color="C1", lw=1, ls="--")
    space.plot(mean[:, 0], mean[:, 1], color="C0", lw=2, label="GMR mean")
    space.plot([], [], color="0.6", label="demonstrations")
    space.plot([], [], color="C1", ls="--", label="sampled motions")
    space.set(xlabel="x", ylabel="y", title="motion in the plane", aspect="equal")
    space.legend(loc="upper left", fontsize="small")
    for ax, index, name in ((x_of_t, 1, "x"), (y_of_t, 2, "y")):
        for demo in demos:
            ax.plot(demo[:, 0], demo[:, index], color="0.6", lw=1)
        plot_regression(ax, gmm, t, input_index=0, output_index=index, label="GMR ± 2 std")
        ax.set(xlabel="t", ylabel=name, title=f"{name}(t)")
        ax.legend(loc="best", fontsize="small")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    path = output / "trajectory_learning.png"
    figure.savefig(path, dpi=80)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
