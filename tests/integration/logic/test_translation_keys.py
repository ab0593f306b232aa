"""Every message key the integration raises or shows has its text in strings.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from custom_components.local_vpp.ledger.mesh import (
    INTEGRITY_EQUIVOCATION,
    INTEGRITY_VERIFICATION_FAILED,
    ISSUE_LEDGER_INTEGRITY,
)
from custom_components.local_vpp.ledger.sidecar_link import (
    CHECK_CANNOT_CONNECT,
    CHECK_INVALID_AUTH,
    CHECK_REFUSED,
)

COMPONENT = Path(__file__).resolve().parents[3] / "custom_components" / "local_vpp"
STRINGS = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))


def _source(name: str) -> str:
    return (COMPONENT / name).read_text(encoding="utf-8")


def test_action_errors_are_translated() -> None:
    used = set(re.findall(r'_(?:invalid|failed)\(\s*"(\w+)"', _source("services.py")))
    assert len(used) >= 10
    assert used <= set(STRINGS["exceptions"])


def test_flow_aborts_and_errors_are_translated() -> None:
    used = set(re.findall(r'reason="(\w+)"', _source("config_flow.py")))
    assert {"not_set_up", "sidecar_linked", "sidecar_moved", "already_configured"} <= (
        used
    )
    assert used <= set(STRINGS["config"]["abort"])
    checks = {CHECK_CANNOT_CONNECT, CHECK_INVALID_AUTH, CHECK_REFUSED}
    assert checks <= set(STRINGS["config"]["error"])
    assert checks <= set(STRINGS["options"]["error"])


def test_integrity_issues_are_translated() -> None:
    for kind in (INTEGRITY_EQUIVOCATION, INTEGRITY_VERIFICATION_FAILED):
        issue = STRINGS["issues"][f"{ISSUE_LEDGER_INTEGRITY}_{kind}"]
        assert "{flats}" in issue["description"]
    assert "{seq}" in STRINGS["issues"]["ledger_integrity_equivocation"]["description"]


def test_every_action_field_is_described() -> None:
    import yaml

    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    for service, spec in services.items():
        translated = STRINGS["services"][service]
        assert translated["name"]
        assert translated["description"]
        assert set(spec["fields"]) == set(translated["fields"]), service
        for field in translated["fields"].values():
            assert field["name"]
            assert field["description"]


def test_every_action_has_an_icon() -> None:
    import yaml

    services = yaml.safe_load((COMPONENT / "services.yaml").read_text())
    icons = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))
    assert set(icons["services"]) == set(services)
    assert all(
        icon["service"].startswith("mdi:") for icon in icons["services"].values()
    )
