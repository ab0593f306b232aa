"""A poll's reading as a measurement sample for the ledger sidecar's local API.

Field names and signs are those of docs/PROTOCOL.md section 12.2; a value the devices
did not give is left out, never sent as 0.
"""

from __future__ import annotations

from typing import Any

from .device import FlatReading


def sample_from_reading(reading: FlatReading, ts_ms: int) -> dict[str, Any]:
    """The ``sample`` message for ``reading``, read at ``ts_ms`` (Unix ms)."""
    values: dict[str, float | None] = {}
    if (pv := reading.pv) is not None:
        values |= {"pv_w": pv.power_w, "pv_wh": pv.energy_wh}
    if (battery := reading.battery) is not None:
        values |= {
            # Both sides: + discharging.
            "battery_w": battery.power_w,
            "battery_in_wh": battery.charged_wh,
            "battery_out_wh": battery.discharged_wh,
            "soc_pct": battery.soc_pct,
            "stored_wh": battery.available_wh,
        }
    if (meter := reading.meter) is not None:
        values |= {
            # The sidecar counts grid power + importing; the meter, + exporting.
            "grid_w": None if meter.power_w is None else -meter.power_w,
            "grid_in_wh": meter.imported_wh,
            "grid_out_wh": meter.exported_wh,
            "frequency_hz": meter.frequency_hz,
            "voltage_v": meter.voltage_v,
        }
    if (room := reading.living_room) is not None:
        values |= {"living_w": room.power_w, "living_wh": room.energy_wh}
    sample: dict[str, Any] = {"type": "sample", "ts": ts_ms}
    sample.update({key: value for key, value in values.items() if value is not None})
    return sample
