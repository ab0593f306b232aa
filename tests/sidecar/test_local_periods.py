"""Rollups sum the hours, days and months of the building's time zone; old days fold."""

from __future__ import annotations

import itertools
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar import config as sidecar_config
from sidecar.ledger import canonical, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.identity import Identity
from sidecar.ledger.kinds import periods
from sidecar.ledger.schema import BodyError
from sidecar.storage import retention, store
from sidecar.storage.feed import Feed
from sidecar.storage.writer import Writer
from sidecar.tools.verify import verify_database
from tests.sidecar.support import BUILDING, DAY, HOUR, T0, Ledger, init_site

TOKYO = "Asia/Tokyo"
# T0 is 2026-06-20 00:00 UTC; 2026-06-20 00:00 JST is nine hours earlier.
TOKYO_MIDNIGHT = T0 - 9 * HOUR
# 2026-07-01 00:00 JST.
TOKYO_JULY = TOKYO_MIDNIGHT + 11 * DAY


def _open(path: Path, tz: str, identity: Identity | None = None) -> Ledger:
    identity = identity or Identity.generate()
    store.create(path, BUILDING, identity.public_key)
    writer = Writer(path)
    writer.start()
    conn = store.connect(path, readonly=True)
    try:
        feed = Feed.load(conn, identity, BUILDING, writer, 1, tz=tz)
    finally:
        conn.close()
    return Ledger(path, identity, writer, feed)


