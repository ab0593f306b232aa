"""Each flat's energy per hour of the building's time zone, taken entry by entry.

An hour of a flat is what its hourly rollup sums: the rollup's ``totals`` once it is
written, until then the running sum of the flows appended since the previous one
(the same integers, summed the same way). The hour a rollup closes is the one
before its ``end``; the open hour is the one its first flow was appended in.
Feeding the entries of every author, each author's in seq order, gives the same
hours whatever the interleaving of authors: :class:`Tracker` is both the
incremental updater and the recomputation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, cast

from sidecar.ledger import kinds
from sidecar.ledger.etp import Entry
from sidecar.ledger.kinds import periods

# The transfers a flow can state (kinds.energy.allocate), in a fixed order.
PAIRS: Final = (
    ("pv", "home"),
    ("pv", "battery"),
    ("pv", "grid"),
    ("battery", "home"),
    ("battery", "grid"),
    ("grid", "home"),
    ("grid", "battery"),
)
_INDEX: Final = {pair: number for number, pair in enumerate(PAIRS)}


class OutOfOrder(ValueError):
    """An author's entry came after a later one: feed each author in seq order."""


@dataclass(slots=True)
class Hour:
    """One flat's transfers in one hour: mWh and renewable mWh per pair of PAIRS.

    ``rollup`` is the hourly rollup that sums them (None while the hour is open):
    ``(seq, id, first, last)``. ``soc`` is the battery's state of charge (ppm) the
    hour's last flow stated, as its rollup repeats it (None when none did).
    """

    mwh: list[int] = field(default_factory=lambda: [0] * len(PAIRS))
    ren: list[int] = field(default_factory=lambda: [0] * len(PAIRS))
    soc: int | None = None
    rollup: tuple[int, bytes, int, int] | None = None

    def get(self, sender: str, receiver: str) -> int:
        """The mWh of one pair."""
        return self.mwh[_INDEX[(sender, receiver)]]

    def get_ren(self, sender: str, receiver: str) -> int:
        """Renewable mWh of one pair, as the flows state it."""
        return self.ren[_INDEX[(sender, receiver)]]


@dataclass(slots=True)
class Flat:
    """What the ledger says of one flat: where it is, and its hours."""

    author: bytes
    building: str = ""
    floor: str = ""
    flat: str = ""
    serial: str = ""
    hours: dict[int, Hour] = field(default_factory=dict)
    last_seq: int = 0
    open_hour: int | None = None
    open: Hour | None = None
    rollups: dict[int, tuple[bytes, bytes | None]] = field(default_factory=dict)
    closed_until: int = 0  # the end of the last hour a rollup closed

    def figures(self, *, closed_only: bool = False) -> dict[int, Hour]:
        """Every hour, the open one (which may still grow) unless ``closed_only``."""
        if closed_only or self.open is None or self.open_hour is None:
            return self.hours
        result = dict(self.hours)
        result.setdefault(self.open_hour, self.open)
        return result


class Tracker:
    """Takes entries one at a time and keeps every flat's hours."""

    def __init__(self, tz: str = "Asia/Tokyo") -> None:
        periods.zone(tz)
        self.tz = tz
        self.flats: dict[bytes, Flat] = {}

    def add(self, entry: Entry) -> None:
        """Account for one entry; entries other than flows and hourly rollups pass."""
        key = entry.key
        if key == kinds.FLOW:
            self._flow(entry)
        elif key == "rollup_1":
            self._rollup(entry)

    def locate(self, entry: Entry) -> None:
        """Take a flat's location and device from a flow without summing it."""
        flat = self.flats.setdefault(entry.author, Flat(entry.author))
        if not flat.flat:
            self._describe(flat, cast(dict[str, Any], entry.content))

    @staticmethod
    def _describe(flat: Flat, content: dict[str, Any]) -> None:
        loc = content["loc"]
        flat.building = content["building"]
        flat.floor, flat.flat = loc["floor"], loc["flat"]
        flat.serial = content.get("serial", "")

    def _flat(self, entry: Entry) -> Flat:
        flat = self.flats.get(entry.author)
        if flat is None:
            flat = self.flats[entry.author] = Flat(entry.author)
        if entry.seq <= flat.last_seq:
            raise OutOfOrder(
                f"entry {entry.seq} of {entry.author.hex()[:16]} came after "
                f"entry {flat.last_seq}"
            )
        flat.last_seq = entry.seq
        return flat

    def _flow(self, entry: Entry) -> None:
        flat = self._flat(entry)
        content = cast(dict[str, Any], entry.content)
        if not flat.flat:
            # The first flow's: a verifier reads only that one.
            self._describe(flat, content)
        hour = flat.open
        if hour is None:
            hour = flat.open = Hour()
            flat.open_hour = periods.floor(1, content["ts"], self.tz)
        mwh, ren = hour.mwh, hour.ren
        soc = content.get("soc")
        if soc is not None:
            hour.soc = soc
        for item in content["transfers"]:
            number = _INDEX.get((item["from"], item["to"]))
            if number is None:
                continue  # allocate() states no other pair; the schema checked it
            amount: int = item["mwh"]
            mwh[number] += amount
            # Per flow, as the rollup sums it, so both give the same integers.
            ren[number] += amount * item["ren"] // kinds.PPM

    def _rollup(self, entry: Entry) -> None:
        flat = self._flat(entry)
        content = cast(dict[str, Any], entry.content)
        end: int = content["end"]
        key = periods.floor(1, end - 1, self.tz)
        hour = Hour(
            rollup=(entry.seq, entry.id, content["first"], content["last"]),
            soc=content.get("soc"),
        )
        for item in content["totals"]:
            number = _INDEX.get((item["from"], item["to"]))
            if number is not None:
                hour.mwh[number] += item["mwh"]
                hour.ren[number] += item["ren_mwh"]
        if any(hour.mwh):
            # A second rollup for an hour (a node that came back) adds to it.
            earlier = flat.hours.get(key)
            if earlier is not None:
                hour.mwh = [a + b for a, b in zip(earlier.mwh, hour.mwh, strict=True)]
                hour.ren = [a + b for a, b in zip(earlier.ren, hour.ren, strict=True)]
                if hour.soc is None:
                    hour.soc = earlier.soc
            flat.hours[key] = hour
        flat.rollups[entry.seq] = (entry.id, entry.refs[0] if entry.refs else None)
        flat.closed_until = max(flat.closed_until, end)
        flat.open = None
        flat.open_hour = None
