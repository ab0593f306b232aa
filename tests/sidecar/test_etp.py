"""Entries and statements: ids, signatures, wire form, tampering with every field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity, KeyRing
from tests.sidecar.support import BUILDING, flow_content

KEY = Identity.from_scalar(0x5EED)
RING = KeyRing()
RING.add(KEY.public_key)


def _body(start: int = 1_000, ts: int = 2_000) -> JsonObject:
    body: JsonObject = {"v": 1, "kind": "flow", "building": BUILDING, "ts": ts}
    body.update(flow_content(start))
    return body


def _entry(
    seq: int = 2, prev: bytes = b"\x11" * 32, refs: tuple[bytes, ...] = ()
) -> Entry:
    return etp.make_entry(KEY, seq, prev, refs, _body())


def _reopen(entry: Entry, **changes: Any) -> Entry:
    """Rebuild an entry from (possibly altered) stored parts and check it fully."""
    parts = {
        "author": entry.author,
        "seq": entry.seq,
        "prev": entry.prev,
        "refs": entry.refs,
        "body": entry.body,
        "sig": entry.sig,
    }
    parts.update(changes)
    opened = etp.open_entry(**parts)
    etp.check_signature(opened, RING)
    return opened


def test_an_entry_reopens_from_its_stored_parts() -> None:
    entry = _entry(refs=(b"\x22" * 32,))
    assert _reopen(entry).id == entry.id


def test_the_id_commits_to_position_links_and_body_digest() -> None:
    entry = _entry()
    digest = etp.body_digest(entry.body)
    assert entry.id == etp.entry_id(KEY.author, 2, b"\x11" * 32, digest, ())
    # The body can be withheld: author, seq, prev, refs and its digest give the id.
    assert (
        etp.entry_id(entry.author, entry.seq, entry.prev, digest, entry.refs)
        == entry.id
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("author", b"\x33" * 32),
        ("seq", 3),
        ("prev", b"\x12" * 32),
        ("refs", (b"\x44" * 32,)),
    ],
)
def test_changing_any_envelope_field_breaks_the_signature(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidData) as caught:
        _reopen(_entry(), **{field: value})
    assert caught.value.reason in {"bad_signature", "unknown_author"}


def test_flipping_any_byte_of_the_body_is_detected() -> None:
    entry = _entry()
    for index in range(len(entry.body)):
        body = bytearray(entry.body)
        body[index] ^= 0x01
        with pytest.raises(InvalidData):
            _reopen(entry, body=bytes(body))


def test_flipping_any_byte_of_the_signature_is_detected() -> None:
    entry = _entry()
    for index in range(64):
        sig = bytearray(entry.sig)
        sig[index] ^= 0x80
        with pytest.raises(InvalidData):
            _reopen(entry, sig=bytes(sig))


@pytest.mark.parametrize(
    ("seq", "prev", "reason"),
    [
        (1, b"\x11" * 32, "bad_prev"),
        (2, bytes(32), "bad_prev"),
        (0, bytes(32), "bad_seq"),
    ],
)
def test_the_first_entry_and_only_it_has_a_zero_prev(
    seq: int, prev: bytes, reason: str
) -> None:
    body = etp.make_entry(KEY, 2, b"\x11" * 32, (), _body()).body
    with pytest.raises(InvalidData) as caught:
        etp.open_entry(KEY.author, seq, prev, (), body, bytes(64))
    assert caught.value.reason == reason


def test_the_wire_form_round_trips_and_rejects_a_wrong_id() -> None:
    entry = _entry()
    wire = etp.entry_to_wire(entry)
    back = etp.entry_from_wire(copy.deepcopy(wire))
    assert (back.id, back.body, back.sig) == (entry.id, entry.body, entry.sig)
    wire["id"] = "00" * 32
    with pytest.raises(InvalidData) as caught:
        etp.entry_from_wire(wire)
    assert caught.value.reason == "bad_id"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda w: w.update(seq=True), "bad_seq"),
        (lambda w: w.update(author="AB" * 32), "bad_hex"),
        (lambda w: w.update(refs="x"), "bad_refs"),
        (lambda w: w.update(sig="00"), "bad_hex"),
        (lambda w: w["body"].update(mhz=60.0), "bad_member"),
        (lambda w: w["body"].update(mhz=None), "bad_member"),
        (lambda w: w["body"].update(mhz=True), "bad_member"),
        (lambda w: w["body"].update(gap=True), "bad_member"),
        (lambda w: w["body"].update(v=True), "bad_version"),
        (lambda w: w["body"].update(kind="token", x=1.5), "float"),
        (lambda w: w["body"].update(kind="token", x=None), "null"),
        (lambda w: w["body"].update(kind="token", x=[False]), "boolean"),
        (lambda w: w.update(body="{}"), "bad_body"),
    ],
)
def test_malformed_wire_entries_are_refused(change: Any, reason: str) -> None:
    wire = etp.entry_to_wire(_entry())
    change(wire)
    with pytest.raises(InvalidData) as caught:
        etp.entry_from_wire(wire)
    assert caught.value.reason == reason


def _flow_with(**changes: Any) -> JsonObject:
    body = _body()
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return body


def _balance(**changes: int) -> JsonObject:
    balance = dict(_body()["balance"])
    balance.update(changes)
    return balance


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_flow_with(v=2), "bad_version"),
        (_flow_with(kind="Flow"), "bad_kind"),
        (_flow_with(kind="checkpoint"), "bad_kind"),
        (_flow_with(kind="rollup_1"), "bad_kind"),
        (_flow_with(building="no spaces"), "bad_member"),
        (_flow_with(ts=None), "missing_member"),
        (_flow_with(start=None), "missing_member"),
        (_flow_with(colour="red"), "unknown_member"),
        (_flow_with(end=1_000), "bad_member"),
        (_flow_with(soc=1_000_001), "bad_member"),
        (_flow_with(gap=2), "bad_member"),
        (_flow_with(balance=_balance(err=1)), "balance_mismatch"),
        (_flow_with(balance=_balance(ok=0)), "balance_mismatch"),
        (_flow_with(balance=_balance(tol=11)), "balance_mismatch"),
        (_flow_with(balance=_balance(pv=-1)), "bad_member"),
        (_flow_with(transfers=[]), "allocation_mismatch"),
        (
            _flow_with(
                transfers=[{"from": "grid", "to": "home", "mwh": 1393, "ren": 0}]
            ),
            "allocation_mismatch",
        ),
    ],
)
def test_flow_bodies_that_break_the_schema_are_refused(
    body: JsonObject, reason: str
) -> None:
    with pytest.raises(InvalidData) as caught:
        kinds.check_entry_body(body, 2, 0)
    assert caught.value.reason == reason


def test_an_unknown_kind_is_carried_but_not_interpreted() -> None:
    body: JsonObject = {
        "v": 1,
        "kind": "token",
        "building": BUILDING,
        "ts": 5,
        "anything": 1,
    }
    entry = etp.make_entry(KEY, 1, etp.ZERO_ID, (), body)
    assert _reopen(entry).key == "token"


def test_statements_verify_and_detect_tampering() -> None:
    body: JsonObject = {
        "v": 1,
        "kind": "checkpoint",
        "building": BUILDING,
        "ts": 7,
        "size": 3,
        "root": "ab" * 32,
    }
    statement = etp.make_statement(KEY, body)
    opened = etp.open_statement(KEY.author, statement.body, statement.sig)
    etp.check_signature(opened, RING)
    wire = etp.statement_to_wire(statement)
    assert etp.statement_from_wire(wire).id == statement.id
    tampered = statement.body.replace(b'"size":3', b'"size":4')
    with pytest.raises(InvalidData) as caught:
        etp.check_signature(
            etp.open_statement(KEY.author, tampered, statement.sig), RING
        )
    assert caught.value.reason == "bad_signature"
    wire["type"] = "cosign"
    with pytest.raises(InvalidData):
        etp.statement_from_wire(wire)


def test_an_unknown_author_is_named() -> None:
    entry = etp.make_entry(Identity.generate(), 1, etp.ZERO_ID, (), _body())
    with pytest.raises(InvalidData) as caught:
        etp.check_signature(entry, RING)
    assert caught.value.reason == "unknown_author"
