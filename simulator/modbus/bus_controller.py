"""A flat's building bus changeover controller as a Modbus unit of its own.

An ECHONET Lite or SunSpec 1xx flat has no bus model on its devices; where the
building has a bus, the electrician installs the project's changeover controller at
the flat's backup output. It serves SunSpec model 1 and model 64901 with the same
points, scale factors and write rules as the 7xx battery unit, and moves the same
physics: writing its ``WSet`` is the flat's bus setpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ..model.config import UnitRole
from ..model.flat import Flat
from ..model.state import FlatState
from .register_device import ExceptionCode, ModbusRefusal
from .sunspec_map import MODEL_BUILDING_BUS, MODEL_COMMON, PointValue
from .units import _WRITABLE, FlatUnit, _bus_values, _Writable

BUS_CONTROLLER_UNIT_ID: Final = 1
_BUS_WRITABLE: Final[dict[tuple[int, str], _Writable]] = {
    key: rule for key, rule in _WRITABLE.items() if key[0] == MODEL_BUILDING_BUS
}


class BusControllerUnit(FlatUnit):
    """Models 1 and 64901 of ``flat``'s bus; ``failing`` makes it refuse everything."""

    writable: Mapping[tuple[int, str], _Writable] = _BUS_WRITABLE

    def __init__(
        self,
        flat: Flat,
        unit_id: int = BUS_CONTROLLER_UNIT_ID,
        on_write: Callable[[], None] | None = None,
    ) -> None:
        """Serve ``flat``'s side of the bus at SunSpec base 40000."""
        # Its bus counters can be glitched like the battery unit's.
        super().__init__(UnitRole.BATTERY, flat, unit_id, on_write)
        self._common = {
            **self._common,
            "Md": "Simulated bus controller",
            "SN": f"LVPP-{flat.config.flat}-BUS",
        }
        self.failing = False

    def _models(self) -> tuple[int, ...]:
        return (MODEL_COMMON, MODEL_BUILDING_BUS)

    def _values(self, state: FlatState) -> dict[int, dict[str, PointValue]]:
        return _bus_values(state)

    def _check_alive(self) -> None:
        if self.failing:
            raise ModbusRefusal(
                ExceptionCode.DEVICE_FAILURE, "the bus controller has failed"
            )
