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

    def start(self, reader: sqlite3.Connection, gate: Gate, roster: Roster) -> None:
        """Load what the database holds, then follow every own entry once durable."""
        self.wat = wat_wiring.start(self._config, roster, gate, self._clock, reader)
        if self.wat is not None:
            gate.on_durable.append(self.wat.app.durable)
        self.battery.load(reader)
        gate.on_durable.append(self.battery.appended)

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
        if self.wat is not None:
            self.wat.app.tick()
