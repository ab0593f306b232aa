"""How much of a flat's ledger today is measured, estimated or reconciled.

Counted from the flows a node writes (PROTOCOL.md 7.1, ``quality``), per day in the
building's time zone, since the node started. ``estimating_since`` is the start of
the run of estimated flows the newest flow belongs to: Home Assistant raises a repair
when a flat's ledger has been estimating for too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from sidecar.ledger.flows import ESTIMATED, MEASURED, RECONCILED

# The building's days when no zone is configured (DESIGN: default Asia/Tokyo).
DAY_ZONE: Final = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True, slots=True)
class FlowQuality:
    """Today's flows by quality (PROTOCOL.md 12.5), and since when it estimates."""

    day: str
    measured: int
    estimated: int
    reconciled: int
    # Left out of the message while None (the local API's optional members).
    estimating_since: int | None = field(default=None, metadata={"omit_none": True})


@dataclass(slots=True)
class QualityTally:
    """Flows of one day by quality, and the open run of estimated flows.

    ``zone`` is the building's time zone (the node's ``timezone`` setting): a day
    begins at its midnight.
    """

    zone: ZoneInfo = DAY_ZONE
    day: str = ""
    measured: int = 0
    estimated: int = 0
    reconciled: int = 0
    estimating_since: int | None = None

    def note(self, flow: Mapping[str, object]) -> None:
        """Count one flow body this node wrote."""
        end, start = flow["end"], flow["start"]
        # The flow schema makes both integers.
        assert isinstance(end, int)
        assert isinstance(start, int)
        day = datetime.fromtimestamp(end / 1000, UTC).astimezone(self.zone)
        text = day.date().isoformat()
        if text != self.day:
            self.day, self.measured, self.estimated, self.reconciled = text, 0, 0, 0
        quality = flow.get("quality", MEASURED)
        if quality == ESTIMATED:
            self.estimated += 1
            if self.estimating_since is None:
                self.estimating_since = start
        else:
            self.estimating_since = None
            if quality == RECONCILED:
                self.reconciled += 1
            else:
                self.measured += 1

    def report(self) -> FlowQuality:
        """The tally as the local API sends it."""
        return FlowQuality(
            self.day,
            self.measured,
            self.estimated,
            self.reconciled,
            self.estimating_since,
        )
