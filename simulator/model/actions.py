"""What can be done to a building, by name with a JSON body.

The building's control API and the scenarios share this vocabulary, so a scenario
step reads like the request that would do the same by hand. Bad input raises
``BadRequestError`` (or ``ValueError`` from the building) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..physics.battery import Degradation
from .building import Building
from .json_input import BadRequestError, flag, integer, number, optional_text, text

type Command = Callable[[Building], None]
# Acts on the flat with that number (``None``: the only flat of a building of one).
type FlatCommand = Callable[[Building, str | None], None]
# An action reads its JSON body first (raising ``BadRequestError`` for bad input),
# then gives the command that acts; so a scenario's steps are checked when read.
type BuildingAction = Callable[[Mapping[str, Any]], Command]
type FlatAction = Callable[[Mapping[str, Any]], FlatCommand]


def _outage(body: Mapping[str, Any]) -> Command:
    on = flag(body, "on")
    return lambda building: building.set_outage(on)


def _sag(body: Mapping[str, Any]) -> Command:
    fraction, seconds = number(body, "fraction", 0.6), number(body, "seconds", 0.2)
    return lambda building: building.inject_sag(fraction, seconds)


def _frequency(body: Mapping[str, Any]) -> Command:
    offset_hz, seconds = number(body, "offset_hz"), number(body, "seconds")
    return lambda building: building.inject_frequency(offset_hz, seconds)


def _flapping(body: Mapping[str, Any]) -> Command:
    up_s, down_s = number(body, "up_seconds"), number(body, "down_seconds")
    cycles = integer(body, "cycles")
    return lambda building: building.set_flapping(up_s, down_s, cycles)


def _clouds(body: Mapping[str, Any]) -> Command:
    cover = number(body, "cover")
    return lambda building: building.set_clouds(cover)


def _loads(body: Mapping[str, Any]) -> Command:
    factor = number(body, "factor")
    return lambda building: building.set_load_scale(factor)


def _fault(body: Mapping[str, Any]) -> FlatCommand:
    kind, on, role = text(body, "kind"), flag(body, "on"), optional_text(body, "role")
    return lambda building, flat_id: building.set_fault(kind, on, role, flat_id=flat_id)


def _reset_counter(body: Mapping[str, Any]) -> FlatCommand:
    role, point = text(body, "role"), text(body, "point")

    def reset(building: Building, flat_id: str | None) -> None:
        building.reset_counter(role, point, flat_id=flat_id)

    return reset


def _degrade(body: Mapping[str, Any]) -> FlatCommand:
    unknown = set(body) - set(Degradation.__dataclass_fields__)
    if unknown:
        raise BadRequestError(f"unknown degradation: {', '.join(sorted(unknown))}")
    degradation = Degradation(
        fade_pct_per_day=number(body, "fade_pct_per_day", 0.0),
        self_discharge_pct_per_month=number(body, "self_discharge_pct_per_month", 0.0),
        efficiency_loss_pct=number(body, "efficiency_loss_pct", 0.0),
        weak_cell_pct=number(body, "weak_cell_pct", 100.0),
    )
    try:
        degradation.check()
    except ValueError as err:
        raise BadRequestError(str(err)) from err
    return lambda building, flat_id: building.degrade(degradation, flat_id=flat_id)


def _bus(body: Mapping[str, Any]) -> FlatCommand:
    available = flag(body, "available")
    return lambda building, flat_id: building.set_bus_available(
        available, flat_id=flat_id
    )


def _bus_setpoint(body: Mapping[str, Any]) -> FlatCommand:
    revert_s = None if body.get("revert_s") is None else integer(body, "revert_s")
    setpoint_w = integer(body, "w")
    return lambda building, flat_id: building.set_bus_setpoint(
        setpoint_w, revert_s, flat_id=flat_id
    )


def _living_room(body: Mapping[str, Any]) -> FlatCommand:
    source = integer(body, "source")
    if source not in (0, 1):
        raise BadRequestError("'source' must be 0 (grid) or 1 (battery)")
    return lambda building, flat_id: building.set_living_room(source, flat_id=flat_id)


def _household(body: Mapping[str, Any]) -> FlatCommand:
    factor = number(body, "factor")
    return lambda building, flat_id: building.set_household_load(
        factor, flat_id=flat_id
    )


def _vanish(body: Mapping[str, Any]) -> FlatCommand:
    return lambda building, flat_id: building.vanish(flat_id)


def _return(body: Mapping[str, Any]) -> FlatCommand:
    return lambda building, flat_id: building.return_flat(flat_id)


BUILDING_ACTIONS: dict[str, BuildingAction] = {
    "outage": _outage,
    "sag": _sag,
    "frequency": _frequency,
    "flapping": _flapping,
    "clouds": _clouds,
    "loads": _loads,
}

FLAT_ACTIONS: dict[str, FlatAction] = {
    "fault": _fault,
    "reset_counter": _reset_counter,
    "degrade": _degrade,
    "bus": _bus,
    "bus_setpoint": _bus_setpoint,
    "living_room": _living_room,
    "household": _household,
    "vanish": _vanish,
    "return": _return,
}
