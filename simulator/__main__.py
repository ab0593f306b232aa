"""Command line: run a flat or a building of flats, or drive one with ``ctl``.

Run ``python -m simulator flat --help``, ``… building --help`` or ``… ctl --help``.
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
from dataclasses import replace
from datetime import datetime
from typing import Any

from aiohttp import web

from .control_api import build_control_app
from .echonet_nodes import EchonetNodes
from .model.config import BuildingConfig, FlatConfig, UnitIds
from .model.faults import FaultKind, GlitchKind
from .model.scenarios import SCENARIOS, Scenario, apply_scenario, load_scenario
from .physics.battery import BatterySpec
from .physics.pv import Site
from .simulator import Simulator

_DEFAULT_CONTROL_PORT = 5021
_DEFAULT_BUILDING_PORT = 5100
_DEFAULT_BUILDING_CONTROL_PORT = 5099
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
    add(
        "--sunspec",
        choices=("7xx", "1xx"),
        default="7xx",
        help="1xx: serve the older models 103, 124 and 203 (no living-room model)",
    )
    add(
        "--sunspec-meter",
        type=int,
        choices=(203, 211, 212, 213, 214),
        default=203,
        help="with --sunspec 1xx: the meter's model, 203 (integer) or a float"
        " meter 211–214 (single-phase, split-phase, wye, delta)",
    )
    add(
        "--sunspec-no-controls",
        action="store_true",
        help="with --sunspec 1xx: the PV inverter serves no model 123",
    )
    add(
        "--echonet-pcs",
        action="store_true",
        help="with --protocol echonet: the node also serves a multi-input PCS"
        " (class 0x02A5), the hybrid power conditioner of PV and battery",
    )


def _protocol_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        choices=("modbus", "echonet"),
        default="modbus",
        help="echonet: also serve every flat as an ECHONET Lite node (UDP)",
    )
    parser.add_argument(
        "--echonet-port",
        type=int,
        default=3610,
        help="first flat's ECHONET Lite UDP port, the next flat's one more (0: free)",
    )


def _with_automatic_backup(config: BuildingConfig) -> BuildingConfig:
    """ECHONET Lite power conditioners switch their backup output by themselves."""
    if config.lone_flat is not None:
        return BuildingConfig.of_flat(
            replace(config.lone_flat, backup_output_auto=True)
        )
    return replace(config, backup_output_auto=True)


def _config(args: argparse.Namespace) -> BuildingConfig:
    """A flat on its own, as the ``flat`` command's options describe it."""
    flat = FlatConfig(
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
        sunspec=args.sunspec,
        sunspec_meter=args.sunspec_meter,
        echonet_pcs=args.echonet_pcs,
        sunspec_controls=not args.sunspec_no_controls,
    )
    return BuildingConfig.of_flat(flat)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM.

    Installed before the ready line is printed: whoever waits for that line may
    send SIGTERM at once, and it must stop the program cleanly, not kill it.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def _building_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--flats", type=int, default=10, help="number of flats, 1–100")
    add("--flats-per-floor", type=int, default=10, help="flat numbers: 101…, 201…")
    add("--host", default="127.0.0.1", help="address to listen on")
    add(
        "--base-port",
        type=int,
        default=_DEFAULT_BUILDING_PORT,
        help="building meter's Modbus port; flat k on base + k (0: free ports)",
    )
    add(
        "--control-port",
        type=int,
        default=_DEFAULT_BUILDING_CONTROL_PORT,
        help="HTTP port (0: any free)",
    )
    add("--meter-unit", type=int, default=1, help="building meter's unit id")
    add("--speed", type=float, default=1.0, help="simulated seconds per real second")
    add("--manual", action="store_true", help="clock moves only via POST /advance")
    add("--start", type=datetime.fromisoformat, help="simulated start, ISO 8601")
    add("--seed", type=int, default=1, help="random seed: the same building each time")
    add(
        "--scenario",
        help=f"a scenario ({', '.join(sorted(SCENARIOS))}) or a .json file",
    )
    add("--area", type=int, choices=(50, 60), help="grid frequency, Hz")
    add("--voltage", type=float, help="nominal grid voltage, V")
    add("--clouds", type=float, help="cloud cover at start, 0–1")
    add("--reserve", type=float, help="backup reserve of every battery, %%")
    add("--bus-wired", type=float, help="share of flats wired to the bus, 0–1")
    add("--bus-loss", type=float, help="bus losses, %% of what is exported")
    add("--reconnect-delay", type=float, help="inverters, s after the grid returns")
    add(
        "--echonet-flats",
        type=_positions,
        help="flats (1-based, comma-separated) that are ECHONET Lite nodes instead",
    )
    add(
        "--sunspec-1xx-flats",
        type=_positions,
        help="flats (1-based, comma-separated) that serve SunSpec 1xx models",
    )


