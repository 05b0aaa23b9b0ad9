"""The Cedar adapter: evaluates a pack's policies for one principal, purpose and set of categories.

Fail-closed rules (see DESIGN.md and reference/policy-and-audit.md A1.5): policies, schema and the
registry's entities are parsed once into handles; a pack whose policies do not validate against its
schema does not load; an unknown category or purpose is answered with an error, never sent to
Cedar; and any evaluation error reported by Cedar makes that category's verdict a denial.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import cedarpy

from aupgate.decision import (
    GENERAL,
    CategoryVerdict,
    OrgSnapshot,
    PackRef,
    Principal,
    Rule,
)
from aupgate.policy.pack import Pack, PackError

NS = "Aup"


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """What the pack says about one policy: its `@id`, effect and `@citation`."""

    policy_id: str
    effect: Literal["permit", "forbid"]
    citation: str
    actions: tuple[str, ...] | None  # None: the policy applies to every action


def parse_policy_infos(policies_text: str) -> dict[str, PolicyInfo]:
    """Map Cedar's positional ids (policy0 ...) to each policy's annotations and scope."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(policies_text))
    except Exception as exc:  # cedarpy raises plain exceptions for parse errors
        raise PackError(f"policies.cedar does not parse: {_first_line(exc)}") from None
    infos: dict[str, PolicyInfo] = {}
    for position, body in parsed.get("staticPolicies", {}).items():
        annotations = body.get("annotations", {})
        action = body.get("action", {})
        actions: tuple[str, ...] | None
        if action.get("op") == "==":
            actions = (action["entity"]["id"],)
        elif action.get("op") == "in" and "entities" in action:
            actions = tuple(e["id"] for e in action["entities"])
        elif action.get("op") == "in":
            actions = (action["entity"]["id"],)
        else:
            actions = None
        infos[position] = PolicyInfo(
            policy_id=annotations.get("id", position),
            effect="permit" if body["effect"] == "permit" else "forbid",
            citation=annotations.get("citation", ""),
            actions=actions,
        )
    return infos


_ORG_STORES = 4096  # organisations whose parsed entities are kept


class EntityStore:
    """A parsed Cedar entity handle for a set of organisations, valid for a window of time.

    Exception membership depends on the clock (grants expire), so the store knows the first
    instant at which it would change and is not used past it.
    """

    def __init__(
        self,
        handle: cedarpy.Entities,
        snapshots: Mapping[str, OrgSnapshot],
        valid_from: datetime,
        valid_until: datetime | None,
    ) -> None:
        self.handle = handle
        self.snapshots = dict(snapshots)
        self.valid_from = valid_from
        self.valid_until = valid_until

    def serves(self, org: OrgSnapshot, now: datetime) -> bool:
        """True if this store holds exactly `org` and is valid at `now`."""
        if now < self.valid_from or (self.valid_until is not None and now >= self.valid_until):
            return False
        return self.snapshots.get(org.id) == org


