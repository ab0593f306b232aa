"""Command line: ``python -m simulator flat …`` runs a flat, ``… ctl …`` drives one.

Run ``python -m simulator flat --help`` or ``python -m simulator ctl --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from .battery import BatterySpec
from .config import FlatConfig, UnitIds
from .control_api import build_control_app
from .faults import FaultKind, GlitchKind
from .flat import FlatSimulator
from .pv import Site

_DEFAULT_CONTROL_PORT = 5021
_SITE = Site()


def _flat_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--flat", default="101", help="flat number, part of the serial numbers")
    add("--host", default="127.0.0.1", help="address to listen on")
    add("--port", type=int, default=5020, help="Modbus TCP port (0: any free)")
    add("--control-port", type=int, default=_DEFAULT_CONTROL_PORT, help="HTTP port")
    add("--pv-unit", type=int, default=1, help="PV inverter's unit id")
    add("--battery-unit", type=int, default=2, help="battery's unit id")
    add("--meter-unit", type=int, default=3, help="meter's unit id")
    add("--speed", type=float, default=1.0, help="simulated seconds per real second")
    add("--manual", action="store_true", help="clock moves only via POST /advance")
    add("--start", type=datetime.fromisoformat, help="simulated start, ISO 8601")
    add("--seed", type=int, default=1, help="random seed (clouds, loads, grid noise)")
    add("--area", type=int, choices=(50, 60), default=60, help="grid frequency, Hz")
    add("--voltage", type=float, default=100.0, help="nominal grid voltage, V")
    add("--latitude", type=float, default=_SITE.latitude_deg)
    add("--longitude", type=float, default=_SITE.longitude_deg)
    add("--utc-offset", type=float, default=_SITE.utc_offset_h, help="hours")
    add("--pv-kwp", type=float, default=2.0, help="the flat's PV share, kWp")
    add("--clouds", type=float, default=0.0, help="cloud cover 0–1")
    add("--load-scale", type=float, default=1.0, help="household load multiplier")
    add("--battery-wh", type=float, default=2000.0, help="capacity, 1000–10000 Wh")
    add("--max-charge-w", type=float, default=1000.0)
    add("--max-discharge-w", type=float, default=1000.0)
    add("--soc", type=float, default=50.0, help="SoC at start, %%")
    add("--soc-min", type=float, default=5.0, help="SoCMin, %%")
    add("--reserve", type=float, default=20.0, help="backup reserve at start, %%")
    add("--soh", type=float, default=100.0, help="SoH at start, %%")
    add("--reconnect-delay", type=float, default=0.0, help="inverter, s after outage")


def _config(args: argparse.Namespace) -> FlatConfig:
    return FlatConfig(
        flat=args.flat,
        host=args.host,
        port=args.port,
        unit_ids=UnitIds(args.pv_unit, args.battery_unit, args.meter_unit),
        seed=args.seed,
        speed=args.speed,
        manual_clock=args.manual,
        start=args.start,
        area_hz=args.area,
        nominal_v=args.voltage,
        site=Site(args.latitude, args.longitude, args.utc_offset),
        pv_peak_w=args.pv_kwp * 1000,
        cloud_cover=args.clouds,
        load_scale=args.load_scale,
        battery=BatterySpec(
            capacity_wh=args.battery_wh,
            max_charge_w=args.max_charge_w,
            max_discharge_w=args.max_discharge_w,
            soc_min_pct=args.soc_min,
        ),
        soc_pct=args.soc,
        soh_pct=args.soh,
        reserve_pct=args.reserve,
        reconnect_delay_s=args.reconnect_delay,
    )


async def _run_flat(config: FlatConfig, control_port: int) -> None:
    sim = FlatSimulator(config)
    await sim.start()
    runner = web.AppRunner(build_control_app(sim), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, control_port)
        await site.start()
        actual_control_port = runner.addresses[0][1]
        units = config.unit_ids
        print(
            f"Flat {config.flat}: Modbus TCP on {sim.host}:{sim.port}"
            f" (pv={units.pv} battery={units.battery} meter={units.meter});"
            f" control API on http://{config.host}:{actual_control_port}",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        await sim.stop()
    print(f"Flat {config.flat}: stopped", flush=True)


def _ctl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, default=_DEFAULT_CONTROL_PORT)
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("state", help="print the flat's state")
    outage = commands.add_parser("outage", help="grid outage on or off")
    outage.add_argument("on", choices=("on", "off"))
    sag = commands.add_parser("sag", help="voltage sag")
    sag.add_argument("--fraction", type=float, default=0.6)
    sag.add_argument("--seconds", type=float, default=0.2)
    frequency = commands.add_parser("frequency", help="frequency excursion")
    frequency.add_argument("offset_hz", type=float)
    frequency.add_argument("seconds", type=float)
    flapping = commands.add_parser("flapping", help="grid drops out repeatedly")
    flapping.add_argument("up_seconds", type=float)
    flapping.add_argument("down_seconds", type=float)
    flapping.add_argument("cycles", type=int)
    clouds = commands.add_parser("clouds", help="cloud cover 0–1")
    clouds.add_argument("cover", type=float)
    fault = commands.add_parser("fault", help="battery fault or a failing unit")
    fault.add_argument("kind", choices=[kind.value for kind in FaultKind])
    fault.add_argument("on", choices=("on", "off"))
    fault.add_argument("--role", choices=("pv", "battery", "meter"))
    disconnect = commands.add_parser("disconnect", help="drop off the network")
    disconnect.add_argument("seconds", type=float)
    glitch = commands.add_parser("glitch", help="one wrong read of a counter")
    glitch.add_argument("role", choices=("pv", "battery", "meter"))
    glitch.add_argument("point", help="TotWhInj, TotWhAbs or (battery) TotWh")
    glitch.add_argument("kind", choices=[kind.value for kind in GlitchKind])
    advance = commands.add_parser("advance", help="move simulated time on")
    advance.add_argument("seconds", type=float)


def _ctl_request(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """The path and JSON body for the ``ctl`` command in ``args``."""
    match args.action:
        case "state":
            return "state", None
        case "outage":
            return "outage", {"on": args.on == "on"}
        case "sag":
            return "sag", {"fraction": args.fraction, "seconds": args.seconds}
        case "frequency":
            return "frequency", {"offset_hz": args.offset_hz, "seconds": args.seconds}
        case "flapping":
            keys = ("up_seconds", "down_seconds", "cycles")
            return "flapping", {key: getattr(args, key) for key in keys}
        case "clouds":
            return "clouds", {"cover": args.cover}
        case "fault":
            return "fault", {
                "kind": args.kind,
                "on": args.on == "on",
                "role": args.role,
            }
        case "disconnect":
            return "disconnect", {"seconds": args.seconds}
        case "glitch":
            return "glitch", {"role": args.role, "point": args.point, "kind": args.kind}
        case _:
            return "advance", {"seconds": args.seconds}


def _ctl(args: argparse.Namespace) -> int:
    path, body = _ctl_request(args)
    url = f"http://{args.host}:{args.control_port}/{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(json.dumps(json.load(response), indent=2))
    except urllib.error.HTTPError as err:
        print(f"refused: {err.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as err:
        print(f"cannot reach {url}: {err.reason}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    _flat_arguments(commands.add_parser("flat", help="run a simulated flat"))
    _ctl_arguments(commands.add_parser("ctl", help="control a running flat"))
    args = parser.parse_args(argv)
    if args.command == "ctl":
        return _ctl(args)
    try:
        config = _config(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        asyncio.run(_run_flat(config, args.control_port))
    except OSError as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