def _positions(text: str) -> tuple[int, ...]:
    """``1,3`` → (1, 3): flats by their position in the building."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of flat positions"
        ) from err


def _building_config(
    args: argparse.Namespace,
) -> tuple[BuildingConfig, Scenario | None]:
    settings: dict[str, Any] = {
        "flats": args.flats,
        "flats_per_floor": args.flats_per_floor,
        "host": args.host,
        "base_port": args.base_port,
        "meter_unit": args.meter_unit,
        "seed": args.seed,
        "speed": args.speed,
        "manual_clock": args.manual,
    }
    optional = {
        "start": args.start,
        "area_hz": args.area,
        "nominal_v": args.voltage,
        "cloud_cover": args.clouds,
        "reserve_pct": args.reserve,
        "bus_wired_share": args.bus_wired,
        "bus_loss_pct": args.bus_loss,
        "reconnect_delay_s": args.reconnect_delay,
        "echonet_flats": args.echonet_flats,
        "sunspec_1xx_flats": args.sunspec_1xx_flats,
    }
    settings.update(
        {key: value for key, value in optional.items() if value is not None}
    )
    if args.scenario is None:
        return BuildingConfig(**settings), None
    scenario = load_scenario(args.scenario)
    return scenario.config(**settings), scenario


def _ports_text(sim: Simulator) -> str:
    ports = sorted(sim.ports.values())
    if ports == list(range(ports[0], ports[0] + len(ports))):
        return f"ports {ports[0]}–{ports[-1]}" if len(ports) > 1 else f"port {ports[0]}"
    return "ports " + ",".join(str(port) for port in sim.ports.values())


def _name(config: BuildingConfig) -> str:
    lone = config.lone_flat
    return "Building" if lone is None else f"Flat {lone.flat}"


def _endpoints_text(sim: Simulator) -> str:
    """Where the simulator's Modbus endpoints listen, for the ready line."""
    config, units = sim.config, sim.config.unit_ids
    unit_ids = f"(pv={units.pv} battery={units.battery} meter={units.meter})"
    if config.lone_flat is not None:
        return f"Modbus TCP on {sim.host}:{sim.port} {unit_ids}"
    flat_ids = list(sim.ports)
    return (
        f"{config.flats} flats ({flat_ids[0]}–{flat_ids[-1]})"
        f" on Modbus TCP {config.host} {_ports_text(sim)} {unit_ids};"
        f" building meter on {config.host}:{sim.meter_port}"
        f" (unit {config.meter_unit})"
    )


