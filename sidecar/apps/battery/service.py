"""The running node's battery figures, kept up to date, and their local-API routes.

The node hands every own entry to :meth:`BatteryService.appended` once it is durable,
so the figures follow the ledger entry by entry; at start they are rebuilt from the
flows the database still holds. Two routes, with the local API's bearer token
(PROTOCOL.md section 12, docs/BATTERY.md):

* ``GET /api/v1/battery``: every battery's current figures and active anomalies;
* ``GET /api/v1/battery/passport?from=&to=&serial=``: a signed battery passport.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from aiohttp import web

from sidecar.api import bearer
from sidecar.apps.battery.daily import due
from sidecar.apps.battery.passport import PassportError, anomaly_json, build
from sidecar.apps.battery.passport import report_json as full_report
from sidecar.apps.battery.passport_cli import instant
from sidecar.apps.battery.tracker import Tracker
from sidecar.config import Config
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from sidecar.storage import battery_reads, store

REPORT_PATH: Final = "/api/v1/battery"
PASSPORT_PATH: Final = "/api/v1/battery/passport"


class BatteryService:
    """The flat's own batteries, followed entry by entry."""

    def __init__(
        self, config: Config, identity: Identity, clock: Callable[[], int]
    ) -> None:
        self.config = config
        self.identity = identity
        self.clock = clock
        self.tracker = Tracker(config.timezone)
        self._token = config.api_token.encode()
        self._last_seq = 0
        # Appends an entry to the own feed (set by the node once its feed is open);
        # summaries of closed days are written through it (PROTOCOL.md 7.12).
        self.write: (
            Callable[[str, JsonObject, int, tuple[bytes, ...]], object] | None
        ) = None
        self._asked: set[tuple[str, int]] = set()

    def load(self, conn: sqlite3.Connection) -> None:
        """Rebuild the figures from the own flows the database holds."""
        author = store.author_no(conn, self.identity.author)
        if author is not None:
            for entry in battery_reads.entries(conn, author, self._last_seq):
                self.appended(entry)

    def appended(self, entry: Entry) -> None:
        """A durable entry; own entries newer than any seen update the figures."""
        if entry.author != self.identity.author or entry.seq <= self._last_seq:
            return
        self._last_seq = entry.seq
        self.tracker.add(entry)
        self.summarise()

    def attach(
        self, write: Callable[[str, JsonObject, int, tuple[bytes, ...]], object]
    ) -> None:
        """Write summaries through ``write`` (the feed's append) from now on."""
        self.write = write
        self.summarise()

    def summarise(self) -> None:
        """Write the ``battery_day`` of each day closed from flows, not yet stated."""
        if self.write is None:
            return
        for content, refs in due(self.tracker, self._asked):
            end = content["end"]
            assert isinstance(end, int)
            # Stated once the day is over by the node's clock as well.
            now = max(self.clock(), end)
            # Not from inside the durability callback that closed the day.
            asyncio.get_running_loop().call_soon(
                partial(self.write, BATTERY_DAY, content, now, refs)
            )

    def summary(self) -> dict[str, Any]:
        """Every battery's figures, without the daily history and past anomalies."""
        batteries = []
        for report in self.tracker.reports():
            battery = self.tracker.batteries[report.serial]
            body = full_report(report, battery, self.tracker.limits.recent_days)
            body.pop("days", None)
            body["anomalies"] = len(report.anomalies)
            body["active"] = [anomaly_json(a) for a in report.active]
            batteries.append(body)
        return {"batteries": batteries}

    def add_routes(self, app: web.Application) -> None:
        """Register the two routes on the local API's application."""
        app.router.add_get(REPORT_PATH, self._report)
        app.router.add_get(PASSPORT_PATH, self._passport)

    def _refusal(self, request: web.Request) -> web.Response | None:
        return bearer.refusal(request, self._token)

    async def _report(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        return web.json_response(self.summary())

    async def _passport(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        query = request.query
        try:
            period = (
                instant(query.get("from"), self.config.timezone),
                instant(query.get("to"), self.config.timezone),
            )
        except ValueError as err:
            return web.json_response(
                {"error": "bad_request", "detail": str(err)}, status=400
            )
        try:
            # Reading the flows and building the proofs take a while: not on the loop.
            document = await asyncio.to_thread(self._build, period, query.get("serial"))
        except PassportError as err:
            return web.json_response(
                {"error": "unavailable", "detail": str(err)}, status=409
            )
        return web.json_response(document)

    def _build(
        self, period: tuple[int | None, int | None], serial: str | None
    ) -> dict[str, Any]:
        config = self.config
        conn = store.connect(config.db_path, readonly=True)
        try:
            return build(
                conn,
                self.identity,
                tz=config.timezone,
                place=(config.building, config.floor, config.flat),
                period=period,
                serial=serial,
                now_ms=self.clock(),
            )
        finally:
            conn.close()
