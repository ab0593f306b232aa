"""Prepare the demo's Home Assistant and add the simulated flats through its UI API.

``prepare CONFIG``: a minimal configuration with onboarding marked done.
``add-flats``: log in as the demo user and, for every flat of the building, run Local
VPP's real config flow over Home Assistant's HTTP API, exactly as the "Add
integration" dialog does, then its options flow to link the flat's ledger sidecar.
``check``: every Local VPP entry, whether it is loaded, and its ledger entities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

CONFIGURATION_YAML = """\
# Local VPP demo: the UI, the Energy dashboard and history, nothing else.
homeassistant:
  name: Local VPP demo
  country: JP
  time_zone: Asia/Tokyo
  currency: JPY
  unit_system: metric
  latitude: 33.59
  longitude: 130.40
  elevation: 10
frontend:
config:
energy:
history:
logbook:
recorder:
  purge_keep_days: 3
http:
  server_host: 127.0.0.1
  server_port: {ha_port}
logger:
  default: warning
  logs:
    custom_components.local_vpp: info
"""


def prepare(config: Path, ha_port: int) -> None:
    """Write configuration.yaml and mark onboarding as done."""
    (config / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(ha_port=ha_port), encoding="utf-8"
    )
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
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


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
    base: str, token: str, modbus_port: int, echonet_port: int | None = None
) -> dict[str, Any]:
    """Run the config flow for one flat, over ECHONET Lite if a port is given."""
    flow = _request(
        f"{base}/api/config/config_entries/flow", {"handler": "local_vpp"}, token
    )
    url = f"{base}/api/config/config_entries/flow/{flow['flow_id']}"
    family = "sunspec" if echonet_port is None else "echonet"
    _request(url, {"next_step_id": family}, token)
    form: dict[str, Any] = (
        {
            "host": "127.0.0.1",
            "port": modbus_port,
            "unit_pv": 1,
            "unit_battery": 2,
            "unit_meter": 3,
        }
        if echonet_port is None
        else {"host": "127.0.0.1", "port": echonet_port, "living_room_channel": 1}
    )
    result = _request(url, form, token)
    if result.get("type") != "create_entry":
        sys.exit(f"adding the flat on port {form['port']} failed: {result}")
    entry: dict[str, Any] = result["result"]
    return entry


def link_sidecar(base: str, token: str, entry_id: str, url: str, secret: str) -> None:
    """Run the options flow: point the entry at its ledger sidecar."""
    flow = _request(
        f"{base}/api/config/config_entries/options/flow", {"handler": entry_id}, token
    )
    result = _request(
        f"{base}/api/config/config_entries/options/flow/{flow['flow_id']}",
        {"sidecar_url": url, "sidecar_token": secret},
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


async def _label(base: str, token: str, labels: dict[str, str]) -> None:
    """Call each entry and its devices after its flat, as an installer would."""
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

        for device in await call({"type": "config/device_registry/list"}):
            owners = [e for e in device["config_entries"] if e in labels]
            if owners and device.get("name") and not device.get("name_by_user"):
                await call(
                    {
                        "type": "config/device_registry/update",
                        "device_id": device["id"],
                        "name_by_user": f"{labels[owners[0]]} {device['name']}",
                    }
                )
        for entry_id, label in labels.items():
            await call(
                {"type": "config_entries/update", "entry_id": entry_id, "title": label}
            )


def add_flats(
    ha_port: int, user: str, password: str, manifest: Path, echonet_port: int | None
) -> None:
    """Add every flat of the manifest and link each to its sidecar.

    With ``echonet_port`` the first flat is added as the ECHONET Lite node there,
    the others over Modbus: the demo shows both families side by side.
    """
    base = f"http://127.0.0.1:{ha_port}"
    token = login(base, user, password)
    flats = json.loads(manifest.read_text(encoding="utf-8"))["flats"]
    labels: dict[str, str] = {}
    for index, flat in enumerate(flats):
        node_port = echonet_port if index == 0 else None
        entry = add_flat(base, token, flat["modbus_port"], node_port)
        link_sidecar(base, token, entry["entry_id"], flat["sidecar_url"], flat["token"])
        labels[entry["entry_id"]] = f"Flat {flat['flat']}"
        where = (
            f"Modbus 127.0.0.1:{flat['modbus_port']}"
            if node_port is None
            else f"ECHONET Lite 127.0.0.1:{node_port}"
        )
        print(
            f"Added flat {flat['flat']} ({where}, {entry['title']}),"
            f" linked to its sidecar {flat['sidecar_url']}"
        )
    wait_loaded(base, token, list(labels), 60)
    asyncio.run(_label(base, token, labels))


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


def main() -> None:
    """Run one of the steps."""
    parser = argparse.ArgumentParser(description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    prep = steps.add_parser("prepare")
    prep.add_argument("config", type=Path)
    prep.add_argument("--ha-port", type=int, required=True)
    for name in ("add-flats", "check"):
        step = steps.add_parser(name)
        step.add_argument("--ha-port", type=int, required=True)
        step.add_argument("--user", required=True)
        step.add_argument("--password", required=True)
        if name == "add-flats":
            step.add_argument("--manifest", type=Path, required=True)
            step.add_argument(
                "--echonet-port", type=int, help="add the first flat over ECHONET Lite"
            )
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.config, args.ha_port)
    elif args.step == "add-flats":
        add_flats(
            args.ha_port, args.user, args.password, args.manifest, args.echonet_port
        )
    else:
        sys.exit(check(args.ha_port, args.user, args.password))


if __name__ == "__main__":
    main()
