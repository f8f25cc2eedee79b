"""keras_evomt's import graph has no circles (read from the source with `ast`).

Every `import` and `from ... import` counts, at module level and inside functions, relative
or absolute. `from PACKAGE import NAME` is an edge to the module that defines NAME (followed
through the package's `__init__` re-exports, or a lazy PEP 562 package's `_WHERE` table)
and, when NAME is not a submodule, to the package itself. Importing `a.b.c` from outside
`a.b` also runs `a.b`'s `__init__`, so that is an edge too; importing a submodule from
inside its own package is not (that package is already running).
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import keras_evomt

PACKAGE_DIR = Path(keras_evomt.__file__).parent
ROOT = "keras_evomt"


def _modules() -> dict[str, Path]:
    """{dotted module name: file} for every module of the package."""
    found = {}
    for file in PACKAGE_DIR.rglob("*.py"):
        parts = (ROOT, *file.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = file
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute name of a `from X import ...` statement's X."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _defining_module(package: str, name: str) -> str | None:
    """The module that defines NAME re-exported by PACKAGE's `__init__`, if it re-exports it."""
    for node in _tree(package).body:
        if isinstance(node, ast.ImportFrom) and any(
            (alias.asname or alias.name) == name for alias in node.names
        ):
            return _target(package, _absolute(package, node), name)
    if name in _lazy_names(package):  # a PEP 562 package imports its names on first use
        return _target(package, _lazy_names(package)[name], name)
    return None


def _lazy_names(package: str) -> dict[str, str]:
    """{name: module} of a package whose `__init__` binds `__getattr__` (its `_WHERE`
    table; such an `__init__` imports nothing eagerly, so importing it here is cheap)."""
    tree = _tree(package)
    if not any(
        isinstance(n, ast.FunctionDef)
        and n.name == "__getattr__"
        or isinstance(n, ast.Assign)
        and "__getattr__" in ast.unparse(n.targets[0])
        for n in tree.body
    ):
        return {}
    return importlib.import_module(package)._WHERE


def _target(importer: str, source: str, name: str) -> str | None:
    """The keras_evomt module that `from SOURCE import NAME` reaches."""
    if f"{source}.{name}" in MODULES:
        return f"{source}.{name}"
    if source in MODULES and _is_package(source) and source != importer:
        return _defining_module(source, name) or source
    return source if source in MODULES else None


def _edges(module: str) -> set[str]:
    """Every keras_evomt module that MODULE imports, anywhere in its source."""
    targets = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if source.split(".")[0] != ROOT:
                continue
            if source in MODULES and any(f"{source}.{a.name}" not in MODULES for a in node.names):
                targets.add(source)  # names from the package's own __init__ run it
            for alias in node.names:
                targets.add(_target(module, source, alias.name))
    edges = set()
    for target in targets - {None, module}:
        edges.add(target)
        parts = target.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if not (module == package or module.startswith(package + ".")):
                edges.add(package)  # running a package's __init__ on the way
    return edges - {module}


def import_graph() -> dict[str, set[str]]:
    """{module: the keras_evomt modules it imports}."""
    return {module: _edges(module) for module in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_check_sees_function_level_relative_and_package_imports():
    graph = import_graph()
    assert "keras_evomt.training.trainer" in graph["keras_evomt.training"]
    assert "keras_evomt.data.pipeline" in graph["keras_evomt.data.task"]  # package . module
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert _target("keras_evomt.cli", ROOT, "System") == "keras_evomt.system"
    assert _target("x", "keras_evomt.data", "get_task") == "keras_evomt.data.registry"
    assert "keras_evomt.data.sources" in graph["keras_evomt.data.task"]  # module level
    assert "keras_evomt.data.registry" in graph["keras_evomt.cli"]  # inside a function


def test_lazy_packages_resolve_to_the_defining_module():
    assert _target("x", "keras_evomt.data", "describe_tasks") == "keras_evomt.data.catalog"
    assert _target("x", ROOT, "Task") == "keras_evomt.data.task"
