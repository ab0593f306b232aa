"""A Modbus unit wrapper that counts requests, for diagnostics and benchmarks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from modbus_connection import ModbusUnit


class RequestCounter:
    """A shared tally of Modbus requests sent on one connection."""

    def __init__(self) -> None:
        """Start at zero."""
        self.requests = 0


class _CountingUnit:
    """Forward every call to the real unit; count reads and writes on the way."""

    _COUNTED = frozenset(
        {
            "read_holding_registers",
            "read_input_registers",
            "write_register",
            "write_registers",
            "read_coils",
            "write_coil",
        }
    )

    def __init__(self, unit: ModbusUnit, counter: RequestCounter) -> None:
        self._unit = unit
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._unit, name)
        if name not in self._COUNTED:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._counter.requests += 1
            return await attr(*args, **kwargs)

        return counted


def counting_unit(unit: ModbusUnit, counter: RequestCounter) -> ModbusUnit:
    """Wrap ``unit`` so each request it sends adds one to ``counter``."""
    return cast("ModbusUnit", _CountingUnit(unit, counter))
