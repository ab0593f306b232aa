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
import urllib.parse
import urllib.request
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


def prepare(config: Path, ha_port: int, language: str, manifest: Path) -> None:
    """Write the configuration and the dashboard; mark onboarding as done."""
    flats = [flat["flat"] for flat in _flats(manifest)]
    (config / "configuration.yaml").write_text(
        configuration(ha_port, language, flats), encoding="utf-8"
    )
    write_yaml(config / "ui-lovelace.yaml", dashboard(language, flats))
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


def add_flat(base: str, token: str, flat: str, modbus_port: int) -> dict[str, Any]:
    """Run the config flow for one flat; the created entry."""
    flow = _request(
        f"{base}/api/config/config_entries/flow", {"handler": "local_vpp"}, token
    )
    url = f"{base}/api/config/config_entries/flow/{flow['flow_id']}"
    _request(url, {"next_step_id": "sunspec"}, token)  # the family menu
    result = _request(
        url,
        {
            "flat": flat,
            "host": "127.0.0.1",
            "port": modbus_port,
            "unit_pv": 1,
            "unit_battery": 2,
            "unit_meter": 3,
        },
        token,
    )
    if result.get("type") != "create_entry":
        sys.exit(f"adding the flat on port {modbus_port} failed: {result}")
    entry: dict[str, Any] = result["result"]
    return entry


def link_sidecar(base: str, token: str, entry_id: str, url: str, secret: str) -> None:
    """Run the options flow: point the entry at its ledger sidecar."""
    flow = _request(
        f"{base}/api/config/config_entries/options/flow", {"handler": entry_id}, token
    )
    result = _request(
        f"{base}/api/config/config_entries/options/flow/{flow['flow_id']}",
        # A short reconnection delay: the demo's grid returns on a fast clock.
        {"sidecar_url": url, "sidecar_token": secret, "reconnect_delay": 30},
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


async def _install(base: str, token: str, prefs: dict[str, Any]) -> None:
    """Save the Energy dashboard's settings and load the automations."""
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
        await call(
            {"type": "call_service", "domain": "automation", "service": "reload"}
        )


def add_flats(  # noqa: PLR0917
    ha_port: int,
    user: str,
    password: str,
    manifest: Path,
    config: Path,
    language: str,
    peak_limit_kw: float,
) -> None:
    """Add every flat of the manifest, link each to its sidecar, set up the home."""
    base = f"http://127.0.0.1:{ha_port}"
    token = login(base, user, password)
    entries: dict[str, str] = {}
    for flat in _flats(manifest):
        entry = add_flat(base, token, flat["flat"], flat["modbus_port"])
        link_sidecar(base, token, entry["entry_id"], flat["sidecar_url"], flat["token"])
        entries[flat["flat"]] = entry["entry_id"]
        print(
            f"Added flat {flat['flat']} (Modbus 127.0.0.1:{flat['modbus_port']}, "
            f"{entry['title']}), linked to its sidecar {flat['sidecar_url']}"
        )
    wait_loaded(base, token, list(entries.values()), 60)
    write_yaml(
        config / "automations.yaml", automations(entries, peak_limit_kw, language)
    )
    asyncio.run(_install(base, token, energy_prefs(list(entries))))


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
    prep.add_argument("--lang", choices=["ja", "en"], default="ja")
    prep.add_argument("--manifest", type=Path, required=True)
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
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.config, args.ha_port, args.lang, args.manifest)
    elif args.step == "add-flats":
        add_flats(
            args.ha_port,
            args.user,
            args.password,
            args.manifest,
            args.config,
            args.lang,
            args.peak_limit_kw,
        )
    else:
        sys.exit(check(args.ha_port, args.user, args.password))


if __name__ == "__main__":
    main()
