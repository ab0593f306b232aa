"""A minute without the flat's Modbus link writes two log lines, not a flood.

The README promises one warning when the link fails and one line when it
recovers. pymodbus would log every failed request (with hex dumps of the frames);
those are held back. A minute at the 1 s poll interval is 60 polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator.threaded import FlatThread
from tests.integration.ha.support import loop_debug_noise

POLLS_IN_A_MINUTE = 60


async def _a_minute_without_the_link(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    fail: Callable[[], None],
    recover: Callable[[], None],
) -> list[logging.LogRecord]:
    coordinator = entry.runtime_data.coordinator
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        fail()
        for _ in range(POLLS_IN_A_MINUTE):
            await coordinator.async_refresh()
        assert not coordinator.last_update_success
        recover()
        for _ in range(50):
            await coordinator.async_refresh()
            if coordinator.last_update_success:
                break
        assert coordinator.last_update_success
        await hass.async_block_till_done()
    # Home Assistant's own lines: the simulated flat runs in a thread of this
    # process and logs there about its server.
    loop_thread = threading.get_ident()
    shown = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO
        and r.thread == loop_thread
        and not loop_debug_noise(r)
    ]
    size = sum(len(r.getMessage()) for r in shown)
    print(
        f"{POLLS_IN_A_MINUTE} failed polls: {len(shown)} log lines at INFO or above "
        f"({size} characters); {len(caplog.records)} records in all"
    )
    return shown


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.mark.long
async def test_a_minute_of_a_vanished_flat_logs_two_lines(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    flat: FlatThread,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_entry.add_to_hass(hass)
    # A silent flat costs a request timeout per poll; a shorter one keeps the
    # minute's polls quick without changing what is logged.
    with patch("custom_components.local_vpp.families.MODBUS_TIMEOUT_S", 0.5):
        entry = await _set_up(hass, config_entry)
    shown = await _a_minute_without_the_link(
        hass, entry, caplog, flat.vanish, flat.return_flat
    )
    lines = [(r.levelname, r.name, r.getMessage()[:80]) for r in shown]
    assert len(shown) == 2, lines
    assert shown[0].levelno >= logging.WARNING, lines
    assert shown[1].levelno == logging.INFO, lines
    assert "recovered" in shown[1].getMessage()
    assert await hass.config_entries.async_unload(entry.entry_id)
