"""Prepare the demo's Home Assistant and add the simulated flat through its UI API.

``prepare CONFIG``: a minimal configuration with onboarding marked done.
``add-flat``: log in as the demo user and run Local VPP's real config flow over
Home Assistant's HTTP API, exactly as the "Add integration" dialog does.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

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


def _post(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def add_flat(ha_port: int, user: str, password: str, modbus_port: int) -> None:
    """Log in and add the flat through the config flow."""
    base = f"http://127.0.0.1:{ha_port}"
    client_id = f"{base}/"
    flow = _post(
        f"{base}/auth/login_flow",
        {
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": client_id,
        },
    )
    result = _post(
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
        token = json.load(resp)["access_token"]

    flow = _post(
        f"{base}/api/config/config_entries/flow", {"handler": "local_vpp"}, token
    )
    result = _post(
        f"{base}/api/config/config_entries/flow/{flow['flow_id']}",
        {
            "host": "127.0.0.1",
            "port": modbus_port,
            "unit_pv": 1,
            "unit_battery": 2,
            "unit_meter": 3,
        },
        token,
    )
    if result.get("type") != "create_entry":
        sys.exit(f"adding the flat failed: {result}")
    print(f"Added {result['title']} to Home Assistant")


def main() -> None:
    """Run one of the two steps."""
    parser = argparse.ArgumentParser(description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    prep = steps.add_parser("prepare")
    prep.add_argument("config", type=Path)
    prep.add_argument("--ha-port", type=int, required=True)
    add = steps.add_parser("add-flat")
    add.add_argument("--ha-port", type=int, required=True)
    add.add_argument("--modbus-port", type=int, required=True)
    add.add_argument("--user", required=True)
    add.add_argument("--password", required=True)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.config, args.ha_port)
    else:
        add_flat(args.ha_port, args.user, args.password, args.modbus_port)


if __name__ == "__main__":
    main()
