"""What can be done to a building, by name with a JSON body.

The building's control API and the scenarios share this vocabulary, so a scenario
step reads like the request that would do the same by hand. Bad input raises
``BadRequestError`` (or ``ValueError`` from the building) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .building_model import Building
from .json_input import BadRequestError, flag, integer, number, optional_text, text

type BuildingAction = Callable[[Building, Mapping[str, Any]], None]
type FlatAction = Callable[[Building, str, Mapping[str, Any]], None]


def _outage(building: Building, body: Mapping[str, Any]) -> None:
    building.set_outage(flag(body, "on"))


def _sag(building: Building, body: Mapping[str, Any]) -> None:
    building.inject_sag(number(body, "fraction", 0.6), number(body, "seconds", 0.2))


def _frequency(building: Building, body: Mapping[str, Any]) -> None:
    building.inject_frequency(number(body, "offset_hz"), number(body, "seconds"))


def _flapping(building: Building, body: Mapping[str, Any]) -> None:
    building.set_flapping(
        number(body, "up_seconds"),
        number(body, "down_seconds"),
        integer(body, "cycles"),
    )


def _clouds(building: Building, body: Mapping[str, Any]) -> None:
    building.set_clouds(number(body, "cover"))


def _loads(building: Building, body: Mapping[str, Any]) -> None:
    building.set_load_scale(number(body, "factor"))


def _fault(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    building.set_fault(
        flat_id, text(body, "kind"), flag(body, "on"), optional_text(body, "role")
    )


def _bus(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    building.set_bus_available(flat_id, flag(body, "available"))


def _bus_setpoint(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    revert_s = None if body.get("revert_s") is None else integer(body, "revert_s")
    building.set_bus_setpoint(flat_id, integer(body, "w"), revert_s)


def _living_room(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    source = integer(body, "source")
    if source not in (0, 1):
        raise BadRequestError("'source' must be 0 (grid) or 1 (battery)")
    building.set_living_room(flat_id, source)


def _vanish(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    building.vanish(flat_id)


def _return(building: Building, flat_id: str, body: Mapping[str, Any]) -> None:
    building.return_flat(flat_id)


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
    "bus": _bus,
    "bus_setpoint": _bus_setpoint,
    "living_room": _living_room,
    "vanish": _vanish,
    "return": _return,
}
