"""The registry on real stores (SQLite file, and PostgreSQL when enabled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aupgate.errors import InvalidInputError, NotFoundError
from aupgate.identity.registry import AdminEvent, AuthenticationError, Registry, RegistryError
from aupgate.store.db import StoreError, migrate, open_engine
from aupgate.store.tables import DeploymentState

NOW = datetime(2025, 1, 15, tzinfo=UTC)


@pytest.fixture
def events() -> list[AdminEvent]:
    return []


@pytest.fixture
def registry(store_url: str, events: list[AdminEvent]) -> Registry:
    engine = open_engine(store_url)
    migrate(engine)
    return Registry(engine, record=events.append)


def test_add_find_by_name_alias_and_id(registry: Registry, events: list[AdminEvent]) -> None:
    org = registry.add_org(
        "Lockheed Martin",
        "us",
        "defense-contractor",
        actor="a",
        now=NOW,
        vetted=True,
        aliases=["LMT", "Lockheed"],
    )
    assert org.country == "US" and org.vetted_by == "a" and org.vetted_at == NOW
    for ref in ("lockheed martin", "lmt", org.id):
        assert registry.get_org(ref).id == org.id
    assert [e.action for e in events] == ["org.added"]


@pytest.mark.parametrize(
    ("country", "sector", "message"),
    [("UK", "government", "invalid country"), ("US", "army", "invalid sector")],
)
def test_bad_attributes_change_nothing(
    registry: Registry, events: list[AdminEvent], country: str, sector: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        registry.add_org("X", country, sector, actor="a", now=NOW)
    assert registry.list_orgs() == [] and events == []


def test_duplicate_names_and_aliases_are_refused(registry: Registry) -> None:
    registry.add_org("Acme", "US", "commercial", actor="a", now=NOW, aliases=["ACME Corp"])
    with pytest.raises(RegistryError, match="already registered"):
        registry.add_org("acme corp", "US", "commercial", actor="a", now=NOW)
    assert len(registry.list_orgs()) == 1


def test_update_records_vetting(registry: Registry) -> None:
    registry.add_org("Acme", "US", "commercial", actor="a", now=NOW)
    later = NOW + timedelta(days=1)
    org = registry.update_org("Acme", actor="officer", now=later, vetted=True, add_aliases=["A1"])
    assert (org.vetted, org.vetted_by, org.vetted_at) == (True, "officer", later)
    with pytest.raises(InvalidInputError, match="nothing to update"):
        registry.update_org("Acme", actor="officer", now=later)


def test_grants_expire_and_revoke_in_the_snapshot(registry: Registry) -> None:
    registry.add_org("DoD", "US", "government", actor="a", now=NOW, vetted=True)
    grant = registry.add_grant(
        "DoD",
        "national-security",
        actor="licensing",
        justification="partner",
        now=NOW,
        expires=NOW + timedelta(days=30),
    )
    snap = registry.snapshot("DoD")
    assert snap.active_exceptions(NOW + timedelta(days=1)) == {"national-security"}
    assert snap.active_exceptions(NOW + timedelta(days=31)) == frozenset()
    registry.revoke_grant(grant.id, actor="licensing", why="ended", now=NOW)
    assert registry.snapshot("DoD").active_exceptions(NOW + timedelta(days=1)) == frozenset()
    with pytest.raises(RegistryError, match="already revoked"):
        registry.revoke_grant(grant.id, actor="licensing", why="again", now=NOW)


def test_grant_input_errors(registry: Registry) -> None:
    registry.add_org("DoD", "US", "government", actor="a", now=NOW)
    with pytest.raises(InvalidInputError, match="before it starts"):
        registry.add_grant(
            "DoD",
            "national-security",
            actor="l",
            justification="j",
            now=NOW,
            expires=NOW - timedelta(days=1),
        )
    with pytest.raises(InvalidInputError, match="justification"):
        registry.add_grant(
            "DoD",
            "national-security",
            actor="l",
            justification=" ",
            now=NOW,
            expires=NOW + timedelta(days=1),
        )
    with pytest.raises(NotFoundError, match="unknown organisation"):
        registry.add_grant(
            "Nobody",
            "national-security",
            actor="l",
            justification="j",
            now=NOW,
            expires=NOW + timedelta(days=1),
        )
    assert registry.list_grants() == []


def test_keys_shown_once_hashed_and_checked(registry: Registry) -> None:
    registry.add_org("Acme", "US", "commercial", actor="a", now=NOW)
    key, secret = registry.create_key(
        "Acme",
        "ci",
        actor="a",
        now=NOW,
        allowed_models=["llama"],
        allowed_purposes=["general", "research"],
        default_purpose="general",
        expires=NOW + timedelta(days=2),
    )
    assert secret not in key.secret_sha256 and key.id in secret
    info = registry.authenticate(secret, NOW)
    assert info.org_id == key.org_id and info.allowed_purposes == ("general", "research")
    with pytest.raises(AuthenticationError, match="invalid"):
        registry.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B"), NOW)
    with pytest.raises(AuthenticationError, match="expired"):
        registry.authenticate(secret, NOW + timedelta(days=3))
    registry.revoke_key(key.id, actor="a", why="leaked", now=NOW)
    with pytest.raises(AuthenticationError, match="revoked"):
        registry.authenticate(secret, NOW)


def test_failed_recording_rolls_the_change_back(store_url: str) -> None:
    engine = open_engine(store_url)
    migrate(engine)

    def refuse(event: AdminEvent) -> None:
        raise RuntimeError("audit log unavailable")

    registry = Registry(engine, record=refuse)
    with pytest.raises(RuntimeError):
        registry.add_org("Acme", "US", "commercial", actor="a", now=NOW)
    assert Registry(engine).list_orgs() == []


def test_unopenable_database_is_a_precise_error(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        open_engine("sqlite:////proc/definitely/not/here.db")


def _record_then_activate(engine: Engine, value: str, events: list[AdminEvent]) -> Registry:
    """A registry whose recording hook lets another writer activate `value` first (a race)."""

    def record(event: AdminEvent) -> None:
        events.append(event)
        if event.action == "pack.activated":
            with Session(engine) as other, other.begin():
                other.add(DeploymentState(key="active_pack", value=value, updated_at=NOW))

    return Registry(engine, record=record)


def test_a_failed_change_is_recorded_once_and_raises(store_url: str) -> None:
    engine = open_engine(store_url)
    migrate(engine)
    events: list[AdminEvent] = []
    registry = _record_then_activate(engine, "another-pack 00", events)
    with pytest.raises(RegistryError, match="registry update failed"):
        registry.note_active_pack("llama-aup-2024-11", "ff", actor="a", now=NOW)
    assert [e.action for e in events] == ["pack.activated", "change.failed"]
    assert events[1].details["action"] == "pack.activated"


def test_losing_the_race_to_activate_the_same_pack_is_no_error(store_url: str) -> None:
    engine = open_engine(store_url)
    migrate(engine)
    events: list[AdminEvent] = []
    registry = _record_then_activate(engine, "llama-aup-2024-11 ff", events)
    assert registry.note_active_pack("llama-aup-2024-11", "ff", actor="a", now=NOW) is False
    assert [e.action for e in events] == ["pack.activated", "change.failed"]
    assert registry.note_active_pack("llama-aup-2024-11", "ff", actor="a", now=NOW) is False
    assert len(events) == 2
