"""Shared fixtures: real stores (SQLite file; PostgreSQL when AUPGATE_TEST_POSTGRES=1)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get(
    "AUPGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_enabled() -> bool:
    return os.environ.get("AUPGATE_TEST_POSTGRES") == "1"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    if not postgres_enabled():
        pytest.skip("PostgreSQL tests run with AUPGATE_TEST_POSTGRES=1 (as .ci/run sets)")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and (when enabled) on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aupgate.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
