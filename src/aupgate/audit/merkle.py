"""RFC 9162 Merkle tree: hashing, proof construction and proof verification (pure, no I/O).

Storage keeps the hash of every *perfect* subtree (2**level leaves starting at a multiple of
2**level), addressed by `NodeId = (level, index)`. Such a node never changes once complete, so
any root or proof of the log is a right fold of O(log n) stored nodes: proofs here are built
as *plans* (which stored nodes each proof element is made of) and then materialised from
whatever the caller fetched, in one read.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
Fetch = Callable[[Collection[NodeId]], Mapping[NodeId, bytes]]


class MerkleError(ValueError):
    """A proof or root was asked for an impossible range, or stored nodes are missing."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(lo: int, hi: int) -> list[NodeId]:
    """The perfect subtrees covering leaves [lo, hi), left to right, largest possible first."""
    nodes: list[NodeId] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its `range_nodes` hashes: the RFC tree is their right fold."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_plan(index: int, size: int) -> list[list[NodeId]]:
    """RFC 9162 2.1.3.1 PATH(index, D[size]), as the stored nodes each element folds from."""
    if not 0 <= index < size:
        raise MerkleError(f"leaf {index} is not in a tree of size {size}")
    plan: list[list[NodeId]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            plan.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            plan.append(range_nodes(lo, lo + k))
            lo += k
    plan.reverse()  # the recursion emits the deepest sibling first
    return plan


def consistency_plan(old: int, new: int) -> list[list[NodeId]]:
    """RFC 9162 2.1.4.1 PROOF(old, D[new]), as the stored nodes each element folds from."""
    if not 0 <= old <= new:
        raise MerkleError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    plan: list[list[NodeId]] = []
    lo, hi, m, whole = 0, new, old, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            plan.append(range_nodes(lo + k, hi))
            hi = lo + k
        else:
            plan.append(range_nodes(lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        plan.append(range_nodes(lo, hi))
    plan.reverse()
    return plan


def materialise(plans: Sequence[Sequence[NodeId]], fetch: Fetch) -> list[bytes]:
    """Fold each group of a plan from the nodes `fetch` returns (one call for all of them)."""
    wanted = {node for group in plans for node in group}
    got = fetch(wanted)
    missing = wanted - got.keys()
    if missing:
        level, index = min(missing)
        raise MerkleError(f"stored tree lacks node level={level} index={index}")
    return [fold([got[node] for node in group]) for group in plans]


def root(size: int, fetch: Fetch) -> bytes:
    """The root of the first `size` leaves, from stored nodes."""
    return materialise([range_nodes(0, size)], fetch)[0]


class CompactRange:
    """The right edge of a growing tree: enough to append leaves and compute the root.

    `append` returns every node the new leaf completes (the leaf itself included), which is
    exactly what storage must persist so later proofs and restarts read instead of recompute.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != len(range_nodes(0, size)):
            raise MerkleError(f"a tree of size {size} needs {size.bit_count()} edge hashes")
        self.size = size
        self._hashes = list(hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._hashes)

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        index = self.size
        completed: list[tuple[NodeId, bytes]] = [((0, index), leaf)]
        acc, level = leaf, 0
        while index & 1:
            acc = node_hash(self._hashes.pop(), acc)
            level += 1
            index >>= 1
            completed.append(((level, index), acc))
        self._hashes.append(acc)
        self.size += 1
        return completed

    def append_subtree(self, level: int, subtree_root: bytes) -> None:
        """Append a whole perfect subtree of 2**level leaves (size must be a multiple)."""
        if self.size & ((1 << level) - 1):
            raise MerkleError(f"size {self.size} is not aligned to a subtree of level {level}")
        acc, index = subtree_root, self.size >> level
        while index & 1:
            acc = node_hash(self._hashes.pop(), acc)
            index >>= 1
        self._hashes.append(acc)
        self.size += 1 << level

    def root(self) -> bytes:
        return fold(self._hashes)


def subtree_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every complete node over `leaves`, level by level (level 0 = the leaves).

    Hashing a level in one comprehension is several times faster than growing a compact
    range leaf by leaf, which is what makes offline verification run at disk speed.
    """
    levels = [list(leaves)]
    sha256 = hashlib.sha256
    while len(levels[-1]) > 1:
        below = levels[-1]
        pairs = iter(below[: len(below) & ~1])
        levels.append(
            [sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        )
    return levels


def _valid(hashes: Sequence[bytes]) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `proof` show leaf `index` of a tree of `size` under the root."""
    if not 0 <= index < size or not _valid([leaf, expected_root, *proof]):
        return False
    fn, sn, acc = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            acc = node_hash(p, acc)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            acc = node_hash(acc, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(acc, expected_root)


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show the tree of `old` leaves is a prefix of `new`."""
    if not 0 <= old <= new or not _valid([old_root, new_root, *proof]):
        return False
    if old == new:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # old tree is a perfect subtree: its root starts the path
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = node_hash(c, first), node_hash(c, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, c)
        fn >>= 1
        sn >>= 1
    return (
        sn == 0 and hmac.compare_digest(first, old_root) and hmac.compare_digest(second, new_root)
    )
