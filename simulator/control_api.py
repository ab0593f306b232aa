"""The HTTP JSON control API of a running simulator: look at it, break it, step it.

A building answers building-wide requests (``POST /outage`` …) with the building's
state and requests for one flat (``POST /flats/<id>/fault`` …) with that flat's
state; an unknown flat gets 404. A flat on its own takes the same requests
without ``/flats/<id>`` (``POST /fault`` …) and answers every one with its state.
Bad input gets HTTP 400 with ``{"error": "..."}`` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .modbus.bus_controller import BUS_CONTROLLER_UNIT_ID
from .model.actions import BUILDING_ACTIONS, FLAT_ACTIONS
from .model.building import UnknownFlatError
from .model.json_input import BadRequestError, number, text
from .simulator import Simulator

SIMULATOR_KEY = web.AppKey("simulator", Simulator)
# One request may not block the simulator for long: a week of one flat is ~10 s of
# physics, a day of 50 flats ~25 s.
MAX_ADVANCE_S_FLAT = 7 * 86400.0
MAX_ADVANCE_S_BUILDING = 86400.0
# What can be posted: to a building (``/<name>``), to one of its flats
# (``/flats/<id>/<name>``), and to a flat on its own (``/<name>``): the
# building-wide requests that make sense for one flat and what a flat can have done.
_BUILDING_POSTS = (*BUILDING_ACTIONS, "advance")
_FLAT_POSTS = (*FLAT_ACTIONS, "disconnect", "glitch")
_LONE_FLAT_POSTS = (
    "outage",
    "sag",
    "frequency",
    "flapping",
    "clouds",
    "advance",
    "fault",
    "disconnect",
    "glitch",
    "reset_counter",
    "degrade",
)

type Handler = Callable[[web.Request], Awaitable[web.Response]]


async def json_body(request: web.Request) -> Mapping[str, Any]:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as err:
        raise BadRequestError(f"body is not JSON: {err.msg}") from err
    if not isinstance(body, dict):
        raise BadRequestError("body must be a JSON object")
    return body


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _modbus(sim: Simulator, flat_id: str) -> dict[str, Any]:
    return {
        "host": sim.host,
        "port": sim.ports[flat_id],
        "listening": sim.listening(flat_id),
        "vanished": flat_id in sim.model.vanished,
    }


def building_json(sim: Simulator, *, full: bool = False) -> dict[str, Any]:
    """The building's state with every endpoint's address."""
    data = sim.state.to_json(full=full)
    controllers = sim.bus_controller_ports
    for flat in data["flats"]:
        flat["modbus"] = _modbus(sim, flat["flat"])
        if flat["flat"] in controllers:
            flat["bus_controller"] = {
                "host": sim.host,
                "port": controllers[flat["flat"]],
                "unit": BUS_CONTROLLER_UNIT_ID,
            }
    data["building_meter"]["modbus"] = {
        "host": sim.host,
        "port": sim.meter_port,
        "unit": sim.config.meter_unit,
    }
    return data


def _building_response(sim: Simulator, *, full: bool = False) -> web.Response:
    return web.json_response({"state": building_json(sim, full=full)})


def _flat_response(sim: Simulator, flat_id: str | None) -> web.Response:
    state = sim.flat_state(flat_id)
    return web.json_response(
        {"state": state.to_json(), "modbus": _modbus(sim, state.flat)}
    )


def _lone_flat_response(sim: Simulator) -> web.Response:
    return web.json_response(
        {
            "state": sim.flat_state().to_json(),
            "modbus": {
                "host": sim.host,
                "port": sim.port,
                "listening": sim.listening(),
            },
        }
    )


async def _act(
    sim: Simulator, name: str, body: Mapping[str, Any], flat_id: str | None
) -> None:
    """Do request ``name`` with ``body``: to the building, or to flat ``flat_id``."""
    match name:
        case "advance":
            limit = (
                MAX_ADVANCE_S_FLAT
                if sim.config.lone_flat is not None
                else MAX_ADVANCE_S_BUILDING
            )
            seconds = number(body, "seconds")
            if not 0 <= seconds <= limit:
                raise BadRequestError(f"'seconds' must be within 0–{limit:.0f}")
            sim.advance(seconds)
        case "disconnect":
            await sim.disconnect(number(body, "seconds"), flat_id=flat_id)
        case "glitch":
            sim.glitch_counter(
                text(body, "role"),
                text(body, "point"),
                text(body, "kind"),
                flat_id=flat_id,
            )
        case _ if name in BUILDING_ACTIONS:
            BUILDING_ACTIONS[name](body)(sim.model)
        case _:
            FLAT_ACTIONS[name](body)(sim.model, flat_id)
    # The request, or a scheduled event it let happen, may have made a flat vanish.
    await sim.network_settled()


def _post(
    name: str, respond: Callable[[Simulator, str | None], web.Response]
) -> Handler:
    """A handler for ``POST`` of request ``name``; ``respond`` gives the answer."""

    async def handle(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR_KEY]
        flat_id = request.match_info.get("flat")
        try:
            await _act(sim, name, await json_body(request), flat_id)
        except UnknownFlatError as err:
            return _error(404, str(err))
        except (BadRequestError, ValueError) as err:
            # ValueError: the simulator refused a value (unknown kind, out of range).
            return _error(400, str(err))
        return respond(sim, flat_id)

    return handle


async def _get_state(request: web.Request) -> web.Response:
    sim = request.app[SIMULATOR_KEY]
    if sim.config.lone_flat is not None:
        return _lone_flat_response(sim)
    full = request.query.get("full", "") in ("1", "true", "yes")
    return _building_response(sim, full=full)


async def _get_flat(request: web.Request) -> web.Response:
    try:
        return _flat_response(request.app[SIMULATOR_KEY], request.match_info["flat"])
    except UnknownFlatError as err:
        return _error(404, str(err))


def build_control_app(sim: Simulator) -> web.Application:
    """The aiohttp application that controls ``sim``."""
    app = web.Application()
    app[SIMULATOR_KEY] = sim
    app.router.add_get("/state", _get_state)
    if sim.config.lone_flat is not None:
        for name in _LONE_FLAT_POSTS:
            app.router.add_post(
                f"/{name}", _post(name, lambda flat, _: _lone_flat_response(flat))
            )
        return app
    app.router.add_get("/flats/{flat}", _get_flat)
    for name in _BUILDING_POSTS:
        app.router.add_post(
            f"/{name}", _post(name, lambda building, _: _building_response(building))
        )
    for name in _FLAT_POSTS:
        app.router.add_post(f"/flats/{{flat}}/{name}", _post(name, _flat_response))
    return app
