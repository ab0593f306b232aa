"""Errors the device library raises, one type per thing a caller handles differently."""

from __future__ import annotations


class DeviceError(Exception):
    """Base class for every error of the flat's device library."""


class CannotConnectError(DeviceError):
    """The Modbus endpoint did not answer (refused, unreachable or timed out)."""


class NotSunSpecError(DeviceError):
    """A unit answered but has no SunSpec marker at the base register."""

    def __init__(self, role: str, unit_id: int, base: int) -> None:
        """Say which unit lacks the marker."""
        super().__init__(
            f"{role} unit {unit_id} has no SunSpec 'SunS' marker at register {base}"
        )
        self.role = role
        self.unit_id = unit_id


class MissingModelsError(DeviceError):
    """A unit's SunSpec chain lacks models this integration needs."""

    def __init__(self, missing: dict[str, list[int]], unit_ids: dict[str, int]) -> None:
        """Record the missing models per role, e.g. ``{"battery": [802, 704]}``."""
        self.missing = missing
        self.summary = "; ".join(
            f"{role} unit {unit_ids[role]}: {', '.join(str(m) for m in models)}"
            for role, models in missing.items()
        )
        super().__init__(f"missing SunSpec models ({self.summary})")


class DeviceRejectedError(DeviceError):
    """The device refused a write (Modbus exception response)."""
