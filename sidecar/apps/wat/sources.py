"""Where the command line reads a ledger from: a node's database or exported feeds."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sidecar import config as config_module
from sidecar.apps.wat.inputs import KINDS
from sidecar.apps.wat.settlement import Settlement
from sidecar.ledger import etp
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity, KeyRing
from sidecar.mesh import roster as roster_module
from sidecar.mesh.roster import Member, Roster
from sidecar.storage import store
from sidecar.tools import members


class SourceError(Exception):
    """A database or export that cannot be read for settlement."""


def now_ms() -> int:
    """The wall clock in ms."""
    return time.time_ns() // 1_000_000


def from_database(config_path: Path) -> tuple[Settlement, str]:
    """Settlement over a node's database (read-only), and the node's own flat."""
    config = config_module.load(config_path)
    if config.roster_file is not None:
        first = members.first_roster(config.roster_file)
    else:
        key = Identity.load(config.key_file).public_key
        own = Member(config.flat, config.floor, key, f"{config.host}:{config.port}")
        first = Roster(config.building, 1, (own,))
    conn = store.connect(config.db_path, readonly=True)
    try:
        entries = list(store.entries_of_kinds(conn, (*KINDS, roster_module.ROSTER)))
    finally:
        conn.close()
    settlement = Settlement(first, entries)
    settlement.advance(now_ms())
    return settlement, config.flat


def from_exports(paths: list[Path], at_ms: int | None = None) -> Settlement:
    """Settlement over exported feeds; every entry's signature is checked."""
    if not paths:
        raise SourceError("name at least one export file")
    try:
        first = members.first_roster(paths[0])
    except InvalidData as err:
        raise SourceError(f"{paths[0]}: {err}") from err
    keys = KeyRing()
    entries: list[Entry] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise SourceError(f"{path}: {err}") from err
        for number, line in enumerate(lines, start=1):
            try:
                obj = json.loads(line)
                kind = obj.get("type") if isinstance(obj, dict) else None
                if kind == "author":
                    keys.add(bytes.fromhex(obj["key"]))
                elif kind == "entry":
                    entry = etp.entry_from_wire(obj)
                    if entry.kind in (*KINDS, roster_module.ROSTER):
                        etp.check_signature(entry, keys)
                        entries.append(entry)
            except (ValueError, KeyError, InvalidData) as err:
                raise SourceError(f"{path} line {number}: {err}") from err
    settlement = Settlement(first, entries)
    settlement.advance(now_ms() if at_ms is None else at_ms)
    return settlement


def author_of(settlement: Settlement, flat: str, at_ms: int) -> bytes:
    """The author id of ``flat`` in the roster in force at ``at_ms``."""
    for member in settlement.rosters.at(at_ms).members:
        if member.flat == flat:
            return member.author
    raise SourceError(f"no flat {flat!r} in the roster")
