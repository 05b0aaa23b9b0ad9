"""Reading and locking the stored tree: node rows, the head row, the edge of the tree."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, select, update

from aupgate.audit.errors import AuditError
from aupgate.audit.merkle import CompactRange, Fetch, MerkleError, NodeId, range_nodes
from aupgate.audit.tables import AuditHead

LEVEL_SHIFT = 56
_INDEX_MASK = (1 << LEVEL_SHIFT) - 1
HEAD_ID = 1


def node_key(node: NodeId) -> int:
    level, index = node
    return level << LEVEL_SHIFT | index


def key_node(key: int) -> NodeId:
    return key >> LEVEL_SHIFT, key & _INDEX_MASK


def _mark(conn: Connection) -> str:
    """The driver's positional parameter marker (the statements below bypass Core)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """executemany straight to the driver: per-row Core parameter processing costs more than
    hashing and inserting an entry, and it runs while this process holds the log lock."""
    marks = ", ".join([_mark(conn)] * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))


def fetcher(conn: Connection) -> Fetch:
    """A `merkle.Fetch` reading stored nodes through `conn` (one query per call)."""

    def fetch(ids: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        if not ids:
            return {}
        keys = tuple(node_key(i) for i in ids)
        # Plain SQL: compiling an expanding IN through Core costs more than the index reads.
        marks = ", ".join([_mark(conn)] * len(keys))
        rows = conn.exec_driver_sql(f"SELECT id, hash FROM audit_nodes WHERE id IN ({marks})", keys)
        return {key_node(k): bytes(h) for k, h in rows}

    return fetch


def load_edge(conn: Connection, size: int) -> CompactRange:
    """The right edge of the stored tree of `size` leaves (log2(size) rows)."""
    ids = range_nodes(0, size)
    got = fetcher(conn)(ids)
    try:
        return CompactRange(size, [got[i] for i in ids])
    except KeyError as exc:
        level, index = exc.args[0]
        raise AuditError(
            f"stored audit tree is incomplete: node level={level} index={index} is missing"
        ) from None
    except MerkleError as exc:
        raise AuditError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    checkpoint_size: int
    checkpoint_at: float


_HEAD = select(AuditHead.size, AuditHead.checkpoint_size, AuditHead.checkpoint_at).where(
    AuditHead.id == HEAD_ID
)


def lock_head(conn: Connection) -> Head:
    """Begin the append transaction holding the log's write lock, and read the head.

    SQLite: BEGIN IMMEDIATE takes the database write lock up front (a deferred transaction
    that reads first can fail with SQLITE_BUSY_SNAPSHOT instead of waiting). PostgreSQL:
    SELECT ... FOR UPDATE on the single head row; READ COMMITTED then shows every row the
    previous holder committed.
    """
    query = _HEAD
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise AuditError("audit head row is missing: the audit schema is damaged")
    return Head(int(row[0]), int(row[1]), float(row[2]))


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Queue SQLite writers of the log on an OS lock rather than SQLite's busy handler.

    A process that finds the database locked sleeps in growing steps (up to 100 ms) before
    retrying; with several writer processes that, not fsync, bounds throughput and latency.
    flock wakes the next waiter as soon as the holder is done.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    fd = os.open(f"{database}.audit-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def log_transaction(engine: Engine) -> Iterator[tuple[Connection, Head]]:
    """A connection inside a transaction that holds the log's write lock, and the head.

    Commit on the connection to keep the changes; leaving without commit rolls back.
    """
    with _sqlite_file_lock(engine), engine.connect() as conn:
        yield conn, lock_head(conn)


def read_head(conn: Connection) -> Head:
    row = conn.execute(_HEAD).one_or_none()
    if row is None:
        raise AuditError("audit head row is missing: the audit schema is damaged")
    return Head(int(row[0]), int(row[1]), float(row[2]))


# Built once: constructing a Core statement and its cache key on every append cost more than
# the SQLite commit itself.
_WRITE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(
        size=bindparam("size"),
        checkpoint_size=bindparam("checkpoint_size"),
        checkpoint_at=bindparam("checkpoint_at"),
    )
)


def write_head(conn: Connection, head: Head) -> None:
    conn.execute(
        _WRITE_HEAD,
        {
            "size": head.size,
            "checkpoint_size": head.checkpoint_size,
            "checkpoint_at": head.checkpoint_at,
        },
    )
