"""The Cedar adapter against real cedarpy: fail-closed behaviour, entity stores, broken packs."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aupgate.decision import (
    Classification,
    GrantSnapshot,
    OrgSnapshot,
    Principal,
    UseRequest,
    decide,
)
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import PackError, load_pack, resolve_pack_path
from aupgate.policy.validate import validate_pack

NOW = datetime(2025, 6, 1, tzinfo=UTC)
GRANT = GrantSnapshot("national-security", NOW - timedelta(days=10), NOW + timedelta(days=10))
LOCKHEED = OrgSnapshot("lm", "Lockheed Martin", "US", "defense-contractor", True, "clear", (GRANT,))


def copy_pack(tmp_path: Path, name: str = "llama-aup-2024-11") -> Path:
    target = tmp_path / name
    shutil.copytree(resolve_pack_path(name), target)
    return target


def military(org: OrgSnapshot, purpose: str = "national-security") -> UseRequest:
    return UseRequest(
        Principal(org), purpose, "llama", Classification.declared(["military-warfare"])
    )


def test_unknown_purpose_is_an_error_not_a_verdict() -> None:
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    d = decide(military(LOCKHEED, purpose="world-domination"), engine, NOW, "d")
    assert d.outcome == "deny"
    assert "purpose" in d.errors[0]


def test_shared_store_and_single_snapshot_agree(tmp_path: Path) -> None:
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    alone = decide(military(LOCKHEED), engine, NOW, "d")
    engine.use_store(engine.build_store([LOCKHEED], NOW))
    shared = decide(military(LOCKHEED), engine, NOW, "d")
    assert alone.outcome == shared.outcome == "allow"
    assert alone.rules == shared.rules


def test_store_is_not_used_past_a_grant_expiry() -> None:
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    store = engine.build_store([LOCKHEED], NOW)
    assert store.valid_until == GRANT.expires
    engine.use_store(store)
    later = NOW + timedelta(days=11)
    assert not store.serves(LOCKHEED, later)
    assert decide(military(LOCKHEED), engine, later, "d").outcome == "deny"


def test_store_is_not_used_for_a_changed_snapshot() -> None:
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    engine.use_store(engine.build_store([LOCKHEED], NOW))
    unvetted = OrgSnapshot(
        "lm", "Lockheed Martin", "US", "defense-contractor", False, "clear", (GRANT,)
    )
    assert decide(military(unvetted), engine, NOW, "d").outcome == "deny"


def test_one_organisation_is_judged_by_its_current_snapshot_and_clock() -> None:
    # Without a shared store, each organisation's parsed entities are reused between calls;
    # a changed snapshot (grant revoked) or a clock past the grant's expiry must not be.
    engine = CedarEngine(load_pack("llama-aup-2024-11"))
    assert decide(military(LOCKHEED), engine, NOW, "d").outcome == "allow"
    assert decide(military(LOCKHEED), engine, NOW, "d").outcome == "allow"
    revoked = GrantSnapshot(GRANT.exception, GRANT.valid_from, GRANT.expires, revoked=True)
    without = OrgSnapshot(
        "lm", "Lockheed Martin", "US", "defense-contractor", True, "clear", (revoked,)
    )
    assert decide(military(without), engine, NOW, "d").outcome == "deny"
    assert decide(military(LOCKHEED), engine, NOW, "d").outcome == "allow"
    assert decide(military(LOCKHEED), engine, NOW + timedelta(days=11), "d").outcome == "deny"


def test_an_erroring_permit_denies(tmp_path: Path) -> None:
    """Cedar skips a policy whose evaluation errors (here an integer overflow, which the
    validator cannot see) and reports it; the engine must turn that report into a denial."""
    pack = copy_pack(tmp_path)
    policies = (pack / "policies.cedar").read_text()
    policies = policies.replace(
        'permit (principal, action == Aup::Action::"general", resource);',
        'permit (principal, action == Aup::Action::"general", resource)\n'
        "when { 9223372036854775807 + 1 > 0 };",
    )
    (pack / "policies.cedar").write_text(policies)
    engine = CedarEngine(load_pack(pack))
    general = UseRequest(Principal(LOCKHEED), "general", "llama", Classification.declared([]))
    d = decide(general, engine, NOW, "d")
    assert d.outcome == "deny"
    assert any("overflow" in e for e in d.errors), d.errors


def test_a_broken_policy_file_does_not_load(tmp_path: Path) -> None:
    pack = copy_pack(tmp_path)
    (pack / "policies.cedar").write_text("permit (principal, action, resource")
    with pytest.raises(PackError, match=r"parse|validation"):
        CedarEngine(load_pack(pack))


def test_a_policy_that_fails_the_schema_does_not_load(tmp_path: Path) -> None:
    pack = copy_pack(tmp_path)
    text = (pack / "policies.cedar").read_text().replace("principal.vetted", "principal.veted", 1)
    (pack / "policies.cedar").write_text(text)
    with pytest.raises(PackError, match="fails validation"):
        CedarEngine(load_pack(pack))


def test_validation_finds_uncovered_category_and_missing_citation(tmp_path: Path) -> None:
    pack = copy_pack(tmp_path)
    text = (pack / "policies.cedar").read_text()
    start = text.index('@id("aup-3.2-defamation")')
    end = text.index("forbid", start)
    end = text.index(";", end) + 1
    text = text[:start] + text[end:]
    text = text.replace(
        '@citation("Llama 3.1 AUP §3.3 spam; §3.6 fake online engagement, '
        'including fake reviews")\n',
        "",
    )
    (pack / "policies.cedar").write_text(text)
    _, problems = validate_pack(str(pack))
    messages = " | ".join(str(p) for p in problems)
    assert "'defamation' is named by no policy" in messages
    assert "aup-3.3-spam: policy has no @citation" in messages


def test_missing_pack_file_is_named(tmp_path: Path) -> None:
    pack = copy_pack(tmp_path)
    (pack / "schema.cedarschema").unlink()
    with pytest.raises(PackError, match=r"missing schema\.cedarschema"):
        load_pack(pack)


def test_requests_that_would_not_match_the_schema_refuse_the_pack(tmp_path: Path) -> None:
    # The policies still validate, but no request the engine builds carries `urgent`: Cedar
    # would answer NoDecision for every one of them, so the pack must not load at all.
    pack_dir = copy_pack(tmp_path)
    schema = pack_dir / "schema.cedarschema"
    schema.write_text(
        schema.read_text().replace("{ purpose: String }", "{ purpose: String, urgent: Bool }")
    )
    with pytest.raises(PackError, match="does not match the schema"):
        CedarEngine(load_pack(str(pack_dir)))
