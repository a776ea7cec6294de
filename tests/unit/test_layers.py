"""The package's shape is a checked contract: one room per job, and every import points down the layers.

Layers, bottom to top (a module may import its own layer and those below; rooms on one line do not import
each other): errors and version; files; schemas; prompts | inventory | llm; graph | pairs; run; evaluation
| dataset | view; student; cli; and the package root with `__main__`, the public facade that nothing inside
mbre imports. Imports inside functions and under TYPE_CHECKING count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mbre

PACKAGE = Path(mbre.__file__).resolve().parent
#: Room -> rank; a module may import rooms of a lower rank, and its own room.
RANKS = {
    "mbre.errors": 0,
    "mbre.version": 0,
    "mbre.files": 1,
    "mbre.schemas": 2,
    "mbre.prompts": 3,
    "mbre.inventory": 3,
    "mbre.llm": 3,
    "mbre.graph": 4,
    "mbre.pairs": 4,
    "mbre.run": 5,
    "mbre.evaluation": 6,
    "mbre.dataset": 6,
    "mbre.view": 6,
    "mbre.student": 7,
    "mbre.cli": 8,
    "mbre.__main__": 9,
    "mbre": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every mbre import in the tree, wherever it stands."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "mbre" or name.startswith("mbre.")]


def upward_imports(module: str, source: str) -> list[str]:
    own = room(module)
    problems = []
    for line, target in imported(ast.parse(source)):
        theirs = room(target)
        if theirs != own and RANKS[theirs] >= RANKS[own]:
            problems.append(f"{module}:{line} imports {target} ({theirs} is not below {own})")
    return problems


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_points_down_the_layers():
    problems = [p for name, path in modules().items() for p in upward_imports(name, path.read_text())]
    assert problems == []


def test_every_module_belongs_to_a_room():
    assert {room(name) for name in modules()} <= RANKS.keys()


def test_an_upward_import_is_caught():
    assert upward_imports("mbre.graph.nodes.route", "def f():\n    from mbre.run.discover import discover\n")
    assert upward_imports("mbre.inventory.grouping", "from mbre.llm.settings import ModelSettings\n")
    assert upward_imports("mbre.run.discover", "from mbre import __version__\n")
    assert not upward_imports("mbre.run.discover", "from mbre.graph.builder import build_graph\n")


def test_the_package_root_holds_at_most_five_modules_beside_its_rooms():
    assert len(list(PACKAGE.glob("*.py"))) <= 5


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("*/__init__.py")), ids=lambda p: p.parent.name)
def test_each_room_says_its_job_in_one_line(init):
    tree = ast.parse(init.read_text())
    docstring = ast.get_docstring(tree)
    assert docstring and "\n" not in docstring, init
    assert len(tree.body) == 1, f"{init} holds code: a room's __init__ only says what the room is for"
