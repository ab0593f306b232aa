"""A Modbus unit wrapper that counts requests, for diagnostics and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from modbus_connection import ModbusUnit


class RequestCounter:
    """A tally of Modbus requests."""

    def __init__(self) -> None:
        """Start at zero."""
        self.requests = 0


# The tally of the operation running in this task, if any: polls and diagnostics can
# overlap on one connection, and each wants its own count.
_current: ContextVar[RequestCounter | None] = ContextVar("_current", default=None)


@contextmanager
def counting_requests() -> Iterator[RequestCounter]:
    """Count the requests this task sends inside the ``with`` block."""
    counter = RequestCounter()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


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

    def __init__(self, unit: ModbusUnit, total: RequestCounter) -> None:
        self._unit = unit
        self._total = total

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._unit, name)
        if name not in self._COUNTED:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._total.requests += 1
            if (operation := _current.get()) is not None:
                operation.requests += 1
            return await attr(*args, **kwargs)

        return counted


def counting_unit(unit: ModbusUnit, total: RequestCounter) -> ModbusUnit:
    """Wrap ``unit`` so each request adds one to ``total`` and to the task's tally."""
    return cast("ModbusUnit", _CountingUnit(unit, total))
