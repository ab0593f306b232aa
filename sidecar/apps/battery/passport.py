"""The battery passport: a battery's history, signed by its flat, with ledger proofs.

A passport (docs/BATTERY.md) holds the figures and anomalies of one battery over a
period, computed by :mod:`.tracker` from the flat's own flows; the entries those
figures rest on (the flows at both ends of every charge, discharge and rest segment
used, and every entry an anomaly names), each with its inclusion proof in a
checkpoint of the flat's log; that checkpoint with the cosignatures of a majority of
the building's members; and the flat's signature over all of it. It can be checked
offline with :mod:`.passport_check`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from typing import Any, Final

from sidecar.apps.battery.anomalies import Anomaly
from sidecar.apps.battery.figures import Figures, window
from sidecar.apps.battery.tracker import Battery, Report, Tracker, resolution
from sidecar.ledger import canonical, etp, merkle
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.identity import Identity, KeyRing
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster
from sidecar.mesh.roster_chain import RosterChain
from sidecar.storage import battery_reads, store
from sidecar.tools import members as members_module

KIND: Final = "battery_passport"
VERSION: Final = 1
# Signed bytes: this tag, then the canonical JSON of the ``passport`` member.
SIGNING_TAG: Final = b"local-vpp battery passport v1\x00"


class PassportError(Exception):
    """A passport cannot be made from this database (and why)."""


def signing_bytes(passport: JsonObject) -> bytes:
    """What the flat's key signs."""
    return SIGNING_TAG + canonical.encode(passport)


def present(members: dict[str, Any]) -> JsonObject:
    """``members`` without those that are None: canonical JSON has no null."""
    return {key: value for key, value in members.items() if value is not None}


def figures_json(figures: Figures) -> JsonObject:
    """A window's figures as JSON; a figure the window cannot give is left out."""
    return present(asdict(figures))


def anomaly_json(anomaly: Anomaly) -> JsonObject:
    """An anomaly with the entries that show it."""
    return {
        "kind": anomaly.kind,
        "day_start": anomaly.day_start,
        "measured": anomaly.measured,
        "expected": anomaly.expected,
        "threshold": anomaly.threshold,
        "entries": [{"seq": seq, "id": eid.hex()} for seq, eid in anomaly.entries],
    }


def report_json(report: Report, battery: Battery, recent_days: int) -> JsonObject:
    """A battery's report, with the recent window's figures as of every day."""
    step = resolution(battery)
    days: list[JsonValue] = []
    for index, day in enumerate(battery.days):
        rolling = window(
            battery.days[max(0, index + 1 - recent_days) : index + 1], step
        )
        days.append({"start": day.start, **figures_json(rolling)})
    return present(
        {
            "serial": report.serial,
            "first_seq": report.first_seq,
            "last_seq": report.last_seq,
            "days_counted": report.days,
            "soc_resolution_ppm": step,
            "lifetime": figures_json(report.lifetime),
            "recent": figures_json(report.recent),
            "initial_capacity_mwh": report.initial_capacity_mwh,
            "estimated_soh_ppm": report.estimated_soh_ppm,
            "fade_mwh_per_year": report.fade_mwh_per_year,
            "reported_soh_ppm": report.reported_soh_ppm,
            "reported_cycles": report.reported_cycles,
            "active": [anomaly_json(a) for a in report.active],
            "anomalies": [anomaly_json(a) for a in report.anomalies],
            "days": days,
        }
    )


def _tracker(
    conn: sqlite3.Connection,
    author: int,
    tz: str,
    period: tuple[int | None, int | None],
) -> Tracker:
    since, until = period
    tracker = Tracker(tz)
    for entry in battery_reads.entries(conn, author):
        # A flow by its interval, a battery_state by when it was stated.
        start, end = (
            entry.content.get("start", entry.ts),
            entry.content.get("end", entry.ts),
        )
        assert isinstance(start, int)
        assert isinstance(end, int)
        if since is not None and start < since:
            continue
        if until is not None and end > until:
            break
        tracker.add(entry)
    return tracker


def _evidence(battery: Battery) -> list[tuple[int, bytes]]:
    found: set[tuple[int, bytes]] = set()
    for day in battery.days:
        for _kind, first, last in day.evidence:
            found.update((first, last))
    for anomaly in battery.anomalies:
        found.update(anomaly.entries)
    found.update(battery.summaries)
    return sorted(found)


