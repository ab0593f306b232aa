"""Retention policy: which entries a rollup may stand in for once they are deleted.

PROTOCOL.md section 9. Routine entries (flows, witnessed declarations, and the kinds
registered as routine, such as availabilities) are deleted once a rollup counts them;
the others (rosters, dispatches, receipts) are kept for good.
"""

from __future__ import annotations

from sidecar.ledger.kinds.names import FLOW, WITNESSED, rollup_level

_FOLDED: set[str] = {FLOW, WITNESSED}


def fold(kind: str) -> None:
    """Make retention fold a registered kind (see :func:`schemas.register`)."""
    _FOLDED.add(kind)


def folded_kinds() -> frozenset[str]:
    """Every kind retention deletes once a rollup counts it."""
    return frozenset(_FOLDED)


def folded(key: str) -> bool:
    """Whether entries of this count key are routine, deleted after their rollup."""
    return key in _FOLDED


def foldable(level: int, key: str) -> bool:
    """Whether a rollup of this level may stand in for entries of this count key."""
    if key in _FOLDED:
        return True
    below = rollup_level(key)
    return below is not None and below < level
