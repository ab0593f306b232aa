"""Prepare the demo's Home Assistant and add the simulated flats through its UI API.

``prepare CONFIG``: the configuration (language, time zone, the building dashboard,
the blueprints) with onboarding marked done.
``add-flats``: log in as the demo user and, for every flat of the building, run Local
VPP's real config flow over Home Assistant's HTTP API, exactly as the "Add
integration" dialog does, then its options flow to link the flat's ledger sidecar;
then set up the Energy dashboard and the automations made from the blueprints.
``check``: every Local VPP entry, whether it is loaded, and its ledger entities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from demo_home import (
    automations,
    configuration,
    dashboard,
    energy_prefs,
    install_blueprints,
    write_yaml,
)


def _flats(manifest: Path) -> list[dict[str, Any]]:
    flats: list[dict[str, Any]] = json.loads(manifest.read_text(encoding="utf-8"))[
        "flats"
    ]
    return flats


def prepare(
    config: Path, ha_port: int, language: str, manifest: Path, families: Families
) -> None:
    """Write the configuration and the dashboard; mark onboarding as done."""
    flats = [flat["flat"] for flat in _flats(manifest)]
    # SunSpec 7xx flats serve the building bus (model 64901) themselves; the others
    # reach it through a changeover controller, where the wiring has one.
    bus_flats = [
        flat["flat"]
        for position, flat in enumerate(_flats(manifest), start=1)
        if position not in families.echonet + families.sunspec_1xx
        or flat.get("bus_controller_port")
    ]
    (config / "configuration.yaml").write_text(
        configuration(ha_port, language, flats), encoding="utf-8"
    )
    write_yaml(config / "ui-lovelace.yaml", dashboard(language, flats, bus_flats))
    (config / "automations.yaml").write_text("[]\n", encoding="utf-8")
    install_blueprints(config)
    storage = config / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    onboarding = {
        "version": 4,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": ["user", "core_config", "analytics", "integration"]},
    }
    (storage / "onboarding").write_text(json.dumps(onboarding), encoding="utf-8")


def _request(
    url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        sys.exit(f"{url}: HTTP {err.code}: {err.read().decode(errors='replace')}")


def login(base: str, user: str, password: str) -> str:
    """Log in as the UI does; an access token."""
    client_id = f"{base}/"
    flow = _request(
        f"{base}/auth/login_flow",
        {
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": client_id,
        },
    )
    result = _request(
        f"{base}/auth/login_flow/{flow['flow_id']}",
        {"client_id": client_id, "username": user, "password": password},
    )
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        }
    ).encode()
    with urllib.request.urlopen(f"{base}/auth/token", data=form, timeout=30) as resp:
        token: str = json.load(resp)["access_token"]
    return token


def add_flat(
    base: str, token: str, flat: str, port: int, *, echonet: bool = False
) -> dict[str, Any]:
    """Run the config flow for one flat; the created entry.

    A SunSpec flat is found on its Modbus ``port`` (the flow reads whichever models
    it serves, 7xx or 1xx); an ECHONET Lite flat is typed in by address and UDP
    ``port``, as on a home network where multicast does not reach.
    """
    flow = _request(
        f"{base}/api/config/config_entries/flow", {"handler": "local_vpp"}, token
    )
    url = f"{base}/api/config/config_entries/flow/{flow['flow_id']}"
    family = "echonet" if echonet else "sunspec"
    _request(url, {"next_step_id": family}, token)  # the family menu
    answer: dict[str, Any] = {"flat": flat, "host": "127.0.0.1", "port": port}
    if not echonet:
        answer |= {"unit_pv": 1, "unit_battery": 2, "unit_meter": 3}
    result = _request(url, answer, token)
    if result.get("type") != "create_entry":
        sys.exit(f"adding the {family} flat on port {port} failed: {result}")
    entry: dict[str, Any] = result["result"]
    return entry


def link_sidecar(
    base: str,
    token: str,
    entry_id: str,
    url: str,
    secret: str,
    *,
    backup_switches_itself: bool = False,
    bus_controller_port: int | None = None,
    battery_wh: float | None = None,
) -> None:
    """Run the options flow: point the entry at its ledger sidecar.

    ``backup_switches_itself``: the installer's living-room choice for an inverter
    without a living-room register, whose backup output takes the room by itself.
    ``bus_controller_port``: the flat's bus changeover controller (ECHONET Lite and
    SunSpec 1xx flats on the bus). ``battery_wh``: the battery's usable capacity, for
    a battery that does not report it (SunSpec 1xx storage).
    """
    flow = _request(
        f"{base}/api/config/config_entries/options/flow", {"handler": entry_id}, token
    )
    # A short reconnection delay: the demo's grid returns on a fast clock.
    options: dict[str, Any] = {
        "sidecar_url": url,
        "sidecar_token": secret,
        "reconnect_delay": 30,
    }
    if backup_switches_itself:
        options["living_room_switch"] = "self"
    if bus_controller_port:
        options |= {
            "bus_controller_host": "127.0.0.1",
            "bus_controller_port": bus_controller_port,
            "bus_controller_unit": 1,
        }
    if battery_wh:
        options["battery_capacity_wh"] = round(battery_wh, -2)
    result = _request(
        f"{base}/api/config/config_entries/options/flow/{flow['flow_id']}",
        options,
        token,
    )
    if result.get("type") != "create_entry":
        sys.exit(f"linking {url} failed: {result.get('errors') or result}")


def entries(base: str, token: str) -> dict[str, dict[str, Any]]:
    """Local VPP's config entries by id."""
    found = _request(
        f"{base}/api/config/config_entries/entry?domain=local_vpp", None, token
    )
    return {entry["entry_id"]: entry for entry in found}


