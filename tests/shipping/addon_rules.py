"""The rules a Home Assistant add-on's files must follow, as a list of problems.

Written from Home Assistant's developer documentation on app (add-on) configuration,
repositories, translations and presentation; the Supervisor skips an add-on whose
configuration breaks them, without an error in the UI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REQUIRED = {"name": str, "version": str, "slug": str, "description": str, "arch": list}
ARCHITECTURES = {"aarch64", "amd64"}
CHOICES = {
    "startup": {"initialize", "system", "services", "application", "once"},
    "boot": {"auto", "manual", "manual_only"},
    "stage": {"stable", "experimental", "deprecated"},
    "backup": {"hot", "cold"},
    "hassio_role": {"default", "homeassistant", "backup", "manager", "admin"},
}
BOOLEANS = (
    "init",
    "host_network",
    "host_ipc",
    "host_dbus",
    "host_pid",
    "host_uts",
    "hassio_api",
    "homeassistant_api",
    "docker_api",
    "full_access",
    "audio",
    "video",
    "gpio",
    "usb",
    "uart",
    "udev",
    "devicetree",
    "kernel_modules",
    "stdin",
    "legacy",
    "auth_api",
    "ingress",
    "tmpfs",
    "realtime",
    "journald",
    "advanced",
    "panel_admin",
)
MAP_TYPES = {
    "homeassistant_config",
    "addon_config",
    "ssl",
    "addons",
    "backup",
    "share",
    "media",
    "all_addon_configs",
    "data",
}
SLUG = re.compile(r"[-_.A-Za-z0-9]+")
VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]*")
PORT_KEY = re.compile(r"([0-9]{1,5})/(tcp|udp)")
# The option types the documentation lists, each optionally followed by "?".
_RANGE_INT = r"-?\d+"
_RANGE_FLOAT = r"-?\d*\.?\d+"
ELEMENT = re.compile(
    r"(?:bool|email|url|port"
    r"|device(?:\(subsystem=[a-z]+\))?"
    rf"|(?:str|password)(?:\((?:\d+)?,(?:\d+)?\))?"
    rf"|int(?:\((?:{_RANGE_INT})?,(?:{_RANGE_INT})?\))?"
    rf"|float(?:\((?:{_RANGE_FLOAT})?,(?:{_RANGE_FLOAT})?\))?"
    r"|match\(.*\)"
    r"|list\(.+\))\??"
)


def config_problems(config: dict[str, Any]) -> list[str]:
    """Everything wrong with an add-on's ``config.yaml`` (empty: it is valid)."""
    problems: list[str] = []
    for key, kind in REQUIRED.items():
        if not isinstance(config.get(key), kind) or not config.get(key):
            problems.append(f"{key}: required, a non-empty {kind.__name__}")
    if isinstance(config.get("slug"), str) and not SLUG.fullmatch(config["slug"]):
        problems.append(f"slug {config['slug']!r}: only letters, digits, - _ .")
    if isinstance(config.get("version"), str) and not VERSION.fullmatch(
        config["version"]
    ):
        problems.append(f"version {config['version']!r} is not a version tag")
    for arch in config.get("arch") or []:
        if arch not in ARCHITECTURES:
            problems.append(f"arch {arch!r}: one of {sorted(ARCHITECTURES)}")
    for key, allowed in CHOICES.items():
        if key in config and config[key] not in allowed:
            problems.append(f"{key} {config[key]!r}: one of {sorted(allowed)}")
    for key in BOOLEANS:
        if key in config and not isinstance(config[key], bool):
            problems.append(f"{key}: a boolean")
    timeout = config.get("timeout", 10)
    if not isinstance(timeout, int) or not 10 <= timeout <= 300:
        problems.append("timeout: whole seconds from 10 to 300")
    problems += _map_problems(config.get("map", []))
    problems += _port_problems(config)
    problems += options_problems(config.get("options", {}), config.get("schema", {}))
    for key in ("backup_exclude",):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{key}: a list of strings")
    for key in ("backup_pre", "backup_post", "url", "image"):
        if key in config and not isinstance(config[key], str):
            problems.append(f"{key}: a string")
    return problems


def _map_problems(entries: Any) -> list[str]:
    if not isinstance(entries, list):
        return ["map: a list"]
    problems = []
    for entry in entries:
        kind = (
            entry.get("type") if isinstance(entry, dict) else str(entry).split(":")[0]
        )
        if kind not in MAP_TYPES:
            problems.append(f"map {entry!r}: type one of {sorted(MAP_TYPES)}")
        if isinstance(entry, dict) and not isinstance(
            entry.get("read_only", True), bool
        ):
            problems.append(f"map {entry!r}: read_only is a boolean")
    return problems


