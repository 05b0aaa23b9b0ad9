"""Fixtures: a migrated SQLite store in a temporary home and an audit log on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aupgate.audit import AuditLog, open_audit_log
from aupgate.config import Settings
from aupgate.store.db import migrate, open_engine


def make_settings(home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": f"sqlite:///{home / 'aupgate.db'}",
        "audit_origin": "test.example/audit",
        "audit_checkpoint_every": 100,
        "audit_checkpoint_seconds": 3600.0,
        "audit_prompt_key": bytes(range(32)).hex(),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory() -> SettingsFactory:
    """Settings for a given home, with overrides (e.g. another database URL)."""
    return make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = open_engine(settings.database)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def audit(engine: Engine, settings: Settings) -> Iterator[AuditLog]:
    log = open_audit_log(engine, settings)
    yield log
    log.close(checkpoint=False)