def wait_loaded(base: str, token: str, ids: list[str], timeout: float) -> None:
    """Return when every entry is loaded; exit if one failed or it takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        states = {i: e["state"] for i, e in entries(base, token).items() if i in ids}
        if len(states) == len(ids) and all(s == "loaded" for s in states.values()):
            return
        failed = {
            i: s for i, s in states.items() if s in ("setup_error", "failed_unload")
        }
        if failed or time.monotonic() > deadline:
            sys.exit(f"Local VPP entries not loaded: {states}")
        time.sleep(0.5)


async def _install(
    base: str,
    token: str,
    prefs: dict[str, Any],
    config: Path,
    phases: list[list[dict[str, Any]]],
) -> None:
    """Save the Energy dashboard's settings, then load each phase of automations."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"ws{base.removeprefix('http')}/api/websocket") as ws,
    ):
        await ws.receive_json(timeout=30)
        await ws.send_json({"type": "auth", "access_token": token})
        if (await ws.receive_json(timeout=30)).get("type") != "auth_ok":
            sys.exit("Home Assistant refused the demo user's token")
        ids = iter(range(1, 1_000_000))

        async def call(message: dict[str, Any]) -> Any:
            number = next(ids)
            await ws.send_json({"id": number, **message})
            while True:
                reply = await ws.receive_json(timeout=30)
                if reply.get("id") == number:
                    break
            if not reply.get("success"):
                sys.exit(f"{message['type']} failed: {reply.get('error')}")
            return reply.get("result")

        await call({"type": "energy/save_prefs", **prefs})
        for phase in phases:
            write_yaml(config / "automations.yaml", phase)
            await call(
                {"type": "call_service", "domain": "automation", "service": "reload"}
            )


@dataclass(frozen=True, slots=True)
class Families:
    """Which flats (1-based positions) are not on SunSpec 7xx in the simulator.

    The simulator gives its ECHONET Lite flats consecutive UDP ports from
    ``first_echonet_port``, in position order.
    """

    echonet: tuple[int, ...] = ()
    sunspec_1xx: tuple[int, ...] = ()
    first_echonet_port: int = 3611

    def echonet_port(self, position: int) -> int:
        """The UDP port of the ECHONET Lite flat at ``position``."""
        return self.first_echonet_port + sorted(self.echonet).index(position)


