"""Write several adjacent fields of one model in a single Modbus request.

A setpoint is a handful of registers (enable, mode, watts, revert values). Writing
them one field at a time costs a round trip each, plus one to read the scale factor
before every scaled field; a group follower that re-writes its setpoint every round
cannot afford that. One FC16 write also lets the device take the fields together,
never half of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modbus_connection.decode import decode_int
from modbus_connection.model import RegisterField
from modbus_connection.model.sunspec import SunSpecComponent


class ScaleCache:
    """SunSpec scale factors of one unit, read once: they never change at run time."""

    def __init__(self) -> None:
        """Start empty; every scale factor is read on first use."""
        self._exponents: dict[int, int] = {}

    async def exponent(self, component: SunSpecComponent, address: int) -> int:
        """The scale exponent at ``address``, read from the device the first time."""
        if address not in self._exponents:
            (word,) = await component.modbus_unit.read_holding_registers(address, 1)
            self._exponents[address] = decode_int([word], signed=True)
        return self._exponents[address]


async def write_fields(
    component: SunSpecComponent,
    values: Sequence[tuple[str, Any]],
    scales: ScaleCache,
) -> None:
    """Write ``values`` (field name, value), which must cover adjacent registers.

    Raises ``AttributeError`` for an unknown or read-only field, ``ValueError`` for
    fields that leave a gap or a value a field's validator refuses.
    """
    if not values:
        raise ValueError("nothing to write")
    placed: list[tuple[int, list[int]]] = []
    for name, requested in values:
        resolved = component.resolved_fields.get(name)
        if resolved is None or not isinstance(resolved.field, RegisterField):
            raise AttributeError(f"{name!r} is not a register field of this model")
        field = resolved.field
        if not field.writable:
            raise AttributeError(f"{name} is read-only")
        # A validator vets or coerces the value and returns what to write.
        value = field.writable(requested) if callable(field.writable) else requested
        exponent = (
            await scales.exponent(component, resolved.scale_address)
            if field.scale_register is not None and resolved.scale_address is not None
            else None
        )
        placed.append((resolved.address, field.encode(value, exponent)))
    placed.sort(key=lambda item: item[0])
    start = placed[0][0]
    words: list[int] = []
    for address, encoded in placed:
        if address != start + len(words):
            raise ValueError(
                f"fields must be adjacent: a gap or overlap at register {address}"
            )
        words.extend(encoded)
    await component.modbus_unit.write_registers(start, words)
