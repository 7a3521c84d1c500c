"""The house's shape: imports run one way, from the application down to the math, with no cycle.

Every ``import`` in ``src/numcnn`` counts, at module level or inside a function. Importing
``numcnn.a.b`` also runs ``numcnn/a/__init__.py``, so an import from outside package ``a``
depends on that package's ``__init__`` too. The picture is ``docs/architecture.md``'s.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "numcnn"

#: what each part may import (besides itself); the order of the architecture document, bottom up
ALLOWED = {
    "_version": set(),
    "utils": set(),
    "functional": {"utils"},
    "data": {"utils"},
    "initializers": {"utils"},
    "filters": {"functional", "utils"},
    "layers": {"functional", "initializers", "utils"},
    "viz": {"filters", "layers", "functional", "utils"},
    "training": {"data", "layers", "functional", "initializers", "utils"},
    "models": {"training", "layers", "functional", "initializers", "utils", "_version"},
    "io": {"models", "training", "layers", "functional", "initializers", "utils", "_version"},
    "explain": {"io", "models", "training", "viz", "data", "filters", "layers", "functional", "initializers", "utils",
                "_version"},
    "app": {"explain", "io", "models", "training", "viz", "data", "filters", "layers", "functional", "initializers",
            "utils", "_version"},
}
#: re-exports only: they may import anything, and nothing in numcnn imports them
FACES = {"numcnn", "numcnn.__main__", "numcnn.losses", "numcnn.optimizers", "numcnn.schedules", "numcnn.distributed"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def imports_of(name: str) -> set:
    """The numcnn modules ``name`` imports, anywhere in its code."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "numcnn"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "numcnn":
                continue
            for alias in node.names:  # `from numcnn.x import y` imports the module numcnn.x.y if there is one
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    return found


def dependencies(name: str) -> set:
    """What importing ``name`` runs: each imported module, and the ``__init__`` of every package it
    sits in that ``name`` is not itself inside (the root package's face excepted)."""
    found = set()
    for target in imports_of(name):
        found.add(target)
        parts = target.split(".")
        for k in range(2, len(parts)):
            parent = ".".join(parts[:k])
            if not (name == parent or name.startswith(parent + ".")):
                found.add(parent)
    found.discard(name)
    return found


def part(name: str) -> str:
    return name.split(".")[1] if name != "numcnn" else ""


GRAPH = {name: dependencies(name) for name in MODULES}


def test_every_module_belongs_to_a_part_or_is_a_face():
    strays = [name for name in MODULES if name not in FACES and part(name) not in ALLOWED]
    assert not strays, f"modules outside every part of the architecture: {strays}"


def test_the_parser_sees_relative_and_function_level_imports():
    assert "numcnn.training.trainer" in GRAPH["numcnn.models.model"]
    assert "numcnn.training" in GRAPH["numcnn.models.model"]  # the package's __init__ runs first
    assert "numcnn.functional" in GRAPH["numcnn.layers.core"]
    assert "numcnn.training.mpi" in GRAPH["numcnn.training.strategy"]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in FACES))
def test_imports_point_down(name):
    wrong = sorted(t for t in GRAPH[name] if part(t) != part(name) and (t in FACES or part(t) not in ALLOWED[part(name)]))
    assert not wrong, f"{name} imports {wrong}, against the direction of docs/architecture.md"


def test_faces_hold_only_imports():
    for name in FACES - {"numcnn.__main__"}:
        tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
        body = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        kinds = {type(node).__name__ for node in body}
        assert kinds <= {"Import", "ImportFrom", "Assign"}, f"{name} holds {kinds}: a face only re-exports"


def find_cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_never_imports_the_application():
    users = sorted(name for name, targets in GRAPH.items() if part(name) != "app" and name not in FACES
                   and any(part(t) == "app" for t in targets))
    assert not users
