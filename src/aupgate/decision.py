"""The pure core: who asks, for what use, and the one function that makes a verdict.

Nothing here does I/O. Time, identifiers and the policy engine are passed in, so the CLI, the
decision API, the gateway and replay all reach the same verdict for the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Outcome = Literal["allow", "deny", "review"]
Sector = Literal[
    "government", "defense-contractor", "commercial", "academic", "nonprofit", "individual"
]
SECTORS: tuple[str, ...] = (
    "government",
    "defense-contractor",
    "commercial",
    "academic",
    "nonprofit",
    "individual",
)
ScreeningStatus = Literal["clear", "hit", "cleared"]

# The pseudo-category of a request in which the classifier found no prohibited use.
GENERAL = "general"


@dataclass(frozen=True, slots=True)
class GrantSnapshot:
    """An exception granted to an organisation, as it stood when the decision was made."""

    exception: str
    valid_from: datetime
    expires: datetime | None
    revoked: bool = False

    def active_at(self, now: datetime) -> bool:
        """True if the grant is in force at `now` (issued, not expired, not revoked)."""
        if self.revoked or now < self.valid_from:
            return False
        return self.expires is None or now < self.expires


@dataclass(frozen=True, slots=True)
class OrgSnapshot:
    """The organisation attributes a decision rests on (copied into every Decision)."""

    id: str
    name: str
    country: str
    sector: str
    vetted: bool
    screening: ScreeningStatus = "clear"
    grants: tuple[GrantSnapshot, ...] = ()

    def active_exceptions(self, now: datetime) -> frozenset[str]:
        """Names of the exceptions this organisation holds at `now`."""
        return frozenset(g.exception for g in self.grants if g.active_at(now))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "sector": self.sector,
            "vetted": self.vetted,
            "screening": self.screening,
            "grants": [
                {
                    "exception": g.exception,
                    "valid_from": g.valid_from.isoformat(),
                    "expires": g.expires.isoformat() if g.expires else None,
                    "revoked": g.revoked,
                }
                for g in self.grants
            ],
        }


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an organisation, and the key (if any) it used."""

    org: OrgSnapshot
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class CategoryScore:
    """One taxonomy category with a calibrated score in [0, 1]."""

    category: str
    score: float


@dataclass(frozen=True, slots=True)
class ClassifierIdentity:
    """Which classifier produced the scores (recorded in every Decision)."""

    backend: str
    version: str
    artefact_sha256: str

    def to_json(self) -> dict[str, str]:
        return {
            "backend": self.backend,
            "version": self.version,
            "artefact_sha256": self.artefact_sha256,
        }


# Categories given by hand (CLI `--category`, decision API) rather than by a classifier.
DECLARED = ClassifierIdentity(backend="declared", version="-", artefact_sha256="-")


@dataclass(frozen=True, slots=True)
class Classification:
    """Scores for every category of a taxonomy, from one classifier."""

    scores: tuple[CategoryScore, ...]
    classifier: ClassifierIdentity = DECLARED

    @classmethod
    def declared(cls, categories: Sequence[str]) -> Classification:
        """Categories asserted with certainty, e.g. by an administrator on the command line."""
        return cls(tuple(CategoryScore(c, 1.0) for c in categories), DECLARED)


@dataclass(frozen=True, slots=True)
class UseRequest:
    """For what use: the declared purpose, the model, and the classified categories."""

    principal: Principal
    purpose: str
    model: str
    classification: Classification


@dataclass(frozen=True, slots=True)
class Rule:
    """A policy that determined a decision, with the text it cites."""

    policy_id: str
    effect: Literal["permit", "forbid", "error"]
    citation: str
    category: str

    def to_json(self) -> dict[str, str]:
        return {
            "policy_id": self.policy_id,
            "effect": self.effect,
            "citation": self.citation,
            "category": self.category,
        }


@dataclass(frozen=True, slots=True)
class PackRef:
    """Which policy pack decided: name, version and content hash."""

    name: str
    version: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class CategoryVerdict:
    """The policy engine's answer for one category of one request."""

    category: str
    allowed: bool
    rules: tuple[Rule, ...]
    errors: tuple[str, ...] = ()


class PolicyEvaluator(Protocol):
    """What `decide` needs from a policy pack (implemented by `aupgate.policy.engine`)."""

    @property
    def ref(self) -> PackRef: ...

    def thresholds(self) -> Mapping[str, tuple[float, float]]:
        """Per category: (review_from, deny_from). Scores below review_from are absent."""
        ...

    def evaluate(
        self,
        principal: Principal,
        purpose: str,
        model: str,
        categories: Sequence[str],
        now: datetime,
    ) -> list[CategoryVerdict]: ...


