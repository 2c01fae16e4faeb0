"""Every gallery script runs (fast settings) and writes a non-trivial PNG."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
GALLERY = {
    "quickstart",
    "regression_uncertainty",
    "multimodal_regression",
    "trajectory_learning",
    "density_clustering",
    "imputation",
    "confidence_regions",
    "unscented_transform",
    "model_selection",
    "mclust_models",
    "online_em",
    "deconvolution",
}


def test_the_gallery_is_complete():
    assert GALLERY <= {script.stem for script in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_example_writes_a_png(script, tmp_path, monkeypatch, capsys):
    from matplotlib.image import imread

    monkeypatch.setenv("GAUSSMIX_FAST", "1")
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "out"), "--fast"])
    runpy.run_path(str(script), run_name="__main__")
    assert "wrote" in capsys.readouterr().out
    pngs = list((tmp_path / "out").glob("*.png"))
    assert [p.name for p in pngs] == [f"{script.stem}.png"]
    assert pngs[0].stat().st_size > 10_000
    image = imread(pngs[0])[..., :3]
    assert image.shape[0] >= 200 and image.shape[1] >= 300
    # Not a blank canvas: plenty of pixels differ from white.
    assert (np.abs(image - 1.0).sum(axis=-1) > 0.3).mean() > 0.02
