"""The battery passport: made from a real ledger database, checked offline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from devkit.battery_life import SERIAL, Injection
from sidecar import config as config_module
from sidecar.apps.battery import anomalies
from sidecar.apps.battery.passport import signing_bytes
from sidecar.apps.battery.passport_check import check
from sidecar.cli import main
from sidecar.ledger.identity import Identity
from simulator.physics.battery import Degradation
from tests.sidecar.battery_support import fill_site
from tests.sidecar.support import init_site

DAYS = 45


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Flat 301's node after 45 simulated days, its efficiency falling from day 30."""
    config_path = init_site(tmp_path_factory.mktemp("site"))
    injection = Injection(30, Degradation(efficiency_loss_pct=3.0))
    fill_site(config_path, DAYS, injection, checkpoint=True)
    return config_path


def _passport(site: Path, *extra: str) -> dict[str, Any]:
    out = site.parent / "passport.json"
    assert (
        main(["battery-passport", "--config", str(site), "--out", str(out), *extra])
        == 0
    )
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def _resign(document: dict[str, Any], site: Path) -> dict[str, Any]:
    """What the flat's owner could do: sign an altered passport with the flat key."""
    key = Identity.load(config_module.load(site).key_file)
    document["signature"] = key.sign(signing_bytes(document["passport"])).hex()
    return document


def test_a_passport_holds_the_history_and_checks_offline(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _passport(site)
    passport = document["passport"]
    battery = passport["battery"]
    assert battery["serial"] == SERIAL
    assert battery["days_counted"] == DAYS - 1
    assert len(battery["days"]) == DAYS - 1
    assert abs(battery["initial_capacity_mwh"] - 2_000_000) < 10_000
    assert {a["kind"] for a in battery["anomalies"]} == {anomalies.EFFICIENCY_FALLING}
    assert battery["active"]
    assert passport["evidence"]
    assert check(document) == []
    out = site.parent / "passport.json"
    assert main(["battery-passport", "--check", str(out)]) == 0
    assert capsys.readouterr().out.startswith("ok: battery 'LVPP-101-BAT'")


def test_a_period_limits_the_passport(site: Path) -> None:
    document = _passport(site, "--from", "2025-01-11", "--to", "2025-01-21")
    battery = document["passport"]["battery"]
    assert battery["days_counted"] == 9  # the tenth day closes only with the next
    assert "anomalies" in battery
    assert battery["anomalies"] == []
    assert check(document) == []


def test_a_changed_figure_breaks_the_signature(site: Path) -> None:
    document = _passport(site)
    document["passport"]["battery"]["recent"]["round_trip_ppm"] = 902_500
    assert check(document) == ["the flat's signature does not verify over the passport"]


def test_a_resigned_passport_cannot_fake_its_evidence(site: Path) -> None:
    original = _passport(site)
    # An entry's SoC changed: its id no longer matches what was signed and proven.
    document = copy.deepcopy(original)
    document["passport"]["evidence"][0]["entry"]["body"]["soc"] += 1000
    faults = check(_resign(document, site))
    assert len(faults) >= 1
    assert "unreadable evidence entry" in faults[0]
    # The proof of an entry an anomaly names, cut short: the entry is not proven,
    # so neither is the anomaly.
    document = copy.deepcopy(original)
    passport = document["passport"]
    seq = passport["battery"]["anomalies"][0]["entries"][0]["seq"]
    (item,) = [i for i in passport["evidence"] if i["entry"]["seq"] == seq]
    item["path"].pop()
    faults = check(_resign(document, site))
    assert faults[0] == (
        f"entry {seq}: its inclusion proof does not reach the checkpoint"
    )
    assert f"efficiency_falling names entry {seq}" in faults[1]
    # Members made up so that one signature is a "majority" of fewer: the
    # checker counts what is listed, and more members make the flat a minority.
    document = copy.deepcopy(original)
    others = [Identity.generate().public_key.hex() for _ in range(2)]
    document["passport"]["members"] += others
    assert check(_resign(document, site)) == [
        "the checkpoint is signed by 1 of 3 members; 2 make a majority"
    ]


def test_no_passport_without_a_witnessed_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = init_site(tmp_path)
    fill_site(config_path, 2, None, checkpoint=False)
    assert main(["battery-passport", "--config", str(config_path)]) == 1
    assert "no checkpoint" in capsys.readouterr().err
