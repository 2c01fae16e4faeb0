"""The documentation: complete API reference, guides whose code runs, a clean build.

* Every public module (no ``_`` in its path, ``gaussmix.kernels`` aside) that
  declares ``__all__``, and every name in it, is in the API reference (``docs/api``),
  by object identity: a re-exported function is documented once, under any of its
  names.
* The code of the getting-started page, the user guides and the migration guides
  runs as written (they are doctests: ``>>>`` lines with their output).
* Sphinx builds the site with warnings as errors and nitpicky cross-references, the
  gallery runs every example (fast settings) and shows its picture, and every internal
  link and anchor of the built HTML resolves.
"""

from __future__ import annotations

import doctest
import html.parser
import importlib
import os
import pkgutil
import re
import runpy
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import gaussmix

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDES = [DOCS / "getting_started.rst"] + [
    page
    for folder in ("guide", "migration")
    for page in sorted((DOCS / folder).glob("*.rst"))
    if page.stem != "index"
]
PAGES_WITHOUT_CODE = {"performance"}  # tables of measurements


# -- the API reference covers every public name ----------------------------------------
def public_modules() -> dict[str, object]:
    """gaussmix and its submodules without a private component (kernels aside)."""
    modules = {"gaussmix": gaussmix}
    for info in pkgutil.walk_packages(gaussmix.__path__, "gaussmix."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "kernels":
            continue
        modules[info.name] = importlib.import_module(info.name)
    return modules


_DIRECTIVE = re.compile(r"^\.\. (module|currentmodule|data|autosummary)::\s*(\S*)")


def documented_names(rst_files) -> set[str]:
    """Qualified names that the API pages document (autosummary entries, data, modules)."""
    names: set[str] = set()
    for path in rst_files:
        module, in_summary = "", False
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            match = _DIRECTIVE.match(line)
            if match:
                kind, argument = match.groups()
                in_summary = kind == "autosummary"
                if kind in ("module", "currentmodule"):
                    module = argument
                    names.add(argument)
                elif kind == "data":
                    names.add(f"{module}.{argument}")
                continue
            if in_summary:
                entry = line.strip()
                if not entry or entry.startswith(":"):
                    continue
                if not line.startswith("   "):
                    in_summary = False
                    continue
                names.add(f"{module}.{entry}")
    return names


def _generated_names() -> set[str]:
    """What docs/conf.py lists for the inner modules (``gaussmix.a.b``; docs/api/internals.rst).

    The user-facing modules, ``gaussmix`` and ``gaussmix.a``, get no such help: their
    names must be on the hand-written pages.
    """
    conf = runpy.run_path(str(DOCS / "conf.py"))
    modules = conf["internal_module_names"]()
    assert all(module.count(".") >= 2 for module in modules)
    return {f"{module}.{name}" for module, names in modules.items() for name in names} | set(
        modules
    )


def _resolve(qualified: str):
    try:
        return pkgutil.resolve_name(qualified)
    except (ImportError, AttributeError, ValueError):
        return None


def undocumented(modules: dict[str, object], documented: set[str]) -> list[str]:
    """Public names of ``modules`` that no documented name refers to."""
    by_object: dict[int, set[str]] = {}
    for name in documented:
        obj = _resolve(name)
        if obj is not None:
            by_object.setdefault(id(obj), set()).add(name.rsplit(".", 1)[-1])
    missing = []
    for module_name, module in modules.items():
        if hasattr(module, "__all__") and module_name not in documented:
            missing.append(module_name)  # a namespace of public names needs its page
        for name in getattr(module, "__all__", []):
            if name == "__version__":
                documented_here = "gaussmix.__version__" in documented
            else:
                # Same object, documented under the same short name (constants are
                # shared small ints and strings, so the name must match too).
                documented_here = name in by_object.get(id(getattr(module, name)), set())
            if not documented_here:
                missing.append(f"{module_name}.{name}")
    return sorted(missing)


def _api_pages():
    return sorted(p for p in (DOCS / "api").glob("*.rst") if p.name != "internals.rst")


def test_api_reference_lists_every_public_name():
    documented = documented_names(_api_pages()) | _generated_names()
    missing = undocumented(public_modules(), documented)
    assert not missing, f"add these to docs/api/*.rst: {missing}"


def test_api_coverage_check_can_fail():
    documented = documented_names(_api_pages()) | _generated_names()
    assert "gaussmix.GMM" in documented
    assert "gaussmix.GMM" in undocumented(
        {"gaussmix": gaussmix}, documented - {"gaussmix.GMM", "gaussmix.gmm.GMM"}
    )
    fake = type(sys)("gaussmix.fake")
    fake.__all__ = ["GMM", "brand_new_function"]
    fake.GMM = gaussmix.GMM
    fake.brand_new_function = lambda: None
    assert undocumented({"gaussmix.fake": fake}, documented | {"gaussmix.fake"}) == [
        "gaussmix.fake.brand_new_function"
    ]


def test_every_public_module_is_importable_from_the_docs_pages():
    documented = documented_names(_api_pages()) | _generated_names()
    for name in sorted(documented):
        if name.startswith("gaussmix.__version__"):
            continue
        assert _resolve(name) is not None, f"docs/api names {name}, which does not import"


# -- the guides' code runs ------------------------------------------------------------
@pytest.mark.filterwarnings("error::gaussmix.ConvergenceWarning")  # guides show good fits
@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.stem)
def test_guide_code_runs(page, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
        report=True,
        raise_on_error=False,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_every_guide_has_runnable_code():
    # A guide without a single doctest would pass test_guide_code_runs vacuously.
    assert len(GUIDES) >= 12
    for page in GUIDES:
        if page.stem not in PAGES_WITHOUT_CODE:
            assert ">>> " in page.read_text(encoding="utf-8"), page


# -- the site builds, with its gallery, and its internal links resolve -------------------
class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("name"):
            self.ids.add(attributes["name"])
        for key in ("href", "src"):
            value = attributes.get(key)
            if value and tag in ("a", "img", "link", "script"):
                self.links.append(value)


def broken_internal_links(site: Path) -> list[str]:
    site = site.resolve()
    pages = {
        path: _Links()
        for path in site.rglob("*.html")
        if not path.relative_to(site).parts[0].startswith(("_static", "_sources"))
    }
    for path, parser in pages.items():
        parser.feed(path.read_text(encoding="utf-8"))
    broken = []
    for path, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)} -> {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if parts.fragment not in ids:
                    broken.append(f"{path.relative_to(site)} -> {link} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx", reason="the docs tools come with the test extra")
    out = tmp_path_factory.mktemp("html")
    env = dict(os.environ, GAUSSMIX_FAST="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    sphinx_args = ["-W", "-n", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", *sphinx_args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    return out


@pytest.mark.slow
def test_docs_build_without_warnings_and_links_resolve(site):
    assert (site / "index.html").exists()
    assert not broken_internal_links(site)


@pytest.mark.slow
def test_gallery_pages_show_their_pictures(site):
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert examples
    for stem in examples:
        page = (site / "auto_examples" / f"{stem}.html").read_text(encoding="utf-8")
        image = site / "_images" / f"sphx_glr_{stem}_001.png"
        assert f"sphx_glr_{stem}_001.png" in page, stem
        assert image.stat().st_size > 10_000, stem


@pytest.mark.slow
def test_api_pages_exist_for_the_main_classes(site):
    for name in ("gaussmix.GMM", "gaussmix.ConditionalGMM", "gaussmix.select_model"):
        page = site / "api" / "generated" / f"{name}.html"
        assert page.exists(), name
    text = (site / "api" / "generated" / "gaussmix.GMM.html").read_text(encoding="utf-8")
    for method in ("from_samples", "predict", "condition_batch", "save", "load"):
        assert f'id="gaussmix.GMM.{method}"' in text, method


def test_link_checker_finds_a_broken_link(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#there">x</a><a href="#here">y</a>')
    (tmp_path / "b.html").write_text('<p id="elsewhere"></p>')
    assert broken_internal_links(tmp_path) == [
        "a.html -> b.html#there (no such anchor)",
        "a.html -> #here (no such anchor)",
    ]


def _bash_lines(page: Path) -> list[str]:
    lines, in_bash = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith(".. code-block::"):
            in_bash = line.split("::")[1].strip() == "bash"
        elif in_bash and line.startswith("   "):
            lines.append(line.strip())
        elif line.strip():
            in_bash = False
    return lines


def test_cli_guide_session_runs(tmp_path, monkeypatch, capsys):
    import shlex

    import numpy as np

    from gaussmix.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    rng = np.random.default_rng(0)
    data = np.vstack([rng.normal(m, 1.0, (150, 3)) for m in (0.0, 5.0)])
    np.savetxt("data.csv", data, delimiter=",", header="a,b,c", comments="")
    np.savetxt("inputs.csv", data[:5, :1], delimiter=",")
    session = [line for line in _bash_lines(DOCS / "guide" / "cli.rst") if "|" not in line]
    assert len(session) >= 7
    for line in session:
        argv = shlex.split(line)
        assert argv[0] == "gaussmix"
        assert main(argv[1:]) == 0, line
    for made in ("model.json", "predictions.csv", "samples.npy", "model.png", "best.json"):
        assert (tmp_path / made).stat().st_size > 0, made
    # The error shown on the page is the one the command gives.
    capsys.readouterr()
    page = (DOCS / "guide" / "cli.rst").read_text(encoding="utf-8")
    command, message = re.search(r"\$ (gaussmix .*)\n\s+(gaussmix: error: .*)", page).groups()
    assert main(shlex.split(command)[1:]) == 1
    assert capsys.readouterr().err.strip() == message.strip()
