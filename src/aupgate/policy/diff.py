"""What would change between two packs: every category × class of principal × purpose whose
outcome differs (`aupgate policy diff`)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from aupgate.decision import (
    GENERAL,
    SECTORS,
    GrantSnapshot,
    OrgSnapshot,
    Principal,
    ScreeningStatus,
)
from aupgate.identity.countries import ISO_3166_ALPHA2
from aupgate.policy.engine import CedarEngine


@dataclass(frozen=True, slots=True)
class PrincipalClass:
    """A class of organisations that every policy treats alike."""

    country: str
    sector: str
    vetted: bool
    exceptions: tuple[str, ...]
    screening: ScreeningStatus

    def label(self) -> str:
        grants = "+".join(self.exceptions) or "no grant"
        vetted = "vetted" if self.vetted else "unvetted"
        return f"{self.country} {self.sector} {vetted} {grants} screening={self.screening}"


@dataclass(frozen=True, slots=True)
class Change:
    """One category × principal class × purpose whose outcome differs between the packs."""

    category: str
    principal: PrincipalClass
    purpose: str
    before: str
    after: str


def _representative_countries(a: CedarEngine, b: CedarEngine) -> list[str]:
    """One country per distinct combination of group memberships across both packs."""
    groups = {**a.pack.country_groups, **b.pack.country_groups}
    seen: dict[tuple[str, ...], str] = {}
    for code in sorted(ISO_3166_ALPHA2):
        signature = tuple(sorted(g for g, members in groups.items() if code in members))
        seen.setdefault(signature, code)
    return sorted(seen.values())


def principal_classes(a: CedarEngine, b: CedarEngine) -> list[PrincipalClass]:
    exceptions = sorted(set(a.pack.exceptions) | set(b.pack.exceptions))
    grant_sets = [(), *((e,) for e in exceptions)]
    screenings: tuple[ScreeningStatus, ...] = ("clear", "hit")
    return [
        PrincipalClass(country, sector, vetted, grants, screening)
        for country, sector, vetted, grants, screening in itertools.product(
            _representative_countries(a, b), SECTORS, (True, False), grant_sets, screenings
        )
    ]


def diff_packs(a: CedarEngine, b: CedarEngine, at: datetime) -> list[Change]:
    """Evaluate every class under both packs at `at` and list the differing outcomes."""
    categories = [*sorted(set(a.pack.category_ids) | set(b.pack.category_ids)), GENERAL]
    purposes = sorted(set(a.pack.purposes) | set(b.pack.purposes))
    changes: list[Change] = []
    for cls in principal_classes(a, b):
        grants = tuple(
            GrantSnapshot(e, valid_from=at - timedelta(days=1), expires=at + timedelta(days=365))
            for e in cls.exceptions
        )
        org = OrgSnapshot(
            id="diff",
            name="diff",
            country=cls.country,
            sector=cls.sector,
            vetted=cls.vetted,
            screening=cls.screening,
            grants=grants,
        )
        for purpose in purposes:
            # A declared category (score 1.0) is never uncertain, so each verdict is the
            # outcome `decide` would give for that category alone.
            before = _outcomes(a, org, purpose, categories, at)
            after = _outcomes(b, org, purpose, categories, at)
            changes.extend(
                Change(c, cls, purpose, before[c], after[c])
                for c in categories
                if before[c] != after[c]
            )
    return changes


def _outcomes(
    engine: CedarEngine, org: OrgSnapshot, purpose: str, categories: list[str], at: datetime
) -> dict[str, str]:
    verdicts = engine.evaluate(Principal(org), purpose, "model", categories, at)
    return {v.category: "allow" if v.allowed and not v.errors else "deny" for v in verdicts}
