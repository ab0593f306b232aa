"""RFC 6962 Merkle trees: roots, inclusion and consistency proofs, pruned trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sidecar.ledger import merkle


def _reference_root(data: list[bytes]) -> bytes:
    """RFC 6962's MTH written as plainly as possible."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    left, right = _reference_root(data[:k]), _reference_root(data[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def _data(n: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]


def _leaves(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(item) for item in data]


SIZES = st.integers(1, 300)


@given(st.integers(0, 300))
def test_roots_match_the_rfc_definition(n: int) -> None:
    data = _data(n)
    assert merkle.root(_leaves(data)) == _reference_root(data)
    assert merkle.Tree(_leaves(data)).root() == _reference_root(data)


@given(SIZES, st.data())
def test_every_inclusion_proof_verifies(n: int, draw: st.DataObject) -> None:
    data = _data(n)
    leaves = _leaves(data)
    tree = merkle.Tree(leaves)
    size = draw.draw(st.integers(1, n))
    index = draw.draw(st.integers(0, size - 1))
    root = _reference_root(data[:size])
    path = tree.inclusion_proof(index, size)
    assert merkle.verify_inclusion(leaves[index], index, size, path, root)


@given(SIZES, st.data())
def test_every_consistency_proof_verifies(n: int, draw: st.DataObject) -> None:
    data = _data(n)
    tree = merkle.Tree(_leaves(data))
    second = draw.draw(st.integers(1, n))
    first = draw.draw(st.integers(1, second))
    path = tree.consistency_proof(first, second)
    assert merkle.verify_consistency(
        first,
        second,
        path,
        _reference_root(data[:first]),
        _reference_root(data[:second]),
    )


@settings(max_examples=200)
@given(st.integers(2, 200), st.data())
def test_altered_inclusion_proofs_fail(n: int, draw: st.DataObject) -> None:
    leaves = _leaves(_data(n))
    tree = merkle.Tree(leaves)
    index = draw.draw(st.integers(0, n - 1))
    path = tree.inclusion_proof(index, n)
    root = tree.root()
    other = draw.draw(st.integers(0, n - 1))
    assume(other != index)
    assert not merkle.verify_inclusion(leaves[index], other, n, path, root)
    assert not merkle.verify_inclusion(leaves[other], index, n, path, root)
    if path:
        spot = draw.draw(st.integers(0, len(path) - 1))
        bad = [*path]
        bad[spot] = bytes(32)
        assert not merkle.verify_inclusion(leaves[index], index, n, bad, root)
        assert not merkle.verify_inclusion(leaves[index], index, n, path[:-1], root)
    assert not merkle.verify_inclusion(
        leaves[index], index, n, [*path, bytes(32)], root
    )


@settings(max_examples=200)
@given(st.integers(2, 200), st.data())
def test_altered_consistency_proofs_fail(n: int, draw: st.DataObject) -> None:
    data = _data(n)
    tree = merkle.Tree(_leaves(data))
    first = draw.draw(st.integers(1, n - 1))
    path = tree.consistency_proof(first, n)
    first_root, second_root = _reference_root(data[:first]), tree.root()
    assert not merkle.verify_consistency(first, n, path, bytes(32), second_root)
    assert not merkle.verify_consistency(first, n, path, first_root, bytes(32))
    spot = draw.draw(st.integers(0, len(path) - 1))
    bad = [*path]
    bad[spot] = bytes(32)
    assert not merkle.verify_consistency(first, n, bad, first_root, second_root)
    assert not merkle.verify_consistency(first, n, [], first_root, second_root)
    # A different history of the same length is not consistent with the first tree.
    forked = _data(first) + [b"\xff" * 32] * (n - first)
    assert forked != data or first == n
    fork_root = _reference_root(forked)
    if fork_root != second_root:
        assert not merkle.verify_consistency(first, n, path, first_root, fork_root)


@settings(max_examples=150)
@given(st.integers(1, 150), st.data())
def test_a_pruned_tree_gives_the_same_proofs_for_what_it_kept(
    n: int, draw: st.DataObject
) -> None:
    leaves = _leaves(_data(n))
    full = merkle.Tree(leaves)
    kept_from = draw.draw(st.integers(0, n))
    frontier = merkle.Frontier()
    for leaf in leaves[:kept_from]:
        frontier.append(leaf)
    pruned = merkle.Tree(leaves[kept_from:], frontier)
    assert pruned.root() == full.root()
    if kept_from < n:
        index = draw.draw(st.integers(kept_from, n - 1))
        size = draw.draw(st.integers(index + 1, n))
        assert pruned.inclusion_proof(index, size) == full.inclusion_proof(index, size)
    first = draw.draw(st.integers(max(kept_from, 1), n))
    assert pruned.consistency_proof(first, n) == full.consistency_proof(first, n)


def test_a_pruned_leaf_cannot_be_proven() -> None:
    leaves = _leaves(_data(10))
    frontier = merkle.Frontier()
    for leaf in leaves[:7]:
        frontier.append(leaf)
    tree = merkle.Tree(leaves[7:], frontier)
    with pytest.raises(merkle.ProofUnavailable, match="pruned"):
        tree.inclusion_proof(3, 10)  # its siblings are inside the frontier's [0, 4)
    with pytest.raises(merkle.ProofUnavailable):
        tree.inclusion_proof(8, 11)
    # Leaf 6 is a frontier node of its own: its path needs only kept hashes.
    path = tree.inclusion_proof(6, 10)
    assert merkle.verify_inclusion(leaves[6], 6, 10, path, merkle.root(leaves))


@given(st.integers(0, 500))
def test_a_frontier_survives_serialisation(n: int) -> None:
    frontier = merkle.Frontier()
    for leaf in _leaves(_data(n)):
        frontier.append(leaf)
    again = merkle.Frontier.from_bytes(n, frontier.to_bytes())
    assert again.root() == frontier.root() == _reference_root(_data(n))
    with pytest.raises(ValueError, match="hashes"):
        merkle.Frontier.from_bytes(n + 1, frontier.to_bytes() + b"\x00")


def test_degenerate_proof_requests() -> None:
    assert not merkle.verify_inclusion(bytes(32), 0, 0, [], merkle.EMPTY_ROOT)
    assert merkle.verify_consistency(3, 3, [], b"r" * 32, b"r" * 32)
    assert not merkle.verify_consistency(0, 3, [], b"r" * 32, b"r" * 32)
    assert not merkle.verify_consistency(4, 3, [], b"r" * 32, b"r" * 32)
    with pytest.raises(merkle.ProofUnavailable):
        merkle.Tree(_leaves(_data(3))).consistency_proof(0, 3)
