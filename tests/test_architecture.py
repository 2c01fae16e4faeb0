"""The package's structure: its import graph and the rules of its rooms.

Every ``import``/``from ... import`` inside src/gaussmix (at module level or
inside functions) is an edge between gaussmix modules; the graph must be
acyclic, and the layers below the user-facing objects must not import them.
The seams of round 3 add rules (see CONTRIBUTING.md, "Architecture"):
covariance-type names are compared in gaussmix.covariance only, only the
engine's front door builds statistics sources, no module reaches into another
module's private names, and no source file grows past 900 lines.
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
    assert "gaussmix.em.driver" in graph["gaussmix.fitting"]
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
        "gaussmix.em.front",
        "gaussmix.em.estep_missing",
        "gaussmix.em.dask_source",
        "gaussmix.covariance",
        "gaussmix.dask",
        "gaussmix.fitting",
        "gaussmix.conditional",
    ],
)
def test_lower_layers_do_not_import_the_objects_or_above(lower):
    above = {
        "gaussmix",
        "gaussmix.gmm",
        "gaussmix.selection.search",
        "gaussmix.sklearn.mixture",
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


# ---------------------------------------------------------------------------
# The rooms of the seams
# ---------------------------------------------------------------------------
def _trees() -> dict[str, tuple[Path, ast.Module]]:
    return {name: (path, ast.parse(path.read_text())) for name, path in _modules().items()}


def test_the_covariance_structures_sit_at_the_bottom():
    # Everything asks the structures; they ask nothing above linear algebra.
    graph = import_graph()
    for name in [m for m in graph if m.startswith("gaussmix.covariance")]:
        assert all(
            dep == "gaussmix._linalg" or dep.startswith("gaussmix.covariance.")
            for dep in graph[name]
        ), name


def _compared_type_names(tree: ast.Module, names: set[str]) -> list[int]:
    """Lines where a covariance-type name is compared, looked up or listed as dict key."""

    def named(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and node.value in names:
            return True
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(named(element) for element in node.elts)
        return False

    def listed(node: ast.AST) -> bool:
        elements = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else []
        return sum(isinstance(e, ast.Constant) and e.value in names for e in elements) >= 2

    lines = []
    for node in ast.walk(tree):
        if listed(node):  # a list of structures kept outside the registry
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and (
            named(node.left) or any(named(c) for c in node.comparators)
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and named(k) for k in node.keys):
            lines.append(node.lineno)
    return lines


def test_covariance_type_names_are_compared_in_one_module_only():
    from gaussmix import covariance

    # The structures' names and aliases, and the E-step's feature forms.
    names = set(covariance.accepted_names()) | {"quadratic", "diagonal"}
    offenders = {
        name: lines
        for name, (_, tree) in _trees().items()
        if not name.startswith("gaussmix.covariance")
        and (lines := _compared_type_names(tree, names))
    }
    assert not offenders, (
        f"covariance-type names compared outside gaussmix.covariance: {offenders}"
    )
    # The check can fail:
    found = _compared_type_names(
        ast.parse("x = t == 'tied'\ny = {'diag': 1}\nz = ('full', 'VVI')\nf(t='full')"), names
    )
    assert found == [1, 2, 3]


# Private names of other projects that their users are meant to touch.
_FOREIGN_CONVENTIONS = {"_replace", "_parameter_constraints", "_fit_context", "_validate_params"}


def _private_reaches(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                module_import = node.module is None  # "from . import _gaussian": a room
                if private and not module_import and alias.name not in _FOREIGN_CONVENTIONS:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in _FOREIGN_CONVENTIONS:
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if isinstance(base, ast.Call) and isinstance(base.func, ast.Name):
                if base.func.id in ("super", "cls"):
                    continue
            if ast.unparse(node) == "np.random.mtrand._rand":  # numpy's global RandomState
                continue
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.startswith("_")
            and not node.args[1].value.startswith("__")
            and not (isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"))
        ):
            found.append(f"{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return sorted(found, key=lambda entry: int(entry.split(":")[0]))  # in line order


def test_no_module_reaches_into_another_modules_private_names():
    offenders = {
        name: reaches
        for name, (_, tree) in _trees().items()
        if (reaches := _private_reaches(tree))
    }
    assert not offenders, f"private names used across modules: {offenders}"
    assert _private_reaches(ast.parse("model._params()\nfrom .io import _x")) == [
        "1: model._params",
        "2: from io import _x",
    ]


def test_no_source_file_above_900_lines():
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > 900
    }
    assert not long, f"split these modules along their jobs: {long}"


def test_only_the_front_door_builds_statistics_sources():
    classes = {
        "ArraySource",
        "MissingValuesSource",
        "DaskSource",
        "NoisySource",
        "ProjectedSource",
    }
    builders = set()
    for name, (_, tree) in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else None
                if isinstance(node.func, ast.Attribute):
                    called = node.func.attr
                if called in classes:
                    builders.add(name)
    assert builders == {"gaussmix.em.front"}


def test_only_gaussmix_sklearn_imports_scikit_learn():
    importers = set()
    for name, (_, tree) in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            elif isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            else:
                continue
            if "sklearn" in roots:
                importers.add(name)
    assert importers and all(name.startswith("gaussmix.sklearn") for name in importers)


def test_version_lives_below_the_package():
    from gaussmix._version import __version__

    assert gaussmix.__version__ == __version__
