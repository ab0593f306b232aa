"""The simulator's modules import each other without a loop, and none is too long.

The packages are layers: ``physics`` (the world) knows nothing else of the
simulator, ``model`` (flats and buildings) builds on physics, ``modbus`` serves the
model as registers, ``echonet`` as ECHONET Lite objects, and the top (command
line, control API, threaded runner, ECHONET nodes beside a simulator) ties them
together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "simulator"
MAX_LINES = 600
# What each layer may import, besides itself and the package root.
LAYERS = {
    "simulator.physics": (),
    "simulator.model": ("simulator.physics",),
    "simulator.modbus": ("simulator.physics", "simulator.model"),
    "simulator.echonet": ("simulator.physics", "simulator.model"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The simulator modules ``name`` imports, however it spells the import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found.add(source)
            # ``from package import module`` imports the module.
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return {module for module in found if module in known and module != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop in ``graph``, as the modules along it, or ``None``."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            if (loop := visit(imported)) is not None:
                return loop
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if (loop := visit(module)) is not None:
            return loop
    return None


def test_the_import_graph_sees_the_package() -> None:
    graph = _graph()
    assert "simulator.__main__" in graph
    assert graph["simulator.__main__"], "the command line imports nothing?"


def test_no_import_loop() -> None:
    loop = _cycle(_graph())
    assert loop is None, "import loop: " + " → ".join(loop or ())


def test_the_loop_finder_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_is_too_long() -> None:
    long = {
        name: lines
        for name, path in _modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_each_layer_imports_only_the_layers_below() -> None:
    upward = []
    for module, imported in sorted(_graph().items()):
        for layer, below in LAYERS.items():
            if module == layer or module.startswith(f"{layer}."):
                allowed = (layer, *below)
                upward += [
                    f"{module} → {other}"
                    for other in sorted(imported)
                    if other != "simulator"
                    and not any(
                        other == ok or other.startswith(f"{ok}.") for ok in allowed
                    )
                ]
    assert not upward, f"imports against the layers: {upward}"
