"""The battery_day vectors (tests/vectors/battery_day.json) say what the code does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sidecar.ledger import etp
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.identity import KeyRing
from sidecar.ledger.schema import BodyError
from tests.vectors import generate

FILE = Path(generate.__file__).with_name("battery_day.json")


def _load() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("case", _load()["valid"], ids=lambda case: case["why"])
def test_valid_entries_check(case: dict[str, Any]) -> None:
    """Each valid entry's signature verifies and its body holds."""
    ring = KeyRing()
    ring.add(bytes.fromhex(_load()["public_key"]))
    entry = etp.entry_from_wire(case["entry"])
    etp.check_signature(entry, ring)
    ledger_kinds.check_entry_body(entry.content, entry.seq, len(entry.refs))


@pytest.mark.parametrize("case", _load()["invalid"], ids=lambda case: case["why"])
def test_invalid_bodies_are_refused_with_their_reason(case: dict[str, Any]) -> None:
    """Each invalid body fails the battery_day schema with the stated reason."""
    with pytest.raises(BodyError) as raised:
        ledger_kinds.check_entry_body(case["body"], 1, case["refs"])
    assert raised.value.reason == case["reason"]
