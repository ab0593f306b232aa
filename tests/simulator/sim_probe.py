"""A plain Modbus client for the simulator tests; decodes without the sim's code."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from simulator.model.config import BuildingConfig, FlatConfig
from simulator.simulator import Simulator

# Midsummer noon in Fukuoka: plenty of sun, so every flow is non-zero.
NOON = datetime(2025, 6, 21, 12, 0)
BASE = 40000
PV, BATTERY, METER = 1, 2, 3

# The unit keyword of pymodbus's client calls changed name ("slave" → "device_id").
UNIT_KEYWORD = (
    "device_id"
    if "device_id"
    in inspect.signature(AsyncModbusTcpClient.read_holding_registers).parameters
    else "slave"
)


class ModbusError(Exception):
    """The device answered with a Modbus exception."""

    def __init__(self, code: int) -> None:
        super().__init__(f"Modbus exception {code}")
        self.code = code


class Probe:
    """A plain pymodbus client with the decoding a test needs, nothing from the sim."""

    def __init__(self, client: AsyncModbusTcpClient) -> None:
        self.client = client

    async def read(self, unit: int, address: int, count: int) -> list[int]:
        words: list[int] = []
        while count > 0:  # Modbus reads at most 125 registers at a time
            chunk = min(count, 125)
            response = await self.client.read_holding_registers(
                address, count=chunk, **{UNIT_KEYWORD: unit}
            )
            if response.isError():
                raise ModbusError(response.exception_code)
            words += response.registers
            address += chunk
            count -= chunk
        return words

    async def write(self, unit: int, address: int, words: Sequence[int]) -> None:
        if len(words) == 1:
            response = await self.client.write_register(
                address, words[0], **{UNIT_KEYWORD: unit}
            )
        else:
            response = await self.client.write_registers(
                address, list(words), **{UNIT_KEYWORD: unit}
            )
        if response.isError():
            raise ModbusError(response.exception_code)

    async def models(self, unit: int) -> dict[int, tuple[int, int]]:
        """Walk the SunSpec chain: model id → (address of its id register, length)."""
        assert await self.read(unit, BASE, 2) == [0x5375, 0x6E53]
        found: dict[int, tuple[int, int]] = {}
        address = BASE + 2
        while True:
            model_id, length = await self.read(unit, address, 2)
            if model_id == 0xFFFF:
                assert length == 0
                return found
            found[model_id] = (address, length)
            address += 2 + length

    async def point(self, unit: int, model_id: int, offset: int, kind: str) -> Any:
        """One point by its offset from the model's id register (docs/REGISTERS.md)."""
        start, _ = (await self.models(unit))[model_id]
        size = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "u64": 4}[kind]
        return decode(await self.read(unit, start + offset, size), kind)


def decode(words: Sequence[int], kind: str) -> int:
    value = 0
    for word in words:
        value = (value << 16) | word
    bits = 16 * len(words)
    if kind.startswith("i") and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def text(words: Sequence[int]) -> str:
    return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()


def manual_config(**changes: Any) -> FlatConfig:
    settings: dict[str, Any] = {"port": 0, "manual_clock": True, "start": NOON}
    settings.update(changes)
    return FlatConfig(**settings)


def lone(config: FlatConfig) -> Simulator:
    """A flat on its own: a building of one."""
    return Simulator(BuildingConfig.of_flat(config))


@asynccontextmanager
async def running(config: FlatConfig) -> AsyncIterator[tuple[Simulator, Probe]]:
    """A started simulator and a connected client, both closed afterwards."""
    async with lone(config) as sim:
        client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=2, retries=0)
        assert await client.connect()
        try:
            yield sim, Probe(client)
        finally:
            client.close()
