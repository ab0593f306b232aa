"""How a node starts WAT: the roster chain it can rebuild, its database, the routes."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from sidecar.apps.wat.node_app import WatApp
from sidecar.apps.wat.route import WatRoutes
from sidecar.config import Config
from sidecar.ledger.errors import InvalidData
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Roster, RosterError
from sidecar.mesh.roster_chain import RosterChain
from sidecar.storage import store
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
    """WAT for this node, loaded from its database; None if it cannot run here."""
    try:
        chain = roster_chain(config, roster, reader)
        app = WatApp(chain, gate, clock, gate.feed.identity.author)
    except InvalidData as err:
        _LOGGER.warning("WAT settlement is off: %s", err)
        return None
    app.load(reader, gate.feed.author_no)
    _LOGGER.debug("WAT loaded; settled until %s", app.settlement.book.settled_until)
    return WatRoutes(app, config.api_token)


def roster_chain(
    config: Config, roster: Roster, reader: sqlite3.Connection
) -> RosterChain:
    """The roster chain settlement starts from, as far back as the node can know it.

    The building's first roster when the roster file is version 1 or carries the chain
    (an export's roster lines); without a file, the node alone. A file of a later
    version N (the building changed its roster) is traced back through the ``roster``
    entries the database holds: each names the digest of the version it replaced, so
    versions the file's chain of digests reaches are the building's own, whoever
    recorded them. Version 1 itself is never in a feed, so such a chain starts at the
    oldest version reached (PROTOCOL.md 7.10.2).
    """
    if config.roster_file is None:
        return RosterChain(roster)
    try:
        return members.load_chain(config.roster_file)
    except RosterError as err:
        if err.reason != "bad_roster":
            raise
    newest = roster_module.load(config.roster_file)
    by_digest: dict[bytes, Roster] = {}
    for entry in store.entries_of_kinds(reader, (roster_module.ROSTER,)):
        try:
            proposed, _approvals = roster_module.from_entry_body(entry.content)
        except RosterError:
            continue  # the roster chain counts and reports a bad body
        by_digest[proposed.digest] = proposed
    oldest = newest
    while oldest.prev is not None and oldest.prev in by_digest:
        oldest = by_digest[oldest.prev]
    _LOGGER.info(
        "WAT follows the roster from version %d (the roster file is version %d)",
        oldest.version,
        newest.version,
    )
    return RosterChain(oldest, from_any_version=True)
