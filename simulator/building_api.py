"""The HTTP JSON control API of a running building.

Building-wide requests (``POST /outage`` …) answer with the building's state,
requests for one flat (``POST /flats/<id>/fault`` …) with that flat's state. Bad
input gets HTTP 400 and ``{"error": "..."}`` and changes nothing; an unknown flat
gets 404 the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .building import BuildingSimulator
from .model.actions import BUILDING_ACTIONS, FLAT_ACTIONS
from .model.building import UnknownFlatError
from .model.json_input import BadRequestError, json_body, number, text

SIMULATOR_KEY = web.AppKey("building", BuildingSimulator)
# One request may not block the building for long: a day of 50 flats is ~25 s.
MAX_ADVANCE_S = 86400.0

type Handler = Callable[[web.Request], Awaitable[web.Response]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _modbus(sim: BuildingSimulator, flat_id: str) -> dict[str, Any]:
    return {
        "host": sim.host,
        "port": sim.ports[flat_id],
        "listening": sim.listening(flat_id),
        "vanished": flat_id in sim.model.vanished,
    }


def building_json(sim: BuildingSimulator, *, full: bool = False) -> dict[str, Any]:
    """The building's state with every endpoint's address."""
    data = sim.state.to_json(full=full)
    for flat in data["flats"]:
        flat["modbus"] = _modbus(sim, flat["flat"])
    data["building_meter"]["modbus"] = {
        "host": sim.host,
        "port": sim.meter_port,
        "unit": sim.config.meter_unit,
    }
    return data


def _building_response(sim: BuildingSimulator, *, full: bool = False) -> web.Response:
    return web.json_response({"state": building_json(sim, full=full)})


def _flat_response(sim: BuildingSimulator, flat_id: str) -> web.Response:
    return web.json_response(
        {"state": sim.flat_state(flat_id).to_json(), "modbus": _modbus(sim, flat_id)}
    )


async def _get_state(request: web.Request) -> web.Response:
    full = request.query.get("full", "") in ("1", "true", "yes")
    return _building_response(request.app[SIMULATOR_KEY], full=full)


async def _get_flat(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    flat_id = request.match_info["flat"]
    try:
        return _flat_response(sim, flat_id)
    except UnknownFlatError as err:
        return _error(404, str(err))


async def _run_building(
    sim: BuildingSimulator, name: str, body: Mapping[str, Any]
) -> None:
    if name == "advance":
        seconds = number(body, "seconds")
        if not 0 <= seconds <= MAX_ADVANCE_S:
            raise BadRequestError(f"'seconds' must be within 0–{MAX_ADVANCE_S:.0f}")
        sim.advance(seconds)
    else:
        BUILDING_ACTIONS[name](body)(sim.model)
    # A scheduled event may have made a flat vanish or return.
    await sim.network_settled()


async def _run_flat(
    sim: BuildingSimulator, flat_id: str, name: str, body: Mapping[str, Any]
) -> None:
    match name:
        case "disconnect":
            await sim.disconnect(flat_id, number(body, "seconds"))
        case "glitch":
            sim.glitch_counter(
                flat_id, text(body, "role"), text(body, "point"), text(body, "kind")
            )
        case _:
            FLAT_ACTIONS[name](body)(sim.model, flat_id)
            await sim.network_settled()


def _post_building(name: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR_KEY]
        try:
            await _run_building(sim, name, await json_body(request))
        except (BadRequestError, ValueError) as err:
            return _error(400, str(err))
        return _building_response(sim)

    return handle


def _post_flat(name: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR_KEY]
        flat_id = request.match_info["flat"]
        try:
            await _run_flat(sim, flat_id, name, await json_body(request))
        except UnknownFlatError as err:
            return _error(404, str(err))
        except (BadRequestError, ValueError) as err:
            return _error(400, str(err))
        return _flat_response(sim, flat_id)

    return handle


def build_building_app(sim: BuildingSimulator) -> web.Application:
    """The aiohttp application that controls ``sim``."""
    app = web.Application()
    app[SIMULATOR_KEY] = sim
    app.router.add_get("/state", _get_state)
    app.router.add_get("/flats/{flat}", _get_flat)
    for name in (*BUILDING_ACTIONS, "advance"):
        app.router.add_post(f"/{name}", _post_building(name))
    for name in (*FLAT_ACTIONS, "disconnect", "glitch"):
        app.router.add_post(f"/flats/{{flat}}/{name}", _post_flat(name))
    return app
