"""The core stays pure (DESIGN §1): no torch, no numpy, no I/O, no clock, no global RNG."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import esper_core

CORE_DIR = Path(esper_core.__file__).parent
CORE_MODULES = sorted(CORE_DIR.glob("*.py"))
# Effects belong to the shell; the core gets time and randomness passed in.
FORBIDDEN_IMPORTS = frozenset(
    {"torch", "numpy", "esper_shell", "time", "datetime", "random", "os", "io", "pathlib", "shutil", "socket", "pickle"}
)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_importing_the_core_loads_neither_torch_nor_numpy() -> None:
    probe = "import json, sys, esper_core; print(json.dumps(sorted({'torch', 'numpy'} & set(sys.modules))))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60, cwd=CORE_DIR.parent
    )
    assert json.loads(completed.stdout) == []


def test_the_core_has_modules_to_check() -> None:
    assert len(CORE_MODULES) > 5


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: p.name)
def test_core_module_imports_nothing_effectful(module: Path) -> None:
    assert imported_roots(module) & FORBIDDEN_IMPORTS == set()
