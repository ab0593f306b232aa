"""The building meter as a Modbus unit: SunSpec models 1 and 701, read-only.

It follows a flat meter's conventions (docs/REGISTERS.md): ``W`` + export, − import;
``TotWhInj`` exported, ``TotWhAbs`` imported; ``LNV``, ``Hz`` and ``ConnSt`` from the
grid side. A building draws far more than a flat, so its ``W_SF`` is 1 (tens of
watts): an int16 then reaches ±327 kW.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .. import __version__
from ..model.building import Building
from .register_device import ExceptionCode, ModbusRefusal
from .sunspec_map import MODEL_COMMON, MODEL_DER_MEASUREMENT, ChainLayout, PointValue

CHAIN: Final = (MODEL_COMMON, MODEL_DER_MEASUREMENT)
W_SF: Final = 1
_ON, _OFF = 1, 0
_INT16_MAX = 0x7FFF


class BuildingMeterUnit:
    """The building's point of connection as a register device."""

    def __init__(self, building: Building, unit_id: int, serial: str) -> None:
        """Serve ``building``'s meter as unit ``unit_id`` with serial ``serial``."""
        self.building = building
        self.unit_id = unit_id
        self.chain = ChainLayout(CHAIN)
        self._common: dict[str, PointValue] = {
            "Mn": "Local VPP",
            "Md": "Simulated building meter",
            "Opt": "",
            "Vr": __version__,
            "SN": serial,
            "DA": unit_id,
        }
        self._cache: tuple[int, list[int]] | None = None

    def registers(self) -> list[int]:
        """The whole chain as it reads now."""
        revision = self.building.revision
        if self._cache is None or self._cache[0] != revision:
            meter = self.building.meter_state()
            values: dict[int, dict[str, PointValue]] = {
                MODEL_COMMON: self._common,
                MODEL_DER_MEASUREMENT: {
                    "ACType": 0,
                    "St": _ON,
                    "ConnSt": _ON if meter.connected else _OFF,
                    "W": max(-_INT16_MAX, min(_INT16_MAX, round(meter.w / 10**W_SF))),
                    "LNV": round(meter.voltage_v * 10),
                    "Hz": round(meter.frequency_hz * 1000),
                    "TotWhInj": meter.tot_wh_inj,
                    "TotWhAbs": meter.tot_wh_abs,
                    "V_SF": -1,
                    "Hz_SF": -3,
                    "W_SF": W_SF,
                    "TotWh_SF": 0,
                },
            }
            self._cache = (revision, self.chain.render(values))
        return self._cache[1]

    def _offsets(self, address: int, count: int) -> range:
        start = address - self.chain.base
        if count < 1 or start < 0 or start + count > self.chain.size:
            raise ModbusRefusal(
                ExceptionCode.ILLEGAL_ADDRESS,
                f"{address}+{count} is outside {self.chain.base}–{self.chain.end - 1}",
            )
        return range(start, start + count)

    def read(self, address: int, count: int) -> list[int]:
        """``count`` registers from ``address``."""
        offsets = self._offsets(address, count)
        return self.registers()[offsets.start : offsets.stop]

    def check_write(self, address: int, count: int) -> None:
        """A meter takes no writes."""
        self._offsets(address, count)
        raise ModbusRefusal(ExceptionCode.ILLEGAL_ADDRESS, "the meter is read-only")

    def write(self, address: int, words: Sequence[int]) -> None:
        """A meter takes no writes."""
        self.check_write(address, len(words))
