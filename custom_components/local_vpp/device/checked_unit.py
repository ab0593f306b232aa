"""A Modbus unit wrapper that refuses answers of the wrong size.

A device or gateway that answers garbage can return a well-framed read with fewer
registers than asked for; the register planner would then index past the end. A
short (or, for registers, long) answer is turned into ``ModbusProtocolError`` here,
so the caller sees an unusable response like any other, not a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from modbus_connection import ModbusProtocolError

if TYPE_CHECKING:
    from modbus_connection import ModbusUnit

# Reads whose answer must hold exactly ``count`` values (coil reads are padded to
# whole bytes, so they may hold more).
_EXACT = frozenset({"read_holding_registers", "read_input_registers"})
_AT_LEAST = frozenset({"read_coils", "read_discrete_inputs"})


class _CheckedUnit:
    """Forward every call to the real unit; check the size of what reads return."""

    def __init__(self, unit: ModbusUnit) -> None:
        self._unit = unit

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._unit, name)
        if name not in _EXACT and name not in _AT_LEAST:
            return attr

        async def checked(address: int, count: int) -> Any:
            values = await attr(address, count)
            size = len(values)
            if size < count or (name in _EXACT and size != count):
                raise ModbusProtocolError(
                    f"{name}({address}, {count}) answered {size} values"
                )
            return values

        return checked


def checked_unit(unit: ModbusUnit) -> ModbusUnit:
    """Wrap ``unit`` so that a read answered with the wrong number of values raises."""
    return cast("ModbusUnit", _CheckedUnit(unit))
