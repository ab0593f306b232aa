"""What the node reports of the mesh: integrity problems, and when to report.

An integrity problem is evidence that a member broke the protocol: two entries signed
with one seq (equivocation), or a checkpoint whose root is not the root of the entries
it signs (verification failed). Each is listed once, for as long as the node runs, in
the ``mesh`` message (PROTOCOL.md 12.6) that :mod:`sidecar.api.services` builds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from sidecar.mesh.roster import Roster

EQUIVOCATION: Final = "equivocation"
VERIFICATION_FAILED: Final = "verification_failed"
REPORT_EVERY_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class Problem:
    """Evidence against a member: the seq it equivocated at, or what failed."""

    kind: str
    author: bytes
    flat: str  # empty if the author is not in the roster
    seq: int | None = None
    detail: str | None = None


def problem(
    kind: str,
    author: bytes,
    roster: Roster,
    *,
    seq: int = 0,
    detail: str | None = None,
) -> Problem:
    """One integrity problem: ``seq`` for an equivocation, else ``detail``."""
    member = roster.member(author)
    flat = member.flat if member else ""
    if detail is None:
        return Problem(kind, author, flat, seq=seq)
    return Problem(kind, author, flat, detail=detail)


class Integrity:
    """The integrity problems found so far, each once."""

    def __init__(self) -> None:
        self.problems: dict[tuple[str, str, int], Problem] = {}

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
        found = {item.kind for item in self.problems.values()}
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
