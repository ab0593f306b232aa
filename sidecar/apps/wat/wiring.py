"""How a node starts WAT: the first roster, the database read, the routes."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from sidecar.apps.wat.node_app import WatApp
from sidecar.apps.wat.route import WatRoutes
from sidecar.config import Config
from sidecar.ledger.errors import InvalidData
from sidecar.mesh.roster import Roster
from sidecar.storage.gate import Gate
from sidecar.tools import members

_LOGGER = logging.getLogger(__name__)


def start(
    config: Config,
    roster: Roster,
    gate: Gate,
    clock: Callable[[], int],
    reader: sqlite3.Connection,
) -> WatRoutes | None:
    """WAT for this node, loaded from its database; None if it cannot run here.

    Settlement rebuilds the roster chain from version 1, so it needs the building's
    first roster: the roster file, or the node alone when there is none.
    """
    try:
        first = (
            members.first_roster(config.roster_file)
            if config.roster_file is not None
            else roster
        )
        if first.version != 1:
            raise InvalidData("bad_roster", "the roster file is not version 1")
        app = WatApp(first, gate, clock, gate.feed.identity.author)
    except InvalidData as err:
        _LOGGER.warning("WAT settlement is off: %s", err)
        return None
    app.load(reader, gate.feed.author_no)
    _LOGGER.debug("WAT loaded; settled until %s", app.settlement.book.settled_until)
    return WatRoutes(app, config.api_token)
