"""Rollups: what a level-L rollup says about the entries since the previous one.

The same accumulator serves the feed (which writes rollups at the hour, day and month
boundaries of the building's time zone, see :mod:`sidecar.ledger.kinds.periods`)
and the verifier (which recomputes them from the entries it still has). A level-1
rollup sums flows; a level-L rollup sums the level-(L-1) rollups in its range, so it can
be written, and checked, long after what they sum is gone (PROTOCOL.md, section 7.2).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final, cast

from sidecar.ledger import kinds
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.kinds import periods

_SUMMARY_KEYS: Final = ("counts", "totals", "unbalanced", "flows_start", "flows_end")
# Stated since a later release of version 1; a rollup without it states no SoC.
_OPTIONAL_SUMMARY_KEYS: Final = ("soc",)


class Accumulator:
    """Running counts and energy totals for one rollup level."""

    def __init__(
        self, level: int, tz: str = periods.UTC_NAME, after: int | None = None
    ) -> None:
        """``after`` is the previous same-level rollup's ``end``, if there is one."""
        self.level = level
        self.tz = tz
        self.after = after
        self.counts: Counter[str] = Counter()
        self.totals: dict[tuple[str, str], list[int]] = {}
        self.unbalanced = 0
        self.flows_start: int | None = None
        self.flows_end: int | None = None
        self.soc: int | None = None
        self.opened_at: int | None = None

    def add(self, key: str, content: JsonObject) -> bool:
        """Account for one appended entry (count key ``key``, body ``content``).

        Returns True if this entry opened the range (so :meth:`due_at` changed).
        """
        was_open = self.opened_at is not None
        if key == kinds.FLOW:
            if self.level == 1:
                self._add_flow(content)
        else:
            self._add_other(key, content)
        return not was_open and self.opened_at is not None

    def _add_other(self, key: str, content: JsonObject) -> None:
        if key == f"rollup_{self.level - 1}":
            self.counts[key] += 1
            self._add_rollup(content)
            return
        if not key.startswith("rollup_"):
            self._open(_int(content, "ts"))
        # What the rollups below may fold is counted from their counts, which stay
        # when retention deletes the entries themselves.
        if self.level == 1 or not kinds.foldable(self.level - 1, key):
            self.counts[key] += 1

    def due_at(self) -> int | None:
        """When the next period boundary after the range's first content passes.

        None while the range holds nothing but rollups: then no rollup is written.
        """
        if self.opened_at is None:
            return None
        return periods.following(self.level, self.opened_at, self.tz)

    def summary(self) -> JsonObject:
        """The members of a rollup body that follow from the entries."""
        result: JsonObject = {
            "counts": {key: self.counts[key] for key in sorted(self.counts)},
            "totals": [
                {"from": sender, "to": receiver, "mwh": mwh, "ren_mwh": ren}
                for (sender, receiver), (mwh, ren) in sorted(self.totals.items())
            ],
            "unbalanced": self.unbalanced,
        }
        if self.flows_start is not None and self.flows_end is not None:
            result["flows_start"] = self.flows_start
            result["flows_end"] = self.flows_end
        if self.soc is not None:
            result["soc"] = self.soc
        return result

    def body(
        self,
        *,
        building: str,
        ts: int,
        seq: int,
        first: int,
        start: int | None,
        root: bytes,
        now_ms: int,
    ) -> JsonObject:
        """The rollup body to append as entry ``seq``.

        ``start`` is the previous same-level rollup's end (None for the first).
        """
        assert self.opened_at is not None
        begin = (
            start
            if start is not None
            else periods.floor(self.level, self.opened_at, self.tz)
        )
        body: JsonObject = {
            "v": kinds.VERSION,
            "kind": kinds.ROLLUP,
            "building": building,
            "ts": ts,
            "level": self.level,
            "start": begin,
            "end": periods.floor(self.level, now_ms, self.tz),
            "first": first,
            "last": seq - 1,
            "root": root.hex(),
        }
        if self.tz != periods.UTC_NAME:
            body["tz"] = self.tz
        body.update(self.summary())
        return body

    def _open(self, at: int) -> None:
        # A lower rollup that spans several periods may start before this level's
        # range; its entries are not older than the previous rollup's end.
        if self.opened_at is None:
            self.opened_at = at if self.after is None else max(at, self.after)

    def _add_flow(self, content: JsonObject) -> None:
        # Runs for every appended flow, so it reads the schema-checked body directly.
        self.counts[kinds.FLOW] += 1
        totals = self.totals
        for item in cast(list[dict[str, Any]], content["transfers"]):
            mwh: int = item["mwh"]
            pair = (item["from"], item["to"])
            entry = totals.get(pair)
            if entry is None:
                entry = totals[pair] = [0, 0]
            entry[0] += mwh
            entry[1] += mwh * item["ren"] // kinds.PPM
        if cast(dict[str, int], content["balance"])["ok"] == 0:
            self.unbalanced += 1
        soc = content.get("soc")
        if soc is not None:
            self.soc = cast(int, soc)
        start = cast(int, content["start"])
        end = cast(int, content["end"])
        if self.flows_start is None or self.flows_end is None:
            self.flows_start, self.flows_end = start, end
            self.opened_at = cast(int, content["ts"])
        else:
            self.flows_start = min(self.flows_start, start)
            self.flows_end = max(self.flows_end, end)
            if self.opened_at is None:
                self.opened_at = cast(int, content["ts"])

    def _add_rollup(self, content: JsonObject) -> None:
        counts = content["counts"]
        assert isinstance(counts, dict)
        flows = counts.get(kinds.FLOW, 0)
        assert isinstance(flows, int)
        if flows:
            self._span(_int(content, "flows_start"), _int(content, "flows_end"))
        for key, count in counts.items():
            assert isinstance(count, int)
            if kinds.foldable(self.level - 1, key):
                self.counts[key] += count
                if kinds.rollup_level(key) is None:
                    self._open(_int(content, "start"))
        totals = content["totals"]
        assert isinstance(totals, list)
        for item in totals:
            assert isinstance(item, dict)
            self._add_total(
                str(item["from"]),
                str(item["to"]),
                _int(item, "mwh"),
                _int(item, "ren_mwh"),
            )
        self.unbalanced += _int(content, "unbalanced")
        if "soc" in content:
            self.soc = _int(content, "soc")

    def _add_total(self, sender: str, receiver: str, mwh: int, ren: int) -> None:
        entry = self.totals.setdefault((sender, receiver), [0, 0])
        entry[0] += mwh
        entry[1] += ren

    def _span(self, start: int, end: int) -> None:
        self.flows_start = (
            start if self.flows_start is None else min(self.flows_start, start)
        )
        self.flows_end = end if self.flows_end is None else max(self.flows_end, end)


def differences(stated: JsonObject, computed: JsonObject) -> list[str]:
    """Which summary members of a rollup differ from the recomputed ones.

    ``soc`` is compared only when the rollup states it: rollups written before it
    was added leave it out and stay valid.
    """
    keys = _SUMMARY_KEYS + tuple(key for key in _OPTIONAL_SUMMARY_KEYS if key in stated)
    return [key for key in keys if stated.get(key) != computed.get(key)]


def _int(obj: dict[str, JsonValue], key: str) -> int:
    value = obj[key]
    assert isinstance(value, int)  # bodies are schema-checked before they get here
    return value
