"""The offline check of a battery passport: its signature, its checkpoint and proofs.

Nothing but the passport file is needed. The check names every fault it finds:
a signature that does not verify, a checkpoint not signed by the flat or by too few
of the members the passport lists, an evidence entry that is not the flat's, not
validly signed, or not in the checkpoint's tree, and an anomaly naming an entry the
passport does not prove. The majority is counted against the roster in force at
the checkpoint's time: the chain starts at a trusted roster when one is given, else at
the first roster the passport carries (or, in a passport without one, its member list),
and then membership is only what the passport itself claims.
"""

from __future__ import annotations

from typing import Any

from sidecar.apps.battery.passport import KIND, VERSION, signing_bytes
from sidecar.ledger import etp, kinds, merkle
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.identity import (
    KeyRing,
    PublicKeyError,
    author_id,
    load_public_key,
    verify,
)
from sidecar.mesh.roster import Roster, RosterError
from sidecar.mesh.roster_chain import RosterChain
from sidecar.tools import members as members_module

FROM_PASSPORT = (
    "membership was taken from the passport itself; give the building's roster "
    "with --roster to count it against the roster"
)


def check(document: Any, roster: Roster | None = None) -> list[str]:
    """Every fault of a passport document (parsed JSON); empty when it holds.

    ``roster`` is the building's trusted roster the membership chain starts from.
    """
    if not isinstance(document, dict) or not isinstance(document.get("passport"), dict):
        return ["not a battery passport: no 'passport' object"]
    passport: dict[str, Any] = document["passport"]
    if passport.get("kind") != KIND or passport.get("v") != VERSION:
        return [f"not a version {VERSION} battery passport"]
    try:
        public_key = bytes.fromhex(str(passport["public_key"]))
        key = load_public_key(public_key)
        signature = bytes.fromhex(str(document.get("signature", "")))
    except (KeyError, ValueError, PublicKeyError) as err:
        return [f"unreadable key or signature: {err}"]
    faults: list[str] = []
    author = author_id(public_key)
    if passport.get("author") != author.hex():
        faults.append("the author is not the id of the public key")
    try:
        signed = signing_bytes(passport)
    except (InvalidData, TypeError, ValueError) as err:
        return [*faults, f"the passport is not canonical JSON: {err}"]
    if not verify(key, signed, signature):
        faults.append("the flat's signature does not verify over the passport")
    faults += _checkpoint_faults(passport, author, public_key, roster)
    return faults


def roster_chain(
    passport: dict[str, Any], trusted: Roster | None
) -> RosterChain | None:
    """The membership chain: from ``trusted`` or the passport's first roster.

    The later versions the passport carries join the chain only if each is approved
    by a majority of the version it replaces; None when there is no roster at all.
    """
    lines = passport.get("roster", [])
    if not isinstance(lines, list):
        raise RosterError("bad_roster", "the passport's roster is a list of lines")
    chain = None if trusted is None else RosterChain(trusted, from_any_version=True)
    for line in lines:
        if not isinstance(line, dict):
            raise RosterError("bad_roster", "a roster line is a JSON object")
        item = members_module.parse_line(line)
        if isinstance(item, Roster):
            if chain is None:
                chain = RosterChain(item)
        elif chain is not None:
            chain.add(item)
    return chain


