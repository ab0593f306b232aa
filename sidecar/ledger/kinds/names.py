"""The kinds of the ledger format, the body version, and how entries are counted.

PROTOCOL.md section 7: the entry kinds ``flow``, ``rollup`` and ``witnessed``, the
statements ``checkpoint`` and ``cosign``, and the rollup levels with their periods.
"""

from __future__ import annotations

import re
from typing import Final

from sidecar.ledger.canonical import JsonObject

VERSION: Final = 1
FLOW: Final = "flow"
ROLLUP: Final = "rollup"
CHECKPOINT: Final = "checkpoint"
COSIGN: Final = "cosign"
WITNESSED: Final = "witnessed"
STATEMENT_KINDS: Final = frozenset({CHECKPOINT, COSIGN})
# Level 1 sums an hour, 2 a day, 3 a month of the building's time zone (see periods).
ROLLUP_LEVELS: Final = (1, 2, 3)
TOP_LEVEL: Final = max(ROLLUP_LEVELS)

_ROLLUP_KEY: Final = re.compile(r"rollup_[0-9]+\Z")


def rollup_key(level: object) -> str:
    """The count key of a rollup of ``level`` (1 hourly, 2 daily, 3 monthly)."""
    return f"{ROLLUP}_{level}"


def rollup_level(key: str) -> int | None:
    """The level a rollup count key names (``rollup_2`` is 2); None for other keys."""
    return int(key[7:]) if _ROLLUP_KEY.match(key) else None


def count_key(kind: str, body: JsonObject) -> str:
    """How an entry is counted in rollups and stored: its kind, rollups with level."""
    if kind == ROLLUP:
        return rollup_key(body["level"])
    return kind
