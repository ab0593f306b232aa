"""The SQLite ledger database: schema, connections and the queries every part shares.

Only the writer thread writes (see :mod:`sidecar.storage.writer`); everything else
reads through its own connection, which WAL mode lets run beside the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sidecar.ledger import etp, kinds, merkle
from sidecar.ledger.etp import Entry, Statement
from sidecar.ledger.identity import author_id
from sidecar.storage import migrations

# The schema created below; sidecar.storage.migrations takes it to the current one.
SCHEMA_VERSION: Final = 1
SYNC_MODES: Final = {"full": "FULL", "normal": "NORMAL"}
PAGE_SIZE: Final = 8192

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS authors (
    no INTEGER PRIMARY KEY,
    id BLOB NOT NULL UNIQUE,
    key BLOB NOT NULL
);
-- kind holds the count key (rollups with their level) so retention can select by it.
CREATE TABLE IF NOT EXISTS entries (
    author INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    id BLOB NOT NULL,
    prev BLOB NOT NULL,
    refs BLOB NOT NULL,
    body BLOB NOT NULL,
    sig BLOB NOT NULL,
    UNIQUE (author, seq)
);
-- Checkpoints and cosignatures; log is the author whose tree they are about.
CREATE TABLE IF NOT EXISTS statements (
    author INTEGER NOT NULL,
    kind TEXT NOT NULL,
    log INTEGER NOT NULL,
    size INTEGER NOT NULL,
    id BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL,
    sig BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS statements_log ON statements (log, size);
-- The second entry of an equivocating pair, kept as evidence.
CREATE TABLE IF NOT EXISTS conflicts (
    author INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    id BLOB NOT NULL UNIQUE,
    prev BLOB NOT NULL,
    refs BLOB NOT NULL,
    body BLOB NOT NULL,
    sig BLOB NOT NULL
);
-- Where retention has pruned each author up to: the Merkle frontier at size P, and the
-- seq of the last level-2 rollup whose level-1 rollups were folded.
CREATE TABLE IF NOT EXISTS frontiers (
    author INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    nodes BLOB NOT NULL,
    folded INTEGER NOT NULL
);
"""


class StoreError(Exception):
    """The database is missing, of another building or schema, or cannot be written."""


@dataclass(frozen=True, slots=True)
class Pruned:
    """An author's retention state."""

    frontier: merkle.Frontier
    folded: int


def connect(
    path: Path, *, sync: str = "full", readonly: bool = False
) -> sqlite3.Connection:
    """Open the database in WAL mode with explicit transactions."""
    if readonly:
        if not path.exists():
            raise StoreError(f"{path} does not exist")
        conn = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Only takes effect on a new, empty file (before WAL mode is switched on).
        # Entries are ~700 bytes; bigger pages waste less of each page and split less.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={SYNC_MODES[sync]}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def create(path: Path, building: str, public_key: bytes) -> None:
    """Create the schema for a node, or bring an older one up to date (idempotent).

    The node's own key is author 1.
    """
    conn = connect(path)
    try:
        conn.executescript(_SCHEMA)
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta and meta.get("building") != building:
            raise StoreError(
                f"{path} belongs to building {meta.get('building')!r}, "
                f"the configuration says {building!r}"
            )
        own = author_id(public_key).hex()
        if meta and meta.get("self") != own:
            raise StoreError(
                f"{path} was written by author {meta.get('self')}, but the key file "
                f"belongs to {own}; use the key this database was made with"
            )
        if not meta:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema", str(SCHEMA_VERSION)),
                    ("building", building),
                    ("self", own),
                ],
            )
            add_author(conn, public_key)
            conn.execute("COMMIT")
        migrations.upgrade(conn)
    except migrations.MigrationError as err:
        raise StoreError(f"{path}: {err}") from err
    finally:
        conn.close()


def note_start(conn: sqlite3.Connection, now_ms: int) -> None:
    """Record when the node last started: a real write, to learn the disk takes one."""
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('started', ?)", (str(now_ms),)
    )


def meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The meta table (schema, building, self)."""
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.OperationalError as err:
        raise StoreError(f"not a ledger database: {err}") from err


def add_author(conn: sqlite3.Connection, public_key: bytes) -> int:
    """Register an author's key inside the caller's transaction; its number."""
    aid = author_id(public_key)
    row = conn.execute("SELECT no FROM authors WHERE id = ?", (aid,)).fetchone()
    if row is not None:
        return int(row[0])
    cursor = conn.execute(
        "INSERT INTO authors (id, key) VALUES (?, ?)", (aid, public_key)
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def add_authors(conn: sqlite3.Connection, keys: list[bytes]) -> list[int]:
    """Register several authors' keys inside the caller's transaction; their numbers."""
    return [add_author(conn, key) for key in keys]


def authors(conn: sqlite3.Connection) -> list[tuple[int, bytes, bytes]]:
    """Every (number, author id, public key)."""
    return [
        (int(no), bytes(aid), bytes(key))
        for no, aid, key in conn.execute("SELECT no, id, key FROM authors ORDER BY no")
    ]


def author_no(conn: sqlite3.Connection, author: bytes) -> int | None:
    """The number of an author id, if known."""
    row = conn.execute("SELECT no FROM authors WHERE id = ?", (author,)).fetchone()
    return None if row is None else int(row[0])


def entry_row(
    author: int, entry: Entry
) -> tuple[int, int, str, bytes, bytes, bytes, bytes, bytes]:
    """The ``entries`` row of an entry."""
    return (
        author,
        entry.seq,
        entry.key,
        entry.id,
        entry.prev,
        b"".join(entry.refs),
        entry.body,
        entry.sig,
    )


INSERT_ENTRY: Final = (
    "INSERT INTO entries (author, seq, kind, id, prev, refs, body, sig) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_STATEMENT: Final = (
    "INSERT OR IGNORE INTO statements (author, kind, log, size, id, body, sig) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INSERT_CONFLICT: Final = (
    "INSERT OR IGNORE INTO conflicts (author, seq, id, prev, refs, body, sig) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def statement_row(
    author: int, log: int, statement: Statement
) -> tuple[int, str, int, int, bytes, bytes, bytes]:
    """The ``statements`` row of a checkpoint or cosignature."""
    size = statement.content["size"]
    assert isinstance(size, int)  # guaranteed by the schema check
    return (
        author,
        statement.kind,
        log,
        size,
        statement.id,
        statement.body,
        statement.sig,
    )


def split_refs(blob: bytes) -> tuple[bytes, ...]:
    """Stored refs (concatenated ids) back to a tuple."""
    return tuple(blob[i : i + 32] for i in range(0, len(blob), 32))


def pruned(conn: sqlite3.Connection, author: int) -> Pruned:
    """How far an author's feed has been pruned (empty frontier if never)."""
    row = conn.execute(
        "SELECT size, nodes, folded FROM frontiers WHERE author = ?", (author,)
    ).fetchone()
    if row is None:
        return Pruned(merkle.Frontier(), 0)
    try:
        frontier = merkle.Frontier.from_bytes(int(row[0]), bytes(row[1]))
    except ValueError as err:
        raise StoreError(f"the frontier of author {author} is damaged: {err}") from err
    return Pruned(frontier, int(row[2]))


def load_entry(author: bytes, row: tuple[object, ...]) -> Entry:
    """Open an entry from a (seq, prev, refs, body, sig) row, signature unchecked."""
    seq, prev, refs, body, sig = row
    assert isinstance(seq, int)
    assert isinstance(prev, bytes)
    assert isinstance(refs, bytes)
    assert isinstance(body, bytes)
    assert isinstance(sig, bytes)
    return etp.open_entry(author, seq, prev, split_refs(refs), body, sig)


def iter_entries(
    conn: sqlite3.Connection,
    author: int,
    after: int = 0,
    *,
    skip_flows: bool = False,
    limit: int | None = None,
) -> Iterator[tuple[int, str, bytes, bytes, bytes, bytes, bytes]]:
    """Rows ``(seq, kind, id, prev, refs, body, sig)`` of an author in seq order."""
    query = (
        "SELECT seq, kind, id, prev, refs, body, sig FROM entries "
        "WHERE author = ? AND seq > ?"
    )
    if skip_flows:
        query += " AND kind != 'flow'"
    if limit is None:
        yield from conn.execute(query + " ORDER BY seq", (author, after))
    else:
        yield from conn.execute(query + " ORDER BY seq LIMIT ?", (author, after, limit))


