"""The organisation registry: organisations, aliases, grants (exceptions), API keys, screening.

Every change is validated, then handed to the `record` hook (the audit log) before anything is
written, then committed in one transaction. If recording fails, nothing changes. If the commit
fails after recording, a `change.failed` entry says so. (Recording first also keeps SQLite's
single writer free for the log while the change waits.)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from aupgate.decision import SECTORS, GrantSnapshot, OrgSnapshot, ScreeningStatus
from aupgate.errors import AupgateError, InvalidInputError, NotFoundError
from aupgate.identity import keys
from aupgate.identity.countries import parse_country
from aupgate.identity.screening import ListEntry, Screener, ScreeningMatch
from aupgate.identity.screening import ScreeningList as ParsedList
from aupgate.store.tables import (
    Alias,
    ApiKey,
    DeploymentState,
    Grant,
    Organization,
    ScreeningEntry,
    ScreeningHit,
    ScreeningList,
)

Owned = TypeVar("Owned", Grant, ApiKey)


@dataclass(frozen=True, slots=True)
class AdminEvent:
    """An administrative change, as handed to the audit log."""

    action: str
    actor: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)


RecordHook = Callable[[AdminEvent], None]


class RegistryError(AupgateError):
    """A registry operation that cannot be done as asked."""


class AuthenticationError(AupgateError):
    """A presented key is unknown, revoked or expired."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An authenticated API key and what it permits."""

    id: str
    org_id: str
    name: str
    allowed_models: tuple[str, ...]
    allowed_purposes: tuple[str, ...]
    default_purpose: str | None


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def check_sector(sector: str) -> str:
    if sector not in SECTORS:
        raise InvalidInputError(f"invalid sector {sector!r}: choose one of {', '.join(SECTORS)}")
    return sector


