"""Exchange-format lines and the one code a receiver answers for each (PROTOCOL.md 11).

Every case is taken by a fresh receiver that first took the ``context`` lines; the
invalid lines that break two rules show which one section 10.1 checks first.
"""

from __future__ import annotations

import copy
from typing import Any

from sidecar.ledger import etp, kinds, merkle, rollup
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster
from tests.vectors.generate import (
    BUILDING,
    KEY,
    T0,
    THIRD,
    WITNESS,
    _approval,
    _flow,
)

FORMAT = 2


def _signed(who: Identity, seq: int, prev: bytes, body: JsonObject) -> etp.Entry:
    return etp.make_entry(who, seq, prev, (), body, deterministic=True)


def _statement(who: Identity, **content: object) -> JsonObject:
    body: JsonObject = {"v": 1, "building": BUILDING, "ts": T0 + 9000}
    body.update(content)  # type: ignore[arg-type]
    return etp.statement_to_wire(etp.make_statement(who, body, deterministic=True))


def exchange_vectors() -> dict[str, Any]:
    """A receiver's context and lines with the code it answers (null: taken)."""
    first_roster = Roster(
        BUILDING,
        1,
        (
            Member("301", "3", KEY.public_key, "10.0.3.1:8765"),
            Member("302", "3", WITNESS.public_key, "10.0.3.2:8765"),
        ),
    )
    one = _signed(KEY, 1, etp.ZERO_ID, _flow(T0, T0 + 1042, 1393, 319, 500))
    two = _signed(KEY, 2, one.id, _flow(T0 + 1000, T0 + 2040, 900, 319, 500))
    three = _signed(KEY, 3, two.id, _flow(T0 + 2000, T0 + 3040, 800, 319, 400))
    tree = merkle.Frontier()
    for held in (one, two):
        tree.append(merkle.leaf_hash(held.id))
    context: list[JsonObject] = [
        {"type": "ledger", "format": FORMAT, "building": BUILDING},
        {"type": "roster", "roster": first_roster.document()},
        {"type": "author", "key": KEY.public_key.hex()},
        {"type": "author", "key": WITNESS.public_key.hex()},
        {"type": "author", "key": THIRD.public_key.hex()},
        etp.entry_to_wire(one),
        etp.entry_to_wire(two),
    ]
    line = etp.entry_to_wire(three)
    body = dict(three.content)
    flipped = bytearray(three.sig)
    flipped[5] ^= 1
    bad_sig = bytes(flipped).hex()
    token: JsonObject = {"v": 1, "kind": "token", "building": BUILDING, "ts": T0 + 3100}
    head = {"log": KEY.author.hex(), "size": 2, "root": tree.root().hex()}

    def entry(**changes: Any) -> JsonObject:
        return {**copy.deepcopy(line), **changes}

    def body_of(**changes: Any) -> JsonObject:
        """The entry with a changed body, and no id (a receiver computes it)."""
        changed = entry(body={**copy.deepcopy(body), **changes})
        del changed["id"]
        return changed

    witness_one = _signed(WITNESS, 1, etp.ZERO_ID, _flow(T0, T0 + 1042, 1000, 319, 500))
    hourly = rollup.Accumulator(1)
    hourly.add(witness_one.key, witness_one.content)
    witness_tree = merkle.Frontier()
    witness_tree.append(merkle.leaf_hash(witness_one.id))
    anchor = _signed(
        WITNESS,
        2,
        witness_one.id,
        hourly.body(
            building=BUILDING,
            ts=T0 + 3_600_100,
            seq=2,
            first=1,
            start=None,
            root=witness_tree.root(),
            now_ms=T0 + 3_600_100,
        ),
    )
    frontier: JsonObject = {
        "type": "frontier",
        "author": WITNESS.author.hex(),
        "size": 1,
        "nodes": [node.hex() for node in witness_tree.nodes],
        "anchor": etp.entry_to_wire(anchor),
    }
    not_a_rollup = _signed(
        WITNESS, 2, witness_one.id, _flow(T0 + 1000, T0 + 2040, 900, 319, 500)
    )
    other_roster = Roster(BUILDING, 1, first_roster.members[:1])
    receipt: JsonObject = {
        "v": 1,
        "kind": "receipt",
        "building": BUILDING,
        "ts": T0 + 3100,
        "from": WITNESS.author.hex(),
        "mwh": 250,
        "start": T0 + 2000,
        "end": T0 + 3000,
    }

    def unmetered(home: int, **extra: int) -> JsonObject:
        """Seq 3 as an unmetered flow stating ``home`` (the totals leave 100)."""
        totals = kinds.Totals(
            pv=800, grid_in=0, bat_out=0, home=home, bat_in=400, grid_out=300
        )
        flow: JsonObject = {
            **copy.deepcopy(body),
            **extra,
            "balance": kinds.balance(totals, metered=False),
            "transfers": [
                {"from": a, "to": b, "mwh": m, "ren": 1_000_000}
                for a, b, m in kinds.allocate(totals)
            ],
        }
        return etp.entry_to_wire(_signed(KEY, 3, two.id, flow))

    added = Roster(
        BUILDING,
        2,
        (*first_roster.members, Member("303", "3", THIRD.public_key, "10.0.3.3:8765")),
        first_roster.digest,
        T0 + 60_000,
    )

    def change_line(*approvers: Identity) -> JsonObject:
        """An export's line for version 2, approved by ``approvers``."""
        return {
            "type": "roster",
            "roster": added.document(),
            "approvals": [_approval(who, added) for who in approvers],
        }

    def receipt_line(refs: tuple[bytes, ...]) -> JsonObject:
        made = etp.make_entry(KEY, 3, two.id, refs, receipt, deterministic=True)
        return etp.entry_to_wire(made)

    cases: list[tuple[str, JsonObject | str, str | None]] = [
        ("the next entry", line, None),
        ("a receipt naming the transfer it answers", receipt_line((one.id,)), None),
        ("a receipt without a ref", receipt_line(()), "bad_refs"),
        ("a receipt with two refs", receipt_line((one.id, two.id)), "bad_refs"),
        (
            "a checkpoint",
            _statement(KEY, kind="checkpoint", size=2, root=head["root"]),
            None,
        ),
        ("a member's cosignature", _statement(WITNESS, kind="cosign", **head), None),
        ("a frontier its rollup anchors", frontier, None),
        ("not JSON", "not json", "malformed"),
        ("an unknown line type", {"type": "gossip"}, "unknown_type"),
        (
            "another exchange format",
            {"type": "ledger", "format": 1, "building": BUILDING},
            "bad_version",
        ),
        (
            "another building's export",
            {"type": "ledger", "format": FORMAT, "building": "bldg-02"},
            "wrong_building",
        ),
        (
            "another first roster",
            {"type": "roster", "roster": other_roster.document()},
            "conflict",
        ),
        ("a key that is not hex", {"type": "author", "key": "zz"}, "bad_key"),
        (
            "a roster change approved by both members (a majority of two)",
            change_line(KEY, WITNESS),
            None,
        ),
        (
            "a roster change approved by one of two members",
            change_line(KEY),
            "roster_refused",
        ),
        ("seq as a string", entry(seq="3"), "bad_seq"),
        ("seq 0 (and so a bad signature)", entry(seq=0), "bad_seq"),
        ("refs not a list", entry(refs="x"), "bad_refs"),
        ("17 refs", entry(refs=[one.id.hex()] * 17), "bad_refs"),
        ("prev in upper case", entry(prev=line["prev"].upper()), "bad_hex"),  # type: ignore[union-attr]
        ("a body that is not an object", entry(body="text"), "bad_body"),
        (
            "a body without ts",
            entry(body={k: v for k, v in body.items() if k != "ts"}),
            "missing_member",
        ),
        ("kind in upper case", body_of(kind="Flow"), "bad_kind"),
        ("version 2", body_of(v=2), "bad_version"),
        ("gap 0", body_of(gap=0), "bad_member"),
        ("an unmetered flow whose home is what the totals leave", unmetered(100), None),
        (
            "an unmetered flow whose home is not what the totals leave",
            unmetered(50),
            "balance_mismatch",
        ),
        ("an unmetered gap flow with home 0 (unknown)", unmetered(0, gap=1), None),
        ("an unmetered flow with home 0 and no gap", unmetered(0), "balance_mismatch"),
        (
            "a float where a flow has an integer: the schema first",
            body_of(mhz=60012.5),
            "bad_member",
        ),
        (
            "a float in a kind the schema does not type",
            entry(body={**token, "x": 1.5}),
            "float",
        ),
        (
            "a boolean in a kind the schema does not type",
            entry(body={**token, "x": True}),
            "boolean",
        ),
        ("an unknown member (and a bad signature)", body_of(zz=1), "unknown_member"),
        (
            "a wrong id and a bad signature: the id first",
            entry(id="00" * 32, sig=bad_sig),
            "bad_id",
        ),
        (
            "another building and a bad signature: the building first",
            body_of(building="bldg-02"),
            "wrong_building",
        ),
        ("a flipped signature", entry(sig=bad_sig), "bad_signature"),
        (
            "an author without a key line",
            etp.entry_to_wire(
                _signed(
                    Identity.from_scalar(7),
                    1,
                    etp.ZERO_ID,
                    _flow(T0, T0 + 1042, 1393, 319, 500),
                )
            ),
            "unknown_author",
        ),
        (
            "a seq after a missing one",
            etp.entry_to_wire(_signed(KEY, 5, three.id, body)),
            "gap",
        ),
        ("an entry already held", context[-1], "duplicate"),
        (
            "a prev that is not seq 2's id",
            etp.entry_to_wire(_signed(KEY, 3, one.id, body)),
            "broken_chain",
        ),
        (
            "older than its predecessor",
            etp.entry_to_wire(_signed(KEY, 3, two.id, {**body, "ts": T0 + 1000})),
            "time_backwards",
        ),
        (
            "a second entry for a held seq",
            etp.entry_to_wire(_signed(KEY, 2, one.id, body)),
            "equivocation",
        ),
        (
            "a cosign line with a checkpoint body",
            {
                **_statement(KEY, kind="checkpoint", size=2, root=head["root"]),
                "type": "cosign",
            },
            "type_mismatch",
        ),
        (
            "a log cosigned by its own author",
            _statement(KEY, kind="cosign", **head),
            "self_cosign",
        ),
        (
            "a cosignature by a key not on the roster",
            _statement(THIRD, kind="cosign", **head),
            "non_member",
        ),
        (
            "a frontier for a feed held",
            {**frontier, "author": KEY.author.hex()},
            "conflict",
        ),
        (
            "a frontier its rollup does not sign",
            {**frontier, "nodes": ["ab" * 32]},
            "bad_frontier",
        ),
        (
            "a frontier anchored by a flow",
            {**frontier, "anchor": etp.entry_to_wire(not_a_rollup)},
            "bad_frontier",
        ),
    ]
    return {
        "description": "Exchange-format lines (PROTOCOL.md section 11). A fresh "
        "receiver of building 'building' whose own key is etp.json's 'key' takes the "
        "'context' lines (all taken), then one case's line: 'reason' is the code it "
        "answers, null when it takes the line. 'third' of mesh.json has a key line "
        "but is not on the roster.",
        "building": BUILDING,
        "context": context,
        "cases": [
            {"description": what, "line": item, "reason": reason}
            if not isinstance(item, str)
            else {"description": what, "text": item, "reason": reason}
            for what, item, reason in cases
        ],
    }
