"""The local API's origin endpoints: today's figures and a period's certificates.

``GET /api/v1/origin/today`` and ``GET /api/v1/origin/certificates?from=…&to=…``
(PROTOCOL.md section 12), with the same bearer token as the WebSocket. The ledger is
read on a worker thread with a read-only connection of its own, so the node's loop
and writer are never held up.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Final

from aiohttp import web

from sidecar.apps.origin import issue
from sidecar.apps.origin.today import Today
from sidecar.config import Config
from sidecar.ledger.canonical import JsonObject
from sidecar.storage import store

TODAY_PATH: Final = "/api/v1/origin/today"
CERTIFICATES_PATH: Final = "/api/v1/origin/certificates"
MAX_PERIOD_MS: Final = 31 * 86_400_000

type Refusal = Callable[[web.Request], web.Response | None]


class OriginRoutes:
    """Answers origin requests from the node's database."""

    def __init__(self, config: Config, refusal: Refusal) -> None:
        self._path = config.db_path
        self._tz = config.timezone
        self._refusal = refusal
        self._today = Today(config.timezone)
        self._lock = asyncio.Lock()  # one reader at a time: the tracker is shared

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints."""
        app.router.add_get(TODAY_PATH, self._get_today)
        app.router.add_get(CERTIFICATES_PATH, self._get_certificates)

    async def _get_today(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        async with self._lock:
            try:
                figures = await asyncio.to_thread(self._read_today)
            except (sqlite3.DatabaseError, store.StoreError) as err:
                return _unreadable(err)
        return web.json_response(figures)

    def _read_today(self) -> JsonObject:
        conn = store.connect(self._path, readonly=True)
        try:
            self._today.catch_up(conn)
            own = bytes.fromhex(store.meta(conn)["self"])
        finally:
            conn.close()
        return self._today.figures(own, time.time_ns() // 1_000_000)

    async def _get_certificates(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            start = int(request.query["from"])
            end = int(request.query["to"])
        except (KeyError, ValueError):
            return _bad("give from and to as ms since the epoch")
        if not 0 <= start < end or end - start > MAX_PERIOD_MS:
            return _bad("from must be before to, at most 31 days apart")
        async with self._lock:
            try:
                lines = await asyncio.to_thread(self._read_certificates, start, end)
            except (sqlite3.DatabaseError, store.StoreError) as err:
                return _unreadable(err)
        return web.json_response({"tz": self._tz, "lines": lines})

    def _read_certificates(self, start: int, end: int) -> list[JsonObject]:
        conn = store.connect(self._path, readonly=True)
        try:
            own = bytes.fromhex(store.meta(conn)["self"])
            return issue.issue(
                conn, self._tz, start=start, end=end, authors=[own]
            ).lines
        finally:
            conn.close()


def _unreadable(err: Exception) -> web.Response:
    return web.json_response(
        {"error": "ledger_unreadable", "detail": str(err)}, status=503
    )


def _bad(detail: str) -> web.Response:
    return web.json_response({"error": "bad_request", "detail": detail}, status=400)
