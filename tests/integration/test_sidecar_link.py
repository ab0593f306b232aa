"""The integration streams its readings to a real ledger sidecar process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from bench.ports import free_port
from custom_components.local_vpp.const import CONF_SIDECAR_TOKEN, CONF_SIDECAR_URL
from custom_components.local_vpp.ledger.sidecar_link import SidecarLink
from simulator.threaded import FlatThread

from .conftest import entity_id

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Sidecar:
    url: str
    token: str
    db: Path
    config: Path
    process: subprocess.Popen[str] | None = None


async def _start(hass: HomeAssistant, node: Sidecar) -> None:
    """Run the node as its own process and wait for its ready line."""
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
        [sys.executable, "-m", "sidecar", "run", "--config", str(node.config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    node.process = process  # so that whoever stops ``node`` stops this process
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(
            hass.async_add_executor_job(process.stdout.readline), 30
        )
        assert "listening on" in line, f"unexpected ready line: {line!r}"
    except BaseException:
        # A timeout, a bad ready line or a cancelled test: never leave it running.
        # Killing it also ends a ``readline`` still blocked in the executor.
        process.kill()
        await hass.async_add_executor_job(process.wait)
        raise


async def _until(
    condition: Callable[[], bool],
    seconds: float,
    tick: Callable[[], None] | None = None,
) -> None:
    """Wait until ``condition()`` holds, calling ``tick()`` between looks."""
    for _ in range(int(seconds / 0.1)):
        if condition():
            return
        if tick is not None:
            tick()
        await asyncio.sleep(0.1)
    pytest.fail("timed out waiting")


async def _stop(hass: HomeAssistant, node: Sidecar) -> None:
    if node.process is not None:
        process, node.process = node.process, None
        process.terminate()  # a no-op if it has exited already
        try:
            await hass.async_add_executor_job(process.wait, 30)
        except BaseException:  # it did not stop in time, or the test was cancelled
            process.kill()  # never leave a node behind
            await hass.async_add_executor_job(process.wait)
            raise
        finally:
            if process.stdout is not None:
                process.stdout.close()


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
    port = free_port()
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
        f"127.0.0.1:{port}",
    )
    assert made.returncode == 0, made.stderr
    token = tomllib.loads(config.read_text())["node"]["api_token"]
    node = Sidecar(
        url=f"ws://127.0.0.1:{port}/api/v1/ws",
        token=token,
        db=tmp_path / "data" / "ledger.db",
        config=config,
    )
    await _start(hass, node)
    try:
        yield node
    finally:
        await _stop(hass, node)


async def _set_up_linked(
    hass: HomeAssistant, config_entry: MockConfigEntry, url: str, token: str
) -> SidecarLink:
    """Set the flat up with its sidecar configured; return the link."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: url, CONF_SIDECAR_TOKEN: token},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    link = config_entry.runtime_data.sidecar
    assert link is not None
    return link


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_readings_become_signed_entries(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    link = await _set_up_linked(hass, config_entry, sidecar.url, sidecar.token)

    await _until(lambda: (link.last_seq or 0) >= 3, 30, lambda: flat.advance(1))
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


async def test_link_survives_a_sidecar_restart(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    link = await _set_up_linked(hass, config_entry, sidecar.url, sidecar.token)
    await _until(lambda: (link.last_seq or 0) >= 2, 30, lambda: flat.advance(1))

    await _stop(hass, sidecar)
    await _until(lambda: not link.connected, 10)
    # Readings keep coming while the sidecar is away; they wait in the buffer.
    await _until(lambda: link.pending > 0, 10)
    before = link.last_seq or 0

    await _start(hass, sidecar)
    await _until(
        lambda: link.connected and not link.pending and (link.last_seq or 0) > before,
        30,
        lambda: flat.advance(1),
    )
    assert link.rejections == 0
    assert await hass.config_entries.async_unload(config_entry.entry_id)


async def test_wrong_token_is_reported_not_retried_silently(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    sidecar: Sidecar,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=config_entry.options
        | {CONF_SIDECAR_URL: sidecar.url, CONF_SIDECAR_TOKEN: "not-the-token"},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    link = config_entry.runtime_data.sidecar
    assert link is not None
    await _until(lambda: link.last_error is not None, 10)
    assert not link.connected
    assert "401" in link.last_error
    assert await hass.config_entries.async_unload(config_entry.entry_id)
