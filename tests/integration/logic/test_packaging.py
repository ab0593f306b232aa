"""What HACS and Home Assistant read from the repository is complete and consistent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from homeassistant.const import Platform

ROOT = Path(__file__).resolve().parents[3]
COMPONENT = ROOT / "custom_components" / "local_vpp"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            found |= _keys(value, f"{prefix}{key}.")
        else:
            found.add(f"{prefix}{key}")
    return found


def test_manifest() -> None:
    manifest = _json(COMPONENT / "manifest.json")
    for field in (
        "domain",
        "name",
        "version",
        "codeowners",
        "documentation",
        "issue_tracker",
        "config_flow",
        "iot_class",
        "integration_type",
        "loggers",
        "requirements",
    ):
        assert field in manifest, field
    assert manifest["domain"] == "local_vpp"
    requirements = manifest["requirements"]
    assert any(r.startswith("modbus-connection[pymodbus]") for r in requirements)
    # Home Assistant forces its own pymodbus; pinning it would break installs.
    assert not any(r.startswith("pymodbus") for r in requirements)
    assert all(">=" in r and "<" in r for r in requirements)


def test_hacs_manifest() -> None:
    hacs = _json(ROOT / "hacs.json")
    assert hacs["name"] == "Local VPP"
    assert hacs["homeassistant"] == "2025.4.0"
    assert set(hacs) <= {
        "name",
        "homeassistant",
        "render_readme",
        "content_in_root",
        "filename",
        "country",
        "hacs",
        "hide_default_branch",
        "persistent_directory",
        "zip_release",
    }


def test_translations_match_strings() -> None:
    strings = _keys(_json(COMPONENT / "strings.json"))
    for language in ("en", "ja"):
        translated = _keys(_json(COMPONENT / "translations" / f"{language}.json"))
        assert translated == strings, language
    assert _json(COMPONENT / "translations" / "en.json") == _json(
        COMPONENT / "strings.json"
    )


def test_every_entity_has_a_name_and_an_icon() -> None:
    strings = _json(COMPONENT / "strings.json")["entity"]
    icons = _json(COMPONENT / "icons.json")["entity"]
    for platform, entities in strings.items():
        assert platform in {p.value for p in Platform}
        for key in entities:
            # Device classes bring their own icons for the rest.
            if key in icons.get(platform, {}):
                assert "default" in icons[platform][key]
    for platform, entities in icons.items():
        assert set(entities) <= set(strings[platform]), platform


def test_quality_scale_rules_have_a_status() -> None:
    rules = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text())["rules"]
    assert len(rules) >= 50
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "todo", "exempt"}, name
        if status != "done":
            assert isinstance(rule, dict), name
            assert rule.get("comment"), name


def test_brand_icon_is_a_png() -> None:
    data = (COMPONENT / "brand" / "icon.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
