"""The package's import graph: one-way, with no cycle, lazy imports included.

Every ``import``/``from ... import`` inside src/gaussmix (at module level or
inside functions) is an edge between gaussmix modules; the graph must be
acyclic, and the layers below the user-facing objects must not import them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import gaussmix

PACKAGE = Path(gaussmix.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_submodule(package: str, name: str) -> bool:
    folder = PACKAGE.parent.joinpath(*package.split("."))
    return folder.is_dir() and ((folder / name).is_dir() or any(folder.glob(f"{name}.*")))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, path, node)
                # "from . import em" imports the submodule gaussmix.em, and
                # "from . import _fused" the compiled extension (no .py file).
                targets = [
                    f"{target}.{alias.name}" if _is_submodule(target, alias.name) else target
                    for alias in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_known_edges():
    # The check must be able to fail: it finds the imports that exist.
    graph = import_graph()
    assert "gaussmix.em.estep" in graph["gaussmix.em.sources"]
    assert "gaussmix.em.driver" in graph["gaussmix.gmm"]
    assert "gaussmix.gmm" in graph["gaussmix.cli.commands"]  # an import inside a function
    assert _find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_import_cycle_lazy_imports_included():
    assert _find_cycle(import_graph()) is None


@pytest.mark.parametrize(
    "lower",
    [
        "gaussmix._validation",
        "gaussmix._linalg",
        "gaussmix._gaussian",
        "gaussmix._missing",
        "gaussmix.kernels.compiled",
        "gaussmix.kernels.threads",
        "gaussmix.io",
        "gaussmix.em.stats",
        "gaussmix.em.estep",
        "gaussmix.em.families",
        "gaussmix.em.sources",
        "gaussmix.em.driver",
        "gaussmix.em.init",
        "gaussmix.dask",
    ],
)
def test_lower_layers_do_not_import_the_objects_or_above(lower):
    above = {
        "gaussmix",
        "gaussmix.gmm",
        "gaussmix.mvn",
        "gaussmix.plot",
        "gaussmix.sklearn",
        "gaussmix.selection",
        "gaussmix.cli",
        "gaussmix.cli.commands",
        "gaussmix.cli.parser",
    }
    graph = import_graph()
    reachable, todo = set(), [lower]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                todo.append(nxt)
    assert not reachable & above, f"{lower} reaches {sorted(reachable & above)}"


def test_import_gaussmix_loads_neither_sklearn_nor_matplotlib_nor_dask():
    code = (
        "import sys, gaussmix, gaussmix.io, gaussmix.em; "
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'dask') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_gaussmix_dask_imports_dask():
    # Everything else reaches dask through gaussmix.dask, imported lazily.
    importers = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            if {"dask", "distributed"} & set(roots):
                importers.add(name)
    assert importers == {"gaussmix.dask", "gaussmix.em.dask_source"}


def test_version_lives_below_the_package():
    from gaussmix._version import __version__

    assert gaussmix.__version__ == __version__
