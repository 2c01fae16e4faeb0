"""Sphinx configuration of gaussmix's documentation.

Build it with ``python -m sphinx -W -n --keep-going -b html docs docs/_build/html``
(README: "Documentation"). ``tests/test_docs.py`` builds it the same way, with the
gallery in its fast settings (``GAUSSMIX_FAST=1``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zlib
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))  # document this checkout, not another install

import gaussmix  # noqa: E402

# The one place that says where the project lives (tools/set_repository_url.py
# rewrites it together with pyproject.toml's [project.urls] and the README).
REPOSITORY_URL = "https://github.com/gaussmix/gaussmix"

project = "gaussmix"
author = "gaussmix developers"
copyright = "2026, gaussmix developers"
release = gaussmix.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_copybutton",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/sg_execution_times.rst"]
templates_path = ["_templates"]
nitpicky = True
# sphinx-gallery's configuration holds the image scraper, a function: not cacheable.
suppress_warnings = ["config.cache"]
default_role = "code"

# -- API reference ---------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False

# Cross-references in docstrings that name private helpers or the engine's
# internals: they stay readable as code, without a page of their own.
nitpick_ignore_regex = [
    ("py:.*", r"(.*\.)?_[a-z].*"),  # private names and modules
    ("py:.*", r"gaussmix\.kernels.*"),
]
# Internal helpers and tuning constants that docstrings name so that a reader can
# find them in the source; they have no page of their own.
nitpick_ignore = [
    ("py:func", "persist_policy"),
    ("py:func", "kernel_applies"),
    ("py:func", "data_resolution"),
    ("py:meth", "gaussians"),
    ("py:meth", "m_step"),
    ("py:meth", "objective"),
    ("py:data", "KMEANS_SAMPLE_ROWS"),
    ("py:data", "KMEANS_STARTS"),
    ("py:data", "KMEANS_ROWS"),
    ("py:data", "KMEANS_TOL_FACTOR"),
    ("py:data", "AUTO_KMEANS_ROWS"),
    ("py:data", "PARALLEL_MIN_ROWS"),
    ("py:data", "FORK_MIN_RUNS"),
]


_CURATED_DIRECTIVE = re.compile(r"^\.\. (module|currentmodule|autosummary)::\s*(\S*)")


def curated_names() -> set[str]:
    """Qualified names listed by the hand-written API pages (docs/api/*.rst)."""
    names: set[str] = set()
    for path in sorted((DOCS / "api").glob("*.rst")):
        if path.name == "internals.rst":
            continue
        module, in_summary = "", False
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _CURATED_DIRECTIVE.match(line)
            if match:
                kind, argument = match.groups()
                in_summary = kind == "autosummary"
                if kind != "autosummary":
                    module = argument
                continue
            if in_summary and line.startswith("   ") and not line.strip().startswith(":"):
                names.add(f"{module}.{line.strip()}")
            elif in_summary and line.strip() and not line.startswith("   "):
                in_summary = False
    return names


def internal_module_names() -> dict[str, list[str]]:
    """The inner modules (``gaussmix.a.b``) with ``__all__``, and their names to list.

    The user-facing modules (``gaussmix`` and ``gaussmix.a``) have hand-written pages;
    the modules inside packages are listed automatically, each with the names of its
    ``__all__`` that no hand-written page documents already (the same object under
    another name counts), so nothing is documented twice and nothing is left out.
    """
    import importlib
    import pkgutil

    documented = set()
    for name in curated_names():
        try:
            documented.add(id(pkgutil.resolve_name(name)))
        except (ImportError, AttributeError, ValueError):
            pass
    modules = {}
    found = pkgutil.walk_packages(gaussmix.__path__, "gaussmix.")
    for info in sorted(found, key=lambda m: m.name):
        parts = info.name.split(".")
        if len(parts) < 3 or any(p.startswith("_") for p in parts) or parts[1] == "kernels":
            continue
        module = importlib.import_module(info.name)
        if not hasattr(module, "__all__"):
            continue
        modules[info.name] = [
            name for name in module.__all__ if id(getattr(module, name)) not in documented
        ]
    return modules


def write_internals_page() -> None:
    """docs/api/internals.rst, from :func:`internal_module_names` (generated, git-ignored)."""
    lines = [
        "Inner modules",
        "=============",
        "",
        "The modules inside gaussmix's packages, for contributors and for reading the",
        "source: what each exports beyond the names documented on the other pages.",
        "This page is generated from their ``__all__`` when the documentation is built.",
        "",
    ]
    for module, names in internal_module_names().items():
        title = f"``{module}``"
        lines += [title, "-" * len(title), "", f".. automodule:: {module}", ""]
        lines += ["   :no-members:", ""]
        if names:
            lines += [f".. currentmodule:: {module}", ""]
            lines += [".. autosummary::", "   :toctree: generated/", ""]
            lines += [f"   {name}" for name in names] + [""]
    target = DOCS / "api" / "internals.rst"
    text = "\n".join(lines)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


# -- intersphinx, offline ------------------------------------------------------------
# The build must work without network access (CI has none to the projects' sites),
# so the inventories are written here from the names the docs link to. A name
# missing from this table fails the nitpicky build: add it with its page.
EXTERNAL = {
    "python": (
        "https://docs.python.org/3/",
        {
            "py:exception": {
                "ValueError": "library/exceptions.html#ValueError",
                "TypeError": "library/exceptions.html#TypeError",
                "UserWarning": "library/exceptions.html#UserWarning",
                "RuntimeWarning": "library/exceptions.html#RuntimeWarning",
            },
            "py:class": {
                "int": "library/functions.html#int",
                "float": "library/functions.html#float",
                "str": "library/stdtypes.html#str",
                "dict": "library/stdtypes.html#dict",
                "list": "library/stdtypes.html#list",
                "pathlib.Path": "library/pathlib.html#pathlib.Path",
                "collections.abc.Callable": (
                    "library/collections.abc.html#collections.abc.Callable"
                ),
            },
            "py:module": {"pickle": "library/pickle.html#module-pickle"},
        },
    ),
    "numpy": (
        "https://numpy.org/doc/stable/",
        {
            "py:class": {
                "numpy.ndarray": "reference/generated/numpy.ndarray.html#numpy.ndarray",
                "numpy.random.Generator": (
                    "reference/random/generator.html#numpy.random.Generator"
                ),
                "numpy.random.RandomState": (
                    "reference/random/legacy.html#numpy.random.RandomState"
                ),
                "numpy.memmap": "reference/generated/numpy.memmap.html#numpy.memmap",
            },
            "py:function": {
                "numpy.load": "reference/generated/numpy.load.html#numpy.load",
                "numpy.save": "reference/generated/numpy.save.html#numpy.save",
                "numpy.savez": "reference/generated/numpy.savez.html#numpy.savez",
            },
        },
    ),
    "scipy": (
        "https://docs.scipy.org/doc/scipy/",
        {
            "py:data": {
                "scipy.stats.chi2": "reference/generated/scipy.stats.chi2.html#scipy.stats.chi2",
            },
            "py:function": {
                "scipy.stats.multivariate_normal": (
                    "reference/generated/scipy.stats.multivariate_normal.html"
                    "#scipy.stats.multivariate_normal"
                ),
            },
        },
    ),
    "sklearn": (
        "https://scikit-learn.org/stable/",
        {
            "py:class": {
                f"sklearn.{name}": f"modules/generated/sklearn.{name}.html#sklearn.{name}"
                for name in (
                    "mixture.GaussianMixture",
                    "mixture.BayesianGaussianMixture",
                    "model_selection.GridSearchCV",
                    "model_selection.KFold",
                    "pipeline.Pipeline",
                    "cluster.KMeans",
                    "impute.SimpleImputer",
                    "impute.IterativeImputer",
                )
            },
            "py:function": {
                "sklearn.base.clone": "modules/generated/sklearn.base.clone.html"
                "#sklearn.base.clone",
                "sklearn.model_selection.cross_val_score": (
                    "modules/generated/sklearn.model_selection.cross_val_score.html"
                    "#sklearn.model_selection.cross_val_score"
                ),
                "sklearn.utils.estimator_checks.check_estimator": (
                    "modules/generated/sklearn.utils.estimator_checks.check_estimator.html"
                    "#sklearn.utils.estimator_checks.check_estimator"
                ),
            },
        },
    ),
    "dask": (
        "https://docs.dask.org/en/stable/",
        {
            "py:class": {
                "dask.array.Array": "generated/dask.array.Array.html#dask.array.Array",
            },
            "py:function": {
                "dask.array.from_array": (
                    "generated/dask.array.from_array.html#dask.array.from_array"
                ),
            },
        },
    ),
    "distributed": (
        "https://distributed.dask.org/en/stable/",
        {
            "py:class": {
                "distributed.Client": "api.html#distributed.Client",
                "distributed.LocalCluster": "api.html#distributed.LocalCluster",
            },
        },
    ),
    "matplotlib": (
        "https://matplotlib.org/stable/",
        {
            "py:class": {
                "matplotlib.axes.Axes": "api/_as_gen/matplotlib.axes.Axes.html"
                "#matplotlib.axes.Axes",
                "matplotlib.figure.Figure": "api/_as_gen/matplotlib.figure.Figure.html"
                "#matplotlib.figure.Figure",
                "matplotlib.patches.Ellipse": "api/_as_gen/matplotlib.patches.Ellipse.html"
                "#matplotlib.patches.Ellipse",
                "matplotlib.image.AxesImage": "api/_as_gen/matplotlib.image.AxesImage.html"
                "#matplotlib.image.AxesImage",
            },
            "py:method": {
                "matplotlib.axes.Axes.imshow": "api/_as_gen/matplotlib.axes.Axes.imshow.html"
                "#matplotlib.axes.Axes.imshow",
            },
        },
    ),
}


def _write_inventory(path: Path, project_name: str, entries: dict) -> None:
    lines = []
    for role, names in entries.items():
        for name, uri in names.items():
            lines.append(f"{name} {role} 1 {uri} -")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project_name}\n# Version: stable\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path.write_bytes(header.encode() + zlib.compress(("\n".join(lines) + "\n").encode()))


_INVENTORIES = DOCS / "_build" / "intersphinx"
intersphinx_mapping = {
    name: (url, str(_INVENTORIES / f"{name}.inv")) for name, (url, _) in EXTERNAL.items()
}


def write_inventories() -> None:
    _INVENTORIES.mkdir(parents=True, exist_ok=True)
    for name, (_, entries) in EXTERNAL.items():
        _write_inventory(_INVENTORIES / f"{name}.inv", name, entries)


# -- gallery ---------------------------------------------------------------------------
# The examples draw on matplotlib Figure objects (no pyplot) and write one PNG each to
# the folder named by GAUSSMIX_OUTPUT; this scraper hands that PNG to the gallery.
_GALLERY_PNG = DOCS / "_build" / "gallery_png"


def _example_png_scraper(block, block_vars, gallery_conf, **kwargs):
    from sphinx_gallery.scrapers import figure_rst

    stem = Path(block_vars["src_file"]).stem
    produced = _GALLERY_PNG / f"{stem}.png"
    if not produced.exists():
        return ""
    target = Path(next(block_vars["image_path_iterator"]))
    shutil.copyfile(produced, target)
    produced.unlink()
    return figure_rst([target], gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py",
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": (_example_png_scraper,),
    "reset_modules": (),
    "download_all_examples": False,
    "write_computation_times": False,
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_signature": False,
    "run_stale_examples": False,
    "abort_on_example_error": True,
    "min_reported_time": 1e9,
}

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gaussmix {release}"
html_static_path = ["_static"]
html_css_files = ["gaussmix.css"]
html_theme_options = {
    "github_url": REPOSITORY_URL,
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document what gaussmix defines; hide members inherited from scikit-learn or object."""
    if what != "class" or skip:
        return skip
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if module is not None and not module.startswith("gaussmix"):
        return True
    return None


_IDENTITY: dict[int, str] = {}


def _documented_name(env, obj) -> str | None:
    """The documented name of ``obj`` (the same object under another path), if any."""
    import pkgutil

    domain = env.domains["py"]
    if len(_IDENTITY) != len(domain.objects):
        _IDENTITY.clear()
        for name in domain.objects:
            try:
                _IDENTITY.setdefault(id(pkgutil.resolve_name(name)), name)
            except Exception:  # attributes and aliases that do not import
                _IDENTITY.setdefault(-hash(name), name)
    return _IDENTITY.get(id(obj))


def _resolve_short_names(app, env, node, contnode):
    """Resolve the short names docstrings use for their neighbours.

    ``:func:`fit``` inside ``gaussmix.em.driver`` means ``gaussmix.em.fit``;
    ``gaussmix.em.estep.e_step`` is the object documented as ``gaussmix.em.e_step``;
    ``Statistics.pack`` is the one documented method of that name. Tried in that
    order: the enclosing modules and classes, the same object under its documented
    name, a unique documented gaussmix name with that ending. Anything else stays
    unresolved, and the nitpicky build reports it.
    """
    import pkgutil

    from sphinx.util.nodes import make_refnode

    if node.get("refdomain") != "py":
        return None
    domain = env.domains["py"]
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or ""
    scopes = [".".join(module.split(".")[:i]) for i in range(module.count(".") + 1, 0, -1)]
    if node.get("py:class"):
        scopes.insert(0, f"{module}.{node['py:class']}")
    # On an object's own page, also the module that defines it (a docstring names its
    # neighbours there, e.g. gaussmix.selection.search for gaussmix.select_model).
    page = node["refdoc"].rsplit("/", 1)[-1]
    try:
        home = getattr(pkgutil.resolve_name(page), "__module__", "") or ""
    except Exception:
        home = ""
    scopes += [".".join(home.split(".")[:i]) for i in range(home.count(".") + 1, 1, -1)]
    found = None
    for scope in scopes:
        if f"{scope}.{target}" in domain.objects:
            found = f"{scope}.{target}"
            break
    if found is None:
        for path in [target] + [f"{scope}.{target}" for scope in scopes]:
            try:
                found = _documented_name(env, pkgutil.resolve_name(path))
            except Exception:
                continue
            if found:
                break
    if found is None:
        suffix = "." + target
        matches = [n for n in domain.objects if n.endswith(suffix) and n.startswith("gaussmix.")]
        matches = [n for n in matches if not domain.objects[n].aliased]
        if len(matches) == 1:
            found = matches[0]
    if found is None:
        return None
    entry = domain.objects[found]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found)


def setup(app):
    # Side effects here, not at import: tests/test_docs.py imports this file.
    os.environ["GAUSSMIX_OUTPUT"] = str(_GALLERY_PNG)
    write_inventories()
    write_internals_page()
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("missing-reference", _resolve_short_names)
