"""RFC 6962 Merkle trees over an author's entry ids: roots, frontiers and proofs.

Leaves are hashed with a 0x00 prefix and inner nodes with 0x01; a tree of n leaves
splits at the largest power of two below n, so odd nodes are never duplicated.
Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
HASH_BYTES: Final = 32


class ProofUnavailable(LookupError):
    """The proof needs leaves that were pruned or that the tree does not have."""


def leaf_hash(data: bytes) -> bytes:
    """Hash of one leaf (an entry id)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an inner node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees that make up the first ``size`` leaves.

    Appending is amortised one node hash per leaf, and the root of the current size
    costs one hash per set bit of the size.
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} nodes")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash on the right."""
        node = leaf
        size = self.size
        # Each trailing 1-bit of the old size is a full subtree the new one completes.
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The Merkle tree hash of the first ``size`` leaves."""
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = node_hash(node, result)
        return result

    def copy(self) -> Frontier:
        """An independent copy."""
        return Frontier(self.size, self.nodes)

    def ranges(self) -> dict[tuple[int, int], bytes]:
        """Each node keyed by the leaf range [lo, hi) it covers."""
        result: dict[tuple[int, int], bytes] = {}
        lo = 0
        nodes = iter(self.nodes)
        for bit in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> bit & 1:
                result[(lo, lo + (1 << bit))] = next(nodes)
                lo += 1 << bit
        return result

    def to_bytes(self) -> bytes:
        """The nodes concatenated (the size is stored beside them)."""
        return b"".join(self.nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Inverse of :meth:`to_bytes`."""
        if len(data) != HASH_BYTES * size.bit_count():
            raise ValueError(f"a frontier of size {size} is {size.bit_count()} hashes")
        return cls(size, [data[i : i + HASH_BYTES] for i in range(0, len(data), 32)])


def root(leaves: Iterable[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Tree:
    """An author's tree as a node holds it, possibly pruned.

    A frontier stands for the first ``base.size`` leaves, then every later leaf hash
    is known. Proofs that need only these can be made.
    """

    def __init__(self, leaves: Sequence[bytes], base: Frontier | None = None) -> None:
        self._base = base or Frontier()
        self._known = self._base.ranges()
        self._leaves = leaves
        self.size = self._base.size + len(leaves)

    def root(self, size: int | None = None) -> bytes:
        """Root of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size == 0:
            return EMPTY_ROOT
        return self._range(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962)."""
        if not 0 <= index < size <= self.size:
            raise ProofUnavailable(f"leaf {index} is not in a tree of {size} leaves")
        return self._path(index, 0, size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 6962 PROOF(first, D[second]); 0 < first ≤ second ≤ size."""
        if not 0 < first <= second <= self.size:
            raise ProofUnavailable(f"no consistency proof from {first} to {second}")
        return self._subproof(first, 0, second, complete=True)

    def _path(self, index: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        mid = lo + _split(hi - lo)
        if index < mid:
            return [*self._path(index, lo, mid), self._range(mid, hi)]
        return [*self._path(index, mid, hi), self._range(lo, mid)]

    def _subproof(self, m: int, lo: int, hi: int, *, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [self._range(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [
                *self._subproof(m, lo, lo + k, complete=complete),
                self._range(lo + k, hi),
            ]
        return [
            *self._subproof(m - k, lo + k, hi, complete=False),
            self._range(lo, lo + k),
        ]

    def _range(self, lo: int, hi: int) -> bytes:
        known = self._known.get((lo, hi))
        if known is not None:
            return known
        base = self._base.size
        if lo >= base:
            return _mth(self._leaves, lo - base, hi - base)
        if hi - lo == 1:
            raise ProofUnavailable(f"leaf {lo} was pruned; only the frontier remains")
        mid = lo + _split(hi - lo)
        return node_hash(self._range(lo, mid), self._range(mid, hi))


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaves[lo]
    mid = lo + _split(hi - lo)
    return node_hash(_mth(leaves, lo, mid), _mth(leaves, mid, hi))


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> bool:
    """Check that ``path`` proves leaf hash ``leaf`` at ``index`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == expected_root


def verify_consistency(
    first: int,
    second: int,
    path: Sequence[bytes],
    first_root: bytes,
    second_root: bytes,
) -> bool:
    """Check that tree ``first`` is a prefix of tree ``second`` (RFC 9162 2.1.4.2)."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:  # a power of two: the old root is itself a node
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for node in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
