"""The Home Assistant add-on: its files follow the add-on rules, and its start-up works.

The rules are in :mod:`tests.shipping.addon_rules`. The start-up script
(``local_vpp_sidecar/addon.py``) is run here against real sidecar commands and a real
node: first start, a Home Assistant backup and restore, and a flat that tries to
change its identity. The container image itself is not built here.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import shlex
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from PIL import Image

from devkit import processes
from devkit.ports import free_port
from devkit.sidecar_node import READY
from sidecar import config as sidecar_config
from tests.shipping.addon_rules import (
    config_problems,
    dockerfile_problems,
    translation_problems,
)

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "local_vpp_sidecar"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ADDON / "config.yaml").read_text())
    return loaded


def test_the_add_on_configuration_follows_the_rules(config: dict[str, Any]) -> None:
    assert config_problems(config) == []
    assert config["slug"] == ADDON.name
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert config["version"] == project["version"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"slug": "local vpp"}, "slug"),
        ({"arch": ["amd64", "armv7"]}, "arch 'armv7'"),
        ({"name": None}, "name: required"),
        ({"startup": "later"}, "startup"),
        ({"timeout": 600}, "timeout"),
        ({"ports": {"8765/tcp": 8765}}, "host network"),
        ({"host_network": False, "ports": {"8765": 8765}}, "ports '8765'"),
        ({"host_network": False, "ports": {"8765/tcp": 70000}}, "host port 70000"),
        ({"options": {"port": 0}}, "options port"),
        ({"options": {"sync": "sometimes"}}, "options sync"),
        ({"options": {"colour": "blue"}}, "options colour: not in the schema"),
        ({"options": {"address": "192.168.1.2:8765"}}, "optional in the schema"),
        ({"schema": {"port": "portnumber"}}, "not an option type"),
        ({"map": [{"type": "config_folder"}]}, "map"),
    ],
)
def test_the_rules_catch_a_broken_configuration(
    config: dict[str, Any], change: dict[str, Any], complaint: str
) -> None:
    broken = copy.deepcopy(config)
    for key, value in change.items():
        if key in ("options", "schema") and isinstance(value, dict):
            broken[key] = {**broken[key], **value}
        else:
            broken[key] = value
    problems = config_problems(broken)
    assert any(complaint in problem for problem in problems), problems


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_option_is_translated(config: dict[str, Any], language: str) -> None:
    path = ADDON / "translations" / f"{language}.yaml"
    assert translation_problems(yaml.safe_load(path.read_text()), config) == []


def test_a_missing_translation_is_caught(config: dict[str, Any]) -> None:
    english = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())
    del english["configuration"]["port"]
    assert translation_problems(english, config) == [
        "configuration port: not translated"
    ]


def test_the_repository_the_image_and_the_presentation(config: dict[str, Any]) -> None:
    repository = yaml.safe_load((ROOT / "repository.yaml").read_text())
    assert isinstance(repository.get("name"), str)
    assert repository["name"]
    assert dockerfile_problems(ADDON) == []
    # The Supervisor looks for config.yaml files anywhere in the repository.
    assert [
        p.parent for p in ROOT.glob("**/config.yaml") if ".venv" not in p.parts
    ] == [ADDON]
    run = ADDON / "run.sh"
    assert run.stat().st_mode & 0o111
    assert run.read_text().startswith("#!/usr/bin/with-contenv bashio\n")
    assert config["init"] is False  # s6-overlay in the base image is the init system
    for name in ("README.md", "DOCS.md", "CHANGELOG.md"):
        assert (ADDON / name).read_text().strip()
    assert f"## {config['version']}" in (ADDON / "CHANGELOG.md").read_text()
    with Image.open(ADDON / "icon.png") as icon:
        assert icon.format == "PNG"
        assert icon.width == icon.height
    with Image.open(ADDON / "logo.png") as logo:
        assert logo.format == "PNG"
        assert logo.width > logo.height


# The start-up script, run against the project's sidecar.


def _load_addon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LVPP_ADDON_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LVPP_ADDON_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("LVPP_ADDON_LISTEN_HOST", "127.0.0.1")
    monkeypatch.setenv("LVPP_SIDECAR", f"{shlex.quote(sys.executable)} -m sidecar")
    monkeypatch.delenv("TZ", raising=False)
    (tmp_path / "data").mkdir()
    spec = importlib.util.spec_from_file_location("addon", ADDON / "addon.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(**changes: Any) -> dict[str, Any]:
    options = {
        "building": "bldg-addon",
        "floor": "3",
        "flat": "301",
        "port": free_port(),
        "announce": False,
        "sync": "normal",
        "restored_ok": False,
        "timezone": "Asia/Tokyo",
    }
    options.update(changes)
    return options


async def _run_briefly(command: list[str], log: Path) -> None:
    process, _ = await processes.start(command, READY, log=log, what="the add-on node")
    assert await processes.stop(process, what="the add-on node") == 0


async def test_first_start_makes_the_node_and_leaves_the_token_and_member_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon = _load_addon(tmp_path, monkeypatch)
    options = _options()
    options["address"] = f"192.168.1.20:{options['port']}"
    command = addon.prepare(options)
    loaded = sidecar_config.load(addon.CONFIG)
    assert (loaded.building, loaded.floor, loaded.flat) == ("bldg-addon", "3", "301")
    assert (loaded.host, loaded.port) == ("127.0.0.1", options["port"])
    assert (loaded.sync, loaded.announce, loaded.roster_file) == ("normal", False, None)
    assert loaded.key_file == addon.LEDGER / "node.key"
    token = tmp_path / "config" / "api_token.txt"
    assert token.read_text().strip() == loaded.api_token
    assert token.stat().st_mode & 0o777 == 0o600
    member = json.loads((tmp_path / "config" / "member.json").read_text())
    assert (member["flat"], member["address"]) == ("301", options["address"])
    await _run_briefly(command, tmp_path / "node.log")
    # A second start with other settings keeps the key and takes the new settings.
    key = loaded.key_file.read_bytes()
    addon.prepare({**options, "sync": "full", "device_serial": "BAT-1"})
    again = sidecar_config.load(addon.CONFIG)
    assert (again.sync, again.device_serial) == ("full", "BAT-1")
    assert again.key_file.read_bytes() == key


async def test_a_restored_home_assistant_backup_takes_back_the_snapshot_safely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon = _load_addon(tmp_path, monkeypatch)
    options = _options()
    assert addon.backup() == 0  # before the first run: nothing to snapshot
    command = addon.prepare(options)
    await _run_briefly(command, tmp_path / "node.log")
    assert addon.backup() == 0
    assert addon.BACKUP.exists()
    # What Home Assistant restores: the add-on's data without the live database.
    for path in addon.LEDGER.glob("ledger.db*"):
        path.unlink()
    command = addon.prepare(options)
    assert addon.DATABASE.exists()
    refused = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, said = await asyncio.wait_for(refused.communicate(), 120)
    assert refused.returncode == 2
    assert "restored from a backup" in said.decode()
    command = addon.prepare({**options, "restored_ok": True})
    assert command[-1] == "--restored-ok"
    await _run_briefly(command, tmp_path / "node.log")


def test_a_flat_cannot_change_its_identity_or_name_a_missing_roster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon = _load_addon(tmp_path, monkeypatch)
    options = _options()
    addon.prepare(options)
    with pytest.raises(addon.AddonError, match="identity cannot change"):
        addon.prepare({**options, "flat": "302"})
    with pytest.raises(addon.AddonError, match=r"roster file 'roster\.json'"):
        addon.prepare({**options, "roster_file": "roster.json"})


async def test_a_backup_without_snapshot_never_restarts_a_flat_under_its_old_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon = _load_addon(tmp_path, monkeypatch)
    options = _options()
    command = addon.prepare(options)
    await _run_briefly(command, tmp_path / "node.log")
    addon.prepare(options)  # the next start sees that the node has had a ledger
    # Restored from a backup taken while the add-on was stopped: no ledger, no
    # snapshot.
    for path in addon.LEDGER.glob("ledger.db*"):
        path.unlink()
    with pytest.raises(addon.AddonError, match="replace its key"):
        addon.prepare(options)
    assert addon.prepare({**options, "restored_ok": True})[-1] == "--restored-ok"


def test_a_first_start_that_failed_before_the_ledger_existed_may_start_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    addon = _load_addon(tmp_path, monkeypatch)
    options = _options()
    addon.prepare(options)
    assert not addon.DATABASE.exists()
    assert addon.prepare(options)[-2:] == ["--config", str(addon.CONFIG)]