async def _serve(
    config: BuildingConfig,
    scenario: Scenario | None,
    control_port: int,
    echonet_port: int | None = None,
) -> None:
    """Run the simulator and its control API until SIGINT or SIGTERM.

    With ``echonet_port`` the flats are ECHONET Lite nodes too, from that port on:
    every flat, or only the building's ECHONET Lite flats when it names some.
    """
    sim = Simulator(config)
    if scenario is not None:
        apply_scenario(scenario, sim.model)
    await sim.start()
    nodes = None
    if echonet_port is not None:
        flat_ids = [config.flat_id(k - 1) for k in sorted(config.echonet_flats)] or None
        nodes = EchonetNodes(sim, flat_ids=flat_ids, port=echonet_port)
        try:
            await nodes.start()
        except BaseException:
            await nodes.stop()
            await sim.stop()
            raise
    runner = web.AppRunner(build_control_app(sim), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, control_port)
        await site.start()
        actual_control_port = runner.addresses[0][1]
        stop = _stop_on_signals()
        echonet = (
            ""
            if nodes is None
            else "; ECHONET Lite on UDP "
            + ", ".join(f"{config.host}:{nodes.port(f)}" for f in nodes.flat_ids)
        )
        print(
            f"{_name(config)}: {_endpoints_text(sim)}{echonet};"
            f" control API on http://{config.host}:{actual_control_port}",
            flush=True,
        )
        if scenario is not None:
            print(f"Scenario {scenario.name}: {scenario.description}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        if nodes is not None:
            await nodes.stop()
        await sim.stop()
    print(f"{_name(config)}: stopped", flush=True)


# ctl commands that act on one flat of a building (with --flat).
_FLAT_COMMANDS = frozenset(
    {"vanish", "return", "bus", "bus-setpoint", "living-room", "household"}
)
# ctl commands that a flat understands directly and a building per flat.
_EITHER_COMMANDS = frozenset(
    {"fault", "disconnect", "glitch", "reset-counter", "degrade", "state"}
)


def _ctl_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--control-port", type=int, default=_DEFAULT_CONTROL_PORT)
    parser.add_argument(
        "--flat", help="a building's flat number: the command is for that flat"
    )
    commands = parser.add_subparsers(dest="action", required=True)
    commands.add_parser("state", help="print the state")
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
    reset = commands.add_parser("reset-counter", help="a counter restarts from 0")
    reset.add_argument("role", choices=("pv", "battery", "meter"))
    reset.add_argument("point", help="TotWhInj, TotWhAbs or (battery) TotWh")
    degrade = commands.add_parser(
        "degrade", help="the battery ages faster from now on (replaces earlier)"
    )
    degrade.add_argument("--fade-pct-per-day", type=float, default=0.0)
    degrade.add_argument("--self-discharge-pct-per-month", type=float, default=0.0)
    degrade.add_argument("--efficiency-loss-pct", type=float, default=0.0)
    degrade.add_argument("--weak-cell-pct", type=float, default=100.0)
    advance = commands.add_parser("advance", help="move simulated time on")
    advance.add_argument("seconds", type=float)
    loads = commands.add_parser("loads", help="building: every household × factor")
    loads.add_argument("factor", type=float)
    household = commands.add_parser("household", help="building flat: its load × f")
    household.add_argument("factor", type=float)
    commands.add_parser("vanish", help="building flat: go silent on the network")
    commands.add_parser("return", help="building flat: answer again")
    bus = commands.add_parser("bus", help="building flat: wired to the bus or not")
    bus.add_argument("available", choices=("on", "off"))
    setpoint = commands.add_parser("bus-setpoint", help="building flat: bus W")
    setpoint.add_argument("w", type=int, help="+ export to the bus, − import")
    setpoint.add_argument("--revert-s", type=int, help="revert timer, s")
    room = commands.add_parser("living-room", help="building flat: circuit source")
    room.add_argument("source", choices=("grid", "battery"))


def _ctl_request(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """The path and JSON body for the ``ctl`` command in ``args``."""
    path, body = _ctl_command(args)
    if args.flat is not None:
        if args.action not in _FLAT_COMMANDS | _EITHER_COMMANDS:
            raise ValueError(f"{args.action} is for the whole building, not --flat")
        path = f"flats/{args.flat}" + ("" if path == "state" else f"/{path}")
    elif args.action in _FLAT_COMMANDS:
        raise ValueError(f"{args.action} needs --flat")
    return path, body


def _ctl_command(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
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
        case "reset-counter":
            return "reset_counter", {"role": args.role, "point": args.point}
        case "degrade":
            return "degrade", {
                "fade_pct_per_day": args.fade_pct_per_day,
                "self_discharge_pct_per_month": args.self_discharge_pct_per_month,
                "efficiency_loss_pct": args.efficiency_loss_pct,
                "weak_cell_pct": args.weak_cell_pct,
            }
        case "loads":
            return "loads", {"factor": args.factor}
        case "household":
            return "household", {"factor": args.factor}
        case "vanish" | "return":
            return args.action, {}
        case "bus":
            return "bus", {"available": args.available == "on"}
        case "bus-setpoint":
            return "bus_setpoint", {"w": args.w, "revert_s": args.revert_s}
        case "living-room":
            return "living_room", {"source": int(args.source == "battery")}
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
    flat = commands.add_parser("flat", help="run a simulated flat")
    _flat_arguments(flat)
    _protocol_arguments(flat)
    building = commands.add_parser("building", help="run a simulated building of flats")
    _building_arguments(building)
    _protocol_arguments(building)
    _ctl_arguments(
        commands.add_parser("ctl", help="control a running flat or building")
    )
    args = parser.parse_args(argv)
    if args.command == "ctl":
        try:
            return _ctl(args)
        except ValueError as err:
            parser.error(str(err))
    scenario = None
    try:
        if args.command == "building":
            config, scenario = _building_config(args)
        else:
            config = _config(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        echonet_port = None
        if args.protocol == "echonet":
            echonet_port = args.echonet_port
            config = _with_automatic_backup(config)
        elif config.echonet_flats:
            echonet_port = args.echonet_port
        asyncio.run(_serve(config, scenario, args.control_port, echonet_port))
    except OSError as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
