"""The automation blueprints load as Home Assistant loads them and fit the integration.

Structural only: each blueprint is parsed with Home Assistant's YAML loader
(``!input``), validated with the automation blueprint schema, filled in with sample
inputs, and the result validated as an automation. Running them is another test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.automation.config import (
    AUTOMATION_BLUEPRINT_SCHEMA,
    async_validate_config_item,
)
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.core import HomeAssistant
from homeassistant.util import yaml as yaml_util

from custom_components.local_vpp.const import (
    DOMAIN,
    EVENT_BACKUP_ENGAGED,
    EVENT_OUTAGE_ENDED,
    EVENT_OUTAGE_STARTED,
    SHEDDABLE_DOMAINS,
)

ROOT = Path(__file__).resolve().parents[3]
FOLDER = ROOT / "blueprints" / "automation" / DOMAIN
SOURCE_URL = "https://github.com/local-vpp/local-vpp/blob/main/blueprints/automation/local_vpp/{}"

# Sample inputs, as the blueprint editor would store them.
SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    "outage_backup.yaml": {
        "flat": "0123456789abcdef0123456789abcdef",
        "outage_state": "sensor.flat_101_outage_state",
        "notify_devices": ["fedcba9876543210fedcba9876543210"],
        "shed_loads": ["switch.washer", "climate.ac"],
        "restore_delay": 10,
        "dim_lights": ["light.living_room"],
        "dim_brightness": 20,
        "startup_grace": 60,
        "confirm_for": 3,
    },
    "low_battery_during_outage.yaml": {
        "runtime_left": "sensor.flat_101_backup_runtime_left",
        "backup_active": "binary_sensor.flat_101_backup_active",
        "threshold_min": 20,
        "notify_devices": ["fedcba9876543210fedcba9876543210"],
        "notify_here": True,
        "extra_loads": ["media_player.tv", "fan.bedroom"],
        "restore_when_released": True,
        "restore_delay": 5,
    },
    "battery_anomaly.yaml": {
        "anomaly_sensor": "binary_sensor.flat_101_battery_anomaly",
        "notify_devices": ["fedcba9876543210fedcba9876543210"],
        "persistent": True,
        "tell_cleared": False,
    },
    "peak_shaving.yaml": {
        "demand_sensor": "sensor.building_demand",
        "limit_kw": 20,
        "flat": "0123456789abcdef0123456789abcdef",
        "duration_min": 15,
        "clear_after": {"minutes": 5},
        "reason": "Peak shaving",
    },
}

# Inputs that pick another integration's entity that is not a load.
FOREIGN_MEASUREMENTS = {
    "demand_sensor": [{"domain": ["sensor"], "device_class": ["power"]}]
}


def load(name: str) -> Blueprint:
    data = yaml_util.load_yaml(FOLDER / name)
    assert isinstance(data, dict)
    return Blueprint(
        data,
        path=name,
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )


def selectors(blueprint: Blueprint) -> dict[str, dict[str, Any]]:
    """Input name → its selector config."""
    return {name: spec["selector"] for name, spec in blueprint.inputs.items()}


def event_triggers(blueprint: Blueprint) -> list[dict[str, Any]]:
    return [t for t in blueprint.data["triggers"] if t["trigger"] == "event"]


def test_the_folder_holds_exactly_the_blueprints_we_test() -> None:
    assert sorted(p.name for p in FOLDER.glob("*.yaml")) == sorted(SAMPLE_INPUTS)


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_loads_with_the_blueprint_schema(name: str) -> None:
    blueprint = load(name)
    meta = blueprint.metadata
    assert blueprint.domain == "automation"
    assert meta["name"].startswith("Local VPP")
    assert len(meta["description"]) > 100
    assert meta["author"]
    assert meta["homeassistant"]["min_version"] == "2025.4.0"
    assert meta["source_url"] == SOURCE_URL.format(name)
    assert blueprint.data["mode"] in {"queued", "restart", "single", "parallel"}


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_every_input_is_used_and_every_used_input_exists(name: str) -> None:
    blueprint = load(name)
    used = yaml_util.extract_inputs(blueprint.data)
    assert used == set(blueprint.inputs)


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_every_input_has_a_name_and_a_selector(name: str) -> None:
    for spec in load(name).inputs.values():
        assert spec["name"]
        assert spec["selector"]


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_sample_inputs_cover_every_input(name: str) -> None:
    assert set(SAMPLE_INPUTS[name]) == set(load(name).inputs)


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_our_entities_are_picked_from_the_integration(name: str) -> None:
    for input_name, selector in selectors(load(name)).items():
        if "config_entry" in selector:
            assert selector["config_entry"]["integration"] == DOMAIN, input_name
        elif "device" in selector:
            # Only phones are picked as devices.
            assert selector["device"]["filter"] == [{"integration": "mobile_app"}]
        elif input_name in FOREIGN_MEASUREMENTS:
            assert selector["entity"]["filter"] == FOREIGN_MEASUREMENTS[input_name]
        elif "entity" in selector:
            filters = selector["entity"]["filter"]
            integrations = {f.get("integration") for f in filters}
            if integrations == {None}:
                # A household's own loads or lights: any integration, right domains.
                domains = {d for f in filters for d in f["domain"]}
                assert domains <= set(SHEDDABLE_DOMAINS), input_name
            else:
                assert integrations == {DOMAIN}, input_name


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
def test_load_pickers_offer_every_sheddable_domain(name: str) -> None:
    blueprint = load(name)
    for input_name in ("shed_loads", "extra_loads"):
        if input_name in blueprint.inputs:
            (only,) = selectors(blueprint)[input_name]["entity"]["filter"]
            assert sorted(only["domain"]) == sorted(SHEDDABLE_DOMAINS)


def test_outage_backup_listens_to_the_flats_events() -> None:
    blueprint = load("outage_backup.yaml")
    triggers = event_triggers(blueprint)
    assert {t["event_type"] for t in triggers} == {
        EVENT_OUTAGE_STARTED,
        EVENT_BACKUP_ENGAGED,
        EVENT_OUTAGE_ENDED,
    }
    for trigger in triggers:
        # Filtered on the chosen flat's config entry, as the events carry it.
        assert trigger["event_data"] == {"entry_id": yaml_util.Input("flat")}


def test_low_battery_watches_the_runtime_while_backup_is_active() -> None:
    blueprint = load("low_battery_during_outage.yaml")
    runtime_selector = selectors(blueprint)["runtime_left"]["entity"]["filter"]
    assert runtime_selector == [
        {"integration": DOMAIN, "domain": ["sensor"], "device_class": ["duration"]}
    ]
    (low,) = [t for t in blueprint.data["triggers"] if t["trigger"] == "numeric_state"]
    assert low["entity_id"] == yaml_util.Input("runtime_left")
    assert low["below"] == yaml_util.Input("threshold_min")


@pytest.mark.parametrize("name", sorted(SAMPLE_INPUTS))
async def test_filled_in_blueprint_is_a_valid_automation(
    hass: HomeAssistant, name: str
) -> None:
    blueprint = load(name)
    inputs = BlueprintInputs(
        blueprint,
        {"use_blueprint": {"path": f"{DOMAIN}/{name}", "input": SAMPLE_INPUTS[name]}},
    )
    inputs.validate()
    config = inputs.async_substitute()
    config["id"] = "sample"
    config["alias"] = "Sample"
    validated = await async_validate_config_item(hass, "sample", config)
    assert validated is not None
    assert validated.validation_status == "ok"


def test_peak_shaving_requests_and_cancels_for_the_chosen_flat() -> None:
    blueprint = load("peak_shaving.yaml")
    assert {t["id"] for t in blueprint.data["triggers"]} == {"over", "under"}
    (under,) = [t for t in blueprint.data["triggers"] if t["id"] == "under"]
    assert under["for"] == yaml_util.Input("clear_after")
    actions = [
        step["action"]
        for choice in blueprint.data["actions"][0]["choose"]
        for step in choice["sequence"]
    ]
    assert actions == [
        f"{DOMAIN}.request_group_discharge",
        f"{DOMAIN}.cancel_group_discharge",
    ]
