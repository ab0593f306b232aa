"""The demo's home in Home Assistant: language, clock, dashboard, Energy, automations.

``configuration(...)``: configuration.yaml for a home in Fukuoka, in Japanese or
English, with the building dashboard as the start page and a building-demand sensor
(what the flats use) for the peak-shaving automation.
``dashboard(...)``: the building dashboard and each flat's own page (standard cards).
``energy_prefs(...)``: the Energy dashboard with every flat's meter, PV and battery.
``automations(...)``: the project's blueprints, one automation each per flat (the
peak shaving once for the building), notifying in Home Assistant.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

BLUEPRINTS = Path(__file__).resolve().parent.parent / "blueprints" / "automation"

CONFIGURATION_YAML = """\
# Local VPP demo: a home in Fukuoka; the building dashboard is the start page.
homeassistant:
  name: {name}
  country: JP
  language: {language}
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
lovelace:
  mode: yaml
recorder:
  purge_keep_days: 3
http:
  server_host: 127.0.0.1
  server_port: {ha_port}
automation: !include automations.yaml
template:
  - sensor:
      - name: Building demand
        unique_id: local_vpp_demo_building_demand
        device_class: power
        state_class: measurement
        unit_of_measurement: W
        # What the flats use (PV + grid + battery): what the building's meter
        # would carry without its PV and batteries.
        state: >-
          {{{{ ({plus} | map('states') | map('float', 0) | sum
              - {minus} | map('states') | map('float', 0) | sum) | round(0) }}}}
logger:
  default: warning
  logs:
    custom_components.local_vpp: info
"""

_TEXT = {
    "ja": {
        "name": "Local VPP デモ",
        "title": "建物",
        "building": "建物全体",
        "flat": "{flat}号室",
        "soc": "蓄電池",
        "pv": "太陽光・系統",
        "history": "発電と買電",
        "living": "リビングの給電",
        "log": "出来事",
        "ledger": "台帳・一斉放電・融通",
        "energy": "エネルギーの流れ",
        "cut": "{label}: 停電",
        "low": "{label}: 蓄電池の残量低下",
        "peak": "建物: ピークカット",
        "reason": "夕方のピーク",
        "ready": "停電への備え",
        "green": "再生可能エネルギー",
        "wat": "WAT（近隣との精算）",
        "health": "蓄電池の健康",
    },
    "en": {
        "name": "Local VPP demo",
        "title": "Building",
        "building": "The building",
        "flat": "Flat {flat}",
        "soc": "Battery",
        "pv": "Solar and grid",
        "history": "Solar and grid import",
        "living": "Living-room supply",
        "log": "What happened",
        "ledger": "Ledger, group discharge, bus",
        "energy": "Energy flows",
        "cut": "{label}: power cut",
        "low": "{label}: battery running low",
        "peak": "Building: peak shaving",
        "reason": "Evening peak",
        "ready": "Ready for a power cut",
        "green": "Renewable energy",
        "wat": "WAT (settling with neighbours)",
        "health": "Battery health",
    },
}


def _id(flat: str, rest: str) -> str:
    domain, name = rest.split(".", 1)
    return f"{domain}.flat_{flat}_{name}"


def configuration(ha_port: int, language: str, flats: list[str]) -> str:
    """configuration.yaml for the demo's Home Assistant."""
    plus = [
        _id(flat, name)
        for flat in flats
        for name in (
            "sensor.meter_import_power",
            "sensor.pv_power",
            "sensor.battery_discharge_power",
        )
    ]
    minus = [_id(flat, "sensor.meter_export_power") for flat in flats]
    return CONFIGURATION_YAML.format(
        name=_TEXT[language]["name"],
        language=language,
        ha_port=ha_port,
        plus=plus,
        minus=minus,
    )


