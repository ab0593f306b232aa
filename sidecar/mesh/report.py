"""What Home Assistant is told of the mesh (PROTOCOL.md 12.6), integrity included.

An integrity problem is evidence that a member broke the protocol: two entries signed
with one seq (equivocation), or a checkpoint whose root is not the root of the entries
it signs (verification failed). Each is listed once, for as long as the node runs.
"""

from __future__ import annotations

import time
from typing import Any, Final

from sidecar.mesh.roster import Roster
from sidecar.mesh.witness import TreeHead

EQUIVOCATION: Final = "equivocation"
VERIFICATION_FAILED: Final = "verification_failed"
REPORT_EVERY_S: Final = 10.0


def problem(
    kind: str,
    author: bytes,
    roster: Roster,
    *,
    seq: int = 0,
    detail: str | None = None,
) -> dict[str, Any]:
    """One integrity problem as the ``mesh`` message lists it."""
    member = roster.member(author)
    found: dict[str, Any] = {
        "kind": kind,
        "author": author.hex(),
        "flat": member.flat if member else "",
    }
    if detail is None:
        found["seq"] = seq
    else:
        found["detail"] = detail
    return found


class Integrity:
    """The integrity problems found so far, each once."""

    def __init__(self) -> None:
        self.problems: dict[tuple[str, str, int], dict[str, Any]] = {}

    def add(
        self,
        kind: str,
        author: bytes,
        roster: Roster,
        *,
        seq: int = 0,
        detail: str | None = None,
    ) -> bool:
        """Record a problem (see :func:`problem`); True if it was not known yet."""
        key = (kind, author.hex(), seq)
        if key in self.problems:
            return False
        self.problems[key] = problem(kind, author, roster, seq=seq, detail=detail)
        return True

    def verdict(self) -> str:
        """The worst problem's kind: equivocation, verification_failed, else ok."""
        found = {item["kind"] for item in self.problems.values()}
        if EQUIVOCATION in found:
            return EQUIVOCATION
        if VERIFICATION_FAILED in found:
            return VERIFICATION_FAILED
        return "ok"


class Schedule:
    """When the next ``mesh`` message is due: soon after a change, else periodically."""

    def __init__(self) -> None:
        self._soon = False
        self._sent_at = 0.0

    def soon(self) -> None:
        """Something the message shows has changed."""
        self._soon = True

    def take(self) -> bool:
        """Whether a message is due now; if it is, it counts as sent."""
        if self._soon or time.monotonic() - self._sent_at >= REPORT_EVERY_S:
            self._soon = False
            self._sent_at = time.monotonic()
            return True
        return False


def mesh_message(
    roster: Roster,
    *,
    me: bytes,
    online: set[bytes],
    witnessed: TreeHead | None,
    now_ms: int,
    integrity: Integrity,
) -> dict[str, Any]:
    """The ``mesh`` message: members online, this node's witnessed head, integrity."""
    return {
        "type": "mesh",
        "roster_version": roster.version,
        "roster_size": len(roster.members),
        "peers_online": len(online),
        "peers": [
            {
                "flat": member.flat,
                "floor": member.floor,
                "author": member.author.hex(),
                "online": member.author in online,
            }
            for member in roster.members
            if member.author != me
        ],
        "witnessed": None
        if witnessed is None
        else {
            "size": witnessed.size,
            "ts": witnessed.ts,
            "age_ms": max(0, now_ms - witnessed.ts),
        },
        "integrity": integrity.verdict(),
        "problems": list(integrity.problems.values()),
    }
