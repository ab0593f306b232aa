"""The HTTP JSON control API of a running flat: look at it, break it, step it.

Every POST answers with the flat's state afterwards; bad input gets HTTP 400 with
``{"error": "..."}`` and changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from .flat import FlatSimulator

SIMULATOR_KEY = web.AppKey("simulator", FlatSimulator)
# One request may not block the simulator for long: a week is ~10 s of physics.
MAX_ADVANCE_S = 7 * 86400.0


class BadRequestError(Exception):
    """Input the API cannot act on; the message goes back to the caller."""


def _number(body: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if value is None:
        raise BadRequestError(f"{key!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{key!r} must be a number")
    if not math.isfinite(value):
        raise BadRequestError(f"{key!r} must be finite")
    return float(value)


def _integer(body: Mapping[str, Any], key: str) -> int:
    value = _number(body, key)
    if not value.is_integer():
        raise BadRequestError(f"{key!r} must be a whole number")
    return int(value)


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise BadRequestError(f"{key!r} must be true or false")
    return value


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise BadRequestError(f"{key!r} must be a string")
    return value


def _optional_text(body: Mapping[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _text(body, key)


async def _body(request: web.Request) -> Mapping[str, Any]:
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


type Action = Callable[[FlatSimulator, Mapping[str, Any]], Awaitable[None]]


async def _outage(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_outage(_flag(body, "on"))


async def _sag(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.inject_sag(_number(body, "fraction", 0.6), _number(body, "seconds", 0.2))


async def _frequency(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.inject_frequency(_number(body, "offset_hz"), _number(body, "seconds"))


async def _flapping(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_flapping(
        _number(body, "up_seconds"),
        _number(body, "down_seconds"),
        _integer(body, "cycles"),
    )


async def _clouds(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_clouds(_number(body, "cover"))


async def _fault(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.set_fault(_text(body, "kind"), _flag(body, "on"), _optional_text(body, "role"))


async def _disconnect(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    await sim.disconnect(_number(body, "seconds"))


async def _glitch(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    sim.glitch_counter(_text(body, "role"), _text(body, "point"), _text(body, "kind"))


async def _advance(sim: FlatSimulator, body: Mapping[str, Any]) -> None:
    seconds = _number(body, "seconds")
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
            await action(sim, await _body(request))
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