def last_entry(
    conn: sqlite3.Connection, author: int, kind: str | None = None
) -> tuple[int, bytes, bytes, bytes, bytes] | None:
    """The newest ``(seq, prev, refs, body, sig)`` of an author, or of one kind."""
    if kind is None:
        row = conn.execute(
            "SELECT seq, prev, refs, body, sig FROM entries WHERE author = ? "
            "ORDER BY seq DESC LIMIT 1",
            (author,),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT seq, prev, refs, body, sig FROM entries "
            "WHERE author = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
            (author, kind),
        ).fetchone()
    return None if row is None else (int(row[0]), row[1], row[2], row[3], row[4])


def entry_at(
    conn: sqlite3.Connection, author: int, seq: int
) -> tuple[int, bytes, bytes, bytes, bytes] | None:
    """The stored ``(seq, prev, refs, body, sig)`` of an author's entry ``seq``."""
    row = conn.execute(
        "SELECT seq, prev, refs, body, sig FROM entries WHERE author = ? AND seq = ?",
        (author, seq),
    ).fetchone()
    if row is None:
        return None
    seq, prev, refs, body, sig = row
    return int(seq), bytes(prev), bytes(refs), bytes(body), bytes(sig)


def entry_id(conn: sqlite3.Connection, author: int, seq: int) -> bytes | None:
    """The id of an author's stored entry ``seq``, if it is stored."""
    row = conn.execute(
        "SELECT id FROM entries WHERE author = ? AND seq = ?", (author, seq)
    ).fetchone()
    return None if row is None else bytes(row[0])


def entry_ids(
    conn: sqlite3.Connection, author: int, after: int, last: int
) -> Iterator[tuple[int, bytes]]:
    """``(seq, id)`` of an author's stored entries ``after`` < seq ≤ ``last``."""
    for seq, eid in conn.execute(
        "SELECT seq, id FROM entries WHERE author = ? AND seq > ? AND seq <= ? "
        "ORDER BY seq",
        (author, after, last),
    ):
        yield int(seq), bytes(eid)


def entries_of_kinds(
    conn: sqlite3.Connection, keys: tuple[str, ...]
) -> Iterator[Entry]:
    """Every stored entry, of any author, whose count key is one of ``keys``."""
    marks = ", ".join("?" * len(keys))
    for aid, seq, prev, refs, body, sig in conn.execute(
        "SELECT a.id, e.seq, e.prev, e.refs, e.body, e.sig FROM entries e "
        f"JOIN authors a ON a.no = e.author WHERE e.kind IN ({marks})",
        keys,
    ):
        yield load_entry(bytes(aid), (int(seq), prev, refs, body, sig))


def kind_counts(
    conn: sqlite3.Connection,
    author: int,
    first: int | None = None,
    last: int | None = None,
) -> dict[str, int]:
    """How many entries of each count key an author has stored (within a seq range)."""
    if first is None or last is None:
        rows = conn.execute(
            "SELECT kind, count(*) FROM entries WHERE author = ? GROUP BY kind",
            (author,),
        )
    else:
        rows = conn.execute(
            "SELECT kind, count(*) FROM entries WHERE author = ? "
            "AND seq BETWEEN ? AND ? GROUP BY kind",
            (author, first, last),
        )
    return dict(rows.fetchall())


def entry_span(
    conn: sqlite3.Connection, author: int
) -> tuple[int, int | None, int | None]:
    """How many entries an author has stored, and their lowest and highest seq."""
    count, low, high = conn.execute(
        "SELECT count(*), min(seq), max(seq) FROM entries WHERE author = ?",
        (author,),
    ).fetchone()
    return int(count), low, high


def checkpoint_size(conn: sqlite3.Connection, author: int) -> int:
    """The size of the largest checkpoint an author has signed (0 if none)."""
    row = conn.execute(
        "SELECT max(size) FROM statements WHERE author = ? AND kind = ?",
        (author, kinds.CHECKPOINT),
    ).fetchone()
    return int(row[0] or 0)


def checkpoint_summary(conn: sqlite3.Connection, author: int) -> tuple[int | None, int]:
    """The largest checkpoint size an author has signed (None if none) and how many."""
    size, count = conn.execute(
        "SELECT max(size), count(*) FROM statements WHERE author = ? AND kind = ?",
        (author, kinds.CHECKPOINT),
    ).fetchone()
    return size, int(count)


