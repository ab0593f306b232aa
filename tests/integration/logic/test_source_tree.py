"""The integration's shape, read from its source: one writer, no import loop."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

from custom_components.local_vpp.battery_control import DeviceWriter
from custom_components.local_vpp.device import FlatDevice

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "custom_components.local_vpp"
COMPONENT = ROOT / "custom_components" / "local_vpp"
WRITER = f"{PACKAGE}.battery_control"
MAX_LINES = 600
# Plain Python, testable without Home Assistant (and, for the device library and the
# sidecar link, usable without it).
HA_FREE = (
    f"{PACKAGE}.battery_control",
    f"{PACKAGE}.const",
    f"{PACKAGE}.device",
    f"{PACKAGE}.energy_total",
    f"{PACKAGE}.backup.battery_runtime",
    f"{PACKAGE}.backup.grid_watch",
    f"{PACKAGE}.backup.load_shedding",
    f"{PACKAGE}.ledger.messages",
    f"{PACKAGE}.ledger.sample",
    f"{PACKAGE}.ledger.sidecar_link",
)


def _modules() -> dict[str, Path]:
    """Every module of the integration by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(COMPONENT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))


def _package_of(name: str) -> str:
    """The package a module's relative imports start from."""
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> Iterator[str]:
    """Everything ``name`` imports, TYPE_CHECKING and function-level included."""
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name).split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from .pkg import mod`` imports the module ``pkg.mod``.
                submodule = f"{source}.{alias.name}"
                yield submodule if submodule in MODULES else source


def _graph() -> dict[str, set[str]]:
    return {
        name: {target for target in _imports(name) if target in MODULES}
        for name in MODULES
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop in ``graph``, as the path round it, or ``None``."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            if (found := visit(target)) is not None:
                return found
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if (found := visit(node)) is not None:
            return found
    return None


def _write_methods() -> set[str]:
    return {
        name
        for name, _ in inspect.getmembers(FlatDevice, inspect.iscoroutinefunction)
        if name.startswith(("async_set_", "async_clear_"))
    }


def test_the_writer_knows_every_write_of_the_device_library() -> None:
    writes = _write_methods()
    assert writes == {
        "async_set_power_setpoint",
        "async_clear_power_setpoint",
        "async_set_bus_setpoint",
        "async_clear_bus_setpoint",
        "async_set_living_room_on_battery",
        "async_set_reserve_soc",
    }
    protocol = {name for name in vars(DeviceWriter) if name.startswith("async_")}
    assert protocol == writes


def test_only_battery_control_writes_to_the_devices() -> None:
    writes = _write_methods()
    offenders = [
        f"{MODULES[name].relative_to(ROOT)}:{node.lineno} {node.attr}"
        for name in MODULES
        if name != WRITER
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Attribute) and node.attr in writes
    ]
    assert offenders == []
    assert any(
        isinstance(node, ast.Attribute) and node.attr in writes
        for node in ast.walk(_tree(WRITER))
    )


def test_no_import_loop() -> None:
    loop = _cycle(_graph())
    assert loop is None, " -> ".join(loop or [])


def test_the_loop_finder_finds_loops() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None


def test_plain_python_modules_do_not_reach_home_assistant() -> None:
    graph = _graph()
    for start in HA_FREE:
        seen: set[str] = set()
        todo = [start, *(name for name in MODULES if name.startswith(f"{start}."))]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            outside = [i for i in _imports(name) if i.split(".")[0] == "homeassistant"]
            assert outside == [], f"{name} (reached from {start}) imports {outside}"
            todo += graph[name]


def test_no_module_is_too_long() -> None:
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in MODULES.items()
    }
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