@pytest.fixture
def tokyo(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger whose rollups follow Japan Standard Time."""
    handle = _open(tmp_path / "ledger.db", TOKYO)
    try:
        yield handle
    finally:
        handle.writer.close()


def _reopen(ledger: Ledger, tz: str) -> Ledger:
    ledger.sync()
    ledger.writer.close()
    return _open(ledger.path, tz, ledger.identity)


def _rollups(path: Path, key: str) -> list[tuple[int, JsonObject]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT seq, body FROM entries WHERE kind = ? ORDER BY seq", (key,)
        ).fetchall()
    finally:
        conn.close()
    return [(seq, canonical.decode(bytes(body))) for seq, body in rows]


def _count(path: Path, key: str) -> int:
    conn = sqlite3.connect(path)
    try:
        (count,) = conn.execute(
            "SELECT count(*) FROM entries WHERE kind = ?", (key,)
        ).fetchone()
    finally:
        conn.close()
    return int(count)


def _assert_ok(path: Path) -> None:
    report = verify_database(path)
    assert report.ok, [str(f) for f in report.findings]


def test_a_tokyo_day_starts_at_midnight_jst() -> None:
    noon_jst = TOKYO_MIDNIGHT + 12 * HOUR
    assert periods.floor(2, noon_jst, TOKYO) == TOKYO_MIDNIGHT
    assert periods.following(2, noon_jst, TOKYO) == TOKYO_MIDNIGHT + DAY
    assert periods.floor(3, noon_jst, TOKYO) == TOKYO_MIDNIGHT - 19 * DAY
    assert periods.following(3, noon_jst, TOKYO) == TOKYO_JULY
    # The formula of PROTOCOL.md for a zone of fixed offset: t - (t + offset) mod day.
    assert noon_jst - (noon_jst + 9 * HOUR) % DAY == TOKYO_MIDNIGHT
    assert periods.floor(2, noon_jst, "UTC") == T0
    assert not periods.is_boundary(2, T0, TOKYO)


@pytest.mark.parametrize(
    "tz", ["UTC", TOKYO, "Asia/Kolkata", "Europe/Berlin", "America/Santiago"]
)
def test_boundaries_are_consistent_in_every_zone(tz: str) -> None:
    rng = random.Random(tz)
    for _ in range(300):
        at = rng.randrange(T0 - 400 * DAY, T0 + 400 * DAY)
        for level in kinds.ROLLUP_LEVELS:
            start = periods.floor(level, at, tz)
            end = periods.following(level, at, tz)
            assert start <= at < end
            assert periods.is_boundary(level, start, tz)
            assert periods.is_boundary(level, end, tz)
            assert periods.following(level, start, tz) == end
            # Every boundary of a level is one of the level below, so lower
            # rollups are written first and the higher ones sum whole ranges.
            if level > 1:
                assert periods.is_boundary(level - 1, start, tz)


def test_an_unknown_zone_is_refused() -> None:
    for name in ("Mars/Olympus", "../etc/passwd", "", "/UTC"):
        with pytest.raises(periods.ZoneError):
            periods.zone(name)


def test_the_daily_rollup_ends_at_midnight_in_tokyo(tokyo: Ledger) -> None:
    # One flow every ten minutes from 22:00 JST to 02:00 JST.
    tokyo.flows(4 * 6, TOKYO_MIDNIGHT - 2 * HOUR + 10 * 60_000, 10 * 60_000)
    tokyo.feed.roll(TOKYO_MIDNIGHT + 3 * HOUR)
    tokyo.sync()
    daily = _rollups(tokyo.path, "rollup_2")
    assert [(body["start"], body["end"], body["tz"]) for _, body in daily] == [
        (TOKYO_MIDNIGHT - DAY, TOKYO_MIDNIGHT, TOKYO)
    ]
    assert daily[0][1]["counts"] == {"flow": 11, "rollup_1": 2}
    _assert_ok(tokyo.path)


def test_a_rollup_whose_end_is_not_a_boundary_of_its_zone_is_refused(
    tokyo: Ledger,
) -> None:
    tokyo.flows(3, TOKYO_MIDNIGHT - HOUR, 60_000)
    tokyo.feed.roll(TOKYO_MIDNIGHT + 1)
    tokyo.sync()
    seq, body = _rollups(tokyo.path, "rollup_2")[0]
    kinds.check_rollup(body, seq, 0)
    for change in ({"tz": "UTC"}, {"tz": "Mars/Olympus"}, {"end": T0}):
        with pytest.raises(BodyError):
            kinds.check_rollup({**body, **change}, seq, 0)


def _months(ledger: Ledger, days: int) -> int:
    """Flows every six hours for ``days`` from 2026-06-20 JST; the time after."""
    return ledger.flows(days * 4, TOKYO_MIDNIGHT + 60_000, 6 * HOUR)


def test_old_daily_rollups_fold_into_monthly_ones(tokyo: Ledger) -> None:
    end = _months(tokyo, 75)  # into the first days of September (JST)
    tokyo.feed.roll(end + HOUR)
    tokyo.sync()
    monthly = _rollups(tokyo.path, "rollup_3")
    assert [(body["start"], body["end"]) for _, body in monthly] == [
        (TOKYO_MIDNIGHT - 19 * DAY, TOKYO_JULY),
        (TOKYO_JULY, TOKYO_JULY + 31 * DAY),
        (TOKYO_JULY + 31 * DAY, TOKYO_JULY + 62 * DAY),
    ]
    assert [body["counts"]["flow"] for _, body in monthly] == [44, 124, 124]
    _assert_ok(tokyo.path)
    policy = retention.Policy(flows_ms=HOUR, hourly_ms=2 * DAY, daily_ms=3 * DAY)
    pruned = tokyo.writer.call(
        lambda conn: retention.prune(conn, end + HOUR, policy)
    ).result()
    assert pruned.entries > 0
    # June and July are monthly rollups only; August keeps its days, whose hours
    # are folded; the last days keep everything their windows keep.
    assert _count(tokyo.path, "rollup_3") == 3
    days_left = [body["end"] for _, body in _rollups(tokyo.path, "rollup_2")]
    assert min(days_left) == TOKYO_JULY + 32 * DAY
    _assert_ok(tokyo.path)
    # Restarting and going on keeps the next month's rollup exact, its days
    # counted from the daily rollups even where their entries are gone.
    tokyo = _reopen(tokyo, TOKYO)
    try:
        later = _months_from(tokyo, TOKYO_JULY + 62 * DAY + 4 * DAY, 30)
        tokyo.feed.roll(later + HOUR)
        tokyo.sync()
        tokyo.writer.call(
            lambda conn: retention.prune(conn, later + HOUR, policy)
        ).result()
        _assert_ok(tokyo.path)
        september = _rollups(tokyo.path, "rollup_3")[-1][1]
        assert september["end"] == TOKYO_JULY + 92 * DAY
        # September 1-2 before the restart, 5-30 after it, four flows a day.
        assert september["counts"]["flow"] == (2 + 26) * 4
        # Deleting a monthly rollup, the only record of its month, is found.
        first = _rollups(tokyo.path, "rollup_3")[0][0]
        conn = sqlite3.connect(tokyo.path, isolation_level=None)
        conn.execute("DELETE FROM entries WHERE seq = ?", (first,))
        conn.close()
        assert "gap" in {f.code for f in verify_database(tokyo.path).findings}
    finally:
        tokyo.writer.close()


def _months_from(ledger: Ledger, start: int, days: int) -> int:
    return ledger.flows(days * 4, start, 6 * HOUR)


def test_a_feed_moving_from_utc_days_to_tokyo_days_stays_verifiable(
    tmp_path: Path,
) -> None:
    ledger = _open(tmp_path / "ledger.db", periods.UTC_NAME)
    ledger.flows(3 * 24, T0 - DAY + 60_000, HOUR)
    ledger = _reopen(ledger, TOKYO)
    try:
        ledger.flows(3 * 24, T0 + 2 * DAY + 60_000, HOUR)
        ledger.feed.roll(T0 + 6 * DAY)
        ledger.sync()
        daily = [body for _, body in _rollups(ledger.path, "rollup_2")]
        for before, after in itertools.pairwise(daily):
            assert after["start"] == before["end"]
        assert "tz" not in daily[0]
        assert daily[-1]["tz"] == TOKYO
        assert daily[-1]["end"] % DAY == 15 * HOUR
        _assert_ok(ledger.path)
    finally:
        ledger.writer.close()


def test_the_time_zone_setting_is_checked(tmp_path: Path) -> None:
    path = init_site(tmp_path)
    loaded = sidecar_config.load(path)
    assert loaded.timezone == TOKYO
    assert loaded.daily_days == 400
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('timezone = "Asia/Tokyo"', 'timezone = "Asia/Fukuoka"'),
        encoding="utf-8",
    )
    with pytest.raises(sidecar_config.ConfigError, match=r"\[node\] timezone"):
        sidecar_config.load(path)
    path.write_text(
        text.replace('timezone = "Asia/Tokyo"', 'timezone = "Europe/Berlin"'),
        encoding="utf-8",
    )
    assert sidecar_config.load(path).timezone == "Europe/Berlin"
    path.write_text(
        text.replace("daily_days = 400", "daily_days = 35"), encoding="utf-8"
    )
    with pytest.raises(sidecar_config.ConfigError, match="daily_days"):
        sidecar_config.load(path)
