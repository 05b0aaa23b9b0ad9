"""The shipped packs: they validate, their own test cases pass, and the exception is exactly
as wide as announced (property tests over every combination of attributes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aupgate.decision import (
    SECTORS,
    Classification,
    GrantSnapshot,
    OrgSnapshot,
    Principal,
    UseRequest,
    decide,
)
from aupgate.identity.countries import ISO_3166_ALPHA2
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import load_pack, shipped_pack_names
from aupgate.policy.testing import run_pack_tests
from aupgate.policy.validate import validate_pack

NOW = datetime(2025, 6, 1, tzinfo=UTC)
FAMILY_2_1 = ("military-warfare", "nuclear", "espionage", "export-controlled")
FIVE_EYES = {"US", "GB", "CA", "AU", "NZ"}


@cache
def engine(name: str) -> CedarEngine:
    return CedarEngine(load_pack(name))


def test_both_packs_ship() -> None:
    assert {"llama-aup-2024-07", "llama-aup-2024-11"} <= set(shipped_pack_names())


@pytest.mark.parametrize("name", ["llama-aup-2024-07", "llama-aup-2024-11"])
def test_pack_validates_and_its_cases_pass(name: str) -> None:
    pack, problems = validate_pack(name)
    assert pack is not None and problems == []
    results = run_pack_tests(engine(name))
    assert len(results) >= 5
    assert [r for r in results if not r.passed] == []


def test_pack_identity_is_content_hash() -> None:
    a, b = load_pack("llama-aup-2024-07"), load_pack("llama-aup-2024-11")
    assert len(a.sha256) == 64 and a.sha256 != b.sha256
    assert load_pack("llama-aup-2024-11").sha256 == b.sha256


def test_every_category_cites_its_aup_section() -> None:
    infos = engine("llama-aup-2024-11").policy_infos.values()
    assert all(i.citation for i in infos)
    for category in load_pack("llama-aup-2024-11").categories:
        naming = [i for i in infos if i.actions and category.id in i.actions]
        assert any(i.effect == "forbid" for i in naming), category.id


def _org(country: str, sector: str, vetted: bool, granted: bool, screening: str) -> OrgSnapshot:
    grants = (
        (GrantSnapshot("national-security", NOW - timedelta(days=1), NOW + timedelta(days=30)),)
        if granted
        else ()
    )
    return OrgSnapshot("o", "o", country, sector, vetted, screening, grants)  # type: ignore[arg-type]


def _in_scope(org: OrgSnapshot, purpose: str) -> bool:
    return (
        org.vetted
        and org.country in FIVE_EYES
        and org.sector in ("government", "defense-contractor")
        and bool(org.active_exceptions(NOW))
        and org.screening != "hit"
        and purpose == "national-security"
    )


@settings(max_examples=300, deadline=None)
@given(
    country=st.sampled_from(sorted(ISO_3166_ALPHA2)),
    sector=st.sampled_from(SECTORS),
    vetted=st.booleans(),
    granted=st.booleans(),
    screening=st.sampled_from(["clear", "hit", "cleared"]),
    purpose=st.sampled_from(load_pack("llama-aup-2024-11").purposes),
    category=st.sampled_from(FAMILY_2_1),
)
def test_2_1_allowed_only_inside_the_exception(
    country: str,
    sector: str,
    vetted: bool,
    granted: bool,
    screening: str,
    purpose: str,
    category: str,
) -> None:
    org = _org(country, sector, vetted, granted, screening)
    req = UseRequest(Principal(org), purpose, "llama", Classification.declared([category]))
    after = decide(req, engine("llama-aup-2024-11"), NOW, "d")
    assert (after.outcome == "allow") == _in_scope(org, purpose)
    assert decide(req, engine("llama-aup-2024-07"), NOW, "d").outcome == "deny"


@settings(max_examples=150, deadline=None)
@given(
    category=st.sampled_from(
        [c for c in load_pack("llama-aup-2024-11").category_ids if c not in FAMILY_2_1]
    ),
    purpose=st.sampled_from(load_pack("llama-aup-2024-11").purposes),
)
def test_nothing_outside_2_1_is_relaxed_for_anyone(category: str, purpose: str) -> None:
    org = _org("US", "government", vetted=True, granted=True, screening="clear")
    req = UseRequest(Principal(org), purpose, "llama", Classification.declared([category]))
    assert decide(req, engine("llama-aup-2024-11"), NOW, "d").outcome == "deny"
