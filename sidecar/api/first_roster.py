"""The building's first roster, adopted over the local API instead of a file copy.

Plain HTTP beside the WebSocket, with the same bearer token (PROTOCOL.md section
12.14):

* ``GET /api/v1/roster/first``: whether this node still runs alone, and the roster it
  builds on and where that came from;
* ``POST /api/v1/roster/first``: the building's first roster (or the member lines to
  make it, as ``roster init`` does), checked as a roster file is, kept in the data
  directory and put in force without a restart, the way a roster change that came
  due is (within a second).

A node that has a roster (named in its configuration, adopted earlier, or changed by a
vote while it ran alone) refuses another; the same roster again is no change.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from sidecar.api import bearer
from sidecar.api.services import NodeServices
from sidecar.ledger import files
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import ROSTER, Roster, RosterError
from sidecar.storage import store

FIRST_PATH: Final = "/api/v1/roster/first"
MAX_BODY: Final = 256 * 1024  # 64 members are about 16 KB
NONE: Final = "none"
CONFIG: Final = "config"
ADOPTED: Final = "adopted"
_KEYS: Final = frozenset({"roster", "members", "building", "digest", "dry_run"})
_DIGEST: Final = re.compile(r"[0-9a-f]{16,64}\Z")
# How each refusal is answered: the request's fault (400), a well-formed roster that
# is not this node's (422), a conflict with the roster the node has (409), a disk
# that does not take the file (503).
_STATUS: Final = {
    "too_large": 413,
    "not_listed": 422,
    "wrong_building": 422,
    "digest_mismatch": 422,
    "has_roster": 409,
    "not_stored": 503,
}


def keep(first: Roster, path: Path) -> None:
    """Write ``first`` to ``path`` as ``roster init`` does: whole or not at all.

    After a crash the node finds either no roster file or this one, complete; and once
    the node has answered, the file is there after a power cut.
    """
    files.replace_durably(path, roster_module.text(first).encode(), 0o644)


class FirstRoster:
    """The node's first-roster endpoints."""

    def __init__(self, services: NodeServices) -> None:
        """The endpoints of the node whose parts ``services`` holds."""
        self._services = services
        self._token = services.config.api_token.encode()
        config = services.config
        self._path = config.kept_roster
        if config.roster_file is None:
            self.source = NONE
        else:
            self.source = ADOPTED if config.roster_file == self._path else CONFIG
        self._lock = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints on the node's application."""
        app.router.add_get(FIRST_PATH, self._state)
        app.router.add_post(FIRST_PATH, self._post)

    @property
    def alone(self) -> bool:
        """Whether the node still runs as a building of one, free to adopt."""
        membership = self._services.membership
        return self.source == NONE and len(membership.chain.versions) == 1

    async def _state(self, request: web.Request) -> web.Response:
        if (refusal := bearer.refusal(request, self._token)) is not None:
            return refusal
        membership = self._services.membership
        start = membership.chain.versions[0]
        alone = self.alone
        return web.json_response(
            {
                "alone": alone,
                "source": self.source,
                "building": start.building,
                "version": membership.base.version,
                "digest": None if alone else start.digest.hex(),
                "roster": None if alone else start.document(),
            }
        )

    async def _post(self, request: web.Request) -> web.Response:
        if (refusal := bearer.refusal(request, self._token)) is not None:
            return refusal
        try:
            body = await _json_body(request)
            dry_run = body.get("dry_run", False)
            if not isinstance(dry_run, bool):
                raise RosterError("bad_request", "dry_run is true or false")
            digest = _digest(body.get("digest"))
            first = self._roster_of(body)
            self._services.membership.check_own(first)
            if digest is not None and not first.digest.hex().startswith(digest):
                raise RosterError(
                    "digest_mismatch",
                    f"this roster's digest begins {first.digest.hex()[:16]}, not "
                    f"{digest[:16]}: it is not the roster the other flats have",
                )
            async with self._lock:
                adopted = await self._take(first, dry_run=dry_run)
        except InvalidData as err:
            self._services.count_rejection(f"first_roster_{err.reason}")
            return web.json_response(
                {"error": err.reason, "detail": err.detail},
                status=_STATUS.get(err.reason, 400),
            )
        return web.json_response(
            {
                "adopted": adopted,
                "building": first.building,
                "version": first.version,
                "digest": first.digest.hex(),
                "members": [
                    {"flat": m.flat, "floor": m.floor, "address": m.address}
                    for m in first.members
                ],
                "roster": first.document(),
            }
        )

    def _roster_of(self, body: dict[str, Any]) -> Roster:
        """The roster a request carries, or makes from member lines."""
        unknown = set(body) - _KEYS
        if unknown:
            raise RosterError("bad_request", f"unknown members {sorted(unknown)}")
        if ("roster" in body) == ("members" in body):
            raise RosterError("bad_request", "send either roster or members")
        if "members" in body:
            if not isinstance(body["members"], list):
                raise RosterError("bad_request", "members is a list of member objects")
            # What `roster init` makes of the same lines, in the same order.
            return roster_module.parse(
                {
                    "building": body.get("building", self._services.config.building),
                    "version": 1,
                    "members": body["members"],
                }
            )
        if "building" in body:
            raise RosterError("bad_request", "building goes with members only")
        first = roster_module.parse(body["roster"])
        if first.version != 1:
            raise RosterError(
                "bad_roster",
                f"a first roster is version 1, not {first.version}; a later version "
                "is a change the members approve",
            )
        return first

    async def _take(self, first: Roster, *, dry_run: bool) -> bool:
        """Keep and adopt ``first``; whether it was adopted now."""
        membership = self._services.membership
        if not self.alone:
            if self.source != NONE and membership.chain.versions[0] == first:
                return False  # the roster it has: asked again, nothing to do
            raise RosterError("has_roster", self._why_not_alone())
        if dry_run:
            return False
        if self._services.gate.fault is not None:
            raise RosterError(
                "not_stored",
                f"the ledger cannot be written ({self._services.gate.fault}); "
                "fix the disk first",
            )
        try:
            # Read before writing: a database that cannot be read leaves no file.
            stored = await asyncio.to_thread(
                _stored_changes, self._services.config.db_path
            )
        except (sqlite3.Error, store.StoreError) as err:
            raise RosterError(
                "not_stored", f"cannot read the ledger's roster changes: {err}"
            ) from err
        try:
            await asyncio.to_thread(keep, first, self._path)
        except OSError as err:
            raise RosterError(
                "not_stored", f"cannot write {self._path.name}: {err}"
            ) from err
        self.source = ADOPTED
        # The node's periodic check puts it in force within a second, as it does a
        # roster change that came due; WAT follows on its next tick.
        membership.adopt_first(first, stored)
        return True

    def _why_not_alone(self) -> str:
        membership = self._services.membership
        if self.source == CONFIG:
            return (
                "this node's configuration names a roster file "
                f"({self._services.config.roster_file}); that one stays"
            )
        if self.source == ADOPTED:
            digest = membership.chain.versions[0].digest.hex()
            return f"this node adopted its building's first roster ({digest[:16]}…)"
        return (
            f"this node changed its roster of one by a vote (version "
            f"{membership.base.version}); its building is set"
        )


def _stored_changes(db_path: Path) -> list[Entry]:
    """The ``roster`` entries the node holds, as a start offers them to its chain."""
    conn = store.connect(db_path, readonly=True)
    try:
        return list(store.entries_of_kinds(conn, (ROSTER,)))
    finally:
        conn.close()


def _digest(value: object) -> str | None:
    """The digest (or its beginning) a request gives, if any."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise RosterError(
            "bad_request", "digest is 16 to 64 lowercase hex characters of it"
        )
    return value


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RosterError("too_large", f"a first roster is at most {MAX_BODY} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise RosterError(
            "too_large", f"a first roster is at most {MAX_BODY} bytes"
        ) from err
    if len(raw) > MAX_BODY:
        raise RosterError("too_large", f"a first roster is at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise RosterError("bad_request", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise RosterError("bad_request", "the body is a JSON object")
    return body
