"""``import gaussmix`` and the command line load no heavy dependency they do not use.

``scipy.stats`` alone took 0.45 s of the 0.55 s that ``import gaussmix`` cost
(issue 25), and every CLI call paid it. The time itself is measured by
``benchmarks/bench_import.py``; these tests pin the cause, which is
deterministic: which modules a fresh interpreter has loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gaussmix

HEAVY = ("scipy", "sklearn", "matplotlib", "dask", "distributed", "threadpoolctl")

PROBE = """
import json, sys
{code}
print(json.dumps(sorted({{m for m in sys.modules if m.split(".")[0] in {heavy!r}}})))
"""


def _loaded_after(code: str, cwd=None) -> list[str]:
    # The child imports the gaussmix under test, whatever its working directory.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(gaussmix.__file__).parents[1]), env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_gaussmix_loads_no_heavy_dependency():
    assert _loaded_after("import gaussmix") == []


def test_public_objects_are_usable_without_scipy_stats_until_needed():
    # Creating and evaluating a model must not need scipy.stats; the confidence
    # region (a chi-squared quantile) may, and then loads it.
    code = (
        "import numpy as np, gaussmix\n"
        "g = gaussmix.GMM(2, priors=[0.5, 0.5], means=[[0.0], [1.0]],"
        " covariances=[[[1.0]], [[1.0]]])\n"
        "g.to_probability_density(np.zeros((3, 1)))\n"
    )
    assert not [m for m in _loaded_after(code) if m.startswith("scipy.stats")]
    loaded = _loaded_after(code + "g.is_in_confidence_region([0.0], 0.9)\n")
    assert "scipy.stats" in loaded


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    data = np.random.default_rng(0).normal(size=(200, 2))
    np.savetxt(folder / "data.csv", data, delimiter=",")
    np.savetxt(folder / "inputs.csv", data[:, :1], delimiter=",")
    return folder


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["fit", "data.csv", "-k", "2", "-o", "model.json"],
        ["score", "model.json", "data.csv"],
        ["predict", "model.json", "inputs.csv", "--given", "0", "-o", "out.csv"],
        ["sample", "model.json", "-n", "5", "-o", "samples.npy"],
    ],
    ids=lambda argv: argv[0],
)
def test_cli_commands_start_without_heavy_dependencies(argv, cli_files):
    code = (
        "import contextlib, io\n"
        "from gaussmix.cli import main\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    try:\n"
        f"        status = main({argv!r})\n"
        "    except SystemExit as exit:\n"
        "        status = exit.code\n"
        "assert status == 0, status\n"
    )
    # threadpoolctl is what EM and predict use to run row blocks in threads: used, so allowed.
    assert [m for m in _loaded_after(code, cwd=cli_files) if m != "threadpoolctl"] == []


def test_show_config_says_whether_the_kernel_is_in_use(monkeypatch):
    import io

    from gaussmix.kernels import compiled
    from gaussmix.utils import config, show_config

    info = config()
    assert info["compiled_kernel"] == ("in use" if compiled.available() else "not built")
    monkeypatch.setattr(compiled, "available", lambda: False)
    info = config()
    assert info["compiled_kernel"] == "not built"
    assert "2x slower" in info["numpy_path_cost"]
    out = io.StringIO()
    show_config(out)
    assert "compiled kernel: not built" in out.getvalue()
    assert "install a C compiler" in out.getvalue()