class CedarEngine:
    """A pack's Cedar policies, schema and rules, parsed once; implements `PolicyEvaluator`."""

    def __init__(self, pack: Pack) -> None:
        self.pack = pack
        try:
            self._schema = cedarpy.Schema.from_str(pack.schema_text)
        except Exception as exc:
            raise PackError(
                f"pack {pack.name}: schema does not parse: {_first_line(exc)}"
            ) from None
        result = cedarpy.validate_policies(pack.policies_text, self._schema)
        if not result.validation_passed:
            first = result.errors[0]
            raise PackError(
                f"pack {pack.name}: policy {first.policy_id} fails validation: {first.error}"
            )
        try:
            self._policies = cedarpy.PolicySet.from_str(pack.policies_text)
        except Exception as exc:
            raise PackError(
                f"pack {pack.name}: policies do not parse: {_first_line(exc)}"
            ) from None
        self.policy_infos = parse_policy_infos(pack.policies_text)
        self._thresholds = {c.id: (c.review_from, c.deny_from) for c in pack.categories}
        self._actions = frozenset((*pack.category_ids, GENERAL))
        self._purposes = frozenset(pack.purposes)
        self._contexts = {p: json.dumps({"purpose": p}) for p in pack.purposes}
        self._ref = PackRef(name=pack.name, version=pack.version, sha256=pack.sha256)
        self._store: EntityStore | None = None
        # Parsed entities of organisations outside the shared store, by id: parsing costs more
        # than deciding, and a snapshot changes only when the registry does.
        self._org_stores: dict[str, EntityStore] = {}
        self._rules: dict[tuple[str, str], Rule] = {}
        self._check_request_shapes()

    def _check_request_shapes(self) -> None:
        """Check every (category, purpose) request against the schema once, at load.

        Requests differ from these only in entity ids, so evaluation skips Cedar's per-request
        schema check (~5 µs each). Cedar answers NoDecision when a request does not build.
        """
        shapes = [(a, p) for a in sorted(self._actions) for p in sorted(self._purposes)]
        requests = [self._request("probe", a, "probe", p) for a, p in shapes]
        empty = cedarpy.Entities.from_json_str("[]", schema=self._schema)
        results = cedarpy.is_authorized_batch(requests, self._policies, empty, schema=self._schema)
        for (action, purpose), result in zip(shapes, results, strict=True):
            if result.decision == cedarpy.Decision.NoDecision:
                errors = [str(e) for e in result.diagnostics.errors] or ["no decision"]
                raise PackError(
                    f"pack {self.pack.name}: a {action!r} request with purpose {purpose!r} "
                    f"does not match the schema: {errors[0]}"
                )

    @property
    def ref(self) -> PackRef:
        return self._ref

    def thresholds(self) -> Mapping[str, tuple[float, float]]:
        return self._thresholds

    # -- entities -------------------------------------------------------------------------

    def entities_json(self, orgs: Iterable[OrgSnapshot], now: datetime) -> list[dict[str, Any]]:
        """Cedar entities for `orgs` as of `now`, with their countries, groups and exceptions."""
        orgs = list(orgs)
        groups_of: dict[str, list[str]] = {}
        for group, members in self.pack.country_groups.items():
            for country in members:
                groups_of.setdefault(country, []).append(group)
        entities: list[dict[str, Any]] = [
            _entity("CountryGroup", group) for group in self.pack.country_groups
        ]
        entities += [_entity("Exception", name) for name in self.pack.exceptions]
        for country in sorted({o.country for o in orgs}):
            entities.append(
                _entity(
                    "Country",
                    country,
                    parents=[("CountryGroup", g) for g in groups_of.get(country, [])],
                )
            )
        for org in orgs:
            exceptions = sorted(org.active_exceptions(now) & self.pack.exceptions.keys())
            entities.append(
                _entity(
                    "Organization",
                    org.id,
                    attrs={
                        "country": {"__entity": {"type": f"{NS}::Country", "id": org.country}},
                        "sector": org.sector,
                        "vetted": org.vetted,
                        "screening": org.screening,
                    },
                    parents=[("Exception", e) for e in exceptions],
                )
            )
        return entities

    def build_store(self, orgs: Iterable[OrgSnapshot], now: datetime) -> EntityStore:
        """Parse the entities of many organisations once (reload when the registry changes)."""
        orgs = list(orgs)
        handle = self._parse_entities(self.entities_json(orgs, now))
        changes = [
            t
            for org in orgs
            for g in org.grants
            for t in (g.valid_from, g.expires)
            if t is not None and t > now
        ]
        return EntityStore(handle, {o.id: o for o in orgs}, now, min(changes, default=None))

    def use_store(self, store: EntityStore | None) -> None:
        """Serve decisions for the organisations in `store` from its pre-parsed handle."""
        self._store = store

    def _parse_entities(self, entities: list[dict[str, Any]]) -> cedarpy.Entities:
        try:
            return cedarpy.Entities.from_json_str(json.dumps(entities), schema=self._schema)
        except Exception as exc:
            raise PackError(f"entities rejected by the schema: {_first_line(exc)}") from None

    # -- evaluation -----------------------------------------------------------------------

    def evaluate(
        self,
        principal: Principal,
        purpose: str,
        model: str,
        categories: Sequence[str],
        now: datetime,
    ) -> list[CategoryVerdict]:
        """One verdict per category; errors (never exceptions) for anything Cedar cannot judge."""
        return self.evaluate_many([(principal, purpose, model, categories)], now)[0]

    def evaluate_many(
        self,
        items: Sequence[tuple[Principal, str, str, Sequence[str]]],
        now: datetime,
    ) -> list[list[CategoryVerdict]]:
        """Verdicts for many requests; those served by the shared store go to Cedar in one call."""
        answers: list[dict[str, CategoryVerdict]] = [{} for _ in items]
        shared: list[tuple[int, str, dict[str, object]]] = []
        store = self._store
        for index, (principal, purpose, model, categories) in enumerate(items):
            org = principal.org
            if purpose not in self._purposes:
                message = f"purpose {purpose!r} is not allowed by pack {self.pack.name}"
                answers[index] = {c: _error(c, message) for c in categories}
                continue
            own: list[tuple[int, str, dict[str, object]]] = []
            for category in categories:
                if category not in self._actions:
                    answers[index][category] = _error(
                        category, f"category {category!r} is not in pack {self.pack.name}"
                    )
                    continue
                own.append((index, category, self._request(org.id, category, model, purpose)))
            if store is not None and store.serves(org, now):
                shared.extend(own)
                continue
            # Not in the shared store (or it is stale): judge this exact snapshot on its own.
            try:
                entities = self._org_store(org, now).handle
            except PackError as exc:
                answers[index].update({c: _error(c, str(exc)) for _, c, _ in own})
                continue
            self._authorize(own, entities, answers)
        if shared and store is not None:
            self._authorize(shared, store.handle, answers)
        return [[a[c] for c in item[3]] for a, item in zip(answers, items, strict=True)]

    def _org_store(self, org: OrgSnapshot, now: datetime) -> EntityStore:
        """The parsed entities of exactly this snapshot of `org`, valid at `now`."""
        store = self._org_stores.get(org.id)
        if store is None or not store.serves(org, now):
            store = self.build_store([org], now)
            if len(self._org_stores) >= _ORG_STORES:
                self._org_stores.clear()  # a crude bound; rebuilding one costs ~0.2 ms
            self._org_stores[org.id] = store
        return store

    def _request(self, org_id: str, category: str, model: str, purpose: str) -> dict[str, object]:
        return {
            "principal": {"type": f"{NS}::Organization", "id": org_id},
            "action": {"type": f"{NS}::Action", "id": category},
            "resource": {"type": f"{NS}::Model", "id": model},
            "context": self._contexts[purpose],
        }

    def _authorize(
        self,
        requests: list[tuple[int, str, dict[str, object]]],
        entities: cedarpy.Entities,
        answers: list[dict[str, CategoryVerdict]],
    ) -> None:
        if not requests:
            return
        # No schema here: every request shape was checked against it at load.
        results = cedarpy.is_authorized_batch([r for _, _, r in requests], self._policies, entities)
        for (index, category, _), result in zip(requests, results, strict=True):
            answers[index][category] = self._verdict(category, result)

    def _verdict(self, category: str, result: cedarpy.AuthzResult) -> CategoryVerdict:
        errors = tuple(str(e) for e in result.diagnostics.errors)
        if result.decision not in (cedarpy.Decision.Allow, cedarpy.Decision.Deny):
            errors += (f"no decision from the policy engine: {result.decision}",)
        rules = tuple(
            self._rule(position, category) for position in sorted(result.diagnostics.reasons)
        )
        allowed = result.decision == cedarpy.Decision.Allow and not errors
        return CategoryVerdict(category=category, allowed=allowed, rules=rules, errors=errors)

    def _rule(self, position: str, category: str) -> Rule:
        rule = self._rules.get((position, category))
        if rule is None:
            info = self.policy_infos.get(position)
            if info is None:
                rule = Rule(policy_id=position, effect="error", citation="", category=category)
            else:
                rule = Rule(info.policy_id, info.effect, info.citation, category)
            self._rules[(position, category)] = rule
        return rule


def _entity(
    kind: str,
    entity_id: str,
    attrs: dict[str, Any] | None = None,
    parents: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    return {
        "uid": {"type": f"{NS}::{kind}", "id": entity_id},
        "attrs": attrs or {},
        "parents": [{"type": f"{NS}::{k}", "id": i} for k, i in parents],
    }


def _error(category: str, message: str) -> CategoryVerdict:
    return CategoryVerdict(category=category, allowed=False, rules=(), errors=(message,))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
