"""What the audit log hands out: receipts, checkpoints and proofs (JSON-ready)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from aupgate.audit.errors import VerificationError
from aupgate.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from aupgate.audit.note import CheckpointBody, Verifier


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of recording: returned only once the entry is durable."""

    index: int
    entry_id: str
    leaf_hash: bytes
    entry_type: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head (C2SP tlog-checkpoint inside a C2SP signed note)."""

    origin: str
    size: int
    root: bytes
    note: str

    @classmethod
    def open(cls, note: str, verifier: Verifier) -> Checkpoint:
        """Verify `note` with `verifier` and read the checkpoint in it."""
        body = CheckpointBody.parse(verifier.open(note))
        return cls(body.origin, body.size, body.root, note)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "note": self.note,
        }


def _hexes(hashes: tuple[bytes, ...]) -> list[str]:
    return [h.hex() for h in hashes]


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Entry `index` (its exact bytes) is leaf `index` of the tree the checkpoint signs."""

    index: int
    entry: bytes
    hashes: tuple[bytes, ...]
    checkpoint: Checkpoint

    def verify(self, verifier: Verifier) -> None:
        """Check signature, sizes and path; raise VerificationError naming what fails."""
        cp = Checkpoint.open(self.checkpoint.note, verifier)
        if not verify_inclusion(self.index, cp.size, leaf_hash(self.entry), self.hashes, cp.root):
            raise VerificationError(f"entry {self.index} is not included in checkpoint {cp.size}")

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tree_size": self.checkpoint.size,
            "leaf_hash": leaf_hash(self.entry).hex(),
            "entry": base64.b64encode(self.entry).decode(),
            "hashes": _hexes(self.hashes),
            "checkpoint": self.checkpoint.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], verifier: Verifier) -> InclusionProof:
        cp = Checkpoint.open(data["checkpoint"], verifier)
        hashes = tuple(bytes.fromhex(h) for h in data["hashes"])
        return cls(int(data["index"]), base64.b64decode(data["entry"]), hashes, cp)


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of `old_size` leaves is a prefix of the tree of `new_size` leaves."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    hashes: tuple[bytes, ...]

    def verify(self) -> None:
        if not verify_consistency(
            self.old_size, self.new_size, self.hashes, self.old_root, self.new_root
        ):
            raise VerificationError(
                f"tree {self.old_size} is not consistent with tree {self.new_size}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_root": self.old_root.hex(),
            "new_root": self.new_root.hex(),
            "hashes": _hexes(self.hashes),
        }
