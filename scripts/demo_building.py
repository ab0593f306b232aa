"""The demo building's ledger sidecars: set them up, wait for them, show their state.

``sidecars``: one sidecar per flat of the running building simulator, made with the
sidecar's own commands (``init``, ``roster member``, ``roster init``, run in this
process), every one on a free 127.0.0.1 port and all in one roster; writes a manifest
for the other steps.
``wait``: until every sidecar listens (or one of them has died).
``wait-http URL``: until a URL answers (or the process that should serve it has died).
``status``: what each running sidecar reports over its local API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import json
import os
import shutil
import socket
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
WS_PATH = "/api/v1/ws"


def _simulated_flats(control_port: int) -> list[tuple[str, int]]:
    """The building's flats and their Modbus ports, from the simulator's control API."""
    url = f"http://127.0.0.1:{control_port}/state"
    with urllib.request.urlopen(url, timeout=10) as response:
        state = json.load(response)["state"]
    return [(flat["flat"], int(flat["modbus"]["port"])) for flat in state["flats"]]


def _free_ports(count: int) -> list[int]:
    """Ports nobody listens on right now (all held open together, so all distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _sidecar(*args: str) -> str:
    """Run one ``python -m sidecar`` command in this process; its output, or exit."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    cli = importlib.import_module("sidecar.cli")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    if code != 0:
        sys.exit(
            f"python -m sidecar {' '.join(args)} failed:\n{err.getvalue().strip()}"
        )
    return out.getvalue()


def _init_sidecar(
    directory: Path, building: str, flat: str, modbus_port: int, port: int
) -> tuple[dict[str, Any], str]:
    """One flat's sidecar configuration and key; its manifest entry and member line."""
    floor = str(int(flat) // 100) if flat.isdigit() and len(flat) > 2 else "1"
    config = directory / flat / "sidecar.toml"
    config.parent.mkdir()
    _sidecar(
        "init",
        "--config",
        str(config),
        "--building",
        building,
        "--floor",
        floor,
        "--flat",
        flat,
        "--listen",
        f"127.0.0.1:{port}",
    )
    member = _sidecar("roster", "member", "--config", str(config)).strip()
    token = tomllib.loads(config.read_text(encoding="utf-8"))["node"]["api_token"]
    entry = {
        "flat": flat,
        "floor": floor,
        "modbus_port": modbus_port,
        "sidecar_port": port,
        "sidecar_url": f"ws://127.0.0.1:{port}{WS_PATH}",
        "token": token,
        "config": str(config),
    }
    return entry, member


def make_sidecars(directory: Path, control_port: int, building: str) -> None:
    """Initialise one sidecar per flat, make the roster, write the manifest."""
    flats = _simulated_flats(control_port)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    ports = _free_ports(len(flats))
    done = [
        _init_sidecar(directory, building, flat, modbus_port, port)
        for (flat, modbus_port), port in zip(flats, ports, strict=True)
    ]
    made = [flat for flat, _ in done]
    members = [member for _, member in done]
    member_file = directory / "members.jsonl"
    member_file.write_text("\n".join(members) + "\n", encoding="utf-8")
    roster = directory / "roster.json"
    _sidecar(
        "roster", "init", "--building", building, "--out", str(roster), str(member_file)
    )
    for flat in made:
        config = Path(flat["config"])
        shutil.copyfile(roster, config.parent / "roster.json")
        text = config.read_text(encoding="utf-8")
        linked = text.replace('roster = ""', 'roster = "roster.json"', 1)
        if linked == text:
            sys.exit(f"{config}: no empty [mesh] roster key to fill in")
        config.write_text(linked, encoding="utf-8")
    manifest = {"building": building, "control_port": control_port, "flats": made}
    (directory / "manifest.json").touch(mode=0o600)  # it holds the tokens
    (directory / "manifest.json").write_text(
        json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
    )
    print(
        f"Building {building}: {len(made)} sidecar(s) in one roster, "
        f"listening on 127.0.0.1 ports {', '.join(str(p) for p in ports)}"
    )


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest ``sidecars`` wrote."""
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_sidecars(
    manifest: dict[str, Any], pids: list[int], timeout: float
) -> None:
    """Return once every sidecar listens; exit if one died or none came in time."""
    waiting = {flat["flat"]: int(flat["sidecar_port"]) for flat in manifest["flats"]}
    deadline = time.monotonic() + timeout
    while waiting:
        for pid in pids:
            if not _alive(pid):
                sys.exit(f"a sidecar (pid {pid}) stopped while starting")
        waiting = {flat: port for flat, port in waiting.items() if not _listening(port)}
        if not waiting:
            break
        if time.monotonic() > deadline:
            sys.exit(f"sidecars of flat(s) {', '.join(sorted(waiting))} did not start")
        time.sleep(0.2)


def wait_for_url(url: str, pid: int | None, timeout: float, what: str) -> None:
    """Return once ``url`` answers; exit if ``pid`` died or it takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        if pid is not None and not _alive(pid):
            sys.exit(f"{what} stopped while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"{what} did not answer within {timeout:.0f} s")
            time.sleep(0.25)


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
        make_sidecars(args.directory, args.control_port, args.building)
    elif args.step == "wait":
        wait_for_sidecars(load_manifest(args.manifest), args.pid, args.timeout)
    elif args.step == "wait-http":
        wait_for_url(args.url, args.pid, args.timeout, args.what)
    else:
        sys.exit(show_status(load_manifest(args.manifest), args.json))


if __name__ == "__main__":
    main()
