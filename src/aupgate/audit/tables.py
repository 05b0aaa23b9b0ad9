"""The audit log's tables (created by migration 0002_audit_log).

`audit_entries`, `audit_nodes` and `audit_checkpoints` are append-only (database triggers refuse
UPDATE and DELETE). `audit_head` is the single row every append locks, which serialises index
assignment across processes. `audit_prompts` holds sealed prompt text and may be purged: leaves
commit to the prompt digest, never to this text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aupgate.store.tables import Base
from aupgate.store.types import UTCDateTime

# On SQLite only INTEGER PRIMARY KEY is the rowid: no second index, one B-tree per table.
Index64 = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    idx: Mapped[int] = mapped_column(Index64, primary_key=True, autoincrement=False)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)
    entry_type: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditNode(Base):
    """A perfect subtree hash; `id` packs (level, index) as level << 56 | index."""

    __tablename__ = "audit_nodes"

    id: Mapped[int] = mapped_column(Index64, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(Index64, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_at: Mapped[float] = mapped_column(Float)  # Unix seconds


class AuditPrompt(Base):
    __tablename__ = "audit_prompts"

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
