"""Outage-to-relay latency: how soon the living room is on battery after a power cut.

A real flat simulator process and the real integration in an in-process Home
Assistant, polling at 0.25 s and at 1 s. Each trial cuts the grid at a random moment
of the poll cycle (through the simulator's control API) and times until Home
Assistant has switched the living-room circuit to the battery (the
``local_vpp_backup_engaged`` event, fired after the relay write is acknowledged).
The reconnection delay is shortened to 0.5 s so that the grid can come back between
trials quickly; it plays no part in the latency measured. The same flat is measured
over Modbus (SunSpec, the baseline) and as an ECHONET Lite node, whose backup output
switches by itself: there the event follows the integration's acknowledged release
of the battery's setpoint.

Prints readable lines, then one JSON object as the very last line. The figure is
``p99_over_poll``: the p99 latency over the poll interval (target ≤ 2 at both
cadences, and under 0.5 s absolute at 0.25 s), per family, and the ECHONET Lite p99
over the Modbus p99 at each cadence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from typing import Any

import aiohttp
from homeassistant import loader
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.local_vpp.const import (
    CONF_FAST_POLL_INTERVAL,
    CONF_POLL_INTERVAL,
    CONF_RECONNECT_DELAY,
    DOMAIN,
    EVENT_BACKUP_ENGAGED,
    EVENT_BACKUP_RELEASED,
)
from devkit.measure import percentile
from devkit.ports import free_port
from devkit.simulator_process import flat_simulator


async def _next(queue: asyncio.Queue[float]) -> float:
    async with asyncio.timeout(10):
        return await queue.get()


def _modbus_entry(port: int) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "unit_pv": 1,
        "unit_battery": 2,
        "unit_meter": 3,
    }


def _echonet_entry(port: int) -> dict[str, Any]:
    # Answers come back to any free local port (the simulator answers the sender).
    return {
        "device_family": "echonet",
        "host": "127.0.0.1",
        "port": port,
        "echonet_local_port": 0,
        "living_room_channel": 1,
    }


async def _run_cadence(
    poll_s: float, trials: int, data: dict[str, Any], control_url: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            return await _trials(hass, poll_s, trials, data, control_url)


async def _trials(
    hass: HomeAssistant,
    poll_s: float,
    trials: int,
    data: dict[str, Any],
    control_url: str,
) -> dict[str, float]:
    # Let the loader find the integration in this repository's custom_components.
    hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
    assert await async_setup_component(hass, "homeassistant", {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Bench flat",
        unique_id="bench",
        data=data,
        options={
            CONF_POLL_INTERVAL: poll_s,
            CONF_FAST_POLL_INTERVAL: poll_s,
            CONF_RECONNECT_DELAY: 0.5,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    engaged: asyncio.Queue[float] = asyncio.Queue()
    released: asyncio.Queue[float] = asyncio.Queue()

    def on_engaged(_: Event[Any]) -> None:
        engaged.put_nowait(time.monotonic())

    def on_released(_: Event[Any]) -> None:
        released.put_nowait(time.monotonic())

    hass.bus.async_listen(EVENT_BACKUP_ENGAGED, on_engaged)
    hass.bus.async_listen(EVENT_BACKUP_RELEASED, on_released)
    latencies: list[float] = []
    rng = random.Random(1)
    async with aiohttp.ClientSession() as session:
        for _ in range(trials):
            # Cut the grid at a random point of the poll cycle.
            await asyncio.sleep(poll_s * (1 + rng.random()))
            started = time.monotonic()
            await session.post(f"{control_url}/outage", json={"on": True})
            latencies.append(await _next(engaged) - started)
            await session.post(f"{control_url}/outage", json={"on": False})
            await _next(released)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    p99 = percentile(latencies, 99)
    return {
        "poll_s": poll_s,
        "trials": trials,
        "p50_s": statistics.median(latencies),
        "p99_s": p99,
        "max_s": max(latencies),
        "p99_over_poll": p99 / poll_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer trials (<1 min)")
    args = parser.parse_args()
    trials = 5 if args.quick else 50
    echonet_port = free_port()
    with flat_simulator(
        "--protocol", "echonet", "--echonet-port", str(echonet_port)
    ) as ports:
        families = {
            family: [
                asyncio.run(_run_cadence(poll_s, trials, data, ports.control_url))
                for poll_s in (0.25, 1.0)
            ]
            for family, data in (
                ("modbus", _modbus_entry(ports.modbus)),
                ("echonet", _echonet_entry(echonet_port)),
            )
        }
    print(f"outage-to-relay latency, {trials} outages per cadence")
    for family, cadences in families.items():
        for run in cadences:
            print(
                f"  {family:7} poll {run['poll_s']:.2f} s: p50 {run['p50_s']:.3f} s, "
                f"p99 {run['p99_s']:.3f} s, max {run['max_s']:.3f} s, "
                f"p99/poll {run['p99_over_poll']:.2f}"
            )
    # Modbus is the baseline measured in the same run; ECHONET Lite beside it.
    print(
        json.dumps(
            {
                "cadences": families["modbus"],
                "echonet_cadences": families["echonet"],
                "echonet_p99_over_modbus_p99": [
                    e["p99_s"] / m["p99_s"]
                    for e, m in zip(
                        families["echonet"], families["modbus"], strict=True
                    )
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
