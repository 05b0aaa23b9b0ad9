"""The pure core: `decide` over a fake evaluator (unit) and properties that must always hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from aupgate.decision import (
    CategoryScore,
    CategoryVerdict,
    Classification,
    GrantSnapshot,
    OrgSnapshot,
    PackRef,
    Principal,
    Rule,
    UseRequest,
    decide,
)

NOW = datetime(2025, 1, 15, tzinfo=UTC)
ORG = OrgSnapshot("o1", "Org", "US", "commercial", vetted=False)


class FakeEvaluator:
    """Answers from a table: category -> (allowed, errors)."""

    def __init__(self, answers: Mapping[str, tuple[bool, tuple[str, ...]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    @property
    def ref(self) -> PackRef:
        return PackRef("fake", "1", "0" * 64)

    def thresholds(self) -> Mapping[str, tuple[float, float]]:
        return {c: (0.5, 0.8) for c in self.answers if c != "general"}

    def evaluate(
        self,
        principal: Principal,
        purpose: str,
        model: str,
        categories: Sequence[str],
        now: datetime,
    ) -> list[CategoryVerdict]:
        self.asked = list(categories)
        out = []
        for c in categories:
            allowed, errors = self.answers.get(c, (False, ("unknown",)))
            rule = Rule(f"p-{c}", "permit" if allowed else "forbid", "cite", c)
            out.append(CategoryVerdict(c, allowed, (rule,), errors))
        return out


def request(**scores: float) -> UseRequest:
    cats = tuple(CategoryScore(k.replace("_", "-"), v) for k, v in scores.items())
    return UseRequest(Principal(ORG), "general", "m", Classification(cats))


def test_no_category_over_threshold_is_judged_as_general() -> None:
    fake = FakeEvaluator({"general": (True, ()), "spam": (False, ())})
    d = decide(request(spam=0.49), fake, NOW, "id")
    assert fake.asked == ["general"]
    assert d.outcome == "allow"


def test_denial_inside_the_uncertainty_band_is_review() -> None:
    fake = FakeEvaluator({"general": (True, ()), "spam": (False, ())})
    assert decide(request(spam=0.6), fake, NOW, "id").outcome == "review"
    assert decide(request(spam=0.8), fake, NOW, "id").outcome == "deny"


def test_one_confident_denial_beats_uncertain_ones() -> None:
    fake = FakeEvaluator({"general": (True, ()), "spam": (False, ()), "fraud": (False, ())})
    d = decide(request(spam=0.6, fraud=0.95), fake, NOW, "id")
    assert d.outcome == "deny"
    assert d.uncertain == ("spam",)


def test_refusal_cites_only_the_refusing_rules() -> None:
    fake = FakeEvaluator({"general": (True, ()), "a": (True, ()), "b": (False, ())})
    d = decide(request(a=0.9, b=0.9), fake, NOW, "id")
    assert d.outcome == "deny"
    assert [r.policy_id for r in d.rules] == ["p-b"]


def test_unknown_category_is_denied_not_ignored() -> None:
    fake = FakeEvaluator({"general": (True, ())})
    d = decide(request(mystery=0.1), fake, NOW, "id")
    assert d.outcome == "deny"
    assert "mystery" in d.considered


def test_missing_verdict_denies() -> None:
    class Silent(FakeEvaluator):
        def evaluate(self, *args: object, **kwargs: object) -> list[CategoryVerdict]:
            return []

    d = decide(request(), Silent({"general": (True, ())}), NOW, "id")
    assert d.outcome == "deny"
    assert d.errors


@given(
    allowed=st.booleans(),
    errors=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
    score=st.floats(min_value=0.0, max_value=1.0),
)
def test_an_engine_error_never_allows(allowed: bool, errors: list[str], score: float) -> None:
    fake = FakeEvaluator({"general": (allowed, tuple(errors)), "spam": (allowed, tuple(errors))})
    d = decide(request(spam=score), fake, NOW, "id")
    assert d.outcome == "deny"


def test_grant_activity_window() -> None:
    g = GrantSnapshot("x", valid_from=NOW, expires=NOW + timedelta(days=1))
    assert not g.active_at(NOW - timedelta(seconds=1))
    assert g.active_at(NOW)
    assert not g.active_at(NOW + timedelta(days=1))
    revoked = GrantSnapshot("x", valid_from=NOW, expires=None, revoked=True)
    assert not revoked.active_at(NOW)