def _flat_cards(flat: str, text: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "vertical-stack",
        "cards": [
            {
                "type": "gauge",
                "name": f"{text['flat'].format(flat=flat)} {text['soc']}",
                "entity": _id(flat, "sensor.battery_state_of_charge"),
                "min": 0,
                "max": 100,
                "severity": {"green": 50, "yellow": 20, "red": 0},
            },
            {
                "type": "entities",
                "state_color": True,
                "entities": [
                    _id(flat, "sensor.battery_grid_state"),
                    _id(flat, "binary_sensor.battery_living_room_supply"),
                    _id(flat, "switch.battery_living_room_on_battery"),
                    _id(flat, "sensor.pv_power"),
                    _id(flat, "sensor.battery_discharge_power"),
                    _id(flat, "sensor.meter_import_power"),
                    _id(flat, "sensor.battery_backup_time_left"),
                ],
            },
        ],
    }


def resident_entities(flat: str) -> dict[str, list[str]]:
    """What a resident sees of their own flat, by card: no engineering figures."""
    return {
        "ready": [
            _id(flat, "sensor.battery_grid_state"),
            _id(flat, "binary_sensor.battery_living_room_supply"),
            _id(flat, "sensor.battery_backup_time_left"),
            _id(flat, "select.battery_backup_mode"),
            _id(flat, "switch.battery_join_group_discharges"),
        ],
        "green": [
            _id(flat, "sensor.pv_power"),
            _id(flat, "sensor.meter_import_power"),
            _id(flat, "sensor.battery_renewable_share_today"),
            _id(flat, "sensor.battery_energy_from_neighbours_today"),
        ],
        "wat": [
            _id(flat, "sensor.battery_wat_balance"),
            _id(flat, "sensor.battery_wat_value_now"),
            _id(flat, "sensor.battery_wat_earned_today"),
            _id(flat, "sensor.battery_wat_spent_today"),
            _id(flat, "sensor.battery_local_energy_price"),
        ],
        "health": [
            _id(flat, "sensor.battery_estimated_state_of_health"),
            _id(flat, "sensor.battery_round_trip_efficiency"),
        ],
    }


def _resident_view(flat: str, text: dict[str, str]) -> dict[str, Any]:
    """One flat's own page: its battery, its power-cut readiness, its green and WAT."""
    cards: list[dict[str, Any]] = [
        {
            "type": "gauge",
            "name": text["soc"],
            "entity": _id(flat, "sensor.battery_state_of_charge"),
            "min": 0,
            "max": 100,
            "severity": {"green": 50, "yellow": 20, "red": 0},
        }
    ]
    cards += [
        {"type": "entities", "title": text[card], "entities": entities}
        for card, entities in resident_entities(flat).items()
    ]
    return {
        "title": text["flat"].format(flat=flat),
        "path": f"flat-{flat}",
        "icon": "mdi:home-battery",
        "cards": cards,
    }


def dashboard(language: str, flats: list[str], bus_flats: list[str]) -> dict[str, Any]:
    """The building dashboard (the flats side by side), then each flat's own page."""
    text = _TEXT[language]
    building: list[dict[str, Any]] = [
        {"type": "energy-date-selection"},
        {
            "type": "energy-distribution",
            "title": text["energy"],
            "link_dashboard": True,
        },
        {
            "type": "history-graph",
            "title": text["history"],
            "hours_to_show": 6,
            "entities": [_id(flat, "sensor.pv_power") for flat in flats]
            + ["sensor.building_demand"],
        },
        {
            "type": "history-graph",
            "title": text["living"],
            "hours_to_show": 6,
            "entities": [
                _id(flat, "binary_sensor.battery_living_room_supply") for flat in flats
            ],
        },
        {
            "type": "entities",
            "title": text["ledger"],
            "state_color": True,
            "entities": [
                _id(flats[0], "binary_sensor.battery_ledger_sidecar"),
                _id(flats[0], "binary_sensor.battery_ledger_integrity"),
                _id(flats[0], "sensor.battery_peers_online"),
                _id(flats[0], "binary_sensor.battery_group_discharge_active"),
                _id(flats[0], "sensor.battery_building_target"),
                _id(flats[0], "sensor.battery_building_achieved"),
                "sensor.building_demand",
            ]
            + [_id(flat, "sensor.battery_my_setpoint") for flat in flats]
            + [_id(flat, "sensor.battery_bus_power") for flat in bus_flats],
        },
        {
            "type": "logbook",
            "title": text["log"],
            "hours_to_show": 6,
            "entities": [
                _id(flat, name)
                for flat in flats
                for name in (
                    "sensor.battery_grid_state",
                    "switch.battery_living_room_on_battery",
                    "binary_sensor.battery_group_discharge_active",
                )
            ],
        },
    ]
    return {
        "title": text["title"],
        "views": [
            {
                "title": text["title"],
                "path": "building",
                "icon": "mdi:office-building",
                "cards": [_flat_cards(flat, text) for flat in flats]
                + [{"type": "vertical-stack", "cards": building}],
            }
        ]
        + [_resident_view(flat, text) for flat in flats],
    }


