"""The applications beside the ledger, as the node starts and feeds them.

Battery traceability and WAT settlement follow every own entry once it is durable
(WAT also peers' entries and the clock); renewable origin answers from the database.
Each adds its routes to the local API. The node holds one ``Applications`` and calls
it at these points, so a new application changes this module, not the node.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from aiohttp import web

from sidecar.api.c2sp_routes import C2spRoutes
from sidecar.apps.battery.service import BatteryService
from sidecar.apps.origin.routes import OriginRoutes, Refusal
from sidecar.apps.wat import wiring as wat_wiring
from sidecar.apps.wat.route import WatRoutes
from sidecar.config import Config
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from sidecar.mesh.membership import Membership
from sidecar.mesh.roster import Roster
from sidecar.storage.gate import Gate

AddRoutes = Callable[[web.Application], None]


class Applications:
    """Battery traceability, renewable origin and WAT settlement of one node."""

    def __init__(
        self, config: Config, identity: Identity, clock: Callable[[], int]
    ) -> None:
        self._config = config
        self._clock = clock
        self.battery = BatteryService(config, identity, clock)
        self.wat: WatRoutes | None = None
        self.c2sp = C2spRoutes(config, identity)
        self._started: tuple[sqlite3.Connection, Gate, Membership] | None = None
        self._first: Roster | None = None

    def start(
        self, reader: sqlite3.Connection, gate: Gate, membership: Membership
    ) -> None:
        """Load what the database holds, then follow every own entry once durable."""
        self._started = (reader, gate, membership)
        self._first = membership.chain.versions[0]
        self.wat = wat_wiring.start(
            self._config, self._first, gate, self._clock, reader
        )
        if self.wat is not None:
            gate.on_durable.append(self.wat.app.durable)
        self.battery.load(reader)
        gate.on_durable.append(self.battery.appended)

    def _follow_roster(self) -> None:
        """WAT settles over the first roster a node that ran alone adopted."""
        assert self._started is not None
        reader, gate, membership = self._started
        first = membership.chain.versions[0]
        if first is self._first or self.wat is None:
            return  # the same roster; or WAT could not run here (a restart retries)
        self._first = first
        fresh = wat_wiring.start(self._config, first, gate, self._clock, reader)
        if fresh is None:
            return
        gate.on_durable.remove(self.wat.app.durable)
        self.wat.app = fresh.app
        gate.on_durable.append(fresh.app.durable)

    def routes(self, refusal: Refusal) -> list[AddRoutes]:
        """The applications' local-API routes."""
        origin = OriginRoutes(self._config, refusal)
        routes: list[AddRoutes] = [origin.add_routes, self.battery.add_routes]
        routes.append(self.c2sp.add_routes)
        if self.wat is not None:
            routes.append(self.wat.add_routes)
        return routes

    def arrived(self, entry: Entry) -> None:
        """A peer's entry, queued for storage."""
        if self.wat is not None:
            self.wat.app.arrived(entry)

    def tick(self) -> None:
        """The node's periodic tick: WAT closes the intervals whose time has come."""
        self._follow_roster()
        if self.wat is not None:
            self.wat.app.tick()
