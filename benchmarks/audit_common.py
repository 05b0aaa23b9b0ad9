"""Shared set-up for the audit benchmarks: a fresh SQLite store and a realistic record."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from aupgate.audit import AuditLog, decision_body, open_audit_log
from aupgate.config import Settings
from aupgate.ids import new_decision_id
from aupgate.store.db import migrate, open_engine


def decision_record(i: int) -> dict[str, Any]:
    """About the size and shape of a real Decision record with its prompt digest."""
    decision = {
        "decision_id": new_decision_id(),
        "time": "2026-11-28T04:00:00.000000+00:00",
        "outcome": "deny" if i % 3 else "allow",
        "org": {
            "id": f"org-{i % 97:04d}",
            "name": "Example Defense Contractor Inc.",
            "country": "US",
            "sector": "defense-contractor",
            "vetted": True,
            "screening": "clear",
            "grants": [
                {
                    "exception": "national-security-2024-11",
                    "valid_from": "2026-01-01T00:00:00+00:00",
                    "expires": None,
                    "revoked": False,
                }
            ],
        },
        "key_id": f"key-{i % 1013:05d}",
        "purpose": "national-security",
        "model": "llama-3.1-70b",
        "categories": [{"category": "military-warfare", "score": 0.9312}],
        "considered": ["military-warfare"],
        "uncertain": [],
        "rules": [
            {
                "policy_id": "permit-national-security",
                "effect": "permit",
                "citation": "Llama AUP 2024-11, national-security exception",
                "category": "military-warfare",
            }
        ],
        "pack": {"name": "llama-aup-2024-11", "version": "1.0.0", "sha256": "ab" * 32},
        "classifier": {"backend": "embedded", "version": "1.0", "artefact_sha256": "cd" * 32},
        "errors": [],
    }
    return decision_body(decision, "ef" * 32)


def fresh_log(
    root: Path | None = None, checkpoint_every: int = 1000
) -> tuple[AuditLog, Engine, Path]:
    """An empty log in a new temporary directory (WAL, synchronous=FULL)."""
    home = Path(tempfile.mkdtemp(prefix="aupgate-bench-", dir=root))
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'aupgate.db'}",
        audit_checkpoint_every=checkpoint_every,
    )
    engine = open_engine(settings.database)
    migrate(engine)
    return open_audit_log(engine, settings), engine, home


def db_bytes(home: Path) -> int:
    """Size of the database file and its WAL."""
    return sum(p.stat().st_size for p in home.glob("aupgate.db*"))