class Registry:
    """Reads and changes the registry; `record` receives every change before it commits."""

    def __init__(self, engine: Engine, record: RecordHook | None = None) -> None:
        # No autoflush: nothing is written before the change has been recorded.
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._record = record
        # The changes recorded by the transaction open in this thread (or task); None outside.
        self._pending: ContextVar[list[AdminEvent] | None] = ContextVar("pending", default=None)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        session = self._sessions()
        recorded: list[AdminEvent] = []
        token = self._pending.set(recorded)
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            message = _first_line(exc)
            if self._record is not None:
                for event in recorded:
                    failed = {"action": event.action, "error": message}
                    self._record(AdminEvent("change.failed", event.actor, event.subject, failed))
            raise RegistryError(f"registry update failed: {message}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            self._pending.reset(token)
            session.close()

    def _emit(self, event: AdminEvent) -> None:
        """Record a change before it is written (call it before any statement that writes)."""
        if self._record is not None:
            self._record(event)
            pending = self._pending.get()
            if pending is not None:
                pending.append(event)

    # -- organisations ----------------------------------------------------------------------

    def _find_org(self, session: Session, ref: str) -> Organization:
        ref = ref.strip()
        org = session.get(Organization, ref)
        if org is None:
            org = session.scalar(
                select(Organization).where(func.lower(Organization.name) == ref.lower())
            )
        if org is None:
            alias = session.scalar(select(Alias).where(func.lower(Alias.alias) == ref.lower()))
            org = alias.org if alias else None
        if org is None:
            raise NotFoundError(f"unknown organisation {ref!r}")
        return org

    def _name_taken(self, session: Session, name: str, except_org: str | None = None) -> bool:
        lowered = name.strip().lower()
        org = session.scalar(select(Organization).where(func.lower(Organization.name) == lowered))
        alias = session.scalar(select(Alias).where(func.lower(Alias.alias) == lowered))
        owners = {o.id for o in (org,) if o} | {a.org_id for a in (alias,) if a}
        return bool(owners - {except_org})

    def add_org(
        self,
        name: str,
        country: str,
        sector: str,
        *,
        actor: str,
        now: datetime,
        vetted: bool = False,
        aliases: Sequence[str] = (),
    ) -> Organization:
        name = name.strip()
        if not name:
            raise InvalidInputError("organisation name is empty")
        country = parse_country(country)
        check_sector(sector)
        with self._tx() as session:
            for candidate in (name, *aliases):
                if self._name_taken(session, candidate):
                    raise RegistryError(f"name or alias {candidate!r} is already registered")
            org = Organization(
                id=_new_id("org"),
                name=name,
                country=country,
                sector=sector,
                vetted=vetted,
                vetted_by=actor if vetted else None,
                vetted_at=now if vetted else None,
                screening="clear",
                created_at=now,
                updated_at=now,
            )
            org.aliases = [Alias(alias=a.strip()) for a in dict.fromkeys(aliases) if a.strip()]
            session.add(org)
            self._emit(
                AdminEvent(
                    "org.added",
                    actor,
                    org.id,
                    {
                        "name": name,
                        "country": country,
                        "sector": sector,
                        "vetted": vetted,
                        "aliases": [a.alias for a in org.aliases],
                    },
                )
            )
        return self.get_org(org.id)

    def update_org(
        self,
        ref: str,
        *,
        actor: str,
        now: datetime,
        country: str | None = None,
        sector: str | None = None,
        vetted: bool | None = None,
        add_aliases: Sequence[str] = (),
        remove_aliases: Sequence[str] = (),
    ) -> Organization:
        changes: dict[str, Any] = {}
        if country is not None:
            changes["country"] = parse_country(country)
        if sector is not None:
            changes["sector"] = check_sector(sector)
        with self._tx() as session:
            org = self._find_org(session, ref)
            for key, value in changes.items():
                setattr(org, key, value)
            if vetted is not None and vetted != org.vetted:
                org.vetted, org.vetted_by, org.vetted_at = (
                    vetted,
                    actor if vetted else None,
                    now if vetted else None,
                )
                changes["vetted"] = vetted
            existing = {a.alias.lower(): a for a in org.aliases}
            for alias in remove_aliases:
                if alias.lower() not in existing:
                    raise NotFoundError(f"{org.name} has no alias {alias!r}")
                org.aliases.remove(existing.pop(alias.lower()))
            for alias in add_aliases:
                if self._name_taken(session, alias, except_org=org.id):
                    raise RegistryError(f"name or alias {alias!r} is already registered")
                if alias.lower() not in existing:
                    org.aliases.append(Alias(alias=alias.strip()))
            if add_aliases:
                changes["add_aliases"] = list(add_aliases)
            if remove_aliases:
                changes["remove_aliases"] = list(remove_aliases)
            if not changes:
                raise InvalidInputError("nothing to update: give at least one change")
            org.updated_at = now
            action = "org.vetted" if set(changes) == {"vetted"} else "org.updated"
            self._emit(AdminEvent(action, actor, org.id, changes))
            org_id = org.id
        return self.get_org(org_id)

    def get_org(self, ref: str) -> Organization:
        with self._sessions() as session:
            org = self._find_org(session, ref)
            return self._loaded(session, org.id)

    def _loaded(self, session: Session, org_id: str) -> Organization:
        org = session.scalar(
            select(Organization)
            .where(Organization.id == org_id)
            .options(selectinload(Organization.aliases), selectinload(Organization.grants))
        )
        assert org is not None
        return org

    def list_orgs(self) -> list[Organization]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Organization)
                    .order_by(Organization.name)
                    .options(selectinload(Organization.aliases), selectinload(Organization.grants))
                )
            )

    def snapshot(self, ref: str) -> OrgSnapshot:
        """The attributes a decision about this organisation rests on."""
        return to_snapshot(self.get_org(ref))

    def snapshots(self) -> list[OrgSnapshot]:
        return [to_snapshot(o) for o in self.list_orgs()]

    # -- grants -----------------------------------------------------------------------------

    def add_grant(
        self,
        org_ref: str,
        exception: str,
        *,
        actor: str,
        justification: str,
        now: datetime,
        expires: datetime | None,
        valid_from: datetime | None = None,
    ) -> Grant:
        if not justification.strip():
            raise InvalidInputError("a grant needs a justification (--why)")
        start = valid_from or now
        if expires is not None and expires <= start:
            raise InvalidInputError(
                f"grant would expire ({expires.date()}) before it starts ({start.date()})"
            )
        if expires is not None and expires <= now:
            raise InvalidInputError(f"expiry {expires.date()} is in the past")
        with self._tx() as session:
            org = self._find_org(session, org_ref)
            grant = Grant(
                id=_new_id("grant"),
                org_id=org.id,
                exception=exception,
                issued_by=actor,
                justification=justification.strip(),
                valid_from=start,
                expires=expires,
                created_at=now,
            )
            session.add(grant)
            self._emit(
                AdminEvent(
                    "grant.issued",
                    actor,
                    org.id,
                    {
                        "grant_id": grant.id,
                        "exception": exception,
                        "valid_from": start.isoformat(),
                        "expires": expires.isoformat() if expires else None,
                        "justification": grant.justification,
                    },
                )
            )
        return grant

    def revoke_grant(self, grant_id: str, *, actor: str, why: str, now: datetime) -> Grant:
        if not why.strip():
            raise InvalidInputError("revoking a grant needs a reason (--why)")
        with self._tx() as session:
            grant = session.get(Grant, grant_id)
            if grant is None:
                raise NotFoundError(f"unknown grant {grant_id!r}")
            if grant.revoked_at is not None:
                raise RegistryError(f"grant {grant_id} was already revoked on {grant.revoked_at}")
            grant.revoked_at, grant.revoked_by, grant.revoked_why = now, actor, why.strip()
            self._emit(
                AdminEvent("grant.revoked", actor, grant.org_id, {"grant_id": grant_id, "why": why})
            )
        return grant

    def list_grants(self, org_ref: str | None = None) -> list[Grant]:
        return self._list_owned(Grant, org_ref)

    def _list_owned(self, row: type[Owned], org_ref: str | None) -> list[Owned]:
        """Grants or keys, oldest first, of one organisation or of all."""
        with self._sessions() as session:
            query = select(row).order_by(row.created_at).options(selectinload(row.org))
            if org_ref:
                query = query.where(row.org_id == self._find_org(session, org_ref).id)
            return list(session.scalars(query))

    # -- API keys ---------------------------------------------------------------------------

    def create_key(
        self,
        org_ref: str,
        name: str,
        *,
        actor: str,
        now: datetime,
        allowed_models: Sequence[str],
        allowed_purposes: Sequence[str],
        default_purpose: str | None = None,
        expires: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; the returned secret is shown once and never stored."""
        if not allowed_purposes:
            raise InvalidInputError("a key needs at least one allowed purpose")
        if default_purpose is not None and default_purpose not in allowed_purposes:
            raise InvalidInputError(
                f"default purpose {default_purpose!r} is not among the allowed purposes"
            )
        if expires is not None and expires <= now:
            raise InvalidInputError(f"expiry {expires.date()} is in the past")
        key_id = keys.new_key_id()
        secret = keys.new_secret(key_id)
        with self._tx() as session:
            org = self._find_org(session, org_ref)
            key = ApiKey(
                id=key_id,
                org_id=org.id,
                name=name,
                secret_sha256=keys.hash_secret(secret),
                allowed_models=list(allowed_models),
                allowed_purposes=list(allowed_purposes),
                default_purpose=default_purpose,
                expires=expires,
                created_at=now,
            )
            session.add(key)
            self._emit(
                AdminEvent(
                    "key.created",
                    actor,
                    org.id,
                    {
                        "key_id": key_id,
                        "name": name,
                        "allowed_models": list(allowed_models),
                        "allowed_purposes": list(allowed_purposes),
                        "expires": expires.isoformat() if expires else None,
                    },
                )
            )
        return key, secret

    def revoke_key(self, key_id: str, *, actor: str, why: str, now: datetime) -> ApiKey:
        with self._tx() as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise NotFoundError(f"unknown key {key_id!r}")
            if key.revoked_at is not None:
                raise RegistryError(f"key {key_id} was already revoked")
            key.revoked_at, key.revoked_by, key.revoked_why = now, actor, why
            self._emit(AdminEvent("key.revoked", actor, key.org_id, {"key_id": key_id, "why": why}))
        return key

    def list_keys(self, org_ref: str | None = None) -> list[ApiKey]:
        return self._list_owned(ApiKey, org_ref)

    def authenticate(self, secret: str, now: datetime) -> KeyInfo:
        """Check a presented token; the same error for every failure reveals nothing."""
        key_id = keys.key_id_of(secret)
        with self._sessions() as session:
            key = session.get(ApiKey, key_id) if key_id else None
            if key is None or not keys.secret_matches(secret, key.secret_sha256):
                raise AuthenticationError("invalid API key")
            if key.revoked_at is not None:
                raise AuthenticationError("API key revoked")
            if key.expires is not None and now >= key.expires:
                raise AuthenticationError("API key expired")
            return KeyInfo(
                id=key.id,
                org_id=key.org_id,
                name=key.name,
                allowed_models=tuple(key.allowed_models),
                allowed_purposes=tuple(key.allowed_purposes),
                default_purpose=key.default_purpose,
            )

    # -- deployment ---------------------------------------------------------------------------

    def note_active_pack(self, name: str, sha256: str, *, actor: str, now: datetime) -> bool:
        """Record (once) that a pack became the active one; True if it changed.

        Worker processes starting together may race here: the loser's write fails (and a
        `change.failed` follows its `pack.activated`), which is no error if the winner
        activated the same pack.
        """
        current = f"{name} {sha256}"
        try:
            return self._activate_pack(name, sha256, current, actor=actor, now=now)
        except RegistryError:
            if self._active_pack() == current:
                return False
            raise

    def _active_pack(self) -> str | None:
        with self._sessions() as session:
            state = session.get(DeploymentState, "active_pack")
            return state.value if state is not None else None

    def _activate_pack(
        self, name: str, sha256: str, current: str, *, actor: str, now: datetime
    ) -> bool:
        with self._tx() as session:
            state = session.get(DeploymentState, "active_pack")
            if state is not None and state.value == current:
                return False
            previous = state.value if state else None
            self._emit(
                AdminEvent("pack.activated", actor, name, {"sha256": sha256, "previous": previous})
            )
            if state is None:
                session.add(DeploymentState(key="active_pack", value=current, updated_at=now))
            else:
                state.value, state.updated_at = current, now
        return True

    # -- screening --------------------------------------------------------------------------

    def store_screening_list(
        self, parsed: ParsedList, *, source: str, actor: str, now: datetime
    ) -> ScreeningList:
        """Replace any stored list of the same name with the entries of `parsed`."""
        name, sha256, entries = parsed.list_name, parsed.sha256, parsed.entries
        with self._tx() as session:
            self._emit(
                AdminEvent(
                    "screening.list_loaded",
                    actor,
                    name,
                    {"source": source, "sha256": sha256, "entries": len(entries)},
                )
            )
            for old in session.scalars(select(ScreeningList).where(ScreeningList.name == name)):
                session.execute(delete(ScreeningEntry).where(ScreeningEntry.list_id == old.id))
                session.delete(old)
            stored = ScreeningList(
                name=name,
                source=source,
                sha256=sha256,
                entries=len(entries),
                loaded_at=now,
                loaded_by=actor,
            )
            session.add(stored)
            session.flush()
            session.add_all(
                ScreeningEntry(
                    list_id=stored.id,
                    list_name=e.list_name,
                    entry_id=e.entry_id,
                    name=e.name,
                    aliases=list(e.aliases),
                    weak_aliases=list(e.weak_aliases),
                    entry_type=e.entry_type,
                    programs=list(e.programs),
                )
                for e in entries
            )
        return stored

    def screening_lists(self) -> list[ScreeningList]:
        with self._sessions() as session:
            return list(session.scalars(select(ScreeningList).order_by(ScreeningList.name)))

    def screening_entries(self) -> list[ListEntry]:
        """Every stored entry of every loaded list."""
        with self._sessions() as session:
            return [
                ListEntry(
                    list_name=e.list_name,
                    entry_id=e.entry_id,
                    name=e.name,
                    aliases=tuple(e.aliases),
                    entry_type=e.entry_type,
                    programs=tuple(e.programs),
                    weak_aliases=tuple(e.weak_aliases),
                )
                for e in session.scalars(select(ScreeningEntry))
            ]

    def record_screening(
        self, org_id: str, matches: Sequence[ScreeningMatch], *, actor: str, now: datetime
    ) -> Organization:
        """Store new hits for an organisation and set its status (hits already cleared stay so)."""
        with self._tx() as session:
            org = self._find_org(session, org_id)
            existing = list(
                session.scalars(select(ScreeningHit).where(ScreeningHit.org_id == org.id))
            )
            known = {(h.list_name, h.entry_id) for h in existing}
            new = [
                ScreeningHit(
                    org_id=org.id,
                    list_name=m.entry.list_name,
                    entry_id=m.entry.entry_id,
                    entry_name=m.matched_name,
                    matched_name=m.query,
                    score=m.score,
                    found_at=now,
                )
                for m in matches
                if (m.entry.list_name, m.entry.entry_id) not in known
            ]
            status = _screening_status([*existing, *new])
            if new or status != org.screening:
                org.screening = status
                org.updated_at = now
                self._emit(
                    AdminEvent(
                        "screening.hit_found" if new else "org.updated",
                        actor,
                        org.id,
                        {
                            "status": status,
                            "hits": [
                                {
                                    "list": h.list_name,
                                    "entry_id": h.entry_id,
                                    "entry_name": h.entry_name,
                                    "matched_name": h.matched_name,
                                    "score": round(h.score, 1),
                                }
                                for h in new
                            ],
                        },
                    )
                )
            session.add_all(new)
            org_ref = org.id
        return self.get_org(org_ref)

    def screen(
        self, org_ref: str, screener: Screener, *, actor: str, now: datetime
    ) -> Organization:
        """Match an organisation's name and aliases against the lists; record any new hit."""
        org = self.get_org(org_ref)
        try:
            matches = screener.match([org.name, *(a.alias for a in org.aliases)])
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None
        return self.record_screening(org.id, matches, actor=actor, now=now)

    def screening_hits(self, org_ref: str | None = None) -> list[ScreeningHit]:
        with self._sessions() as session:
            query = select(ScreeningHit).order_by(ScreeningHit.found_at, ScreeningHit.id)
            if org_ref:
                query = query.where(ScreeningHit.org_id == self._find_org(session, org_ref).id)
            return list(session.scalars(query))

    def clear_screening(self, org_ref: str, *, actor: str, why: str, now: datetime) -> Organization:
        """Clear every open hit of an organisation as a false positive, with a justification."""
        if not why.strip():
            raise InvalidInputError("clearing a screening hit needs a justification (--why)")
        with self._tx() as session:
            org = self._find_org(session, org_ref)
            open_hits = list(
                session.scalars(
                    select(ScreeningHit).where(
                        ScreeningHit.org_id == org.id, ScreeningHit.cleared_at.is_(None)
                    )
                )
            )
            if not open_hits:
                raise RegistryError(f"{org.name} has no open screening hit to clear")
            for hit in open_hits:
                hit.cleared_at, hit.cleared_by, hit.cleared_why = now, actor, why.strip()
            org.screening = "cleared"
            org.updated_at = now
            self._emit(
                AdminEvent(
                    "screening.hit_cleared",
                    actor,
                    org.id,
                    {"entries": [f"{h.list_name}:{h.entry_id}" for h in open_hits], "why": why},
                )
            )
            org_id = org.id
        return self.get_org(org_id)

    def find_by_names(self, names: Sequence[str]) -> list[Organization]:
        """Organisations whose name or alias is among `names` (case-insensitive)."""
        lowered = [n.lower() for n in names]
        with self._sessions() as session:
            ids = set(
                session.scalars(
                    select(Organization.id)
                    .outerjoin(Alias)
                    .where(
                        or_(
                            func.lower(Organization.name).in_(lowered),
                            func.lower(Alias.alias).in_(lowered),
                        )
                    )
                )
            )
            return [self._loaded(session, i) for i in sorted(ids)]


def _screening_status(hits: Sequence[ScreeningHit]) -> ScreeningStatus:
    if any(h.cleared_at is None for h in hits):
        return "hit"
    return "cleared" if hits else "clear"


def to_snapshot(org: Organization) -> OrgSnapshot:
    """The decision-relevant view of an organisation row (with its grants)."""
    status: ScreeningStatus = (
        "hit" if org.screening == "hit" else ("cleared" if org.screening == "cleared" else "clear")
    )
    return OrgSnapshot(
        id=org.id,
        name=org.name,
        country=org.country,
        sector=org.sector,
        vetted=org.vetted,
        screening=status,
        grants=tuple(
            GrantSnapshot(
                exception=g.exception,
                valid_from=g.valid_from,
                expires=g.expires,
                revoked=g.revoked_at is not None,
            )
            for g in org.grants
        ),
    )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
