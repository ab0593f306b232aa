"""Which third-party modules a folder of Python code imports (top-level names)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def third_party_imports(folder: Path) -> set[str]:
    """Top-level names imported anywhere under ``folder``, minus stdlib and itself."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {folder.name, "__future__"}
