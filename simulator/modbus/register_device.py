"""What a Modbus server needs from a device: read and write holding registers."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Protocol


class ExceptionCode(IntEnum):
    """Modbus exception codes a device answers with."""

    ILLEGAL_ADDRESS = 2
    ILLEGAL_VALUE = 3
    DEVICE_FAILURE = 4


class ModbusRefusal(Exception):
    """A request the device refuses; the server answers with ``code``."""

    def __init__(self, code: ExceptionCode, reason: str) -> None:
        """Refuse with ``code``; ``reason`` is for logs and tests."""
        super().__init__(reason)
        self.code = code


class RegisterDevice(Protocol):
    """One unit id's holding registers."""

    def read(self, address: int, count: int) -> list[int]:
        """``count`` registers from ``address``; raises ``ModbusRefusal``."""
        ...

    def check_write(self, address: int, count: int) -> None:
        """Raise ``ModbusRefusal`` if no write to these registers could succeed."""
        ...

    def write(self, address: int, words: Sequence[int]) -> None:
        """Write ``words`` from ``address`` all or nothing; raises ``ModbusRefusal``."""
        ...
