"""The source distribution carries everything its own tests and docs need.

Twice the sdist failed its own tests once unpacked (data files missing from
``MANIFEST.in``'s patterns; issue 25). This test builds the sdist the way a
release does (``python -m build --sdist``, in an isolated environment), checks
that every file git tracks under ``src/``, ``tests/``, ``examples/`` and
``docs/`` is inside it, unpacks it and runs a smoke subset of its tests there,
against the unpacked ``src/`` (no compiled kernel: the numpy path). The subset
touches every kind of file the tests read: the data sets in ``tests/data``, the
stored model files, the examples, the README and the documentation's sources.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED_FOLDERS = ("src", "tests", "examples", "docs")

# One test of each kind of file the suite reads, chosen by keyword (robust to tests
# moving between files): stored model files, the mclust data sets in tests/data, an
# example script, the README's snippets, the docs' sources and the guides' code.
SMOKE_KEYWORDS = (
    "stored_v1 or agrees_with_mclust or (test_examples and quickstart) or test_readme"
    " or test_api_reference or (guide and getting_started)"
)
SMOKE_MINIMUM = 10  # tests that must run, so that the subset cannot pass empty


def _tracked_files(*folders: str) -> list[str]:
    """Files git tracks (or would: untracked and not ignored) under ``folders``."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (e.g. this is the unpacked sdist itself)")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *folders],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [name for name in listed.split("\0") if name]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    pytest.importorskip("build", reason="the sdist is built with `build` (the test extra)")
    # Build from a copy of what git holds, as a fresh clone would: a checkout's
    # leftovers (src/*.egg-info/SOURCES.txt lists every file of an earlier build,
    # and setuptools adds them all) would hide a file MANIFEST.in forgets.
    clone = tmp_path_factory.mktemp("clone")
    for name in _tracked_files():
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    out = tmp_path_factory.mktemp("sdist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(clone)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (archive,) = out.glob("gaussmix-*.tar.gz")
    return archive


def _members(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    top = names[0].split("/")[0]
    return {name[len(top) + 1 :] for name in names if name.startswith(top + "/")}


@pytest.mark.slow
def test_sdist_holds_every_tracked_file(sdist):
    members = _members(sdist)
    missing = sorted(set(_tracked_files(*CHECKED_FOLDERS)) - members)
    assert not missing, f"tracked but not in the sdist (fix MANIFEST.in): {missing}"
    # Build outputs stay out.
    assert not [m for m in members if m.endswith((".so", ".pyd", ".pyc"))]
    assert not [m for m in members if m.startswith(("docs/_build/", "docs/auto_examples/"))]


@pytest.mark.slow
def test_unpacked_sdist_passes_a_smoke_subset_of_its_tests(sdist, tmp_path):
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.iterdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = str(unpacked / "src")
    env["GAUSSMIX_DISABLE_COMPILED"] = "1"  # the unpacked tree has no kernel built
    pytest_args = ["-q", "-p", "no:cacheprovider", "tests", "-k", SMOKE_KEYWORDS]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= SMOKE_MINIMUM, summary
