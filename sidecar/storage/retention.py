"""Retention: delete what rollups stand in for, once it is old enough.

Flows are deleted a few hours after the hourly rollup that sums them; hourly rollups
weeks after the daily rollup that sums them; daily rollups a year or so after the
monthly rollup that sums them. Before any flow goes, the Merkle frontier
is advanced over it and must reproduce the rollup's signed root, so the pruned part of
the tree stays anchored (PROTOCOL.md, section 9). Runs on the writer thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sidecar.ledger import canonical, kinds, merkle
from sidecar.ledger.battery_day import BATTERY_DAY
from sidecar.storage import store


class RetentionError(Exception):
    """The feed does not match its rollups, so nothing of it is deleted."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each layer is kept after the rollup above it has been written."""

    flows_ms: int
    hourly_ms: int
    daily_ms: int = 400 * 86_400_000


@dataclass(slots=True)
class Pruning:
    """What one pass deleted."""

    entries: int = 0
    statements: int = 0


def prune(conn: sqlite3.Connection, now_ms: int, policy: Policy) -> Pruning:
    """Prune every author's feed; call inside a write transaction."""
    result = Pruning()
    for author, _aid, _key in store.authors(conn):
        _prune_author(conn, author, now_ms, policy, result)
    return result


def _prune_author(
    conn: sqlite3.Connection, author: int, now_ms: int, policy: Policy, result: Pruning
) -> None:
    try:
        state = store.pruned(conn, author)
    except store.StoreError as err:
        raise RetentionError(f"{err}; not pruning (run verify)") from err
    frontier = state.frontier.copy()
    folded = state.folded
    routine = sorted(kinds.folded_kinds())
    marks = ", ".join("?" * len(routine))
    hold = _held(conn, author)
    for seq, body in _rollups(conn, author, kinds.rollup_key(1), frontier.size + 1):
        if _int(body, "end") > now_ms - policy.flows_ms or seq - 1 >= hold:
            break
        last = seq - 1
        _advance(conn, author, frontier, last)
        if frontier.root().hex() != body["root"]:
            raise RetentionError(
                f"author {author}: the tree at size {last} does not match the root "
                f"signed in rollup {seq}; not pruning (run verify)"
            )
        result.entries += conn.execute(
            f"DELETE FROM entries WHERE author = ? AND kind IN ({marks}) "
            "AND seq > ? AND seq <= ?",
            (author, *routine, state.frontier.size, last),
        ).rowcount
    for seq, body in _rollups(conn, author, kinds.rollup_key(2), folded):
        if _int(body, "end") > now_ms - policy.hourly_ms or seq - 1 > frontier.size:
            break
        result.entries += conn.execute(
            f"DELETE FROM entries WHERE author = ? AND kind IN ({marks}, ?) "
            "AND seq >= ? AND seq < ?",
            (
                author,
                *routine,
                kinds.rollup_key(1),
                _int(body, "first"),
                seq,
            ),
        ).rowcount
        folded = seq
    result.entries += _fold_days(conn, author, now_ms, policy, folded)
    if frontier.size == state.frontier.size and folded == state.folded:
        return
    result.statements += conn.execute(
        "DELETE FROM statements WHERE log = ? AND size <= ?", (author, frontier.size)
    ).rowcount
    conn.execute(
        "INSERT OR REPLACE INTO frontiers (author, size, nodes, folded) "
        "VALUES (?, ?, ?, ?)",
        (author, frontier.size, frontier.to_bytes(), folded),
    )


def _fold_days(
    conn: sqlite3.Connection, author: int, now_ms: int, policy: Policy, folded: int
) -> int:
    """Delete what old monthly rollups stand in for: daily rollups and anything below.

    Only ranges whose daily rollups have all been folded themselves (their hourly
    rollups deleted, so wholly below the frontier) go.
    """
    deleted = 0
    foldable = sorted({*kinds.folded_kinds(), kinds.rollup_key(1), kinds.rollup_key(2)})
    marks = ", ".join("?" * len(foldable))
    for seq, body in _rollups(conn, author, kinds.rollup_key(3), 0):
        if _int(body, "end") > now_ms - policy.daily_ms:
            break
        first = _int(body, "first")
        (last_day,) = conn.execute(
            "SELECT max(seq) FROM entries WHERE author = ? AND kind = ? "
            "AND seq >= ? AND seq < ?",
            (author, kinds.rollup_key(2), first, seq),
        ).fetchone()
        if last_day is not None and last_day > folded:
            break
        deleted += conn.execute(
            f"DELETE FROM entries WHERE author = ? AND kind IN ({marks}) "
            "AND seq >= ? AND seq < ?",
            (author, *foldable, first, seq),
        ).rowcount
    return deleted


def _held(conn: sqlite3.Connection, author: int) -> int:
    """The seq of the author's newest ``battery_day`` (PROTOCOL.md 9), or no limit.

    The frontier stays below it: it is proven by inclusion, and proves the older
    ones through their chain of refs.
    """
    # Backwards along the (author, seq) index: the newest one is at most a day back.
    row = conn.execute(
        "SELECT seq FROM entries WHERE author = ? AND kind = ? "
        "ORDER BY seq DESC LIMIT 1",
        (author, BATTERY_DAY),
    ).fetchone()
    return canonical.MAX_INT if row is None else int(row[0])


def _rollups(
    conn: sqlite3.Connection, author: int, key: str, after: int
) -> list[tuple[int, canonical.JsonObject]]:
    rows = conn.execute(
        "SELECT seq, body FROM entries WHERE author = ? AND kind = ? AND seq > ? "
        "ORDER BY seq",
        (author, key, after),
    ).fetchall()
    return [(int(seq), canonical.decode(bytes(body))) for seq, body in rows]


def _advance(
    conn: sqlite3.Connection, author: int, frontier: merkle.Frontier, last: int
) -> None:
    """Append the leaves after the frontier up to ``last``; all of them must exist."""
    for seq, eid in conn.execute(
        "SELECT seq, id FROM entries WHERE author = ? AND seq > ? AND seq <= ? "
        "ORDER BY seq",
        (author, frontier.size, last),
    ):
        if seq != frontier.size + 1:
            raise RetentionError(
                f"author {author}: entry {frontier.size + 1} is missing; not pruning"
            )
        frontier.append(merkle.leaf_hash(bytes(eid)))
    if frontier.size != last:
        raise RetentionError(f"author {author}: entries up to {last} are missing")


def _int(body: canonical.JsonObject, key: str) -> int:
    value = body[key]
    assert isinstance(value, int)  # rollup bodies are schema-checked when stored
    return value