def latest_checkpoint(
    conn: sqlite3.Connection, author: int
) -> tuple[bytes, bytes] | None:
    """``(body, sig)`` of an author's checkpoint of the largest size, if any."""
    row = conn.execute(
        "SELECT body, sig FROM statements WHERE author = ? AND kind = ? "
        "ORDER BY size DESC, rowid DESC LIMIT 1",
        (author, kinds.CHECKPOINT),
    ).fetchone()
    return None if row is None else (bytes(row[0]), bytes(row[1]))


def statements_of(conn: sqlite3.Connection, author: int) -> list[tuple[bytes, bytes]]:
    """``(body, sig)`` of every statement an author signed, in the order stored."""
    return [
        (bytes(body), bytes(sig))
        for body, sig in conn.execute(
            "SELECT body, sig FROM statements WHERE author = ? ORDER BY rowid",
            (author,),
        )
    ]


def all_statements(
    conn: sqlite3.Connection,
) -> Iterator[tuple[int, str, int, int, bytes, bytes, bytes]]:
    """Rows ``(author, kind, log, size, id, body, sig)`` of all statements, in order."""
    for number, kind, log, size, sid, body, sig in conn.execute(
        "SELECT author, kind, log, size, id, body, sig FROM statements ORDER BY rowid"
    ):
        yield number, kind, log, size, bytes(sid), bytes(body), bytes(sig)


def conflicts(
    conn: sqlite3.Connection, author: int
) -> list[tuple[int, bytes, bytes, bytes, bytes]]:
    """An author's kept evidence ``(seq, prev, refs, body, sig)``, in the order kept."""
    return [
        (int(seq), bytes(prev), bytes(refs), bytes(body), bytes(sig))
        for seq, prev, refs, body, sig in conn.execute(
            "SELECT seq, prev, refs, body, sig FROM conflicts WHERE author = ? "
            "ORDER BY rowid",
            (author,),
        )
    ]


def conflict_count(conn: sqlite3.Connection, author: int) -> int:
    """How many pieces of evidence against an author are kept."""
    row = conn.execute(
        "SELECT count(*) FROM conflicts WHERE author = ?", (author,)
    ).fetchone()
    return int(row[0])


def conflicted(conn: sqlite3.Connection) -> list[tuple[bytes, int]]:
    """Every ``(author id, seq)`` for which evidence of equivocation is kept."""
    return [
        (bytes(aid), int(seq))
        for aid, seq in conn.execute(
            "SELECT DISTINCT a.id, c.seq FROM conflicts c "
            "JOIN authors a ON a.no = c.author"
        )
    ]


def author_id_of(conn: sqlite3.Connection, author: int) -> bytes:
    """The author id of a known author number."""
    row = conn.execute("SELECT id FROM authors WHERE no = ?", (author,)).fetchone()
    return bytes(row[0])


def rows_per_author(conn: sqlite3.Connection, table: str) -> list[tuple[int, int]]:
    """``(author number, rows)`` of one of the tables that rows of authors go in."""
    if table not in {"entries", "statements", "conflicts"}:
        raise ValueError(f"{table} holds no rows of authors")
    return [
        (int(number), int(count))
        for number, count in conn.execute(
            f"SELECT author, count(*) FROM {table} GROUP BY author"
        )
    ]


def quick_check(conn: sqlite3.Connection) -> str:
    """SQLite's own consistency check of the file: ``ok`` or the first problem."""
    return str(conn.execute("PRAGMA quick_check").fetchone()[0])


def adopt_frontier(
    conn: sqlite3.Connection, author: int, frontier: merkle.Frontier
) -> None:
    """Start an author's stored feed at ``frontier`` (inside the writer's transaction).

    A frontier already stored for the author is moved; its folded mark stays.
    """
    conn.execute(
        "INSERT INTO frontiers (author, size, nodes, folded) VALUES (?, ?, ?, 0) "
        "ON CONFLICT (author) DO UPDATE SET size = excluded.size, "
        "nodes = excluded.nodes",
        (author, frontier.size, frontier.to_bytes()),
    )
