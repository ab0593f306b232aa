"""The sidecar's layout: packages, their dependencies, where SQL lives, module sizes."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from sidecar.apps.wat import kinds as wat_kinds
from sidecar.coordination import kinds as coordination_kinds
from sidecar.ledger import battery_day, battery_state, kinds
from sidecar.mesh import roster, roster_votes

ROOT = Path(__file__).resolve().parents[2]
SIDECAR = ROOT / "sidecar"
MAX_LINES = 600
MAX_NODE_LINES = 450
# The shapes of SQL statements; prose that merely names a keyword does not match.
SQL = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bDELETE\s+FROM\b"
    r"|\bUPDATE\s+\w+\s+SET\b|\bCREATE\s+(TABLE|INDEX)\b|\bPRAGMA\s+\w+"
    r"|^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b",
    re.DOTALL,
)
EXECUTE = frozenset({"execute", "executemany", "executescript"})
# docs/SIDECAR.md, "How the code is laid out": each imports only those before it.
LAYERS = (
    "sidecar.ledger",
    "sidecar.storage",
    "sidecar.mesh",
    "sidecar.coordination",
    "sidecar.api",
    "sidecar.tools",
    "sidecar.apps",
)
# What the layers may use from the top: the version, the configuration file, and the
# name the commands were run by (for advice in errors).
OUTSIDE_LAYERS = frozenset({"sidecar", "sidecar.config", "sidecar.command_name"})


def _modules() -> dict[str, Path]:
    """Every sidecar module by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(SIDECAR.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The sidecar modules ``name`` imports (anywhere in it, not only at the top)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {target for target in found if target in MODULES and target != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import loop among the sidecar's modules, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (loop := visit(target)) is not None:
                return loop
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (loop := visit(name)) is not None:
            return loop
    return None


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_sidecar_has_no_import_loop() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_the_loop_finder_finds_a_loop() -> None:
    saved = dict(GRAPH)
    try:
        GRAPH["sidecar.ledger.canonical"] = {"sidecar.ledger.etp"}
        loop = _cycle()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
    assert loop is not None
    assert loop[0] == loop[-1]
    assert "sidecar.ledger.canonical" in loop


def test_the_ledger_format_imports_only_itself() -> None:
    """Nothing of coordination, the roster, storage or the node reaches the format."""
    outside = {
        (name, target)
        for name, targets in GRAPH.items()
        if _in(name, "sidecar.ledger")
        for target in targets
        if not _in(target, "sidecar.ledger")
    }
    assert outside == set()


def test_the_kinds_defined_above_the_ledger_are_registered_with_it() -> None:
    """Importing the sidecar gives the format the schemas of every other kind."""
    assert kinds.registered_kinds() == coordination_kinds.KINDS | {
        roster.ROSTER,
        battery_state.BATTERY_STATE,
        battery_day.BATTERY_DAY,
        *roster_votes.KINDS,
        wat_kinds.CURRENCY,
        wat_kinds.METER,
    }
    assert kinds.folded_kinds() == {
        kinds.FLOW,
        kinds.WITNESSED,
        coordination_kinds.AVAILABILITY,
    }
    assert all(kinds.fully_checked(kind) for kind in coordination_kinds.KINDS)
    assert not any(
        kinds.fully_checked(kind) for kind in (roster.ROSTER, *roster_votes.KINDS)
    )


def _layer(name: str) -> int | None:
    for index, package in enumerate(LAYERS):
        if _in(name, package):
            return index
    return None


def test_each_layer_imports_only_the_layers_before_it() -> None:
    wrong = set()
    for name, targets in GRAPH.items():
        layer = _layer(name)
        if layer is None:
            continue
        for target in targets:
            other = _layer(target)
            allowed = target in OUTSIDE_LAYERS if other is None else other <= layer
            if not allowed:
                wrong.add((name, target))
    assert wrong == set()


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_sql_appears_only_in_the_storage_package() -> None:
    found = []
    for name, path in MODULES.items():
        if _in(name, "sidecar.storage"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{name}:{line}: {text!r}"
            for line, text in _strings(tree)
            if SQL.search(text)
        ]
        found += [
            f"{name}:{node.lineno}: .{node.func.attr}()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in EXECUTE
        ]
    assert found == []


def test_the_sql_pattern_knows_sql_from_prose() -> None:
    assert SQL.search("SELECT seq, id FROM entries WHERE author = ?")
    assert SQL.search("INSERT OR IGNORE INTO conflicts (author) VALUES (?)")
    assert SQL.search("DELETE FROM statements WHERE log = ?")
    assert SQL.search("PRAGMA quick_check")
    assert SQL.search("BEGIN IMMEDIATE")
    assert not SQL.search("Select the members that are online from the roster")
    assert not SQL.search("each write is one multi-row INSERT of a chunk")


def test_no_sidecar_module_is_over_600_lines() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_node_is_wiring_only() -> None:
    lines = len((SIDECAR / "node.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_NODE_LINES
