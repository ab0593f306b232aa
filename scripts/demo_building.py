"""The demo building's ledger sidecars: set them up, wait for them, show their state.

``sidecars``: one sidecar per flat of the running building simulator, made with the
sidecar's own commands (``init``, ``roster member``, ``roster init``), every one on a
free 127.0.0.1 port and all in one roster; writes a manifest for the other steps.
``wait``: until every sidecar listens (or one of them has died).
``wait-http URL``: until a URL answers (or the process that should serve it has died).
``status``: what each running sidecar reports over its local API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from devkit.building import Building
from devkit.waiting import NotInTime, pid_alive, port_answers, url_answers


def _simulated_flats(control_port: int) -> list[tuple[str, int]]:
    """The building's flats and their Modbus ports, from the simulator's control API."""
    url = f"http://127.0.0.1:{control_port}/state"
    with urllib.request.urlopen(url, timeout=10) as response:
        state = json.load(response)["state"]
    return [(flat["flat"], int(flat["modbus"]["port"])) for flat in state["flats"]]


def _bus_controllers(control_port: int) -> dict[str, tuple[int, float]]:
    """Each flat's bus changeover controller port and battery size, where it has one.

    ECHONET Lite and SunSpec 1xx flats on the bus reach it through one. The battery's
    rated Wh is what the installer reads off its label: SunSpec 1xx storage does not
    report it, and without it the flat has nothing to offer its neighbours.
    """
    url = f"http://127.0.0.1:{control_port}/state"
    with urllib.request.urlopen(url, timeout=10) as response:
        state = json.load(response)["state"]
    return {
        flat["flat"]: (int(flat["bus_controller"]["port"]), float(flat["rated_wh"]))
        for flat in state["flats"]
        if "bus_controller" in flat
    }


def make_sidecars(
    directory: Path, control_port: int, building: str, device_speed: float
) -> None:
    """Initialise one sidecar per flat, make the roster, write the manifest.

    ``device_speed`` is the simulator's clock speed: the sidecars scale their bound on
    a counter's rise with it, so an accelerated building's readings are not refused.
    """
    flats = dict(_simulated_flats(control_port))
    controllers = _bus_controllers(control_port)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    try:
        made = Building(
            directory,
            list(flats),
            building=building,
            # Whole seconds, rounded up: the bound must grow at least as fast.
            settings={"device_speed": max(1, math.ceil(device_speed))},
        )
    except AssertionError as err:  # a sidecar command failed; it said why
        sys.exit(str(err))
    entries = [
        {
            "flat": flat.name,
            "floor": flat.floor,
            "modbus_port": flats[flat.name],
            "bus_controller_port": controllers.get(flat.name, (None,))[0],
            "battery_wh": controllers.get(flat.name, (None, None))[1],
            "sidecar_port": flat.port,
            "sidecar_url": flat.ws_url,
            "token": flat.token,
            "config": str(flat.config),
        }
        for flat in made.flats
    ]
    manifest = {"building": building, "control_port": control_port, "flats": entries}
    (directory / "manifest.json").touch(mode=0o600)  # it holds the tokens
    (directory / "manifest.json").write_text(
        json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"Building {building}: {len(entries)} sidecar(s) in one roster, "
        f"listening on 127.0.0.1 ports {', '.join(str(f.port) for f in made.flats)}"
    )


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest ``sidecars`` wrote."""
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def wait_for_sidecars(
    manifest: dict[str, Any], pids: list[int], timeout: float
) -> None:
    """Return once every sidecar listens; exit if one died or none came in time."""

    def alive() -> bool:
        return all(pid_alive(pid) for pid in pids)

    async def every_port() -> None:
        await asyncio.gather(
            *(
                port_answers(
                    int(flat["sidecar_port"]),
                    timeout,
                    alive=alive,
                    what=f"the sidecar of flat {flat['flat']}",
                )
                for flat in manifest["flats"]
            )
        )

    try:
        asyncio.run(every_port())
    except NotInTime as err:
        sys.exit(str(err))


def wait_for_url(url: str, pid: int | None, timeout: float, what: str) -> None:
    """Return once ``url`` answers; exit if ``pid`` died or it takes too long."""
    try:
        url_answers(
            url,
            timeout,
            alive=None if pid is None else lambda: pid_alive(pid),
            what=what,
        )
    except NotInTime as err:
        sys.exit(str(err))


async def _ask_status(url: str, token: str) -> dict[str, Any]:
    # The read-only endpoint: a WebSocket would push the flat's Home Assistant off.
    status_url = url.replace("ws://", "http://", 1).removesuffix("/ws") + "/status"
    timeout = aiohttp.ClientTimeout(total=15)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(status_url, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        message: dict[str, Any] = await reply.json()
        if reply.status != 200:
            return {"type": "error", "detail": f"HTTP {reply.status}: {message}"}
        return message


def show_status(manifest: dict[str, Any], as_json: bool) -> int:
    """Print each sidecar's view of its ledger and the mesh; 1 if one is unreachable."""
    replies: dict[str, dict[str, Any]] = {}
    code = 0
    for flat in manifest["flats"]:
        try:
            replies[flat["flat"]] = asyncio.run(
                _ask_status(flat["sidecar_url"], flat["token"])
            )
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
            replies[flat["flat"]] = {"type": "error", "detail": str(err)}
    if as_json:
        print(json.dumps(replies, indent=2))
    for name, reply in replies.items():
        if reply.get("type") != "status":
            code = 1
            if not as_json:
                print(f"flat {name}: no status: {reply.get('detail') or reply}")
            continue
        if as_json:
            continue
        mesh = reply.get("mesh", {})
        online = [p["flat"] for p in mesh.get("peers", []) if p.get("online")]
        witnessed = mesh.get("witnessed")
        print(
            f"flat {name}: {reply.get('entries_written', 0)} entries written "
            f"(next seq {reply.get('next_seq')}), "
            f"{reply.get('samples_accepted', 0)} samples from Home Assistant, "
            f"peers online {mesh.get('peers_online')}/{mesh.get('roster_size', 1) - 1}"
            f" ({', '.join(online) or 'none'}), "
            f"integrity {mesh.get('integrity')}, "
            f"witnessed {'no' if witnessed is None else witnessed.get('size')}"
        )
    return code


def main() -> None:
    """Run one step."""
    parser = argparse.ArgumentParser(description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    make = steps.add_parser("sidecars")
    make.add_argument("directory", type=Path)
    make.add_argument("--control-port", type=int, required=True)
    make.add_argument("--building", default="demo")
    make.add_argument("--device-speed", type=float, default=1.0)
    wait = steps.add_parser("wait")
    wait.add_argument("manifest", type=Path)
    wait.add_argument("--pid", type=int, action="append", default=[])
    wait.add_argument("--timeout", type=float, default=60)
    http = steps.add_parser("wait-http")
    http.add_argument("url")
    http.add_argument("--pid", type=int)
    http.add_argument("--timeout", type=float, default=60)
    http.add_argument("--what", default="the server")
    status = steps.add_parser("status")
    status.add_argument("manifest", type=Path)
    status.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.step == "sidecars":
        make_sidecars(
            args.directory, args.control_port, args.building, args.device_speed
        )
    elif args.step == "wait":
        wait_for_sidecars(load_manifest(args.manifest), args.pid, args.timeout)
    elif args.step == "wait-http":
        wait_for_url(args.url, args.pid, args.timeout, args.what)
    else:
        sys.exit(show_status(load_manifest(args.manifest), args.json))


if __name__ == "__main__":
    main()