def add_flats(  # noqa: PLR0917
    ha_port: int,
    user: str,
    password: str,
    manifest: Path,
    config: Path,
    language: str,
    peak_limit_kw: float,
    families: Families,
) -> None:
    """Add every flat of the manifest, link each to its sidecar, set up the home."""
    base = f"http://127.0.0.1:{ha_port}"
    token = login(base, user, password)
    entries: dict[str, str] = {}
    for position, flat in enumerate(_flats(manifest), start=1):
        echonet = position in families.echonet
        older = position in families.sunspec_1xx
        port = families.echonet_port(position) if echonet else flat["modbus_port"]
        entry = add_flat(base, token, flat["flat"], port, echonet=echonet)
        link_sidecar(
            base,
            token,
            entry["entry_id"],
            flat["sidecar_url"],
            flat["token"],
            backup_switches_itself=older,
            bus_controller_port=flat.get("bus_controller_port")
            if echonet or older
            else None,
            battery_wh=flat.get("battery_wh") if older else None,
        )
        entries[flat["flat"]] = entry["entry_id"]
        how = (
            f"ECHONET Lite 127.0.0.1:{port}"
            if echonet
            else f"SunSpec {'1xx' if older else '7xx'} Modbus 127.0.0.1:{port}"
        )
        print(
            f"Added flat {flat['flat']} ({how}, {entry['title']}), "
            f"linked to its sidecar {flat['sidecar_url']}"
        )
    wait_loaded(base, token, list(entries.values()), 60)
    # An automation's entity id is made from its alias when it is first loaded, and
    # kept: English aliases first keep the ids ASCII, then the resident's language.
    phases = [automations(entries, peak_limit_kw, "en")]
    if language != "en":
        phases.append(automations(entries, peak_limit_kw, language))
    asyncio.run(_install(base, token, energy_prefs(list(entries)), config, phases))


_LEDGER_TEMPLATE = """{%- set ns = namespace(rows=[]) -%}
{%- for e in integration_entities('local_vpp') -%}
{%- if e is search('_ledger_(sidecar|peers_online|entries)(_[0-9]+)?$') -%}
{%- set ns.rows = ns.rows + [[config_entry_id(e), e, states(e)]] -%}
{%- endif -%}
{%- endfor -%}
{{ ns.rows | tojson }}"""


_LEDGER_KEY = re.compile(r"_ledger_(sidecar|peers_online|entries)(?:_[0-9]+)?$")


def _ledger_key(entity_id: str) -> str:
    """``sidecar``, ``peers_online`` or ``entries`` from a ledger entity's id."""
    found = _LEDGER_KEY.search(entity_id)
    return found.group(1) if found else entity_id


def check(ha_port: int, user: str, password: str) -> int:
    """Print each Local VPP entry, its state and ledger entities; 1 if not loaded."""
    base = f"http://127.0.0.1:{ha_port}"
    token = login(base, user, password)
    found = entries(base, token)
    request = urllib.request.Request(
        f"{base}/api/template",
        data=json.dumps({"template": _LEDGER_TEMPLATE}).encode(),
        headers={"Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        rows = json.loads(response.read().decode())
    code = 0
    for entry_id, entry in found.items():
        ledger = ", ".join(
            f"{_ledger_key(entity)}={state}"
            for owner, entity, state in sorted(rows)
            if owner == entry_id
        )
        print(f"{entry['title']}: {entry['state']}; ledger: {ledger or 'none'}")
        if entry["state"] != "loaded":
            code = 1
    if not found:
        print("no Local VPP entries")
        code = 1
    return code


def _positions(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main() -> None:
    """Run one of the steps."""
    parser = argparse.ArgumentParser(description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    prep = steps.add_parser("prepare")
    prep.add_argument("config", type=Path)
    prep.add_argument("--ha-port", type=int, required=True)
    prep.add_argument("--lang", choices=["ja", "en"], default="ja")
    prep.add_argument("--manifest", type=Path, required=True)
    prep.add_argument("--echonet-flats", type=_positions, default=())
    prep.add_argument("--sunspec-1xx-flats", type=_positions, default=())
    for name in ("add-flats", "check"):
        step = steps.add_parser(name)
        step.add_argument("--ha-port", type=int, required=True)
        step.add_argument("--user", required=True)
        step.add_argument("--password", required=True)
        if name == "add-flats":
            step.add_argument("--manifest", type=Path, required=True)
            step.add_argument("--config", type=Path, required=True)
            step.add_argument("--lang", choices=["ja", "en"], default="ja")
            step.add_argument("--peak-limit-kw", type=float, required=True)
            step.add_argument("--echonet-flats", type=_positions, default=())
            step.add_argument("--sunspec-1xx-flats", type=_positions, default=())
            step.add_argument("--echonet-port", type=int, default=3611)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(
            args.config,
            args.ha_port,
            args.lang,
            args.manifest,
            Families(args.echonet_flats, args.sunspec_1xx_flats),
        )
    elif args.step == "add-flats":
        add_flats(
            args.ha_port,
            args.user,
            args.password,
            args.manifest,
            args.config,
            args.lang,
            args.peak_limit_kw,
            Families(args.echonet_flats, args.sunspec_1xx_flats, args.echonet_port),
        )
    else:
        sys.exit(check(args.ha_port, args.user, args.password))


if __name__ == "__main__":
    main()
