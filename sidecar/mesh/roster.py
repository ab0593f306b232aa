"""The building's roster: who is a member, with which key, at which address.

The first roster is a file the installer makes (``python -m sidecar roster``). Later
rosters are ``roster`` entries in a member's feed: a proposal approved (signed) by a
majority of the members of the roster it replaces, taking effect for every node at the
same stated time. PROTOCOL.md section 13.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

from sidecar import command_name
from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.identity import (
    Identity,
    KeyRing,
    PublicKeyError,
    author_id,
    load_public_key,
    signature_problem,
)
from sidecar.ledger.schema import BodyError

ROSTER: Final = "roster"
TAG_ROSTER: Final = b"lvpp-roster-v1\x00"
MAX_MEMBERS: Final = 64
_SHORT: Final = re.compile(r"[A-Za-z0-9._-]{1,16}\Z")
_ADDRESS: Final = re.compile(r"[A-Za-z0-9.:\[\]-]{1,253}:[0-9]{1,5}\Z")
_HEX32: Final = re.compile(r"[0-9a-f]{64}\Z")
_HEX33: Final = re.compile(r"0[23][0-9a-f]{64}\Z")
_HEX64: Final = re.compile(r"[0-9a-f]{128}\Z")
_MEMBER_KEYS: Final = frozenset({"flat", "floor", "key", "address"})
_DOC_KEYS: Final = frozenset({"building", "version", "members", "prev", "effective"})
_FIRST_KEYS: Final = frozenset({"building", "version", "members"})


class RosterError(InvalidData):
    """A roster, proposal or approval that breaks the rules."""


@dataclass(frozen=True, slots=True)
class Member:
    """One flat's node."""

    flat: str
    floor: str
    key: bytes
    address: str
    # Derived from the key once: rounds and links look members up by it all the time.
    author: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compute the author id."""
        object.__setattr__(self, "author", author_id(self.key))

    def to_json(self) -> JsonObject:
        """The member as a roster object."""
        return {
            "flat": self.flat,
            "floor": self.floor,
            "key": self.key.hex(),
            "address": self.address,
        }


@dataclass(frozen=True, slots=True)
class Roster:
    """One version of the building's roster."""

    building: str
    version: int
    members: tuple[Member, ...]
    prev: bytes | None = None  # digest of the roster this one replaces
    effective: int = 0  # ms from which it holds (0 for the first roster)

    def document(self) -> JsonObject:
        """The signed-over form (PROTOCOL.md 13.1)."""
        doc: JsonObject = {
            "building": self.building,
            "version": self.version,
            "members": [member.to_json() for member in self.members],
        }
        if self.prev is not None:
            doc["prev"] = self.prev.hex()
            doc["effective"] = self.effective
        return doc

    @property
    def digest(self) -> bytes:
        """The roster's identity: a hash of its canonical document."""
        return hashlib.sha256(TAG_ROSTER + canonical.encode(self.document())).digest()

    @property
    def majority(self) -> int:
        """How many members make a majority."""
        return len(self.members) // 2 + 1

    def member(self, author: bytes) -> Member | None:
        """The member with this author id, if any."""
        for member in self.members:
            if member.author == author:
                return member
        return None

    def authors(self) -> frozenset[bytes]:
        """Every member's author id."""
        return frozenset(member.author for member in self.members)


def parse(doc: object) -> Roster:
    """Validate a roster document (file or entry form, without approvals)."""
    if not isinstance(doc, dict):
        raise RosterError("bad_roster", "a roster is a JSON object")
    first = "prev" not in doc
    allowed = _FIRST_KEYS if first else _DOC_KEYS
    if set(doc) != allowed:
        missing, extra = sorted(allowed - set(doc)), sorted(set(doc) - allowed)
        raise RosterError(
            "bad_roster", f"roster members: missing {missing}, unknown {extra}"
        )
    building = doc["building"]
    if not isinstance(building, str) or not re.fullmatch(
        r"[A-Za-z0-9._-]{1,64}", building
    ):
        raise RosterError("bad_roster", "building is 1-64 of A-Z a-z 0-9 . _ -")
    version = _integer(doc["version"], "version", 1)
    if first != (version == 1):
        raise RosterError(
            "bad_roster", "version 1 has no prev/effective; later versions have both"
        )
    raw_members = doc["members"]
    if not isinstance(raw_members, list) or not 1 <= len(raw_members) <= MAX_MEMBERS:
        raise RosterError("bad_roster", f"members is a list of 1-{MAX_MEMBERS}")
    members = tuple(_member(item) for item in raw_members)
    _unique(members)
    prev: bytes | None = None
    effective = 0
    if not first:
        prev = bytes.fromhex(_hex(doc["prev"], "prev", _HEX32))
        effective = _integer(doc["effective"], "effective", 0)
    return Roster(building, version, members, prev, effective)


def load(path: Path) -> Roster:
    """Read a roster file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RosterError(
            "no_roster",
            f"{path} does not exist; make it with {command_name.advice('roster init')}",
        ) from err
    except (OSError, ValueError) as err:
        raise RosterError("bad_roster", f"{path} is not a JSON roster: {err}") from err
    try:
        return parse(doc)
    except RosterError as err:
        raise RosterError(err.reason, f"{path}: {err}") from err


def save(roster: Roster, path: Path) -> None:
    """Write a roster file (indented for reading; its digest uses canonical form)."""
    path.write_text(text(roster), encoding="utf-8")


def text(roster: Roster) -> str:
    """A roster file's text: the same bytes for the same roster, however it is made."""
    return json.dumps(roster.document(), indent=2) + "\n"


