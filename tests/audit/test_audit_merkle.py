"""RFC 9162 hashing and proofs, byte for byte against the transparency-dev/merkle vectors.

Vectors from github.com/transparency-dev/merkle (Apache-2.0): testonly/constants.go and
proof/verify_test.go. Inclusion vectors there use 1-based leaf numbers; ours are 0-based.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping

import pytest

from aupgate.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleError,
    NodeId,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    materialise,
    node_hash,
    root,
    subtree_levels,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# (1-based leaf, size, proof) from verify_test.go
INCLUSION = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


class MemoryTree:
    """Every completed node in a dict: the same layout the database stores."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        edge = CompactRange()
        for data in leaves:
            self.nodes.update(edge.append(leaf_hash(data)))
        self.edge = edge

    def fetch(self, ids: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        return {i: self.nodes[i] for i in ids if i in self.nodes}

    def root(self, size: int) -> bytes:
        return root(size, self.fetch)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return materialise(inclusion_plan(index, size), self.fetch)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return materialise(consistency_plan(old, new), self.fetch)


def reference_mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH written as the recursive definition, to cross-check stored nodes."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return node_hash(reference_mth(hashes[:k]), reference_mth(hashes[k:]))


TREE = MemoryTree(LEAVES)


def test_empty_root_is_sha256_of_nothing() -> None:
    assert MemoryTree([]).root(0) == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_vectors(size: int) -> None:
    assert TREE.root(size) == ROOTS[size - 1]
    assert MemoryTree(LEAVES[:size]).edge.root() == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_vectors(leaf: int, size: int, proof: list[str]) -> None:
    got = TREE.inclusion(leaf - 1, size)
    assert [h.hex() for h in got] == proof
    assert verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), got, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_vectors(old: int, new: int, proof: list[str]) -> None:
    got = TREE.consistency(old, new)
    assert [h.hex() for h in got] == proof
    assert verify_consistency(old, new, got, ROOTS[old - 1], ROOTS[new - 1])


def _inclusion_probes(
    index: int, size: int, leaf: bytes, proof: list[bytes], root_: bytes
) -> list[tuple[str, tuple[int, int, bytes, list[bytes], bytes]]]:
    probes = [
        ("index-1", (index - 1, size, leaf, proof, root_)),
        ("index+1", (index + 1, size, leaf, proof, root_)),
        ("index^2", (index ^ 2, size, leaf, proof, root_)),
        ("size*2", (index, size * 2, leaf, proof, root_)),
        ("size/2", (index, size // 2, leaf, proof, root_)),
        ("wrong leaf", (index, size, b"WrongLeaf", proof, root_)),
        ("empty root", (index, size, leaf, proof, EMPTY_ROOT)),
        ("random root", (index, size, leaf, proof, SOME_HASH)),
        ("trailing garbage", (index, size, leaf, [*proof, b""], root_)),
        ("trailing root", (index, size, leaf, [*proof, root_], root_)),
        ("preceding garbage", (index, size, leaf, [b"", *proof], root_)),
        ("preceding root", (index, size, leaf, [root_, *proof], root_)),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((f"flipped bit in proof[{i}]", (index, size, leaf, flipped, root_)))
    if proof:
        probes.append(("removed component", (index, size, leaf, proof[:-1], root_)))
    if len(proof) > 1:
        inserted = [proof[0], SOME_HASH, *proof[1:]]
        probes.append(("inserted component", (index, size, leaf, inserted, root_)))
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_are_rejected(leaf: int, size: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(h) for h in proof]
    probes = _inclusion_probes(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), hashes, ROOTS[size - 1])
    accepted = [desc for desc, args in probes if verify_inclusion(*args)]
    assert accepted == []


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_corrupted_consistency_proofs_are_rejected(old: int, new: int, proof: list[str]) -> None:
    p = [bytes.fromhex(h) for h in proof]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        ("size1-1", (old - 1, new, p, r1, r2)),
        ("size1+1", (old + 1, new, p, r1, r2)),
        ("size1^2", (old ^ 2, new, p, r1, r2)),
        ("size2*2", (old, new * 2, p, r1, r2)),
        ("size2/2", (old, new // 2, p, r1, r2)),
        ("wrong root1", (old, new, p, b"WrongRoot", r2)),
        ("wrong root2", (old, new, p, r1, b"WrongRoot")),
        ("swapped roots", (old, new, p, r2, r1)),
        ("empty proof", (old, new, [], r1, r2)),
        ("trailing garbage", (old, new, [*p, b""], r1, r2)),
        ("trailing root1", (old, new, [*p, r1], r1, r2)),
        ("trailing root2", (old, new, [*p, r2], r1, r2)),
        ("preceding garbage", (old, new, [b"", *p], r1, r2)),
        ("preceding root1", (old, new, [r1, *p], r1, r2)),
        ("preceding root2", (old, new, [r2, *p], r1, r2)),
        ("preceding proof[0]", (old, new, [p[0], *p], r1, r2)),
        ("truncated proof", (old, new, p[:-1], r1, r2)),
    ]
    for i in range(len(p)):
        flipped = list(p)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"flipped bit in proof[{i}]", (old, new, flipped, r1, r2)))
    accepted = [desc for desc, args in probes if verify_consistency(*args)]
    assert accepted == []


def test_trivial_consistency_cases() -> None:
    r1, r2 = SOME_HASH, EMPTY_ROOT
    assert verify_consistency(0, 0, [], r1, r1)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], r2, r2)
    assert not verify_consistency(1, 1, [], r1, r2)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(1, 2, [], r1, r2)
    assert not verify_consistency(1, 1, [EMPTY_ROOT], r2, r2)


def test_single_leaf_inclusion() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(0, 1, h, [], h)
    assert not verify_inclusion(0, 1, b"", [], h)
    assert not verify_inclusion(0, 0, h, [], h)


def test_every_proof_of_random_trees_verifies_against_the_recursive_definition() -> None:
    rng = random.Random(9162)
    data = [rng.randbytes(rng.randrange(0, 40)) for _ in range(70)]
    tree = MemoryTree(data)
    hashes = [leaf_hash(d) for d in data]
    for size in range(1, len(data) + 1):
        expected = reference_mth(hashes[:size])
        assert tree.root(size) == expected
        for index in range(size):
            proof = tree.inclusion(index, size)
            assert verify_inclusion(index, size, hashes[index], proof, expected)
        for old in range(1, size + 1):
            proof = tree.consistency(old, size)
            assert verify_consistency(old, size, proof, reference_mth(hashes[:old]), expected)


def test_impossible_requests_fail() -> None:
    with pytest.raises(MerkleError):
        inclusion_plan(8, 8)
    with pytest.raises(MerkleError):
        consistency_plan(5, 4)
    with pytest.raises(MerkleError, match="lacks node"):
        MemoryTree(LEAVES[:4]).root(5)


def test_appending_whole_subtrees_equals_appending_their_leaves() -> None:
    rng = random.Random(14)
    leaves = [leaf_hash(rng.randbytes(8)) for _ in range(64)]
    by_leaf = CompactRange()
    for leaf in leaves:
        by_leaf.append(leaf)
    by_subtree = CompactRange()
    for lo in range(0, 64, 16):
        levels = subtree_levels(leaves[lo : lo + 16])
        assert [len(level) for level in levels] == [16, 8, 4, 2, 1]
        by_subtree.append_subtree(4, levels[4][0])
    assert by_subtree.hashes == by_leaf.hashes
    with pytest.raises(MerkleError, match="not aligned"):
        by_subtree.append_subtree(7, leaves[0])