def _witnessed(
    conn: sqlite3.Connection, author: int, needed_size: int
) -> tuple[etp.Statement, list[etp.Statement], list[bytes]]:
    """The largest own checkpoint a majority signed, its cosignatures, the members."""
    members = {aid: key for _no, aid, key in store.authors(conn)}
    ring = KeyRing()
    for key in members.values():
        ring.add(key)
    majority = len(members) // 2 + 1
    own = store.author_id_of(conn, author)
    best = 0
    for body, sig in battery_reads.checkpoints(conn, author):
        checkpoint = etp.open_statement(own, body, sig)
        size = checkpoint.content["size"]
        assert isinstance(size, int)
        if size < needed_size:
            break
        cosigns: dict[bytes, etp.Statement] = {}
        for signer, cbody, csig in battery_reads.cosignatures(conn, author, size):
            cosign = etp.open_statement(signer, cbody, csig)
            if cosign.content["root"] == checkpoint.content["root"] and _signed(
                cosign, ring
            ):
                cosigns.setdefault(signer, cosign)
        best = max(best, 1 + len(cosigns))
        if 1 + len(cosigns) >= majority:
            return checkpoint, list(cosigns.values()), sorted(members.values())
    raise PassportError(
        f"no checkpoint of size {needed_size} or more is signed by a majority of the "
        f"{len(members)} members yet (at most {best} of {majority} needed); wait for "
        "the next checkpoint to be cosigned and try again"
    )


def _signed(statement: etp.Statement, ring: KeyRing) -> bool:
    """Whether a stored statement verifies: only those go into a passport."""
    try:
        etp.check_signature(statement, ring)
    except etp.EtpError:
        return False
    return True


def _proofs(
    conn: sqlite3.Connection, author: int, size: int, wanted: list[tuple[int, bytes]]
) -> list[JsonValue]:
    pruned = store.pruned(conn, author)
    leaves = [
        merkle.leaf_hash(eid)
        for _seq, eid in store.entry_ids(conn, author, pruned.frontier.size, size)
    ]
    tree = merkle.Tree(leaves, pruned.frontier)
    own = store.author_id_of(conn, author)
    found: list[JsonValue] = []
    for seq, _eid in wanted:
        row = store.entry_at(conn, author, seq)
        if row is None:
            raise PassportError(f"entry {seq} is no longer stored")
        entry = store.load_entry(own, row)
        item: JsonObject = {"entry": etp.entry_to_wire(entry), "index": seq - 1}
        if seq > pruned.frontier.size:
            path = tree.inclusion_proof(seq - 1, size)
            item["path"] = [node.hex() for node in path]
        elif entry.kind != BATTERY_DAY:
            raise PassportError(
                f"entry {seq} lies below the retained part of the log and only "
                "battery_day entries are proven there (by their chain); choose a "
                "later period"
            )
        found.append(item)
    return found


def build(
    conn: sqlite3.Connection,
    identity: Identity,
    *,
    tz: str,
    place: tuple[str, str, str],
    period: tuple[int | None, int | None],
    serial: str | None,
    now_ms: int,
    roster: Roster | None = None,
) -> JsonObject:
    """The signed passport of battery ``serial`` (default: the newest) in ``period``.

    ``place`` is (building, floor, flat); ``period`` (from, to) in ms, either open.
    With the node's ``roster`` the passport carries the roster chain from it, so a
    checker can count the checkpoint's signers against the roster in force.
    """
    author = store.author_no(conn, identity.author)
    if author is None:
        raise PassportError("this node's feed is not in the database")
    tracker = _tracker(conn, author, tz, period)
    if not tracker.batteries:
        raise PassportError("no flows of a battery in this period")
    if serial is None:
        serial = max(tracker.batteries.values(), key=lambda b: b.last_seq).serial
    battery = tracker.batteries.get(serial)
    if battery is None:
        known = ", ".join(sorted(tracker.batteries))
        raise PassportError(f"no battery {serial!r} in this period (known: {known})")
    evidence = _evidence(battery)
    needed = max((seq for seq, _ in evidence), default=1)
    checkpoint, cosigns, members = _witnessed(conn, author, needed)
    size = checkpoint.content["size"]
    assert isinstance(size, int)
    building, floor, flat = place
    since, until = period
    passport = present(
        {
            "v": VERSION,
            "kind": KIND,
            "building": building,
            "floor": floor,
            "flat": flat,
            "author": identity.author.hex(),
            "public_key": identity.public_key.hex(),
            "tz": tz,
            "from": since,
            "to": until,
            "issued": now_ms,
            "battery": report_json(
                tracker.report(serial), battery, tracker.limits.recent_days
            ),
            "evidence": _proofs(conn, author, size, evidence),
            "checkpoint": etp.statement_to_wire(checkpoint),
            "cosignatures": [etp.statement_to_wire(c) for c in cosigns],
            "members": [key.hex() for key in members],
            "roster": None if roster is None else _roster_lines(conn, roster),
        }
    )
    signature = identity.sign(signing_bytes(passport))
    return {"passport": passport, "signature": signature.hex()}


def _roster_lines(conn: sqlite3.Connection, first: Roster) -> list[JsonValue]:
    """The node's roster, then each later version with its approvals (as exports)."""
    chain = RosterChain(first, from_any_version=True)
    for entry in store.entries_of_kinds(conn, (roster_module.ROSTER,)):
        chain.offer(entry)
    return [
        {"roster": first.document()},
        *(members_module.change_line(change) for change in chain.changes()),
    ]
