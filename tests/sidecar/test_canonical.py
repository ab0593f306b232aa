"""Canonical JSON: one accepted byte form; the fast flow encoder agrees with it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import CanonicalError, JsonObject, JsonValue
from sidecar.ledger.errors import InvalidData
from tests.sidecar.support import flow_content

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
INTS = st.integers(-canonical.MAX_INT, canonical.MAX_INT)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
VALUES: st.SearchStrategy[JsonValue] = st.recursive(
    INTS | TEXT,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_every_value_round_trips_through_its_one_encoding(body: JsonObject) -> None:
    data = canonical.encode(body)
    assert canonical.decode(data) == body
    assert canonical.encode_checked(body) == data


def test_the_encoding_is_sorted_compact_and_minimally_escaped() -> None:
    body: JsonObject = {
        "z": 1,
        "a": [-5, 'é\n\u0001/"\\'],
        "m": {"b": 0, "a": "\u007f"},
    }
    assert canonical.encode(body) == (
        '{"a":[-5,"é\\n\\u0001/\\"\\\\"],"m":{"a":"\u007f","b":0},"z":1}'.encode()
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": 1}', "not_canonical"),
        (b'{"b":1,"a":2}', "not_canonical"),
        (b'{"a":1.0}', "float"),
        (b'{"a":1e3}', "float"),
        (b'{"a":NaN}', "float"),
        (b'{"a":true}', "boolean"),
        (b'{"a":null}', "null"),
        (b'{"a":9007199254740992}', "int_range"),
        (b'{"a":-0}', "not_canonical"),
        (b'{"a":01}', "not_json"),
        (b'{"a":1,"a":1}', "duplicate_key"),
        (b'{"A":1}', "bad_name"),
        (b'{"a":"\\u00e9"}', "not_canonical"),
        (b'{"a":"\\u001F"}', "not_canonical"),
        (b'{"a":"\\ud800"}', "lone_surrogate"),
        (b'{"a":"\xff"}', "not_utf8"),
        (b"[1]", "not_object"),
        (b'{"a":' + b"[" * 8 + b"]" * 8 + b"}", "too_deep"),
        (b'{"a":"' + b"x" * 16_400 + b'"}', "too_large"),
        (b"{", "not_json"),
    ],
)
def test_non_canonical_bytes_are_rejected_with_a_reason(
    data: bytes, reason: str
) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical.decode(data)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": 1.5}, "float"),
        ({"a": True}, "boolean"),
        ({"a": None}, "null"),
        ({"a": 2**60}, "int_range"),
        ({"Bad": 1}, "bad_name"),
        ({"a": b"x"}, "bad_type"),
        ([1], "not_object"),
    ],
)
def test_foreign_values_are_checked_before_encoding(value: object, reason: str) -> None:
    with pytest.raises(CanonicalError) as caught:
        canonical.encode_checked(value)
    assert caught.value.reason == reason


NAME = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=16)
MWH = st.integers(0, 5_000_000)


@st.composite
def flow_bodies(draw: st.DrawFn) -> JsonObject:
    totals = kinds.Totals(*(draw(MWH) for _ in range(6)))
    body: JsonObject = {
        "v": 1,
        "kind": "flow",
        "building": draw(st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)),
        "ts": draw(st.integers(0, canonical.MAX_INT)),
        "start": draw(st.integers(0, 2**45)),
        "end": draw(st.integers(2**45 + 1, 2**46)),
        "loc": {"floor": draw(NAME), "flat": draw(NAME)},
        "samples": draw(st.integers(0, 100)),
        "balance": kinds.balance(totals, metered=draw(st.booleans())),
        "transfers": [
            {"from": a, "to": b, "mwh": m, "ren": draw(st.integers(0, kinds.PPM))}
            for a, b, m in kinds.allocate(totals)
        ],
    }
    for key, strategy in (
        ("serial", NAME),
        ("mhz", st.integers(0, 100_000)),
        ("mv", st.integers(0, 1_000_000)),
        ("soc", st.integers(0, kinds.PPM)),
        ("bat_ren", st.integers(0, kinds.PPM)),
        ("living", MWH),
        ("gap", st.just(1)),
    ):
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


@settings(max_examples=300)
@given(flow_bodies())
def test_the_flow_template_writes_exactly_the_canonical_bytes(body: JsonObject) -> None:
    assert kinds.encode_flow(body) == canonical.encode(body)
    kinds.check_flow(body)


def test_the_flow_template_refuses_lone_surrogates() -> None:
    body: JsonObject = {"v": 1, "kind": "flow", "building": "b", "ts": 1}
    body.update(flow_content(0))
    body["serial"] = "\ud800"
    with pytest.raises(CanonicalError):
        kinds.encode_flow(body)


def _reference_allocation(totals: kinds.Totals) -> list[tuple[str, str, int]]:
    """PROTOCOL.md 7.1 read literally: supplies in order, each serving its demands."""
    demand = {"home": totals.home, "battery": totals.bat_in, "grid": totals.grid_out}
    result = []
    for source, supply, sinks in (
        ("pv", totals.pv, ("home", "battery", "grid")),
        ("battery", totals.bat_out, ("home", "grid")),
        ("grid", totals.grid_in, ("home", "battery")),
    ):
        left = supply
        for sink in sinks:
            moved = min(left, demand[sink])
            if moved > 0:
                result.append((source, sink, moved))
                left -= moved
                demand[sink] -= moved
    return result


@given(st.builds(kinds.Totals, *(st.integers(0, 3000) for _ in range(6))))
def test_the_allocation_follows_the_protocol_text(totals: kinds.Totals) -> None:
    assert kinds.allocate(totals) == _reference_allocation(totals)


ODD = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=3)


@settings(max_examples=300)
@given(flow_bodies(), st.sampled_from(["mhz", "gap", "v", "samples", "serial"]), ODD)
def test_a_flow_that_passes_its_schema_is_canonical_json(
    body: JsonObject, key: str, value: object
) -> None:
    body[key] = value
    try:
        kinds.check_entry_body(body, 2, 0)
    except InvalidData:
        return
    assert kinds.encode_flow(body) == canonical.encode_checked(body)
