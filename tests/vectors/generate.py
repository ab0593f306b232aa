"""Write the protocol test vectors (docs/PROTOCOL.md, section 15).

Run from the repository root: ``python -m tests.vectors.generate``. Signatures use
deterministic ECDSA (RFC 6979) with a published test key, so the files are reproduced
byte for byte; tests/sidecar/test_vectors.py checks that they are current.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sidecar.ledger import canonical, etp, kinds, merkle, rollup
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import CURVE_ORDER, Identity
from sidecar.mesh import peer_auth, roster

HERE = Path(__file__).resolve().parent
SCALAR = (
    0x1D5A_7E57_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001
)
WITNESS_SCALAR = (
    0x1D5A_7E57_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0002
)
THIRD_SCALAR = (
    0x1D5A_7E57_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0003
)
NEWCOMER_SCALAR = (
    0x1D5A_7E57_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0004
)
BUILDING = "bldg-01"
T0 = 1_781_913_600_000  # 2026-06-21 00:00:00 UTC
KEY = Identity.from_scalar(SCALAR)
WITNESS = Identity.from_scalar(WITNESS_SCALAR)
THIRD = Identity.from_scalar(THIRD_SCALAR)
NEWCOMER = Identity.from_scalar(NEWCOMER_SCALAR)


def _text(data: bytes) -> str:
    return data.decode()


def _exchange_vectors() -> dict[str, Any]:
    # Imported here: the exchange vectors build on this module's helpers.
    from tests.vectors import exchange

    return exchange.exchange_vectors()


def _database_vectors() -> dict[str, Any]:
    from tests.vectors import database

    return database.database_vectors()


def _battery_day_vectors() -> dict[str, Any]:
    from tests.vectors import battery_day

    return battery_day.vectors()


def canonical_vectors() -> dict[str, Any]:
    """Values with their canonical bytes, and byte strings that must be refused."""
    values: list[JsonObject] = [
        {},
        {"b": 1, "a": 2, "c": {"z": [], "y": {}}},
        {"n": [0, -1, 9007199254740991, -9007199254740991]},
        {"s": 'quote " backslash \\ slash / tab \t newline \n nul \u0000 del \u007f'},
        {"s": "日本語 é 🔋"},
        {"a_1": [[["deep"]]], "a": "x"},
        {"a": [[[[[[1]]]]]]},  # the 1 is at depth 8, the deepest allowed
    ]
    invalid = [
        (b'{"a": 1}', "not_canonical", "whitespace"),
        (b'{"b":1,"a":2}', "not_canonical", "keys not sorted"),
        (b'{"a":"\\u00e9"}', "not_canonical", "escaped non-ASCII"),
        (b'{"a":"\\/"}', "not_canonical", "escaped slash"),
        (b'{"a":"\\u001F"}', "not_canonical", "uppercase hex escape"),
        (b'{"a":1.0}', "float", "fraction"),
        (b'{"a":1e2}', "float", "exponent"),
        (b'{"a":true}', "boolean", "boolean"),
        (b'{"a":null}', "null", "null"),
        (b'{"a":9007199254740992}', "int_range", "integer beyond 2^53-1"),
        (b'{"a":-0}', "not_canonical", "negative zero"),
        (b'{"a":1,"a":2}', "duplicate_key", "duplicate key"),
        (b'{"Ab":1}', "bad_name", "uppercase key"),
        (b'{"a":"\\ud83d"}', "lone_surrogate", "unpaired surrogate"),
        (b'{"a":"\xc3"}', "not_utf8", "truncated UTF-8"),
        (b"[]", "not_object", "top level is not an object"),
        (b'{"a":', "not_json", "unparseable: truncated"),
        (b'{"a":[[[[[[[1]]]]]]]}', "too_deep", "a value at depth 9"),
        (
            b'{"a":"' + b"x" * (canonical.MAX_BODY_BYTES - 7) + b'"}',
            "too_large",
            "16 385 bytes",
        ),
        # Which rule fires first (PROTOCOL.md section 3):
        (b'{"A":1.5}', "float", "parsing comes before key names"),
        (b'[{"A":1}]', "not_object", "the top level before anything inside it"),
        (b'{"A":true}', "bad_name", "an object's key names before its values"),
        (b'{"a" :[true]}', "boolean", "values before the byte comparison"),
        (b'{"a":"\\ud83d","b" :1}', "lone_surrogate", "surrogates before bytes"),
    ]
    return {
        "description": "Canonical JSON bodies (PROTOCOL.md section 3). 'canonical' is "
        "the exact text; 'hex' its UTF-8 bytes.",
        "valid": [
            {
                "value": value,
                "canonical": _text(canonical.encode(value)),
                "hex": canonical.encode(value).hex(),
            }
            for value in values
        ],
        "invalid": [
            {"hex": data.hex(), "why": why, "reason": reason}
            for data, reason, why in invalid
        ],
    }


def _flow(
    start: int,
    ts: int,
    pv: int,
    home: int,
    bat_in: int,
    *,
    grid_in: int = 0,
    bat_out: int = 0,
) -> JsonObject:
    grid_out = pv + grid_in + bat_out - home - bat_in
    totals = kinds.Totals(
        pv=pv,
        grid_in=grid_in,
        bat_out=bat_out,
        home=home,
        bat_in=bat_in,
        grid_out=grid_out,
    )
    body: JsonObject = {
        "v": 1,
        "kind": "flow",
        "building": BUILDING,
        "ts": ts,
        "start": start,
        "end": start + 1000,
        "loc": {"floor": "3", "flat": "301"},
        "serial": "LVPP-301-BAT",
        "mhz": 60_012,
        "mv": 101_200,
        "soc": 540_000,
        "bat_ren": 1_000_000,
        "samples": 1,
        "balance": kinds.balance(totals, metered=False),
        "transfers": [
            {"from": a, "to": b, "mwh": m, "ren": 1_000_000 if a != "grid" else 250_000}
            for a, b, m in kinds.allocate(totals)
        ],
    }
    return body


def _entry_vector(description: str, entry: etp.Entry) -> dict[str, Any]:
    return {
        "description": description,
        "author": entry.author.hex(),
        "seq": entry.seq,
        "prev": entry.prev.hex(),
        "refs": [ref.hex() for ref in entry.refs],
        "body": _text(entry.body),
        "body_digest": etp.body_digest(entry.body).hex(),
        "id": entry.id.hex(),
        "sig": entry.sig.hex(),
    }


def _sign(
    seq: int, prev: bytes, body: JsonObject, refs: tuple[bytes, ...] = ()
) -> etp.Entry:
    return etp.make_entry(KEY, seq, prev, refs, body, deterministic=True)


def _stored(description: str, reason: str, **parts: Any) -> dict[str, Any]:
    return {"description": description, "reason": reason, **parts}


def etp_vectors() -> dict[str, Any]:
    """Signed entries and statements, and stored entries that must be refused."""
    first = _sign(1, etp.ZERO_ID, _flow(T0, T0 + 1042, 1393, 319, 500))
    second = _sign(
        2, first.id, _flow(T0 + 1000, T0 + 2040, 0, 1200, 0, grid_in=900, bat_out=300)
    )
    token: JsonObject = {
        "v": 1,
        "kind": "token",
        "building": BUILDING,
        "ts": T0 + 2100,
        "x": 1,
    }
    third = _sign(3, second.id, token, (first.id,))
    # A refused counter reading: an estimated interval, then the one that reconciles.
    estimated = _flow(T0 + 2000, T0 + 3040, 1402, 330, 500) | {"quality": "estimated"}
    reconciled = _flow(T0 + 3000, T0 + 4040, 1371, 322, 500) | {
        "quality": "reconciled",
        "reconciles": T0 + 2000,
    }
    fourth = _sign(4, third.id, estimated)
    fifth = _sign(5, fourth.id, reconciled)
    checkpoint_body: JsonObject = {
        "v": 1,
        "kind": "checkpoint",
        "building": BUILDING,
        "ts": T0 + 5000,
        "size": 3,
        "root": merkle.root(
            merkle.leaf_hash(e.id) for e in (first, second, third)
        ).hex(),
    }
    checkpoint = etp.make_statement(KEY, checkpoint_body, deterministic=True)
    cosign_body: JsonObject = {
        "v": 1,
        "kind": "cosign",
        "building": BUILDING,
        "ts": T0 + 6000,
        "log": KEY.author.hex(),
        "size": 3,
        "root": checkpoint_body["root"],
    }
    cosign = etp.make_statement(WITNESS, cosign_body, deterministic=True)
    base = _entry_vector("", second)
    del base["description"], base["body_digest"], base["id"]
    s = int(second.sig[32:].hex(), 16)
    high_s = second.sig[:32].hex() + (CURVE_ORDER - s).to_bytes(32, "big").hex()
    flipped = bytearray(second.sig)
    flipped[10] ^= 1
    spaced = second.body.replace(b'"kind":', b'"kind": ')
    unsorted = second.body.replace(b'{"balance":', b'{"v":1,"balance":', 1).replace(
        b',"v":1}', b"}"
    )
    balance_off = second.body.replace(b'"err":0', b'"err":1')
    wrong_alloc = second.body.replace(b'"mwh":900', b'"mwh":899')
    floaty = second.body.replace(b'"mhz":60012', b'"mhz":60012.0')
    extra = second.body.replace(b'"v":1}', b'"v":1,"zz":1}')
    v2 = second.body.replace(b'"v":1}', b'"v":2}')
    measured = fourth.body.replace(b'"estimated"', b'"measured"')
    unreferenced = fifth.body.replace(b'"reconciles":1781913602000,', b"")
    later = fifth.body.replace(
        b'"reconciles":1781913602000', b'"reconciles":1781913603001'
    )

    def re_signed(body: bytes, seq: int = 2, prev: bytes = first.id) -> str:
        eid = etp.entry_id(KEY.author, seq, prev, etp.body_digest(body), ())
        return KEY.sign(eid, deterministic=True).hex()

    invalid = [
        _stored(
            "a signature byte flipped",
            "bad_signature",
            **{**base, "sig": flipped.hex()},
        ),
        _stored(
            "the high-S twin of a valid signature",
            "bad_signature",
            **{**base, "sig": high_s},
        ),
        _stored("seq changed after signing", "bad_signature", **{**base, "seq": 3}),
        _stored(
            "prev changed after signing",
            "bad_signature",
            **{**base, "prev": "00" * 31 + "01"},
        ),
        _stored(
            "signed by another key",
            "bad_signature",
            **{**base, "sig": WITNESS.sign(second.id, deterministic=True).hex()},
        ),
        _stored("seq 1 with a non-zero prev", "bad_prev", **{**base, "seq": 1}),
        _stored(
            "an author id of 31 bytes (a stored form: on the wire it is bad_hex)",
            "bad_author",
            **{**base, "author": str(base["author"])[:62]},
        ),
        _stored(
            "whitespace in the body",
            "not_canonical",
            **{**base, "body": _text(spaced), "sig": re_signed(spaced)},
        ),
        _stored(
            "keys out of order",
            "not_canonical",
            **{**base, "body": _text(unsorted), "sig": re_signed(unsorted)},
        ),
        _stored(
            "a float in the body",
            "float",
            **{**base, "body": _text(floaty), "sig": re_signed(floaty)},
        ),
        _stored(
            "err does not follow from the totals",
            "balance_mismatch",
            **{**base, "body": _text(balance_off), "sig": re_signed(balance_off)},
        ),
        _stored(
            "transfers are not the allocation",
            "allocation_mismatch",
            **{**base, "body": _text(wrong_alloc), "sig": re_signed(wrong_alloc)},
        ),
        _stored(
            "an unknown member in a flow",
            "unknown_member",
            **{**base, "body": _text(extra), "sig": re_signed(extra)},
        ),
        _stored(
            "version 2",
            "bad_version",
            **{**base, "body": _text(v2), "sig": re_signed(v2)},
        ),
        _stored(
            "quality 'measured' is never written (a measured flow has no quality)",
            "bad_member",
            **{**base, "body": _text(measured), "sig": re_signed(measured)},
        ),
        _stored(
            "a reconciled flow that does not say what it reconciles",
            "missing_member",
            **{**base, "body": _text(unreferenced), "sig": re_signed(unreferenced)},
        ),
        _stored(
            "reconciles is after the flow's start",
            "bad_member",
            **{**base, "body": _text(later), "sig": re_signed(later)},
        ),
    ]
    return {
        "description": "Entries and statements (PROTOCOL.md sections 2, 4-7). Test "
        "key: never use it for anything else. 'body' is the exact body text. Invalid "
        "entries are given in stored form; 'reason' is the first rule they break.",
        "key": {
            "private_scalar": f"{SCALAR:064x}",
            "public_key": KEY.public_key.hex(),
            "author": KEY.author.hex(),
        },
        "witness": {
            "private_scalar": f"{WITNESS_SCALAR:064x}",
            "public_key": WITNESS.public_key.hex(),
            "author": WITNESS.author.hex(),
        },
        "tags": {
            "body": etp.TAG_BODY.hex(),
            "entry": etp.TAG_ENTRY.hex(),
            "statement": etp.TAG_STATEMENT.hex(),
        },
        "entries": [
            _entry_vector("the first flow of a feed", first),
            _entry_vector("the second flow", second),
            _entry_vector("an entry of a reserved kind with one ref", third),
            _entry_vector("an estimated flow (a counter reading was refused)", fourth),
            _entry_vector("the flow whose counter reading reconciles it", fifth),
        ],
        "statements": [
            {
                "description": description,
                "author": item.author.hex(),
                "body": _text(item.body),
                "body_digest": etp.body_digest(item.body).hex(),
                "id": item.id.hex(),
                "sig": item.sig.hex(),
            }
            for description, item in (
                ("a checkpoint of the three entries", checkpoint),
                ("a witness's cosignature of that checkpoint", cosign),
            )
        ],
        "invalid": invalid,
    }


def merkle_vectors() -> dict[str, Any]:
    """Roots of every size, proofs, and proofs that must fail."""
    data = [bytes([i]) * 32 for i in range(11)]
    leaves = [merkle.leaf_hash(item) for item in data]
    tree = merkle.Tree(leaves)
    roots = [merkle.root(leaves[:size]).hex() for size in range(len(leaves) + 1)]
    inclusion: list[dict[str, Any]] = [
        {
            "index": index,
            "size": size,
            "path": [p.hex() for p in tree.inclusion_proof(index, size)],
        }
        for size, index in (
            (1, 0),
            (2, 1),
            (7, 3),
            (7, 6),
            (8, 5),
            (11, 0),
            (11, 8),
            (11, 10),
        )
    ]
    consistency: list[dict[str, Any]] = [
        {
            "from": first,
            "to": second,
            "path": [p.hex() for p in tree.consistency_proof(first, second)],
        }
        for first, second in (
            (1, 1),
            (1, 2),
            (3, 7),
            (4, 8),
            (6, 11),
            (7, 11),
            (10, 11),
        )
    ]
    bad_inclusion = copy.deepcopy(inclusion[3])
    bad_inclusion["index"] = 5
    short = copy.deepcopy(inclusion[5])
    short["path"] = short["path"][:-1]
    bad_consistency = copy.deepcopy(consistency[3])
    bad_consistency["path"][0] = "00" * 32
    frontier = merkle.Frontier()
    for leaf in leaves[:7]:
        frontier.append(leaf)
    return {
        "description": "RFC 6962 trees over 32-byte leaf data (an entry id each): "
        "leaf hash H(0x00||data), node hash H(0x01||left||right). roots[n] is the root "
        "of the first n leaves.",
        "leaf_data": [item.hex() for item in data],
        "leaf_hashes": [leaf.hex() for leaf in leaves],
        "roots": roots,
        "frontier_of_7": [node.hex() for node in frontier.nodes],
        "inclusion": inclusion,
        "consistency": consistency,
        "invalid_inclusion": [
            {**bad_inclusion, "why": "the path of leaf 6 used for leaf 5"},
            {**short, "why": "the last hash is missing"},
        ],
        "invalid_consistency": [{**bad_consistency, "why": "a hash is replaced"}],
    }


def _line(entry: etp.Entry) -> JsonObject:
    return etp.entry_to_wire(entry)


def feed_vectors() -> dict[str, Any]:
    """A short feed in exchange format, and altered copies with their findings."""
    entries: list[etp.Entry] = []
    prev = etp.ZERO_ID
    tree = merkle.Frontier()
    hourly = rollup.Accumulator(1)
    for i in range(4):
        body = _flow(
            T0 + 3_600_000 - 4000 + i * 1000,
            T0 + 3_600_000 - 3000 + i * 1000,
            1000 + i,
            400,
            100,
        )
        entry = _sign(i + 1, prev, body)
        entries.append(entry)
        hourly.add(entry.key, entry.content)
        tree.append(merkle.leaf_hash(entry.id))
        prev = entry.id
    rollup_body = hourly.body(
        building=BUILDING,
        ts=T0 + 3_600_200,
        seq=5,
        first=1,
        start=None,
        root=tree.root(),
        now_ms=T0 + 3_600_200,
    )
    summary = _sign(5, prev, rollup_body)
    entries.append(summary)
    tree.append(merkle.leaf_hash(summary.id))
    after = _sign(6, summary.id, _flow(T0 + 3_600_000, T0 + 3_601_050, 500, 500, 0))
    entries.append(after)
    tree.append(merkle.leaf_hash(after.id))
    checkpoint_body: JsonObject = {
        "v": 1,
        "kind": "checkpoint",
        "building": BUILDING,
        "ts": T0 + 3_602_000,
        "size": 6,
        "root": tree.root().hex(),
    }
    checkpoint = etp.make_statement(KEY, checkpoint_body, deterministic=True)
    lines: list[JsonObject] = [{"type": "author", "key": KEY.public_key.hex()}]
    lines += [_line(entry) for entry in entries]
    lines.append(etp.statement_to_wire(checkpoint))

    def altered(
        description: str,
        new_lines: list[JsonObject],
        findings: list[tuple[str, str]],
        notices: tuple[tuple[str, str], ...] = (),
        members: roster.Roster | None = None,
    ) -> dict[str, Any]:
        case: dict[str, Any] = {
            "description": description,
            "lines": new_lines,
            "findings": [{"code": code, "where": where} for code, where in findings],
            "notices": [{"code": code, "where": where} for code, where in notices],
        }
        if members is not None:
            case["roster"] = members.document()
        return case

    flat_301 = roster.Member("301", "3", KEY.public_key, "10.0.3.1:8765")
    flat_302 = roster.Member("302", "3", WITNESS.public_key, "10.0.3.2:8765")
    both = roster.Roster(BUILDING, 1, (flat_301, flat_302))
    only_302 = roster.Roster(BUILDING, 1, (flat_302,))
    witness_line: JsonObject = {"type": "author", "key": WITNESS.public_key.hex()}

    def statement(who: Identity, size: int, root: str) -> JsonObject:
        body: JsonObject = {
            "v": 1,
            "kind": "cosign",
            "building": BUILDING,
            "ts": T0 + 3_603_000,
            "log": KEY.author.hex(),
            "size": size,
            "root": root,
        }
        return etp.statement_to_wire(etp.make_statement(who, body, deterministic=True))

    def seventh(body: JsonObject) -> list[JsonObject]:
        return [*copy.deepcopy(lines), _line(_sign(7, after.id, body))]

    after_end = T0 + 3_601_000
    replayed = seventh(_flow(T0 + 3_600_000, T0 + 3_601_100, 500, 500, 0))
    holed = seventh(_flow(after_end + 60_000, after_end + 61_050, 500, 500, 0))
    backwards = seventh(_flow(after_end, T0 + 3_601_040, 500, 500, 0))
    elsewhere = seventh(
        {**_flow(after_end, after_end + 1050, 500, 500, 0), "building": "bldg-02"}
    )
    frontier = merkle.Frontier()
    for entry in entries[:4]:
        frontier.append(merkle.leaf_hash(entry.id))
    frontier_line: JsonObject = {
        "type": "frontier",
        "author": KEY.author.hex(),
        "size": 4,
        "nodes": [node.hex() for node in frontier.nodes],
        "anchor": _line(summary),
    }
    pruned = [lines[0], frontier_line, *copy.deepcopy(lines[5:])]
    other_flat = seventh(
        {
            **_flow(after_end, after_end + 1050, 500, 500, 0),
            "loc": {"floor": "9", "flat": "999"},
        }
    )
    false_cosign = [
        lines[0],
        witness_line,
        *lines[1:],
        statement(WITNESS, 5, "ab" * 32),
    ]
    own_cosign = [*lines, statement(KEY, 6, str(checkpoint_body["root"]))]
    false_head: JsonObject = {
        "v": 1,
        "kind": "witnessed",
        "building": BUILDING,
        "ts": T0 + 3_602_500,
        "logs": [{"log": KEY.author.hex(), "size": 3, "root": "ab" * 32}],
    }
    declared = seventh(false_head)
    unanchored = copy.deepcopy(pruned)
    unanchored[1]["nodes"] = ["ab" * 32]

    tampered: list[dict[str, Any]] = copy.deepcopy(lines)
    tampered[3]["body"]["mhz"] = 59_990
    del tampered[3]["id"]
    missing = [line for index, line in enumerate(lines) if index != 3]
    rewritten = copy.deepcopy(lines)
    other = _sign(
        3,
        entries[1].id,
        _flow(T0 + 3_600_000 - 2000, T0 + 3_600_000 - 1000, 999, 400, 100),
    )
    rewritten[3] = _line(other)
    twin = [*copy.deepcopy(lines), etp.entry_to_wire(other, "equivocation")]
    bad_root = copy.deepcopy(lines)
    wrong_checkpoint = dict(checkpoint_body, root="ab" * 32)
    bad_root[-1] = etp.statement_to_wire(
        etp.make_statement(KEY, wrong_checkpoint, deterministic=True)
    )
    next_hour, misplaced, unrolled = _placement_copies(lines, entries, tree)
    bad_rollup = copy.deepcopy(lines)
    lying = dict(rollup_body, unbalanced=1)
    bad_rollup[5] = _line(_sign(5, entries[3].id, lying))
    return {
        "description": "A feed in exchange format (PROTOCOL.md section 11): four flows "
        "in the last seconds of an hour, the hourly rollup, one flow after it, a "
        "checkpoint. Each altered copy lists findings (code and where) a verifier must "
        "report; it may report further consequences of the same damage. A copy with "
        "no findings must verify; 'notices' are reported but are no failure. Ids of "
        "entries are computed from their lines.",
        "building": BUILDING,
        "lines": lines,
        "altered": [
            altered(
                "a flow's body changed after signing",
                tampered,
                [("bad_signature", "seq 3")],
            ),
            altered("a flow removed", missing, [("gap", "seq 3..3")]),
            altered(
                "a flow replaced by another validly signed one",
                rewritten,
                [
                    ("broken_chain", "seq 4"),
                    ("rollup_mismatch", "seq 5"),
                    ("checkpoint_mismatch", "checkpoint of size 6"),
                ],
            ),
            altered(
                "a second signed entry for seq 3", twin, [("equivocation", "seq 3")]
            ),
            altered(
                "a checkpoint with a root the entries do not give",
                bad_root,
                [("checkpoint_mismatch", "checkpoint of size 6")],
            ),
            altered(
                "pruned: flows 1-4 replaced by the frontier the rollup anchors",
                pruned,
                [],
            ),
            altered(
                "pruned, with a frontier its anchoring rollup does not sign",
                unanchored,
                [("bad_frontier", "frontier")],
            ),
            altered(
                "a flow signed again over an interval already signed (a replay)",
                replayed,
                [("flow_overlap", "seq 7")],
            ),
            altered(
                "a minute without a flow: a notice, not a finding",
                holed,
                [],
                (("flow_hole", "seq 7"),),
            ),
            altered(
                "an entry stamped before its predecessor",
                backwards,
                [("time_backwards", "seq 7")],
            ),
            altered(
                "an entry of another building",
                elsewhere,
                [("wrong_building", "seq 7")],
            ),
            altered("with the roster: every signer a member", lines, [], (), both),
            altered(
                "with a roster that does not list the flat",
                lines,
                [("non_member", "seq 1")],
                (),
                only_302,
            ),
            altered(
                "with the roster: a flow for another flat",
                other_flat,
                [("wrong_flat", "seq 7")],
                (),
                both,
            ),
            altered(
                "a witness's cosignature of a root the log does not have",
                false_cosign,
                [
                    (
                        "cosign_mismatch",
                        f"cosign of size 5 by {WITNESS.author.hex()[:16]}",
                    )
                ],
            ),
            altered(
                "a log cosigned by its own author",
                own_cosign,
                [("self_cosign", "cosign of size 6")],
            ),
            altered(
                "a witnessed head the log contradicts",
                declared,
                [
                    (
                        "witnessed_mismatch",
                        f"witnessed head of size 3 in seq 7 of {KEY.author.hex()[:16]}",
                    )
                ],
            ),
            altered("the next hourly rollup, at the next boundary", next_hour, []),
            altered(
                "a flow past the next boundary, in a rollup of two hours",
                unrolled,
                [("rollup_missing", "seq 8")],
            ),
            altered(
                "a flow past the next boundary, in the rollup before it",
                misplaced,
                [("rollup_period", "seq 8"), ("rollup_missing", "seq 8")],
            ),
            altered(
                "a rollup that misstates its flows",
                bad_rollup,
                [
                    ("broken_chain", "seq 6"),
                    ("rollup_mismatch", "seq 5"),
                    ("checkpoint_mismatch", "checkpoint of size 6"),
                ],
            ),
        ],
    }


def _placement_copies(
    lines: list[JsonObject], entries: list[etp.Entry], tree: merkle.Frontier
) -> tuple[list[JsonObject], ...]:
    """Copies of the feed with a second hourly rollup, placed well and badly.

    Entry 6 opens the second hour's range at ``T0 + 1 h + 1.05 s``; its rollup is due
    once the clock passes ``T0 + 2 h``. Entry 7 is a flow stamped after that boundary.
    """
    summary, after = entries[4], entries[5]
    hour = 3_600_000

    def hourly(
        seq: int, covered: list[etp.Entry], size: merkle.Frontier, now: int
    ) -> etp.Entry:
        accumulator = rollup.Accumulator(1, after=T0 + hour)
        for entry in covered:
            accumulator.add(entry.key, entry.content)
        body = accumulator.body(
            building=BUILDING,
            ts=now,
            seq=seq,
            first=6,
            start=T0 + hour,
            root=size.root(),
            now_ms=now,
        )
        return _sign(seq, covered[-1].id, body, (summary.id,))

    good = hourly(7, [after], tree, T0 + 2 * hour + 200)
    late = _sign(7, after.id, _flow(T0 + hour + 1000, T0 + 2 * hour + 500, 500, 500, 0))
    longer = tree.copy()
    longer.append(merkle.leaf_hash(late.id))
    early = hourly(8, [after, late], longer, T0 + 2 * hour + 600)
    overdue = hourly(8, [after, late], longer, T0 + 3 * hour + 200)
    base = copy.deepcopy(lines)
    return (
        [*base, _line(good)],
        [*base, _line(late), _line(early)],
        [*base, _line(late), _line(overdue)],
    )


def _key_vector(identity: Identity, scalar: int) -> dict[str, str]:
    return {
        "private_scalar": f"{scalar:064x}",
        "public_key": identity.public_key.hex(),
        "author": identity.author.hex(),
    }


def _member(identity: Identity, flat: str, floor: str) -> roster.Member:
    return roster.Member(
        flat, floor, identity.public_key, f"10.0.{floor}.{int(flat) % 100}:8765"
    )


def _approval(identity: Identity, proposed: roster.Roster) -> dict[str, JsonValue]:
    sig = identity.sign(roster.approval_message(proposed), deterministic=True)
    return {"author": identity.author.hex(), "sig": sig.hex()}


def _change_case(
    description: str,
    reason: str,
    proposed: roster.Roster,
    approvals: list[dict[str, JsonValue]],
) -> dict[str, Any]:
    return {
        "description": description,
        "reason": reason,
        "proposal": proposed.document(),
        "approvals": approvals,
    }


def _roster_vectors() -> tuple[dict[str, Any], etp.Entry]:
    first = roster.Roster(
        BUILDING,
        1,
        (
            _member(KEY, "301", "3"),
            _member(WITNESS, "302", "3"),
            _member(THIRD, "303", "3"),
        ),
    )
    proposed = roster.Roster(
        BUILDING,
        2,
        (*first.members, _member(NEWCOMER, "401", "4")),
        first.digest,
        T0 + 60_000,
    )
    approvals = [_approval(KEY, proposed), _approval(WITNESS, proposed)]
    body = roster.entry_body(proposed, list(approvals))
    content: JsonObject = {
        "v": 1,
        "kind": "roster",
        "building": BUILDING,
        "ts": T0 + 1000,
    }
    content.update(body)
    entry = etp.make_entry(THIRD, 1, etp.ZERO_ID, (), content, deterministic=True)
    skipping = roster.Roster(
        BUILDING, 3, proposed.members, first.digest, proposed.effective
    )
    later = roster.Roster(
        BUILDING, 2, proposed.members, first.digest, proposed.effective + 1
    )
    wrong_prev = roster.Roster(
        BUILDING, 2, proposed.members, bytes(32), proposed.effective
    )
    elsewhere = roster.Roster(
        "bldg-99", 2, proposed.members, first.digest, proposed.effective
    )
    swapped = {"author": WITNESS.author.hex(), "sig": _approval(THIRD, proposed)["sig"]}
    changes = [
        _change_case(
            "one approval of three members", "no_majority", proposed, approvals[:1]
        ),
        _change_case(
            "one approval counted twice",
            "no_majority",
            proposed,
            [approvals[0], approvals[0]],
        ),
        _change_case(
            "an approval by the newcomer, who is not yet a member",
            "non_member",
            proposed,
            [*approvals, _approval(NEWCOMER, proposed)],
        ),
        _change_case(
            "a member's approval carrying another member's signature",
            "forged",
            proposed,
            [approvals[0], swapped],
        ),
        _change_case(
            "the approvals of version 2 reused for a later effective time",
            "forged",
            later,
            approvals,
        ),
        _change_case(
            "version 3 after version 1, properly approved",
            "not_next",
            skipping,
            [_approval(KEY, skipping), _approval(WITNESS, skipping)],
        ),
        _change_case(
            "prev is not the digest of the roster in force",
            "not_next",
            wrong_prev,
            [_approval(KEY, wrong_prev), _approval(WITNESS, wrong_prev)],
        ),
        _change_case(
            "a proposal for another building",
            "wrong_building",
            elsewhere,
            [_approval(KEY, elsewhere), _approval(WITNESS, elsewhere)],
        ),
    ]
    doc = first.document()
    members = doc["members"]
    assert isinstance(members, list)
    member0 = members[0]
    assert isinstance(member0, dict)
    bad_documents = [
        (
            "a member without an address",
            {**doc, "members": [{k: v for k, v in member0.items() if k != "address"}]},
            "bad_roster",
        ),
        (
            "two members with one flat",
            {**doc, "members": [member0, {**member0, "key": WITNESS.public_key.hex()}]},
            "bad_roster",
        ),
        (
            "a key in uppercase hex",
            {**doc, "members": [{**member0, "key": str(member0["key"]).upper()}]},
            "bad_roster",
        ),
        (
            "a key that is not a point of P-256",
            {**doc, "members": [{**member0, "key": "02" + "ff" * 32}]},
            "bad_key",
        ),
        (
            "version 1 with prev and effective",
            {**doc, "prev": "00" * 32, "effective": T0},
            "bad_roster",
        ),
        ("version 2 without prev", {**doc, "version": 2}, "bad_roster"),
        ("an unknown member", {**doc, "note": "x"}, "bad_roster"),
    ]
    vectors = {
        "tag": roster.TAG_ROSTER.hex(),
        "first": {
            "description": "the first roster of three flats, as 'roster init' makes it",
            "document": doc,
            "canonical": _text(canonical.encode(doc)),
            "digest": first.digest.hex(),
            "majority": first.majority,
        },
        "proposal": {
            "description": "version 2 adds flat 401; the first two members approve",
            "document": proposed.document(),
            "canonical": _text(canonical.encode(proposed.document())),
            "digest": proposed.digest.hex(),
            "approvals": approvals,
        },
        "entry": {
            **_entry_vector(
                "the approved change as flat 303 records it (seq 1 of its feed)",
                entry,
            )
        },
        "invalid_changes": changes,
        "submissions": [
            {
                "description": why,
                "now_ms": now,
                "reason": reason,
            }
            for why, now, reason in (
                ("submitted before its effective time", T0 + 59_999, None),
                ("submitted at its effective time", T0 + 60_000, "effective_passed"),
            )
        ],
        "invalid_documents": [
            {"description": why, "document": bad, "reason": reason}
            for why, bad, reason in bad_documents
        ],
    }
    return vectors, entry


def _hello_cases(nonce: bytes) -> list[dict[str, Any]]:
    """Hellos the listener (clock at T0, window 30 s) takes or refuses first."""
    hello = {
        "type": "hello",
        "protocol": 3,
        "building": BUILDING,
        "author": KEY.author.hex(),
        "nonce": nonce.hex(),
        "ts": T0,
        "roster": 1,
    }
    return [
        {"description": why, "hello": {**hello, **change}, "reason": reason}
        for why, change, reason in (
            ("the hello of the frames above", {}, None),
            ("30 s behind the listener's clock", {"ts": T0 - 30_000}, None),
            ("30 s and 1 ms behind", {"ts": T0 - 30_001}, "clock_window"),
            ("30 s and 1 ms ahead", {"ts": T0 + 30_001}, "clock_window"),
            ("a protocol 2 node", {"protocol": 2}, "malformed"),
            (
                "another building, and out of the window",
                {"building": "bldg-99", "ts": 0},
                "wrong_building",
            ),
        )
    ]


def _auth_vectors() -> dict[str, Any]:
    dialer_nonce = bytes(range(32))
    listener_nonce = bytes(range(32, 64))
    exchange = peer_auth.Exchange(
        BUILDING, dialer_nonce, listener_nonce, KEY.author, WITNESS.author
    )

    def preimage(role: str, ex: peer_auth.Exchange) -> bytes:
        return b"".join(
            (
                peer_auth.TAG_AUTH,
                role.encode(),
                b"\x00",
                ex.building.encode(),
                b"\x00",
                ex.dialer_nonce,
                ex.listener_nonce,
                ex.dialer,
                ex.listener,
            )
        )

    proofs = {
        "dialer": KEY.sign(exchange.transcript("dialer"), deterministic=True),
        "listener": WITNESS.sign(exchange.transcript("listener"), deterministic=True),
    }
    other_building = peer_auth.Exchange(
        "bldg-99", dialer_nonce, listener_nonce, KEY.author, WITNESS.author
    )
    fresh = peer_auth.Exchange(
        BUILDING, dialer_nonce, bytes(32), KEY.author, WITNESS.author
    )
    return {
        "description": "The signed challenge of a mesh link (PROTOCOL.md 14.2): flat "
        "301 (the test key) dials flat 302 (the witness key).",
        "tag": peer_auth.TAG_AUTH.hex(),
        "building": BUILDING,
        "dialer": KEY.author.hex(),
        "listener": WITNESS.author.hex(),
        "dialer_nonce": dialer_nonce.hex(),
        "listener_nonce": listener_nonce.hex(),
        "frames": [
            {
                "type": "hello",
                "protocol": 3,
                "building": BUILDING,
                "author": KEY.author.hex(),
                "nonce": dialer_nonce.hex(),
                "ts": T0,
                "roster": 1,
            },
            {
                "type": "challenge",
                "author": WITNESS.author.hex(),
                "nonce": listener_nonce.hex(),
                "proof": proofs["listener"].hex(),
                "roster": 1,
            },
            {"type": "auth", "proof": proofs["dialer"].hex()},
            {"type": "ready"},
        ],
        "hellos": _hello_cases(dialer_nonce),
        "roles": [
            {
                "role": role,
                "preimage": preimage(role, exchange).hex(),
                "transcript": exchange.transcript(role).hex(),
                "proof": proofs[role].hex(),
            }
            for role in ("dialer", "listener")
        ],
        "invalid": [
            {
                "description": "the listener's proof sent back as the dialer's",
                "role": "dialer",
                "exchange": "same",
                "proof": proofs["listener"].hex(),
            },
            {
                "description": "the dialer's proof presented on a connection with "
                "another listener nonce (a replay)",
                "role": "dialer",
                "exchange": {"listener_nonce": fresh.listener_nonce.hex()},
                "proof": proofs["dialer"].hex(),
            },
            {
                "description": "the dialer's proof checked for another building",
                "role": "dialer",
                "exchange": {"building": other_building.building},
                "proof": proofs["dialer"].hex(),
            },
        ],
    }


def mesh_vectors() -> dict[str, Any]:
    """Roster documents and changes, the link handshake, a ``witnessed`` entry."""
    roster_part, roster_entry = _roster_vectors()
    etp_part = etp_vectors()
    checkpoint = json.loads(etp_part["statements"][0]["body"])
    logs: list[JsonValue] = sorted(
        [
            {"log": KEY.author.hex(), "size": 3, "root": checkpoint["root"]},
            {
                "log": THIRD.author.hex(),
                "size": 1,
                "root": merkle.root([merkle.leaf_hash(roster_entry.id)]).hex(),
            },
        ],
        key=lambda item: str(item["log"]) if isinstance(item, dict) else "",
    )
    witnessed_body: JsonObject = {
        "v": 1,
        "kind": "witnessed",
        "building": BUILDING,
        "ts": T0 + 7000,
        "logs": logs,
    }
    witnessed = etp.make_entry(
        WITNESS, 1, etp.ZERO_ID, (), witnessed_body, deterministic=True
    )
    base = _entry_vector("", witnessed)
    del base["description"], base["body_digest"], base["id"]

    def variant(description: str, reason: str, content: JsonObject) -> dict[str, Any]:
        body = canonical.encode(content)
        eid = etp.entry_id(WITNESS.author, 1, etp.ZERO_ID, etp.body_digest(body), ())
        return _stored(
            description,
            reason,
            **{
                **base,
                "body": _text(body),
                "sig": WITNESS.sign(eid, deterministic=True).hex(),
            },
        )

    first_log, second_log = logs
    assert isinstance(first_log, dict)
    roster_entry_content = dict(roster_entry.content)
    no_prev = {k: v for k, v in roster_entry_content.items() if k != "prev"}
    no_prev["version"] = 1
    del no_prev["effective"]
    invalid_entries = [
        variant(
            "witnessed logs out of order",
            "bad_member",
            {**witnessed_body, "logs": [second_log, first_log]},
        ),
        variant(
            "a witnessed log of size 0",
            "bad_member",
            {**witnessed_body, "logs": [{**first_log, "size": 0}]},
        ),
        variant("no witnessed logs", "bad_member", {**witnessed_body, "logs": []}),
        variant(
            "a witnessed log with a member too many",
            "unknown_member",
            {**witnessed_body, "logs": [{**first_log, "ts": T0}]},
        ),
        variant(
            "a roster entry that is a first roster (no prev)",
            "bad_roster",
            no_prev,
        ),
        variant(
            "a roster entry without approvals",
            "bad_roster",
            {**roster_entry_content, "approvals": []},
        ),
        variant(
            "a roster entry with an unknown member",
            "unknown_member",
            {**roster_entry_content, "note": "x"},
        ),
    ]
    return {
        "description": "The roster (PROTOCOL.md section 13), the mesh handshake "
        "(section 14.2) and the witnessed and roster entry kinds (section 7). Keys "
        "are test keys: 'key' and 'witness' as in etp.json, 'third' and 'newcomer' "
        "new. Invalid changes give the reason the roster in force refuses them with; "
        "invalid entries are in stored form with the first rule they break.",
        "keys": {
            "key": _key_vector(KEY, SCALAR),
            "witness": _key_vector(WITNESS, WITNESS_SCALAR),
            "third": _key_vector(THIRD, THIRD_SCALAR),
            "newcomer": _key_vector(NEWCOMER, NEWCOMER_SCALAR),
        },
        "roster": roster_part,
        "auth": _auth_vectors(),
        "witnessed": _entry_vector(
            "flat 302 declares the witnessed heads of flats 301 and 303", witnessed
        ),
        "invalid_entries": invalid_entries,
    }


FILES = {
    "canonical.json": canonical_vectors,
    "etp.json": etp_vectors,
    "merkle.json": merkle_vectors,
    "feed.json": feed_vectors,
    "mesh.json": mesh_vectors,
    "exchange.json": _exchange_vectors,
    "database.json": _database_vectors,
    "battery_day.json": _battery_day_vectors,
}


def render(name: str) -> str:
    """The text of one vector file."""
    return json.dumps(FILES[name](), indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    """Write every vector file next to this module."""
    for name in FILES:
        (HERE / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