class BatchPolicyEvaluator(PolicyEvaluator, Protocol):
    """An evaluator that can judge many requests in one call."""

    def evaluate_many(
        self,
        items: Sequence[tuple[Principal, str, str, Sequence[str]]],
        now: datetime,
    ) -> list[list[CategoryVerdict]]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The one immutable record of a verdict: what was asked, by whom, and why the answer."""

    decision_id: str
    time: datetime
    outcome: Outcome
    principal: Principal
    purpose: str
    model: str
    classification: Classification
    considered: tuple[str, ...]
    rules: tuple[Rule, ...]
    pack: PackRef
    errors: tuple[str, ...] = ()
    uncertain: tuple[str, ...] = field(default=())

    @property
    def denied_categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.category for r in self.rules if r.effect != "permit"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (the audit log canonicalises it; the CLI prints it)."""
        return {
            "decision_id": self.decision_id,
            "time": self.time.isoformat(),
            "outcome": self.outcome,
            "org": self.principal.org.to_json(),
            "key_id": self.principal.key_id,
            "purpose": self.purpose,
            "model": self.model,
            "categories": [
                {"category": s.category, "score": round(s.score, 4)}
                for s in self.classification.scores
            ],
            "considered": list(self.considered),
            "uncertain": list(self.uncertain),
            "rules": [r.to_json() for r in self.rules],
            "pack": self.pack.to_json(),
            "classifier": self.classification.classifier.to_json(),
            "errors": list(self.errors),
        }


def _considered(
    request: UseRequest, thresholds: Mapping[str, tuple[float, float]]
) -> tuple[list[str], set[str]]:
    """The categories a request is judged on, and which of them scored in the uncertain band."""
    considered: list[str] = []
    uncertain: set[str] = set()
    for s in request.classification.scores:
        if s.category not in thresholds:
            # A category the pack does not know cannot be judged: fail closed.
            considered.append(s.category)
            continue
        review_from, deny_from = thresholds[s.category]
        if s.score >= review_from:
            considered.append(s.category)
            if s.score < deny_from:
                uncertain.add(s.category)
    return list(dict.fromkeys(considered)) or [GENERAL], uncertain


def _verdict(
    request: UseRequest,
    considered: list[str],
    uncertain: set[str],
    verdicts: Sequence[CategoryVerdict],
    pack: PackRef,
    now: datetime,
    decision_id: str,
) -> Decision:
    by_category = {v.category: v for v in verdicts}
    rules: list[Rule] = []
    errors: list[str] = []
    denied: list[str] = []
    for category in considered:
        verdict = by_category.get(category)
        if verdict is None:
            errors.append(f"no verdict for category {category!r}")
            denied.append(category)
            continue
        rules.extend(verdict.rules)
        errors.extend(verdict.errors)
        if not verdict.allowed or verdict.errors:
            denied.append(category)

    outcome: Outcome
    if errors:
        outcome = "deny"
    elif not denied:
        outcome = "allow"
    elif all(c in uncertain for c in denied):
        outcome = "review"
    else:
        outcome = "deny"
    if outcome != "allow":
        # On a refusal, cite what refused; permits for other categories are not the reason.
        rules = [r for r in rules if r.effect != "permit"] or rules
    return Decision(
        decision_id=decision_id,
        time=now,
        outcome=outcome,
        principal=request.principal,
        purpose=request.purpose,
        model=request.model,
        classification=request.classification,
        considered=tuple(considered),
        rules=tuple(rules),
        pack=pack,
        errors=tuple(errors),
        uncertain=tuple(sorted(uncertain & set(denied))),
    )


def decide(
    request: UseRequest, policy: PolicyEvaluator, now: datetime, decision_id: str
) -> Decision:
    """Make the verdict for one request under one policy pack.

    A category counts when its score reaches the pack's review threshold; with none, the request
    is judged as the `general` use. Every counted category must be permitted. If every denied
    category scored inside the uncertainty band (below its deny threshold), the outcome is
    `review` instead of `deny`. Any engine error denies: an error can never produce `allow`.
    """
    considered, uncertain = _considered(request, policy.thresholds())
    verdicts = policy.evaluate(request.principal, request.purpose, request.model, considered, now)
    return _verdict(request, considered, uncertain, verdicts, policy.ref, now, decision_id)


def decide_many(
    requests: Sequence[UseRequest],
    policy: BatchPolicyEvaluator,
    now: datetime,
    decision_ids: Sequence[str],
) -> list[Decision]:
    """`decide` for many requests with one call into the engine (same verdicts, less overhead)."""
    thresholds = policy.thresholds()
    prepared = [_considered(r, thresholds) for r in requests]
    all_verdicts = policy.evaluate_many(
        [
            (r.principal, r.purpose, r.model, considered)
            for r, (considered, _) in zip(requests, prepared, strict=True)
        ],
        now,
    )
    return [
        _verdict(r, considered, uncertain, verdicts, policy.ref, now, decision_id)
        for r, (considered, uncertain), verdicts, decision_id in zip(
            requests, prepared, all_verdicts, decision_ids, strict=True
        )
    ]