def approval_message(proposed: Roster) -> bytes:
    """What each approving member signs: the proposed roster's digest."""
    return proposed.digest


def approve(identity: Identity, proposed: Roster) -> JsonObject:
    """A member's approval of a proposed roster."""
    return {
        "author": identity.author.hex(),
        "sig": identity.sign(approval_message(proposed)).hex(),
    }


def entry_body(proposed: Roster, approvals: list[JsonValue]) -> JsonObject:
    """The members of a ``roster`` entry (without the common members)."""
    body = proposed.document()
    del body["building"]  # the entry's common member carries it
    body["approvals"] = sorted(
        approvals,
        key=lambda item: str(item["author"]) if isinstance(item, dict) else "",
    )
    return body


def from_entry_body(body: JsonObject) -> tuple[Roster, list[tuple[bytes, bytes]]]:
    """The proposed roster and its (author, signature) approvals from an entry body."""
    doc = {
        key: value
        for key, value in body.items()
        if key in _DOC_KEYS and key != "building"
    }
    doc["building"] = body["building"]
    proposed = parse(doc)
    raw = body.get("approvals")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MEMBERS:
        raise RosterError("bad_roster", "approvals is a non-empty list")
    approvals: list[tuple[bytes, bytes]] = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"author", "sig"}:
            raise RosterError("bad_roster", "an approval is {author, sig}")
        approvals.append(
            (
                bytes.fromhex(_hex(item["author"], "author", _HEX32)),
                bytes.fromhex(_hex(item["sig"], "sig", _HEX64)),
            )
        )
    return proposed, approvals


def register() -> None:
    """Give the ledger format the schema of ``roster`` entries (kept for good)."""
    kinds.register(ROSTER, _check_entry, fully_checked=False, folded=False)


def _check_entry(body: JsonObject, refs: int) -> None:
    if refs:
        raise BodyError("bad_refs", f"a {ROSTER} entry has no refs")
    check_entry_body(body)


def check_entry_body(body: JsonObject) -> None:
    """Schema check of a ``roster`` entry body, without its refs."""
    allowed = {"v", "kind", "building", "ts", "approvals"} | (_DOC_KEYS - {"building"})
    unknown = set(body) - allowed
    if unknown:
        raise RosterError("unknown_member", f"unknown members {sorted(unknown)}")
    if "prev" not in body:
        raise RosterError("bad_roster", "a roster entry replaces a roster: prev")
    from_entry_body(body)


def check_change(
    current: Roster, proposed: Roster, approvals: list[tuple[bytes, bytes]]
) -> None:
    """Raise unless ``proposed`` may replace ``current``.

    It must be the next version, name the current roster as prev, be for the same
    building, and carry valid signatures of a majority of the current members.
    """
    if proposed.building != current.building:
        raise RosterError("wrong_building", "the proposal is for another building")
    if proposed.version != current.version + 1:
        raise RosterError(
            "not_next",
            f"version {proposed.version} does not follow {current.version}",
        )
    if proposed.prev != current.digest:
        raise RosterError("not_next", "prev is not the digest of the current roster")
    keys = KeyRing()
    for member in current.members:
        keys.add(member.key)
    message = approval_message(proposed)
    approvers: set[bytes] = set()
    for author, sig in approvals:
        if author not in keys:
            raise RosterError("non_member", f"{author.hex()[:16]} is not a member")
        if signature_problem(sig) is not None or not keys.verify(author, message, sig):
            raise RosterError("forged", f"the approval of {author.hex()[:16]} fails")
        approvers.add(author)
    if len(approvers) < current.majority:
        raise RosterError(
            "no_majority",
            f"{len(approvers)} of {len(current.members)} members approved; "
            f"{current.majority} are needed",
        )


def preferred(candidates: list[Roster]) -> Roster:
    """Of valid changes competing for one version, the one every node takes.

    The earliest ``effective`` wins; of those, the smallest digest (PROTOCOL.md 13.3).
    """
    return min(candidates, key=lambda item: (item.effective, item.digest))


def member_from_json(obj: object) -> Member:
    """A member object (as ``roster member`` prints it)."""
    return _member(obj)


def _member(obj: object) -> Member:
    if not isinstance(obj, dict) or set(obj) != _MEMBER_KEYS:
        raise RosterError("bad_roster", "a member is {flat, floor, key, address}")
    item = cast(dict[str, object], obj)
    flat, floor, address = item["flat"], item["floor"], item["address"]
    for name, value in (("flat", flat), ("floor", floor)):
        if not isinstance(value, str) or not _SHORT.match(value):
            raise RosterError("bad_roster", f"{name} is 1-16 of A-Z a-z 0-9 . _ -")
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise RosterError("bad_roster", f"address must be host:port, got {address!r}")
    key = bytes.fromhex(_hex(item["key"], "key", _HEX33))
    try:
        load_public_key(key)
    except PublicKeyError as err:
        raise RosterError("bad_key", f"flat {flat}: {err}") from err
    assert isinstance(flat, str)
    assert isinstance(floor, str)
    return Member(flat, floor, key, address)


def _unique(members: tuple[Member, ...]) -> None:
    for attribute in ("flat", "key"):
        values = [getattr(member, attribute) for member in members]
        if len(set(values)) != len(values):
            raise RosterError("bad_roster", f"two members share a {attribute}")


def _hex(value: object, name: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise RosterError("bad_roster", f"{name} must be lowercase hex of its length")
    return value


def _integer(value: object, name: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise RosterError("bad_roster", f"{name} must be an integer ≥ {low}")
    return value
