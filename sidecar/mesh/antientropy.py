"""Anti-entropy at building scale: vectors to a few peers, and only news read closely.

Every node holds every member's feed, so any one peer's vector shows a node all it
lacks. Sending the vector to every peer every round would cost each node a read of
``members`` heads from each of ``members - 1`` peers per round, which grows with the
square of the building. Instead each round goes to a few peers picked at random
(PROTOCOL.md section 14.3): every node still hears a full vector about every round, and
over a few rounds every pair of nodes compares its heads, which is what exposes a fork.

A received vector is first compared, as text, with this node's own: heads that are
equal (nearly all of them in a building that keeps up) are skipped without parsing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, Protocol

VECTOR_PEERS: Final = 3  # peers that get this node's vector each round


def round_peers[T](links: Sequence[T], rng: random.Random | None = None) -> list[T]:
    """The links this round's vector goes to: all of them up to ``VECTOR_PEERS``."""
    if len(links) <= VECTOR_PEERS:
        return list(links)
    return (rng or random).sample(list(links), VECTOR_PEERS)


def differing(
    heads: dict[str, object], mine: dict[str, tuple[int, str]]
) -> Iterator[tuple[str, object]]:
    """The ``(author hex, value)`` pairs of ``heads`` not equal to this node's own.

    A value equal to this node's ``[seq, head id]`` needs no check: it is what this
    node holds. Everything else, including anything malformed, is left to the caller.
    """
    for author_hex, value in heads.items():
        held = mine.get(author_hex)
        if (
            held is not None
            and isinstance(value, list)
            and len(value) == 2
            and value[0] == held[0]
            and value[1] == held[1]
            and type(value[0]) is int
        ):
            continue
        yield author_hex, value


class _Held(Protocol):
    """An author's feed as held: its head seq and the recent ids by seq."""

    @property
    def seq(self) -> int: ...

    @property
    def ids(self) -> Mapping[int, bytes]: ...


def held_already(heads: Mapping[bytes, _Held], item: dict[str, object]) -> bool:
    """Whether an offered wire entry names an entry this node already holds.

    True when its author, seq and stated ``id`` match an entry held here (among the
    recent ids kept in memory): then it is a duplicate, told apart by a dictionary
    lookup without parsing, hashing or verifying. An entry that states a held id but
    carries another body is not the held entry, and not taking it loses nothing: its
    true id differs, and an honest sender states the true id. Anything else, including
    anything malformed, goes on to the full check.
    """
    seq, claimed, author_hex = item.get("seq"), item.get("id"), item.get("author")
    if type(seq) is not int or not isinstance(claimed, str):
        return False
    if not isinstance(author_hex, str) or len(author_hex) != 64:
        return False
    try:
        head = heads.get(bytes.fromhex(author_hex))
    except ValueError:
        return False
    if head is None or seq > head.seq:
        return False
    held = head.ids.get(seq)
    return held is not None and held.hex() == claimed
