"""The append-only audit log in the store: group commit, stored tree, checkpoints, proofs.

One writer thread per process drains a queue of prepared entries; each drain is one database
transaction (one fsync) for every entry queued meanwhile, and no caller's future resolves
before that transaction has committed. Across processes the head row is the lock: index
assignment, node hashes and checkpoints are computed inside the transaction that holds it,
so writers sharing one database can neither skip, repeat nor fork an index.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from aupgate.audit.canonical import canonical
from aupgate.audit.entries import (
    PromptCipher,
    encode_entry,
    entry_id_for,
    index_of,
    prompt_digest,
)
from aupgate.audit.errors import AuditError
from aupgate.audit.export import write_export
from aupgate.audit.merkle import (
    CompactRange,
    MerkleError,
    consistency_plan,
    leaf_hash,
    materialise,
    verify_consistency,
)
from aupgate.audit.model import Checkpoint, Receipt
from aupgate.audit.note import CheckpointBody, Signer
from aupgate.audit.storage.nodes import (
    LEVEL_SHIFT,
    Head,
    fetcher,
    insert_rows,
    load_edge,
    log_transaction,
    read_head,
    write_head,
)
from aupgate.audit.storage.reader import LogReader
from aupgate.audit.tables import AuditCheckpoint, AuditEntry, AuditPrompt

log = logging.getLogger(__name__)
# Built once (see nodes._WRITE_HEAD): which of a batch's entry ids are already logged.
_LOGGED_IDS = select(AuditEntry.entry_id).where(
    AuditEntry.entry_id.in_(bindparam("ids", expanding=True))
)


@dataclass(slots=True)
class Prepared:
    """An entry ready for the writer: everything but its index and time."""

    entry_type: str
    entry_id: str
    record: bytes  # canonical JSON
    sealed_prompt: bytes | None = None


@dataclass(slots=True)
class _Pending:
    item: Prepared
    future: Future[Receipt]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AuditLog(LogReader):
    """The deployment's audit log. Thread-safe; one instance per process is enough."""

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        origin: str,
        hmac_secret: bytes,
        *,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        prompt_key: bytes | None = None,
        max_batch: int = 4096,
        linger_seconds: float = 0.002,
    ) -> None:
        super().__init__(engine, signer.verifier)
        self._signer = signer
        self.origin = origin
        self._secret = hmac_secret
        self._every = checkpoint_every
        self._seconds = checkpoint_seconds
        self._cipher = PromptCipher(prompt_key) if prompt_key is not None else None
        self._max_batch = max_batch
        self._linger_seconds = linger_seconds
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Serialises this process's write transactions so they can share the cached edge.
        self._write_lock = threading.Lock()
        self._edge: CompactRange | None = None

    # -- recording ------------------------------------------------------------------------

    def prompt_digest(self, text: str) -> str:
        """HMAC-SHA256 of a prompt under this deployment's secret."""
        return prompt_digest(self._secret, text)

    def prepare(
        self, entry_type: str, body: Mapping[str, Any], prompt: str | None = None
    ) -> Prepared:
        """Validate and canonicalise an entry (done on the caller's thread)."""
        entry_id = entry_id_for(entry_type, body)
        sealed = None
        if prompt is not None:
            if self._cipher is None:
                raise AuditError("prompt retention asked for, but no prompt encryption key is set")
            sealed = self._cipher.seal(entry_id, prompt)
        return Prepared(entry_type, entry_id, canonical(dict(body)), sealed)

    def append(
        self, entry_type: str, body: Mapping[str, Any], *, prompt: str | None = None
    ) -> Receipt:
        """Record one entry; returns once it is durable, raises AuditError if it is not."""
        return self.submit([self.prepare(entry_type, body, prompt)])[0].result()

    async def append_async(
        self, entry_type: str, body: Mapping[str, Any], *, prompt: str | None = None
    ) -> Receipt:
        """`append` for asyncio servers: awaits durability without blocking the loop."""
        future = self.submit([self.prepare(entry_type, body, prompt)])[0]
        return await asyncio.wrap_future(future)

    def append_many(self, items: Sequence[Prepared]) -> list[Receipt]:
        """Record prepared entries (bulk import); each batch is one transaction."""
        return [f.result() for f in self.submit(items)]

    def submit(self, items: Sequence[Prepared]) -> list[Future[Receipt]]:
        """Queue prepared entries for the writer; each future resolves once durable."""
        pending = [_Pending(item, Future()) for item in items]
        with self._cond:
            if self._closed:
                raise AuditError("the audit log is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()
            self._queue.extend(pending)
            self._cond.notify()
        return [p.future for p in pending]

    def _run(self) -> None:
        last_batch = 1
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    self._cond.wait(timeout=self._seconds)
                self._linger(last_batch)
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                done = self._closed and not batch
            if batch:
                last_batch = len(batch)
                self._commit(batch)
            elif done:
                return
            else:
                self._checkpoint_if_due()

    def _linger(self, expected: int) -> None:
        """Wait briefly (holding the condition) for as many entries as the last batch had.

        Callers answered by the last commit re-submit one by one; without this the writer
        would commit the first of them alone and the rest in the next fsync, halving batches.
        """
        deadline = time.monotonic() + self._linger_seconds
        while 0 < len(self._queue) < expected and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(timeout=remaining)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self.write_batch([p.item for p in batch])
        except Exception as exc:  # whatever fails, every waiting caller must get an answer
            if not isinstance(exc, SQLAlchemyError | AuditError | MerkleError | OSError):
                log.exception("unexpected failure appending to the audit log")
            error = AuditError(f"audit log append failed: {_first_line(exc)}")
            for p in batch:
                p.future.set_exception(error)
            return
        for p, result in zip(batch, results, strict=True):
            if isinstance(result, Receipt):
                p.future.set_result(result)
            else:
                p.future.set_exception(result)

    def write_batch(self, items: Sequence[Prepared]) -> list[Receipt | AuditError]:
        """Append `items` in one transaction under the log lock (the writer's and bulk path)."""
        with self._write_lock, log_transaction(self._engine) as (conn, head):
            edge = self._edge_at(conn, head.size)
            self._edge = None  # mutated below; trusted again only after the commit
            refused = self._duplicates(conn, items)
            now = time.time()
            at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
            entries: list[tuple[int, str, str, bytes]] = []
            nodes: list[tuple[int, bytes]] = []
            prompts: list[dict[str, Any]] = []
            results: list[Receipt | AuditError] = []
            for item in items:
                if item.entry_id in refused:
                    results.append(AuditError(f"audit entry id {item.entry_id} is already logged"))
                    continue
                refused.add(item.entry_id)
                index = edge.size
                data = encode_entry(item.entry_id, index, item.record, at, item.entry_type)
                leaf = leaf_hash(data)
                nodes.extend((level << LEVEL_SHIFT | i, h) for (level, i), h in edge.append(leaf))
                entries.append((index, item.entry_id, item.entry_type, data))
                if item.sealed_prompt is not None:
                    created = datetime.fromtimestamp(now, UTC)
                    prompts.append(
                        {
                            "entry_id": item.entry_id,
                            "sealed": item.sealed_prompt,
                            "created_at": created,
                        }
                    )
                results.append(Receipt(index, item.entry_id, leaf, item.entry_type))
            if entries:
                insert_rows(
                    conn, "audit_entries", ("idx", "entry_id", "entry_type", "data"), entries
                )
                insert_rows(conn, "audit_nodes", ("id", "hash"), nodes)
            if prompts:
                conn.execute(insert(AuditPrompt), prompts)
            # The T-seconds clock starts with the first entry ever written, not at the epoch.
            started = head.checkpoint_at or now
            head = Head(edge.size, head.checkpoint_size, started)
            if self._due(head, now):
                head = self._sign(conn, edge, now)
            write_head(conn, head)
            conn.commit()
            self._edge = edge
            return results

    @staticmethod
    def _duplicates(conn: Connection, items: Sequence[Prepared]) -> set[str]:
        rows = conn.execute(_LOGGED_IDS, {"ids": [i.entry_id for i in items]})
        return {r[0] for r in rows}

    def _edge_at(self, conn: Connection, size: int) -> CompactRange:
        # The log only grows, so an edge cached at the same size is the edge of this tree.
        if self._edge is not None and self._edge.size == size:
            return self._edge
        return load_edge(conn, size)

    # -- checkpoints ----------------------------------------------------------------------

    def _due(self, head: Head, now: float) -> bool:
        grown = head.size - head.checkpoint_size
        return grown > 0 and (grown >= self._every or now - head.checkpoint_at >= self._seconds)

    def _sign(self, conn: Connection, edge: CompactRange, now: float) -> Head:
        body = CheckpointBody(self.origin, edge.size, edge.root())
        conn.execute(
            insert(AuditCheckpoint).values(
                tree_size=edge.size,
                root=body.root,
                note=self._signer.sign(body.text()),
                created_at=datetime.fromtimestamp(now, UTC),
            )
        )
        return Head(edge.size, edge.size, now)

    def _checkpoint_if_due(self) -> None:
        try:
            with self._write_lock, log_transaction(self._engine) as (conn, head):
                now = time.time()
                if self._due(head, now):
                    edge = self._edge_at(conn, head.size)
                    write_head(conn, self._sign(conn, edge, now))
                conn.commit()
        except Exception as exc:  # the writer thread must survive to serve later appends
            # The next append or timer retries; appends themselves never depend on this.
            log.error("periodic audit checkpoint failed: %s", _first_line(exc))

    def checkpoint(self) -> Checkpoint:
        """Sign and store a checkpoint of the current tree (or return the one already there)."""
        try:
            with self._write_lock, log_transaction(self._engine) as (conn, head):
                existing = self._checkpoint_row(conn, head.size)
                if existing is not None:
                    return existing
                edge = self._edge_at(conn, head.size)
                write_head(conn, self._sign(conn, edge, time.time()))
                conn.commit()
                self._edge = edge
                row = self._checkpoint_row(conn, head.size)
        except SQLAlchemyError as exc:
            raise AuditError(f"cannot take an audit checkpoint: {_first_line(exc)}") from exc
        assert row is not None
        return row

    # -- prompts ----------------------------------------------------------------------------

    def reveal_prompt(self, entry_id: str) -> str | None:
        """The retained prompt of an entry, decrypted (None if none was kept or it was purged)."""
        if self._cipher is None:
            raise AuditError("no prompt encryption key is set")
        with self._engine.connect() as conn:
            sealed = conn.execute(
                select(AuditPrompt.sealed).where(AuditPrompt.entry_id == entry_id)
            ).scalar_one_or_none()
        return None if sealed is None else self._cipher.open(entry_id, bytes(sealed))

    def purge_prompts(self, before: datetime) -> int:
        """Delete retained prompt text stored before `before`; the tree is untouched."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(AuditPrompt).where(AuditPrompt.created_at < before))
        return int(result.rowcount)

    # -- start-up check and shutdown ---------------------------------------------------------

    def check(self) -> None:
        """Refuse to run unless the stored tree extends the last signed checkpoint.

        Reads O(log n) nodes plus the entries appended since that checkpoint; nothing older is
        rehashed (a full recomputation is the offline `verify`'s job).
        """
        try:
            with self._write_lock, log_transaction(self._engine) as (conn, head):
                self._edge = self._check(conn, head)
                conn.rollback()
        except (SQLAlchemyError, MerkleError) as exc:
            raise AuditError(f"cannot check the audit log: {_first_line(exc)}") from exc

    def _check(self, conn: Connection, head: Head) -> CompactRange:
        edge, cp = CompactRange(), self._latest_row(conn)
        if cp is not None:
            if cp.origin != self.origin:
                raise AuditError(f"audit log origin is {cp.origin!r}, settings say {self.origin!r}")
            if cp.size > head.size:
                raise AuditError(f"checkpoint {cp.size} is beyond the log's head {head.size}")
            edge = load_edge(conn, cp.size)
            if edge.root() != cp.root:
                raise AuditError(f"stored tree at size {cp.size} does not match its checkpoint")
        rows = conn.execute(
            select(AuditEntry.idx, AuditEntry.data)
            .where(AuditEntry.idx >= edge.size)
            .order_by(AuditEntry.idx)
        )
        for idx, data in rows:
            if idx != edge.size or not isinstance(data, bytes) or index_of(data) != idx:
                raise AuditError(f"audit entry {edge.size} is missing, misplaced or not bytes")
            edge.append(leaf_hash(data))
        if edge.size != head.size:
            raise AuditError(f"audit head says {head.size} entries but {edge.size} are stored")
        if load_edge(conn, head.size).hashes != edge.hashes:
            raise AuditError(f"stored tree at size {head.size} does not match its entries")
        if cp is not None:
            proof = materialise(consistency_plan(cp.size, head.size), fetcher(conn))
            if not verify_consistency(cp.size, head.size, proof, cp.root, edge.root()):
                raise AuditError(f"tree {head.size} is not consistent with checkpoint {cp.size}")
        return edge

    def export(self, directory: str | Path) -> Checkpoint:
        """Write entries, checkpoints, proofs and the public key for offline verification."""
        return write_export(self, Path(directory))

    def close(self, *, checkpoint: bool = True) -> None:
        """Drain queued appends, stop the writer and (by default) sign a final checkpoint."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if checkpoint:
            with self._engine.connect() as conn:
                head = read_head(conn)
            if head.size != head.checkpoint_size:
                self.checkpoint()
