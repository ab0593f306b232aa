"""A poll's reading as a measurement sample for the ledger sidecar's local API.

Field names and signs are those of docs/PROTOCOL.md section 12.2; a value the devices
did not give stays ``None``, which the wire leaves out, never sends as 0.
"""

from __future__ import annotations

from ..device import BatteryReading, FlatReading
from ..device.capabilities import Capabilities
from .messages import Availability, Sample


def sample_from_reading(reading: FlatReading, ts_ms: int) -> Sample:
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
            "soh_pct": battery.soh_pct,
            "battery_cycles": battery.cycles,
            "cell_v_max": battery.cell_v_max,
            "cell_v_min": battery.cell_v_min,
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
    if (bus := reading.bus) is not None:
        # The building bus, only on a flat that has one: power (+ export) for the
        # sidecar's bookkeeping of what flats gave each other, and lifetime counters.
        values |= {
            "bus_w": bus.power_w,
            "bus_out_wh": bus.exported_wh,
            "bus_in_wh": bus.imported_wh,
        }
    return Sample(ts=ts_ms, **values)


def energy_above_reserve_wh(battery: BatteryReading) -> float | None:
    """Energy stored above the backup reserve (or the minimum SoC, if higher).

    Model 713's WHAvail counts down to the minimum SoC; the reserve is above it, so
    the usable capacity is worked out from WHAvail and the SoC where possible, else
    from the rated capacity and the state of health.
    """
    soc = battery.soc_pct
    floors = [
        f for f in (battery.reserve_soc_pct, battery.min_soc_pct) if f is not None
    ]
    if soc is None or not floors:
        return None
    floor = max(floors)
    if soc <= floor:
        return 0.0
    usable: float | None = None
    min_soc = battery.min_soc_pct
    if battery.available_wh is not None and min_soc is not None and soc > min_soc:
        usable = battery.available_wh * 100 / (soc - min_soc)
    elif battery.rated_wh is not None:
        health = battery.soh_pct if battery.soh_pct is not None else 100.0
        usable = battery.rated_wh * health / 100
    if usable is None:
        return None
    return round((soc - floor) / 100 * usable, 1)


def availability_from_reading(
    reading: FlatReading,
    ts_ms: int,
    *,
    participate: bool,
    max_share_pct: float,
    outage: bool | None = None,
    capabilities: Capabilities | None = None,
) -> Availability:
    """The ``availability`` message: what this flat could give a group discharge.

    For outage support it also says whether the grid is out (``outage``, left out
    while the grid state is unknown), whether the flat's bus is closed (``bus``, only
    on a flat with one) and what its living room draws (``living_w``).
    """
    battery, bus, room = reading.battery, reading.bus, reading.living_room
    return Availability(
        ts=ts_ms,
        participate=participate,
        max_share_pct=float(max_share_pct),
        soc_pct=None if battery is None else battery.soc_pct,
        energy_wh=None if battery is None else energy_above_reserve_wh(battery),
        max_discharge_w=None if battery is None else battery.max_discharge_w,
        max_charge_w=None if battery is None else battery.max_charge_w,
        battery_w=None if battery is None else battery.power_w,
        outage=outage,
        bus=None
        if bus is None or bus.wired is None or bus.state is None
        else bus.active,
        living_w=None if room is None else room.power_w,
        capabilities=capabilities,
    )
