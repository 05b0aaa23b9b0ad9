"""Reading the stored log: entries, verified checkpoints, inclusion and consistency proofs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine, bindparam, select

from aupgate.audit.errors import AuditError, VerificationError
from aupgate.audit.merkle import (
    MerkleError,
    NodeId,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    materialise,
    range_nodes,
    verify_inclusion,
)
from aupgate.audit.model import Checkpoint, ConsistencyProof, InclusionProof
from aupgate.audit.note import Verifier
from aupgate.audit.storage.nodes import fetcher, read_head
from aupgate.audit.tables import AuditCheckpoint, AuditEntry
from aupgate.errors import NotFoundError

# Built once: constructing a Core statement per call costs more than the index read it runs.
_ENTRY = select(AuditEntry.idx, AuditEntry.data)
_ENTRY_BY_INDEX = _ENTRY.where(AuditEntry.idx == bindparam("idx"))
_ENTRY_BY_ID = _ENTRY.where(AuditEntry.entry_id == bindparam("entry_id"))
_CHECKPOINT_AT = select(AuditCheckpoint.note).where(AuditCheckpoint.tree_size == bindparam("size"))
_LATEST_CHECKPOINT = (
    select(AuditCheckpoint.note).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
)


def _materialise(plans: Sequence[Sequence[NodeId]], conn: Connection) -> list[bytes]:
    try:
        return materialise(plans, fetcher(conn))
    except MerkleError as exc:
        raise AuditError(f"stored audit tree is damaged: {exc}") from None


class LogReader:
    """Read-only access to the log in a store; every checkpoint is verified before use."""

    def __init__(self, engine: Engine, verifier: Verifier) -> None:
        self._engine = engine
        self.verifier = verifier
        self._verified: dict[str, Checkpoint] = {}

    @property
    def engine(self) -> Engine:
        """The store this log lives in."""
        return self._engine

    def _checkpoint_row(self, conn: Connection, size: int) -> Checkpoint | None:
        note = conn.execute(_CHECKPOINT_AT, {"size": size}).scalar_one_or_none()
        return None if note is None else self._open_checkpoint(note)

    def _open_checkpoint(self, note: str) -> Checkpoint:
        # Notes never change, so each is verified once (a signature check costs ~60 us).
        cached = self._verified.get(note)
        if cached is not None:
            return cached
        try:
            cp = Checkpoint.open(note, self.verifier)
        except VerificationError as exc:
            raise AuditError(f"stored checkpoint does not verify: {exc}") from None
        if len(self._verified) >= 256:
            self._verified.clear()
        self._verified[note] = cp
        return cp

    def _latest_row(self, conn: Connection) -> Checkpoint | None:
        note = conn.execute(_LATEST_CHECKPOINT).scalar_one_or_none()
        return None if note is None else self._open_checkpoint(note)

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._engine.connect() as conn:
            return self._latest_row(conn)

    def checkpoint_at(self, size: int) -> Checkpoint:
        with self._engine.connect() as conn:
            return self._checkpoint_or_fail(conn, size)

    def _checkpoint_or_fail(self, conn: Connection, size: int) -> Checkpoint:
        found = self._checkpoint_row(conn, size)
        if found is None:
            raise NotFoundError(f"no audit checkpoint at tree size {size}")
        return found

    def checkpoint_notes(self, up_to: int) -> list[tuple[int, str]]:
        """Every stored checkpoint note up to tree size `up_to`, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(AuditCheckpoint.tree_size, AuditCheckpoint.note)
                .where(AuditCheckpoint.tree_size <= up_to)
                .order_by(AuditCheckpoint.tree_size)
            )
            return [(int(s), n) for s, n in rows]

    # -- reading and proving ---------------------------------------------------------------

    @property
    def size(self) -> int:
        with self._engine.connect() as conn:
            return read_head(conn).size

    def resolve(self, entry: str | int) -> tuple[int, bytes]:
        """(index, leaf bytes) of an entry given by id or index."""
        with self._engine.connect() as conn:
            return self._resolve(conn, entry)

    @staticmethod
    def _resolve(conn: Connection, entry: str | int) -> tuple[int, bytes]:
        if isinstance(entry, int) or entry.isdigit():
            row = conn.execute(_ENTRY_BY_INDEX, {"idx": int(entry)}).one_or_none()
        else:
            row = conn.execute(_ENTRY_BY_ID, {"entry_id": entry}).one_or_none()
        if row is None:
            raise NotFoundError(f"no audit entry {entry}")
        return int(row[0]), bytes(row[1])

    def tail(self, count: int) -> list[tuple[int, bytes]]:
        """The last `count` entries, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(AuditEntry.idx, AuditEntry.data).order_by(AuditEntry.idx.desc()).limit(count)
            ).all()
        return [(int(i), bytes(d)) for i, d in reversed(rows)]

    def iter_entries(self, stop: int, chunk: int = 10_000) -> Iterator[bytes]:
        """Leaf bytes of entries 0 .. stop-1, in order, read in chunks."""
        start = 0
        while start < stop:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(AuditEntry.data)
                    .where(AuditEntry.idx >= start, AuditEntry.idx < min(stop, start + chunk))
                    .order_by(AuditEntry.idx)
                ).all()
            if not rows:
                raise AuditError(f"audit entries from index {start} are missing")
            for (data,) in rows:
                yield bytes(data)
            start += len(rows)

    def prove_inclusion(
        self, entry: str | int, checkpoint_size: int | None = None
    ) -> InclusionProof:
        """Inclusion of an entry in a stored checkpoint (the latest by default)."""
        with self._engine.connect() as conn:
            index, data = self._resolve(conn, entry)
            if checkpoint_size is None:
                cp = self._latest_row(conn)
            else:
                cp = self._checkpoint_or_fail(conn, checkpoint_size)
            if cp is None or index >= cp.size:
                covered = 0 if cp is None else cp.size
                raise AuditError(
                    f"entry {index} is not covered by checkpoint {covered}; "
                    "take one with `aupgate audit checkpoint`"
                )
            hashes = _materialise(inclusion_plan(index, cp.size), conn)
        # A damaged store must not hand out a bad proof (the checkpoint itself is verified).
        if not verify_inclusion(index, cp.size, leaf_hash(data), hashes, cp.root):
            raise AuditError(f"stored audit tree is damaged: entry {index} does not prove")
        return InclusionProof(index, data, tuple(hashes), cp)

    def prove_consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """Consistency of the tree at `old_size` with the tree at `new_size`."""
        with self._engine.connect() as conn:
            current = read_head(conn).size
            if not 0 <= old_size <= new_size <= current:
                raise AuditError(
                    f"need 0 <= old <= new <= {current} (the log's size); "
                    f"got {old_size}, {new_size}"
                )
            plans = [range_nodes(0, old_size), range_nodes(0, new_size)]
            plans += consistency_plan(old_size, new_size)
            old_root, new_root, *hashes = _materialise(plans, conn)
        proof = ConsistencyProof(old_size, new_size, old_root, new_root, tuple(hashes))
        try:
            proof.verify()
        except VerificationError as exc:
            raise AuditError(f"stored audit tree is damaged: {exc}") from None
        return proof
