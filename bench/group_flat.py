"""One flat of the group-discharge benchmark: its sidecar, and its Home Assistant.

The benchmark plays each flat's Home Assistant as the integration behaves: it polls
the flat's simulated battery through the integration's device library (SunSpec 7xx,
SunSpec 1xx or ECHONET Lite, per flat), sends ``sample`` and ``availability`` (with
the device's ``capabilities``) over the flat's local API (subscribed to
``setpoint``), and writes every ``setpoint`` it gets to the battery, noting when
each write was acknowledged and how long the device took.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Final

import devkit.building
from custom_components.local_vpp.device import (
    DeviceError,
    FlatDevice,
    FlatReading,
    UnitIds,
)
from custom_components.local_vpp.device.echonet.flat import EchonetFlatDevice
from custom_components.local_vpp.device.interface import AnyFlatDevice
from custom_components.local_vpp.device.sunspec1xx.flat import Sunspec1xxFlatDevice
from custom_components.local_vpp.ledger.messages import Availability, build
from custom_components.local_vpp.ledger.sample import (
    availability_from_reading,
    sample_from_reading,
)
from devkit.clock import now_ms
from devkit.local_api import LocalApiClient, hello

POLL_S = 1.0  # the integration's default poll interval
SUNSPEC_7XX: Final = "sunspec7xx"
SUNSPEC_1XX: Final = "sunspec1xx"
ECHONET: Final = "echonet"
# The integration's reserve for a battery without a reserve setting of its own (an
# ECHONET Lite battery) when the installer states none (its battery_facts module).
DEFAULT_RESERVE_PCT: Final = 30.0


def open_device(family: str, port: int) -> AnyFlatDevice:
    """The flat's device object as the integration builds it for ``family``."""
    if family == ECHONET:
        return EchonetFlatDevice.udp("127.0.0.1", port, local_port=0)
    if family == SUNSPEC_1XX:
        return Sunspec1xxFlatDevice.tcp("127.0.0.1", port, UnitIds())
    return FlatDevice.tcp("127.0.0.1", port, UnitIds())


def complete_battery(
    reading: FlatReading,
    *,
    default_reserve: bool,
    stated_capacity_wh: float | None,
) -> FlatReading:
    """The reading with an unknown capacity and reserve filled in, as the
    integration does from the installer's options (what the device reports wins).
    """
    battery = reading.battery
    if battery is None:
        return reading
    reserve = battery.reserve_soc_pct
    if reserve is None and default_reserve:
        reserve = DEFAULT_RESERVE_PCT
    rated = battery.rated_wh if battery.rated_wh is not None else stated_capacity_wh
    return replace(
        reading, battery=replace(battery, rated_wh=rated, reserve_soc_pct=reserve)
    )


