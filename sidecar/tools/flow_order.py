"""The verifier's rules for one author's flows in time (PROTOCOL.md section 10).

Flows of one feed, taken in seq order, cover time one after the other: a flow that
starts before the previous one ended counts energy twice (``flow_overlap``, a
finding). A flow that starts after the previous one ended leaves a stretch nobody
measured (``flow_hole``, a notice: an honest node that was off has holes). Only flows
with nothing missing between them are compared, since retention deletes flows.
"""

from __future__ import annotations

from sidecar.ledger import chain, kinds
from sidecar.ledger.etp import Entry
from sidecar.mesh.roster import Member


class FlowOrder:
    """Follows one feed's flows; says what each one breaks."""

    def __init__(self) -> None:
        self._end: int | None = None  # the previous flow's end, if comparable

    def lost_track(self) -> None:
        """Entries are missing here (pruned or damaged): compare from the next flow."""
        self._end = None

    def see(self, entry: Entry) -> list[tuple[str, str]]:
        """``(code, detail)`` for the ways this entry breaks the order of flows."""
        if entry.kind != kinds.FLOW:
            return []
        start, end = _int(entry, "start"), _int(entry, "end")
        before, self._end = self._end, end
        home = chain.home_problem(entry)
        found = [] if home is None else [("balance_mismatch", home)]
        if before is None or start == before:
            return found
        if start < before:
            detail = (
                f"starts at {start}, before the previous flow's end {before}: "
                f"{before - start} ms counted twice"
            )
            return [("flow_overlap", detail), *found]
        hole = f"{start - before} ms after the previous flow's end"
        return [("flow_hole", hole), *found]


def flat_problem(entry: Entry, member: Member | None) -> str | None:
    """Why a flow names another flat than its signer's on the roster; None if not."""
    if member is None or entry.kind != kinds.FLOW:
        return None
    loc = entry.content["loc"]
    assert isinstance(loc, dict)  # schema-checked
    if loc.get("flat") == member.flat and loc.get("floor") == member.floor:
        return None
    return (
        f"a flow for flat {loc.get('flat')!r} on floor {loc.get('floor')!r}, signed "
        f"by the key of flat {member.flat!r} on floor {member.floor!r}"
    )


def _int(entry: Entry, key: str) -> int:
    value = entry.content[key]
    assert isinstance(value, int)  # schema-checked
    return value
