"""Every ```python block in README.md and docs/*.md runs, and printed output shown after it is what it prints.

Blocks of one page run in order in one namespace, as a reader would type them. A block
followed by a paragraph starting "Output" and a plain fenced block must print exactly that
block's text. Sketches that are not meant to run use another fence (```text, ```toml, ...).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A python block, optionally followed by "Output..." prose and a plain fenced block.
BLOCK = re.compile(r"```python\n(?P<code>.*?)```(?:\n\n(?P<prose>Output[^\n]*)\n\n```\n(?P<output>.*?)```)?", re.S)


def _blocks(page: Path) -> list[tuple[str, str | None]]:
    return [(match["code"], match["output"]) for match in BLOCK.finditer(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)  # examples may write files
    try:
        for index, (code, expected) in enumerate(_blocks(page)):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{page.name}[block {index}]", "exec"), namespace)  # noqa: S102
            if expected is not None:
                assert printed.getvalue() == expected, f"{page.name} block {index} printed something else"
    finally:
        os.chdir(cwd)


def test_the_docs_hold_python_examples() -> None:
    assert sum(len(_blocks(page)) for page in PAGES) >= 8