@dataclass
class Flat:
    """One flat: its sidecar node, and the driver's view of it."""

    name: str
    port: int  # the Modbus TCP port, or the ECHONET Lite UDP port
    node: devkit.building.Flat
    family: str = SUNSPEC_7XX
    # The installer's capacity for a battery that reports none (SunSpec 1xx).
    stated_capacity_wh: float | None = None
    device: AnyFlatDevice | None = None
    client: LocalApiClient | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    alive: bool = True
    reading: FlatReading | None = None
    offer: dict[str, Any] | None = None  # the newest availability sent
    latest: dict[str, Any] | None = None  # the newest setpoint message received
    wanted: dict[str, Any] | None = None  # the setpoint message to write next
    written: dict[str, Any] | None = (
        None  # the message of the newest acknowledged write
    )
    received: dict[str | None, float] = field(default_factory=dict)  # event → first
    applied: dict[str | None, float] = field(default_factory=dict)  # event → first ack
    released: dict[str | None, float] = field(default_factory=dict)
    # How long each write that first applied an event took the device (s).
    write_s: list[float] = field(default_factory=list)
    write_errors: int = 0
    poll_errors: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    # Simulated seconds per real second: the revert timer is written in the
    # simulator's seconds, so it is scaled to last the same real time.
    revert_scale: float = 1.0

    def offers_w(self) -> tuple[float, float]:
        """(energy above reserve Wh, max discharge W) from the newest availability."""
        offer = self.offer or {}
        return float(offer.get("energy_wh", 0.0)), float(
            offer.get("max_discharge_w", 0.0)
        )

    @property
    def eligible(self) -> bool:
        """Whether the group allocation would give this flat a share of a discharge."""
        energy, power = self.offers_w()
        return self.alive and energy >= 1 and power >= 1

    async def start_driver(self, sidecars: devkit.building.Building) -> None:
        """Find the devices, connect to the sidecar, start polling and writing."""
        self.device = open_device(self.family, self.port)
        await self.device.async_discover()
        self.client = await sidecars.connect(
            self.node,
            hello(
                serial=self.device.serial,
                subscribe=["setpoint"],
                client="group_discharge bench",
            ),
            self._sort,
        )
        self.tasks = [
            asyncio.create_task(self._poll()),
            asyncio.create_task(self._write()),
        ]

    async def stop_driver(self) -> None:
        """The flat's Home Assistant stops: no polls, samples or writes any more."""
        self.alive = False
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        if self.device is not None:
            with contextlib.suppress(Exception):
                await self.device.async_close()

    def _sort(self, message: dict[str, Any]) -> bool:
        """Take the setpoints and refused availabilities; the client sorts the rest."""
        kind = message.get("type")
        if kind == "setpoint":
            now = time.monotonic()
            message["received"] = now
            self.latest = message
            self.received.setdefault(message.get("event"), now)
            self.wanted = message
            self.kick.set()
            return True
        if kind == "error" and "id" not in message:
            self.refused[str(message.get("reason"))] += 1  # an availability
            return True
        return False

    async def _poll(self) -> None:
        """Poll the flat every second; send the sample and the availability."""
        assert self.device is not None
        assert self.client is not None
        next_at = time.monotonic()
        while True:
            try:
                reading = complete_battery(
                    await self.device.async_poll(),
                    default_reserve=not self.device.has_reserve_setting,
                    stated_capacity_wh=self.stated_capacity_wh,
                )
            except DeviceError:
                self.poll_errors += 1
            else:
                self.reading = reading
                ts = now_ms()
                offer = build(self._availability(reading, ts))
                if await self.client.send(build(sample_from_reading(reading, ts))):
                    await self.client.send(offer)
                self.offer = offer
            next_at = max(next_at + POLL_S, time.monotonic())
            await asyncio.sleep(next_at - time.monotonic())

    async def _write(self) -> None:
        """Write the newest setpoint, one write at a time, as the integration does."""
        assert self.device is not None
        while True:
            await self.kick.wait()
            self.kick.clear()
            message = self.wanted
            if message is None:
                continue
            event = message.get("event")
            started = time.monotonic()
            try:
                if message.get("active") is True:
                    await self.device.async_set_power_setpoint(
                        self._power_w(float(message["w"])),
                        math.ceil(int(message["revert_s"]) * self.revert_scale),
                    )
                else:
                    await self.device.async_clear_power_setpoint()
            except DeviceError:
                self.write_errors += 1
                continue
            now = time.monotonic()
            self.written = message
            if message.get("active") is True:
                if event not in self.applied:
                    self.write_s.append(now - started)
                self.applied.setdefault(event, now)
            else:
                self.released.setdefault(event, now)

    def _availability(self, reading: FlatReading, ts: int) -> Availability:
        """The flat's offer, as the integration's group discharge builds it."""
        assert self.device is not None
        capabilities = self.device.capabilities
        availability = availability_from_reading(
            reading,
            ts,
            # A battery that cannot be controlled is recorded, never a giver.
            participate=capabilities.control_power,
            max_share_pct=100.0,
            capabilities=capabilities,
        )
        if reading.battery is not None and availability.energy_wh is None:
            # Without a capacity the flat offers nothing.
            availability = replace(availability, energy_wh=0.0)
        return availability

    def _power_w(self, power: float) -> float:
        """A setpoint within the battery's limits, as the integration writes it."""
        battery = self.reading.battery if self.reading else None
        if battery is not None and battery.max_discharge_w is not None:
            power = min(power, battery.max_discharge_w)
        if battery is not None and battery.max_charge_w is not None:
            power = max(power, -battery.max_charge_w)
        return power
