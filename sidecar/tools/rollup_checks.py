"""The verifier's rules for where rollups sit on the clock (PROTOCOL.md section 10).

A level-L rollup closes a period of the building's zone: every entry it covers,
other than rollups, lies in ``[start, end)`` by ``ts`` (``rollup_period``), and none
of them lies at or after the boundary that follows the entry opening the range,
since the node appends the rollup as soon as its clock passes that boundary, before
anything else (``rollup_missing``: a rollup was due before that entry).

Only what the author's own clock decided is judged, so a rollup is checked against
the previous rollup of its level: that one must be present, right before its range,
and of the same zone. The first rollup of a level and the first after a change of
zone are not checked (a node upgraded from the first release writes its first
level-3 rollup over its whole history). ``rollup_missing`` needs every entry of the
range, since the entry that opened it may have been pruned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.ledger import canonical, kinds
from sidecar.ledger.etp import Entry
from sidecar.ledger.kinds import periods


@dataclass(slots=True)
class _Range:
    """What one level's open range holds so far, as far as placement needs."""

    count: int = 0  # entries seen in the range, rollups included
    clean: bool = True  # no damaged entry in it
    low: tuple[int, int] | None = None  # (ts, seq) of the earliest non-rollup entry
    high: tuple[int, int] | None = None  # (ts, seq) of the latest non-rollup entry


class Placement:
    """Follows one feed's ranges per level; judges each rollup that closes one."""

    def __init__(self) -> None:
        self._ranges = {level: _Range() for level in kinds.ROLLUP_LEVELS}

    def damaged(self) -> None:
        """An entry of every open range could not be read."""
        for item in self._ranges.values():
            item.clean = False

    def see(self, entry: Entry) -> None:
        """Count a valid entry into the ranges it belongs to (not a rollup's own)."""
        level_of = kinds.rollup_level(entry.key)
        for level, item in self._ranges.items():
            if level == level_of:
                continue
            item.count += 1
            if level_of is None:
                at = (entry.ts, entry.seq)
                item.low = at if item.low is None else min(item.low, at)
                item.high = at if item.high is None else max(item.high, at)

    def close(
        self,
        entry: Entry,
        opened_at: int | None,
        previous: canonical.JsonObject | None,
    ) -> list[tuple[str, str]]:
        """``(code, detail)`` for a rollup; starts its level's next range.

        ``opened_at`` is when its range opened (section 7.2) as far as the entries
        present tell; ``previous`` the body of the same-level rollup right before its
        range, if present.
        """
        content = entry.content
        level, first = _int(content, "level"), _int(content, "first")
        item, self._ranges[level] = self._ranges[level], _Range()
        tz = str(content.get("tz", periods.UTC_NAME))
        if previous is None or previous.get("tz", periods.UTC_NAME) != tz:
            return []
        start, end = _int(content, "start"), _int(content, "end")
        found: list[tuple[str, str]] = []
        if item.low is not None and item.low[0] < start:
            found.append(
                ("rollup_period", f"seq {item.low[1]} is before its start {start}")
            )
        if item.high is not None and item.high[0] >= end:
            found.append(
                ("rollup_period", f"seq {item.high[1]} is not before its end {end}")
            )
        complete = item.clean and item.count == entry.seq - first
        if complete and opened_at is not None and item.high is not None:
            due = periods.following(level, opened_at, tz)
            if item.high[0] >= due:
                found.append(
                    (
                        "rollup_missing",
                        f"seq {item.high[1]} is after the {periods.NAMES[level]} "
                        f"boundary {due} its range passed; a rollup was due first",
                    )
                )
        return found


def uncovered(
    span: tuple[int, int], covers: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of ``span`` no cover reaches (covers sorted by start)."""
    low, high = span
    result: list[tuple[int, int]] = []
    for start, end in covers:
        if end < low or start > high:
            continue
        if start > low:
            result.append((low, start - 1))
        low = max(low, end + 1)
        if low > high:
            return result
    if low <= high:
        result.append((low, high))
    return result


def _int(content: canonical.JsonObject, key: str) -> int:
    value = content[key]
    assert isinstance(value, int)  # schema-checked
    return value