def energy_prefs(flats: list[str]) -> dict[str, Any]:
    """Energy dashboard settings: one grid with every flat's meter, PV, batteries."""
    grid = {
        "type": "grid",
        "flow_from": [
            {
                "stat_energy_from": _id(flat, "sensor.meter_imported_energy"),
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for flat in flats
        ],
        "flow_to": [
            {
                "stat_energy_to": _id(flat, "sensor.meter_exported_energy"),
                "stat_compensation": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for flat in flats
        ],
        "cost_adjustment_day": 0,
    }
    solar = [
        {
            "type": "solar",
            "stat_energy_from": _id(flat, "sensor.pv_energy_produced"),
            "config_entry_solar_forecast": None,
        }
        for flat in flats
    ]
    batteries = [
        {
            "type": "battery",
            "stat_energy_from": _id(flat, "sensor.battery_energy_discharged"),
            "stat_energy_to": _id(flat, "sensor.battery_energy_charged"),
        }
        for flat in flats
    ]
    return {
        "energy_sources": [grid, *solar, *batteries],
        "device_consumption": [
            {"stat_consumption": _id(flat, "sensor.battery_living_room_energy")}
            for flat in flats
        ],
    }


def automations(
    entries: dict[str, str], peak_limit_kw: float, language: str
) -> list[dict[str, Any]]:
    """The blueprints in use: ``entries`` maps each flat to its config entry id."""
    flats = list(entries)
    text = _TEXT[language]
    found: list[dict[str, Any]] = []
    for flat, entry_id in entries.items():
        label = text["flat"].format(flat=flat)
        found.append(
            {
                "id": f"local_vpp_demo_outage_{flat}",
                "alias": text["cut"].format(label=label),
                "use_blueprint": {
                    "path": "local_vpp/outage_backup.yaml",
                    "input": {
                        "flat": entry_id,
                        "outage_state": _id(flat, "sensor.battery_grid_state"),
                        "startup_grace": 0,
                    },
                },
            }
        )
        found.append(
            {
                "id": f"local_vpp_demo_low_battery_{flat}",
                "alias": text["low"].format(label=label),
                "use_blueprint": {
                    "path": "local_vpp/low_battery_during_outage.yaml",
                    "input": {
                        "runtime_left": _id(flat, "sensor.battery_backup_time_left"),
                        "backup_active": _id(
                            flat, "binary_sensor.battery_backup_running"
                        ),
                        "threshold_min": 60,
                        "notify_here": True,
                    },
                },
            }
        )
    found.append(
        {
            "id": "local_vpp_demo_peak_shaving",
            "alias": text["peak"],
            "use_blueprint": {
                "path": "local_vpp/peak_shaving.yaml",
                "input": {
                    "demand_sensor": "sensor.building_demand",
                    "limit_kw": peak_limit_kw,
                    "flat": entries[flats[0]],
                    # Minutes on Home Assistant's clock: two hours of the fast day.
                    "duration_min": 2,
                    "clear_after": {"minutes": 1},
                    "reason": text["reason"],
                },
            },
        }
    )
    return found


def install_blueprints(config: Path) -> None:
    """Copy the project's blueprints where Home Assistant looks for them."""
    target = config / "blueprints" / "automation" / "local_vpp"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(BLUEPRINTS / "local_vpp", target)


def write_yaml(path: Path, data: Any) -> None:
    """``data`` as YAML, keeping non-ASCII text readable."""
    path.write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
