"""scikit-learn's own mixture tests, run against gaussmix.sklearn with the import changed.

The test files are read from the installed scikit-learn at test time (they
ship with it), their ``from sklearn.mixture import ...`` lines are pointed at
``gaussmix.sklearn``, and pytest runs them in a subprocess with
scikit-learn's fixtures, with ``SKLEARN_RUN_FLOAT32_TESTS=1`` so that the
float32 variants run too. Everything passes except the tests listed in
``EXPECTED_FAILURES``, each with the reason; a new failure, or a listed test
that starts passing, fails this test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

TESTS = Path(sklearn.__file__).parent / "mixture" / "tests"
FILES = ("test_gaussian_mixture.py", "test_bayesian_mixture.py", "test_mixture.py")

EXPECTED_FAILURES = {
    # They call private methods of scikit-learn's classes.
    "test_gaussian_mixture.py::test_gaussian_mixture_precisions_init": "calls _set_parameters",
    "test_bayesian_mixture.py::test_compare_covar_type": "calls _check_parameters/_initialize",
    # It mocks scikit-learn's private M-step function and counts its calls.
    "test_gaussian_mixture.py::test_gaussian_mixture_all_init_does_not_estimate_"
    "gaussian_parameters": (
        "mocks sklearn.mixture._gaussian_mixture._estimate_gaussian_parameters"
    ),
}


@pytest.mark.skipif(not (TESTS / FILES[0]).exists(), reason="scikit-learn ships no tests here")
def test_sklearn_mixture_suite_passes_with_gaussmix(tmp_path):
    for name in FILES:
        text = (TESTS / name).read_text()
        text, count = re.subn(
            r"^from sklearn\.mixture import ", "from gaussmix.sklearn import ", text, flags=re.M
        )
        assert count == 1, f"{name}: expected one import of the estimators"
        (tmp_path / name).write_text(text)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "sklearn.conftest",
            "-p",
            "no:cacheprovider",
            *FILES,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SKLEARN_RUN_FLOAT32_TESTS": "1"},
    )
    output = run.stdout + run.stderr
    failed = {
        re.sub(r"\[.*\]$", "", line.split()[1])
        for line in output.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    }
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 85, output[-3000:]
    assert failed == set(EXPECTED_FAILURES), output[-3000:]
    float32_passed = [
        line for line in output.splitlines() if line.startswith("PASSED ") and "float32" in line
    ]
    # test_gaussian_mixture_fit_predict[float32-...] pins float32 weights_init
    # (scikit-learn's float32 tolerance for their sum).
    assert any("test_gaussian_mixture_fit_predict[float32" in p for p in float32_passed)
    assert "PASSED test_gaussian_mixture.py::test_gaussian_mixture_setting_best_params" in output
