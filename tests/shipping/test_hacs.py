"""The repository as HACS and hassfest see it, checked offline.

Each rule is written from HACS' publishing documentation (hacs.json keys, one
integration under custom_components/, the manifest keys HACS needs, brand assets) and
Home Assistant's developer documentation (manifest keys and their order, the
integration's file structure, brand images, services with their translations and
icons). Rules that need GitHub itself (description, topics, releases) are not here.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION
from PIL import Image

import sidecar

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "local_vpp"
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
}
INTEGRATION_TYPES = {
    "device",
    "entity",
    "hardware",
    "helper",
    "hub",
    "service",
    "system",
    "virtual",
}
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = _json(INTEGRATION / "manifest.json")
    return loaded


def _tracked(under: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", under], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_hacs_json_has_a_name_and_only_known_keys() -> None:
    hacs = _json(ROOT / "hacs.json")
    assert isinstance(hacs.get("name"), str)
    assert hacs["name"]
    assert set(hacs) <= HACS_KEYS, set(hacs) - HACS_KEYS
    assert not hacs.get("content_in_root")


def test_the_minimum_home_assistant_is_the_one_the_tests_run_on_or_older() -> None:
    minimum = AwesomeVersion(_json(ROOT / "hacs.json")["homeassistant"])
    assert AwesomeVersion(HA_VERSION) >= minimum
    # The same version within a year: the minimum is not left behind.
    assert str(minimum).split(".")[0] == HA_VERSION.split(".")[0]


def test_one_integration_under_custom_components_with_a_readme_at_the_root() -> None:
    folders = {Path(path).parts[1] for path in _tracked("custom_components")}
    assert folders == {INTEGRATION.name}
    assert (ROOT / "README.md").read_text().strip()


def test_the_manifest_has_the_keys_hacs_and_hassfest_need(
    manifest: dict[str, Any],
) -> None:
    for key in ("domain", "documentation", "issue_tracker", "codeowners", "name"):
        assert manifest.get(key), key
    assert manifest["domain"] == INTEGRATION.name
    assert re.fullmatch(r"[a-z0-9_]+", manifest["domain"])
    for key in ("documentation", "issue_tracker"):
        assert manifest[key].startswith("https://"), key
    assert not manifest["documentation"].startswith(
        "https://www.home-assistant.io/integrations"
    )
    assert manifest["codeowners"]
    assert all(re.fullmatch(r"@[\w./-]+", owner) for owner in manifest["codeowners"])
    assert manifest["integration_type"] in INTEGRATION_TYPES
    assert manifest["iot_class"] in IOT_CLASSES
    assert "quality_scale" not in manifest  # not for custom integrations
    for requirement in manifest.get("requirements", []):
        assert re.fullmatch(r"[A-Za-z0-9._-]+(\[[\w,]+\])?[<>=!~,.\w]*", requirement)


def test_the_manifest_keys_are_in_hassfest_order(manifest: dict[str, Any]) -> None:
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_the_manifest_agrees_with_the_integration_files(
    manifest: dict[str, Any],
) -> None:
    strings = _json(INTEGRATION / "strings.json")
    if manifest.get("config_flow"):
        assert (INTEGRATION / "config_flow.py").exists()
        assert "config" in strings
    for entry in manifest.get("zeroconf", []):
        service = entry["type"] if isinstance(entry, dict) else entry
        assert re.fullmatch(r"_[\w-]+\._(tcp|udp)\.local\.", service)
    source = (INTEGRATION / "__init__.py").read_text()
    if "async def async_setup(" in source:
        # hassfest: an integration set up from config entries only says so.
        assert "CONFIG_SCHEMA = cv.config_entry_only_config_schema" in source


def test_every_action_has_a_translation_and_an_icon() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    icons = _json(INTEGRATION / "icons.json").get("services", {})
    for language in ("strings.json", "translations/en.json", "translations/ja.json"):
        translated = _json(INTEGRATION / language).get("services", {})
        assert set(translated) == set(services), language
        for action, spec in services.items():
            assert translated[action].get("name"), (language, action)
            assert translated[action].get("description"), (language, action)
            fields = translated[action].get("fields", {})
            for field in (spec or {}).get("fields", {}):
                assert fields.get(field, {}).get("name"), (language, action, field)
    assert set(icons) == set(services)
    assert all(entry.get("service", "").startswith("mdi:") for entry in icons.values())


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("icon.png", lambda w, h: w == h == 256),
        ("icon@2x.png", lambda w, h: w == h == 512),
        ("logo.png", lambda w, h: 128 <= min(w, h) <= 256 and w >= h),
        ("logo@2x.png", lambda w, h: 256 <= min(w, h) <= 512 and w >= h),
        ("dark_logo.png", lambda w, h: 128 <= min(w, h) <= 256 and w >= h),
        ("dark_logo@2x.png", lambda w, h: 256 <= min(w, h) <= 512 and w >= h),
    ],
)
def test_the_brand_images_have_the_sizes_home_assistant_asks_for(
    name: str, check: Any
) -> None:
    with Image.open(INTEGRATION / "brand" / name) as image:
        assert image.format == "PNG"
        assert check(*image.size), image.size
        assert image.mode == "RGBA"  # a transparent background
        # Trimmed: no fully transparent border row or column.
        assert image.getchannel("A").getbbox() == (0, 0, *image.size)


def _changelog_versions(path: Path) -> list[str]:
    headings = re.findall(r"(?m)^## \[?([^\]\s]+)\]?", path.read_text())
    return [v for v in headings if v != "Unreleased"]


def test_one_version_everywhere_and_the_changelog_leads_with_it(
    manifest: dict[str, Any],
) -> None:
    version = manifest["version"]
    assert SEMVER.fullmatch(version), version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    addon = yaml.safe_load((ROOT / "local_vpp_sidecar" / "config.yaml").read_text())
    assert {
        "manifest": version,
        "pyproject": project["version"],
        "sidecar": sidecar.__version__,
        "add-on": addon["version"],
    } == dict.fromkeys(("manifest", "pyproject", "sidecar", "add-on"), version)
    for changelog in (
        ROOT / "CHANGELOG.md",
        ROOT / "local_vpp_sidecar" / "CHANGELOG.md",
    ):
        versions = _changelog_versions(changelog)
        assert versions, changelog
        assert versions[0] == version, changelog
        assert all(SEMVER.fullmatch(v) for v in versions), versions
        parsed = [tuple(int(part) for part in v.split(".")) for v in versions]
        assert parsed == sorted(parsed, reverse=True), versions
        assert len(set(parsed)) == len(parsed), versions
