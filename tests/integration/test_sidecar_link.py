"""The integration streams its readings to a real ledger sidecar process."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.local_vpp.const import CONF_SIDECAR_TOKEN, CONF_SIDECAR_URL
from simulator.threaded import FlatThread

from .conftest import entity_id

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Sidecar:
    url: str
    token: str
    db: Path
    config: Path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
async def sidecar(
    hass: HomeAssistant, tmp_path: Path, socket_enabled: None
) -> AsyncIterator[Sidecar]:
    """A sidecar initialised for flat 101 and running as its own process."""
    config = tmp_path / "sidecar.toml"
    made = _cli(
        "init",
        "--config",
        str(config),
        "--building",
        "bldg-test",
        "--floor",
        "1",
        "--flat",
        "101",
        "--listen",
        "127.0.0.1:0",
    )
    assert made.returncode == 0, made.stderr
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
        [sys.executable, "-m", "sidecar", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = await hass.async_add_executor_job(process.stdout.readline)
    ready = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    assert ready is not None, f"unexpected ready line: {line!r}"
    port = ready.group(1)
    token = tomllib.loads(config.read_text())["node"]["api_token"]
    try:
        yield Sidecar(
            url=f"ws://127.0.0.1:{port}/api/v1/ws",
            token=token,
            db=tmp_path / "data" / "ledger.db",
            config=config,
        )
    finally:
        process.terminate()
        await hass.async_add_executor_job(process.wait, 30)


async def test_readings_become_signed_entries(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: sidecar.url, CONF_SIDECAR_TOKEN: sidecar.token},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    link = config_entry.runtime_data.sidecar
    assert link is not None

    async with asyncio.timeout(30):
        while (link.last_seq or 0) < 3:
            flat.advance(1)
            await asyncio.sleep(0.2)
    await config_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert link.rejections == 0
    connected = hass.states.get(
        entity_id(hass, Platform.BINARY_SENSOR, "sidecar_connected")
    )
    assert connected is not None
    assert connected.state == STATE_ON
    entries = hass.states.get(entity_id(hass, Platform.SENSOR, "ledger_entries"))
    assert entries is not None
    assert int(entries.state) >= 3

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    # Anyone holding the database can check it, without trusting the node.
    verified = await hass.async_add_executor_job(_cli, "verify", str(sidecar.db))
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_sidecar_options_are_checked(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SIDECAR_URL: "ws://127.0.0.1:1/api/v1/ws"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "sidecar_incomplete"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SIDECAR_URL: "http://127.0.0.1:1/", CONF_SIDECAR_TOKEN: "x" * 32},
    )
    assert result["errors"] == {CONF_SIDECAR_URL: "sidecar_url_scheme"}
