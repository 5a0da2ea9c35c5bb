"""Packages of esper_shell form layers: none imports from a package that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

SHELL = Path(__file__).resolve().parents[1] / "esper_shell"


def _package_of(module: str) -> str | None:
    """'esper_shell.engine.trainer' -> 'engine'; top-level modules of esper_shell belong to no subpackage."""
    parts = module.split(".")
    if parts[0] != "esper_shell" or len(parts) < 2 or not (SHELL / parts[1]).is_dir():
        return None
    return parts[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SHELL.rglob("*.py"):
        package = _package_of(".".join(path.relative_to(SHELL.parent).with_suffix("").parts))
        if package is None:
            continue
        targets = {_package_of(module) for module in _imports(path)} - {None, package}
        graph.setdefault(package, set()).update(targets)  # type: ignore[arg-type]
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = package_graph()
    cycles = sorted((a, b) for a, targets in graph.items() for b in targets if _reaches(graph, b, a))
    assert cycles == []


def test_the_engine_does_not_know_the_rl_package() -> None:
    assert "rl" not in package_graph()["engine"]


def test_the_graph_sees_real_imports() -> None:
    assert "engine" in package_graph()["rl"]