def _checkpoint_faults(
    passport: dict[str, Any],
    author: bytes,
    public_key: bytes,
    trusted: Roster | None,
) -> list[str]:
    faults: list[str] = []
    keys = KeyRing()
    try:
        checkpoint = etp.statement_from_wire(passport["checkpoint"])
        chain = roster_chain(passport, trusted)
        if chain is None:
            members = {keys.add(bytes.fromhex(str(k))) for k in passport["members"]}
            counted = f"{len(members)} members"
        else:
            ts = checkpoint.content.get("ts")
            in_force = chain.at(ts if isinstance(ts, int) else 0)
            members = {keys.add(member.key) for member in in_force.members}
            counted = f"{len(members)} members of roster version {in_force.version}"
            if chain.building != passport.get("building"):
                faults.append(
                    f"the roster is for building {chain.building!r}, the passport "
                    f"for {passport.get('building')!r}"
                )
        cosigns = [etp.statement_from_wire(c) for c in passport["cosignatures"]]
        evidence = list(passport["evidence"])
    except (KeyError, TypeError, ValueError, InvalidData, PublicKeyError) as err:
        return [
            *faults,
            f"unreadable checkpoint, roster, cosignatures or evidence: {err}",
        ]
    keys.add(public_key)
    if author not in members:
        faults.append("the flat is not among the members")
    size, root = checkpoint.content.get("size"), checkpoint.content.get("root")
    if checkpoint.kind != kinds.CHECKPOINT or checkpoint.author != author:
        faults.append("the checkpoint is not one the flat signed")
    faults += _signature_fault(checkpoint, keys, "the checkpoint")
    signers = {author}
    for cosign in cosigns:
        content = cosign.content
        if cosign.author not in members:
            faults.append(f"cosignature by a non-member {cosign.author.hex()[:16]}")
        elif (content.get("log"), content.get("size"), content.get("root")) != (
            author.hex(),
            size,
            root,
        ):
            faults.append(
                f"cosignature by {cosign.author.hex()[:16]} is of another head"
            )
        elif not _signature_fault(cosign, keys, "a cosignature"):
            signers.add(cosign.author)
        else:
            faults.append(f"cosignature by {cosign.author.hex()[:16]} does not verify")
    signers &= members
    majority = len(members) // 2 + 1
    if len(signers) < majority:
        faults.append(
            f"the checkpoint is signed by {len(signers)} of {counted}; "
            f"{majority} make a majority"
        )
    if not isinstance(size, int) or not isinstance(root, str):
        return [*faults, "the checkpoint has no size or root"]
    proven = _evidence_faults(
        evidence, author, keys, (size, bytes.fromhex(root)), faults
    )
    battery = passport.get("battery")
    named = battery.get("anomalies", []) if isinstance(battery, dict) else []
    for anomaly in named:
        for item in anomaly.get("entries", []):
            if (item.get("seq"), item.get("id")) not in proven:
                faults.append(
                    f"anomaly {anomaly.get('kind')} names entry {item.get('seq')} "
                    "that the passport does not prove"
                )
    return faults


def _signature_fault(
    item: etp.Statement | etp.Entry, keys: KeyRing, what: str
) -> list[str]:
    try:
        etp.check_signature(item, keys)
    except etp.EtpError as err:
        return [f"{what}: {err}"]
    return []


def _evidence_faults(
    evidence: list[Any],
    author: bytes,
    keys: KeyRing,
    head: tuple[int, bytes],
    faults: list[str],
) -> set[tuple[int, str]]:
    """Check every evidence entry and its proof; the (seq, id) of those that hold."""
    size, root = head
    proven: set[tuple[int, str]] = set()
    chained: list[etp.Entry] = []
    # Refs of proven entries: a battery_day below the retained tree is proven by
    # the newer battery_day that names it (PROTOCOL.md 7.12).
    named: set[bytes] = set()
    for item in evidence:
        try:
            entry = etp.entry_from_wire(item["entry"])
            index = item["index"]
            path = (
                None
                if "path" not in item
                else [bytes.fromhex(node) for node in item["path"]]
            )
        except (KeyError, TypeError, ValueError, InvalidData) as err:
            faults.append(f"unreadable evidence entry: {err}")
            continue
        label = f"entry {entry.seq}"
        if entry.author != author:
            faults.append(f"{label} is not the flat's")
            continue
        if bad := _signature_fault(entry, keys, label):
            faults += bad
            continue
        if path is None and entry.kind == BATTERY_DAY and index == entry.seq - 1:
            chained.append(entry)
            continue
        if (
            path is None
            or index != entry.seq - 1
            or not merkle.verify_inclusion(
                merkle.leaf_hash(entry.id), index, size, path, root
            )
        ):
            faults.append(f"{label}: its inclusion proof does not reach the checkpoint")
            continue
        proven.add((entry.seq, entry.id.hex()))
        if entry.kind == BATTERY_DAY:
            named.update(entry.refs)
    for entry in sorted(chained, key=lambda e: e.seq, reverse=True):
        if entry.id not in named:
            faults.append(
                f"entry {entry.seq}: a battery_day without an inclusion proof that "
                "no proven newer battery_day refers to"
            )
            continue
        proven.add((entry.seq, entry.id.hex()))
        named.update(entry.refs)
    return proven
