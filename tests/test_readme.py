"""The README is the front page, here and on the package index.

* Its Python code runs as written (the guides' code is run by tests/test_docs.py).
* Its second set-up command is exactly what CI runs (``.ci/run``).
* Every link and image is absolute, since relative ones break on the index's page;
  links to the repository and to the documentation use the bases of
  ``[project.urls]`` (``tools/set_repository_url.py`` changes them everywhere), and
  the files and pages they point to exist.
"""

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
LINKS = re.findall(r"\]\(([^)\s]+)\)", TEXT)


def _bases() -> tuple[str, str]:
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    return urls["Source"].rstrip("/"), urls["Documentation"].rstrip("/")


def test_readme_has_python_snippets():
    assert len(BLOCKS) >= 1


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippet_runs(index, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    if "import dask" in BLOCKS[index]:
        pytest.importorskip("distributed")  # the Dask section needs gaussmix[dask]
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})


def test_the_readme_quick_example_is_short():
    assert len(BLOCKS[0].strip().splitlines()) <= 16


def test_readme_test_command_is_what_ci_runs():
    commands = re.findall(r"^(python -m pip install .*?) +#", TEXT, re.M)
    test_command = [c for c in commands if "pytest" in c]
    assert len(test_command) == 1
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test_command[0]
    assert any("gaussmix demo" in c for c in commands)


def test_readme_links_are_absolute():
    assert LINKS
    relative = [link for link in LINKS if not link.startswith(("https://", "#"))]
    assert not relative, f"relative links break on the package index: {relative}"


def _raw_base(repository: str) -> str:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from set_repository_url import raw_base
    finally:
        sys.path.pop(0)
    return raw_base(repository)


def test_readme_links_into_the_project_resolve():
    repository, docs = _bases()
    raw = _raw_base(repository)
    checked = 0
    for link in LINKS:
        target = None
        if link.startswith(raw + "/main/"):
            target = ROOT / link[len(raw + "/main/") :]
        elif link.startswith(repository + "/blob/main/"):
            target = ROOT / link[len(repository + "/blob/main/") :]
        elif link.startswith(docs + "/"):
            page = link[len(docs) + 1 :].split("#")[0].removesuffix(".html")
            if page.startswith("auto_examples/"):
                stem = page.split("/", 1)[1]
                target = ROOT / "examples" / ("README.rst" if stem == "index" else f"{stem}.py")
            else:
                target = ROOT / "docs" / f"{page}.rst"
        elif "gaussmix" in link and "pypi.org" not in link:
            pytest.fail(f"{link} points at the project but not through [project.urls]' bases")
        if target is not None:
            checked += 1
            assert target.is_file(), f"{link} -> {target} does not exist"
    assert checked >= 10


def test_readme_shows_a_picture():
    # The demo's picture on top, and the one of mclust's 14 models.
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", TEXT)
    assert 1 <= len(images) <= 2 and all(image.endswith(".png") for image in images)


def test_the_performance_table_is_the_results_files():
    """README's performance table is written from benchmarks/results/ by a script."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import make_readme_table
    finally:
        sys.path.pop(0)
    table = make_readme_table.current(TEXT)
    assert table is not None, "README.md lost its performance table's markers"
    assert table == make_readme_table.render(), "run python benchmarks/make_readme_table.py"
    assert table.count("\n|") >= 4
