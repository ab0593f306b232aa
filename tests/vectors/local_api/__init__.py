"""The local API's shared vectors (README.md here), read by both sides' tests."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).parent
DIRECTIONS = ("to_sidecar", "to_ha")


def files() -> list[Path]:
    """Every vector file, in name order."""
    return sorted(FOLDER.glob("*.json"))


def vectors() -> list[tuple[str, dict[str, Any]]]:
    """Every vector of every file, with an id ``file:name`` for the test report."""
    found = []
    for path in files():
        data = json.loads(path.read_text(encoding="utf-8"))
        for vector in data["vectors"]:
            found.append((f"{path.stem}:{vector['name']}", vector))
    return found


def message_type(vector: Mapping[str, Any]) -> str | None:
    """The ``type`` of the vector's message, if it has one."""
    message = vector.get("message")
    if isinstance(message, Mapping) and isinstance(message.get("type"), str):
        return str(message["type"])
    return None


def to_json(value: Any) -> Any:
    """A typed value as the vectors write it: dataclasses as objects, bytes as hex."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: to_json(getattr(value, item.name))
            for item in dataclasses.fields(value)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def from_json[T](cls: type[T], data: Mapping[str, Any]) -> T:
    """The typed value ``cls`` that the vectors write as ``data``."""
    hints = typing.get_type_hints(cls)
    return cls(**{key: _convert(hints[key], value) for key, value in data.items()})


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item) for item in value)
        return tuple(_convert(arg, item) for arg, item in zip(args, value, strict=True))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return from_json(hint, value)
    if origin is Mapping and len(args) == 2:
        return {key: _convert(args[1], item) for key, item in value.items()}
    return value
