"""Mesh costs that must not grow with the square of the building (PROTOCOL.md 14).

Vectors go to a few random peers a round, equal heads are not parsed, held duplicates
are told apart by a lookup, and checkpoints and declarations come less often in a large
building.
"""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest

from sidecar.mesh import antientropy, checkpoints
from sidecar.mesh.replica import Head


def test_vectors_go_to_at_most_three_peers() -> None:
    links = list(range(40))
    picked = antientropy.round_peers(links, random.Random(1))
    assert len(picked) == antientropy.VECTOR_PEERS
    assert len(set(picked)) == len(picked)
    assert set(picked) <= set(links)
    assert antientropy.round_peers([1, 2], random.Random(1)) == [1, 2]


def test_every_peer_gets_vectors_within_a_few_rounds() -> None:
    rng = random.Random(7)
    links = list(range(99))
    heard: set[int] = set()
    for _ in range(400):
        heard.update(antientropy.round_peers(links, rng))
    assert heard == set(links)


def test_equal_heads_are_skipped_and_the_rest_kept() -> None:
    mine = {"aa": (3, "11"), "bb": (5, "22"), "cc": (1, "33")}
    heads: dict[str, object] = {
        "aa": [3, "11"],  # equal: skipped
        "bb": [6, "44"],  # ahead: kept
        "cc": [1, "99"],  # same seq, other id (a fork): kept
        "dd": [1, "55"],  # an author this node lacks: kept for the caller to judge
        "ee": "junk",  # malformed: kept, the caller refuses it
    }
    assert dict(antientropy.differing(heads, mine)) == {
        "bb": [6, "44"],
        "cc": [1, "99"],
        "dd": [1, "55"],
        "ee": "junk",
    }
    # A seq that equals only by Python's rules (True == 1) is not taken as equal.
    assert dict(antientropy.differing({"cc": [True, "33"]}, mine)) == {
        "cc": [True, "33"]
    }


def _heads(author: bytes, ids: dict[int, bytes]) -> dict[bytes, Head]:
    head = Head(number=1, seq=max(ids), ids=OrderedDict(ids))
    return {author: head}


def test_a_held_entry_offered_again_is_a_lookup() -> None:
    author = bytes(range(32))
    held = {1: b"\x01" * 32, 2: b"\x02" * 32}
    heads = _heads(author, held)
    offer = {"author": author.hex(), "seq": 2, "id": (b"\x02" * 32).hex()}
    assert antientropy.held_already(heads, offer)


@pytest.mark.parametrize(
    "change",
    [
        {"id": (b"\x03" * 32).hex()},  # another id at a held seq: may be a fork
        {"seq": 3},  # beyond the head: new
        {"id": None},  # no stated id: parsed in full
        {"seq": True},  # not an integer
        {"author": "zz" * 32},  # not hex
        {"author": "ab"},  # too short
        {"author": (b"\x09" * 32).hex()},  # an author not held
    ],
)
def test_anything_else_goes_to_the_full_check(change: dict[str, object]) -> None:
    author = bytes(range(32))
    heads = _heads(author, {1: b"\x01" * 32, 2: b"\x02" * 32})
    offer: dict[str, object] = {
        "author": author.hex(),
        "seq": 2,
        "id": (b"\x02" * 32).hex(),
    }
    offer.update(change)
    assert not antientropy.held_already(heads, offer)


def test_checkpoints_and_declarations_come_less_often_in_a_large_building() -> None:
    per_member = checkpoints.CHECKPOINT_S_PER_MEMBER
    assert checkpoints.spacing(5.0, per_member, 10) == 5.0
    assert checkpoints.spacing(5.0, per_member, 50) == 5.0
    assert checkpoints.spacing(5.0, per_member, 100) == pytest.approx(10.0)
    assert checkpoints.spacing(5.0, per_member, 200) == pytest.approx(20.0)
    declare = checkpoints.DECLARE_S_PER_MEMBER
    assert checkpoints.spacing(checkpoints.DECLARE_EVERY_S, declare, 30) == 30.0
    assert checkpoints.spacing(
        checkpoints.DECLARE_EVERY_S, declare, 200
    ) == pytest.approx(60.0)
