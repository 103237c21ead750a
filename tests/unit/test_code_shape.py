"""Every module of ``myriagate/`` stays readable: at most 450 lines, no function over 60 lines.

Migrations are left out (Alembic writes them, and they are read once). Lengths are counted as
the reader sees them: a module's lines, a function from its ``def`` (decorators excluded) to
its last line, nested functions counted on their own as well as inside their parent.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "myriagate"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_the_package_is_found() -> None:
    assert len(_modules()) > 100


def test_no_module_is_over_450_lines() -> None:
    long = [
        f"{p.relative_to(PACKAGE.parent)} ({n} lines)"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert long == [], "split these modules along a real seam:\n" + "\n".join(long)


def test_no_function_is_over_60_lines() -> None:
    long = [f for p in _modules() for f in _long_functions(p)]
    assert long == [], "split these functions:\n" + "\n".join(long)
