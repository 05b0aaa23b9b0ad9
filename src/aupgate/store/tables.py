"""The registry's tables: organisations, aliases, grants, API keys and screening."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aupgate.store.types import UTCDateTime


class Base(DeclarativeBase):
    """Declarative base of every table (migrations create them; see store/migrations)."""


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    sector: Mapped[str] = mapped_column(String(40))
    vetted: Mapped[bool] = mapped_column(Boolean, default=False)
    vetted_by: Mapped[str | None] = mapped_column(String(200))
    vetted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    screening: Mapped[str] = mapped_column(String(10), default="clear")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    aliases: Mapped[list[Alias]] = relationship(
        back_populates="org", cascade="all, delete-orphan", order_by="Alias.alias"
    )
    grants: Mapped[list[Grant]] = relationship(back_populates="org", order_by="Grant.created_at")


class Alias(Base):
    __tablename__ = "org_aliases"
    __table_args__ = (UniqueConstraint("alias", name="uq_org_aliases_alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    alias: Mapped[str] = mapped_column(String(300))

    org: Mapped[Organization] = relationship(back_populates="aliases")


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    exception: Mapped[str] = mapped_column(String(80))
    issued_by: Mapped[str] = mapped_column(String(200))
    justification: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_why: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    org: Mapped[Organization] = relationship(back_populates="grants")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    allowed_models: Mapped[list[str]] = mapped_column(JSON)
    allowed_purposes: Mapped[list[str]] = mapped_column(JSON)
    default_purpose: Mapped[str | None] = mapped_column(String(80))
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_why: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    org: Mapped[Organization] = relationship()


class ScreeningList(Base):
    __tablename__ = "screening_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loaded_by: Mapped[str] = mapped_column(String(200))


class ScreeningEntry(Base):
    __tablename__ = "screening_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("screening_lists.id"), index=True)
    # The list the entry is on: a combined file (the CSL) carries entries of many lists.
    list_name: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(500))
    aliases: Mapped[list[str]] = mapped_column(JSON)
    # Short forms (acronyms) that only match exactly, never fuzzily.
    weak_aliases: Mapped[list[str]] = mapped_column(JSON)
    entry_type: Mapped[str] = mapped_column(String(40))
    programs: Mapped[list[str]] = mapped_column(JSON)


class ScreeningHit(Base):
    """A match of an organisation against a list entry, and whether a person cleared it."""

    __tablename__ = "screening_hits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    list_name: Mapped[str] = mapped_column(String(200))
    entry_id: Mapped[str] = mapped_column(String(80))
    entry_name: Mapped[str] = mapped_column(String(500))
    matched_name: Mapped[str] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_by: Mapped[str | None] = mapped_column(String(200))
    cleared_why: Mapped[str | None] = mapped_column(Text)


class DeploymentState(Base):
    """Small facts about this deployment, e.g. which pack was last recorded as active."""

    __tablename__ = "deployment_state"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