def _port_problems(config: dict[str, Any]) -> list[str]:
    ports = config.get("ports")
    if ports is None:
        return []
    if config.get("host_network"):
        # On the host's network the mapping is not applied: the form would mislead.
        return ["ports: an add-on on the host network has no port mapping"]
    if not isinstance(ports, dict):
        return ["ports: a mapping of 'port/tcp|udp' to a host port or null"]
    problems = []
    for key, host in ports.items():
        match = PORT_KEY.fullmatch(str(key))
        if match is None or not 1 <= int(match.group(1)) <= 65535:
            problems.append(f"ports {key!r}: 'container-port/tcp' or '/udp'")
        if host is not None and (not isinstance(host, int) or not 1 <= host <= 65535):
            problems.append(f"ports {key!r}: host port {host!r} is not 1-65535 or null")
    for key in config.get("ports_description", {}):
        if key not in ports:
            problems.append(f"ports_description {key!r}: not in ports")
    return problems


def options_problems(options: Any, schema: Any) -> list[str]:
    """Whether the default options and the schema agree."""
    if schema is False:
        return []
    if not isinstance(options, dict) or not isinstance(schema, dict):
        return ["options and schema: mappings"]
    problems = []
    for key, element in schema.items():
        if not isinstance(element, str) or not ELEMENT.fullmatch(element):
            problems.append(f"schema {key}: {element!r} is not an option type")
            continue
        if element.endswith("?") and key in options:
            # A default makes an optional option required.
            problems.append(f"options {key}: optional in the schema, so no default")
        if key in options and not value_fits(options[key], element.rstrip("?")):
            problems.append(f"options {key}: {options[key]!r} does not fit {element}")
    for key in options:
        if key not in schema:
            problems.append(f"options {key}: not in the schema")
    return problems


def value_fits(value: Any, element: str) -> bool:
    """Whether a default value is of the schema element's type and within its range."""
    name, _, rest = element.partition("(")
    limits = rest[:-1] if rest else ""
    if name == "bool":
        return isinstance(value, bool)
    if name == "port":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (1 <= value <= 65535)
        )
    if name in ("int", "float"):
        kind = int if name == "int" else (int, float)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
        low, _, high = limits.partition(",")
        return (not low or value >= float(low)) and (not high or value <= float(high))
    if name == "list":
        return value in limits.split("|")
    if name == "match":
        return isinstance(value, str) and re.fullmatch(limits, value) is not None
    if name in ("str", "password"):
        low, _, high = limits.partition(",")
        return (
            isinstance(value, str)
            and (not low or len(value) >= int(low))
            and (not high or len(value) <= int(high))
        )
    return isinstance(value, str)


def translation_problems(translation: Any, config: dict[str, Any]) -> list[str]:
    """A translation file names exactly the schema's options, each with a name."""
    if not isinstance(translation, dict):
        return ["a translation file is a mapping"]
    problems = []
    unknown = set(translation) - {"configuration", "network"}
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)}")
    fields = translation.get("configuration", {})
    schema = config.get("schema") or {}
    for key in set(schema) - set(fields):
        problems.append(f"configuration {key}: not translated")
    for key in set(fields) - set(schema):
        problems.append(f"configuration {key}: not an option")
    for key, text in fields.items():
        if not isinstance(text, dict) or not text.get("name"):
            problems.append(f"configuration {key}: needs a name")
    for key in translation.get("network", {}):
        if key.lower() not in {str(p).lower() for p in config.get("ports") or {}}:
            problems.append(f"network {key}: not a port of the add-on")
    return problems


def dockerfile_problems(folder: Path) -> list[str]:
    """The Dockerfile starts from an official base image and names no BUILD_FROM."""
    text = (folder / "Dockerfile").read_text()
    problems = []
    base = re.search(r"(?m)^FROM\s+(\S+)", text)
    if base is None or not base.group(1).startswith("ghcr.io/home-assistant/"):
        problems.append("FROM: an official image from ghcr.io/home-assistant/")
    if "BUILD_FROM" in text:
        problems.append("BUILD_FROM is no longer given by the Supervisor")
    for source in re.findall(r"(?m)^COPY\s+(\S+)\s+\S+", text):
        if not (folder / source).exists():
            problems.append(f"COPY {source}: no such file in the add-on folder")
    return problems
