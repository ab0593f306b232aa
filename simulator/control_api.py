"""The HTTP JSON control API of a running flat: look at it, break it, step it.

Every POST answers with the flat's state afterwards; bad input gets HTTP 400 with
``{"error": "..."}`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .flat import FlatSimulator
from .model.json_input import (
    BadRequestError,
    flag,
    integer,
    json_body,
    number,
    optional_text,
    text,
)

SIMULATOR_KEY = web.AppKey("simulator", FlatSimulator)
# One request may not block the simulator for long: a week is ~10 s of physics.
MAX_ADVANCE_S = 7 * 86400.0


type Action = Callable[[FlatSimulator, Mapping[str, Any]], Awaitable[None]]


async def _outage(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_outage(flag(body, "on"))


async def _sag(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.inject_sag(number(body, "fraction", 0.6), number(body, "seconds", 0.2))


async def _frequency(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.inject_frequency(number(body, "offset_hz"), number(body, "seconds"))


async def _flapping(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_flapping(
        number(body, "up_seconds"),
        number(body, "down_seconds"),
        integer(body, "cycles"),
    )


async def _clouds(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_clouds(number(body, "cover"))


async def _fault(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_fault(text(body, "kind"), flag(body, "on"), optional_text(body, "role"))


async def _disconnect(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    await sim.disconnect(number(body, "seconds"))


async def _glitch(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.glitch_counter(text(body, "role"), text(body, "point"), text(body, "kind"))


async def _advance(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    seconds = number(body, "seconds")
    if not 0 <= seconds <= MAX_ADVANCE_S:
        raise BadRequestError(f"'seconds' must be within 0–{MAX_ADVANCE_S:.0f}")
    sim.advance(seconds)


ACTIONS: dict[str, Action] = {
    "outage": _outage,
    "sag": _sag,
    "frequency": _frequency,
    "flapping": _flapping,
    "clouds": _clouds,
    "fault": _fault,
    "disconnect": _disconnect,
    "glitch": _glitch,
    "advance": _advance,
}


def _state_response(sim: FlatSimulator) -> web.Response:
    return web.json_response(
        {
            "state": sim.state.to_json(),
            "modbus": {"host": sim.host, "port": sim.port, "listening": sim.listening},
        }
    )


async def _get_state(request: web.Request) -> web.Response:
    return _state_response(request.app[SIMULATOR_KEY])


def _post(action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        sim = request.app[SIMULATOR_KEY]
        try:
            await action(sim, await json_body(request))
        except (BadRequestError, ValueError) as err:
            # ValueError: the simulator refused a value (unknown kind, out of range).
            return web.json_response({"error": str(err)}, status=400)
        return _state_response(sim)

    return handle


def build_control_app(sim: FlatSimulator) -> web.Application:
    """The aiohttp application that controls ``sim``."""
    app = web.Application()
    app[SIMULATOR_KEY] = sim
    app.router.add_get("/state", _get_state)
    for name, action in ACTIONS.items():
        app.router.add_post(f"/{name}", _post(action))
    return app
