"""The one exception type for ledger data that breaks a protocol rule."""

from __future__ import annotations


class InvalidData(ValueError):
    """Data that breaks a rule of PROTOCOL.md.

    ``reason`` is a stable machine-readable code (the test vectors use the same codes),
    ``detail`` says what exactly is wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
