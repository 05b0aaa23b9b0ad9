"""Pack tests (`aupgate policy test`): cases of principal, purpose and categories with the
expected outcome and determining policy ids, run through the same `decide` as everything else."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from aupgate.decision import (
    CategoryScore,
    Classification,
    GrantSnapshot,
    OrgSnapshot,
    Principal,
    UseRequest,
    decide,
)
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import PackError

DEFAULT_AT = datetime(2025, 1, 15, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one pack test case."""

    file: str
    name: str
    passed: bool
    expected: str
    actual: str
    detail: str = ""


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def case_org(raw: Mapping[str, Any]) -> OrgSnapshot:
    """An organisation snapshot from a test case's `org` table."""
    grants = tuple(
        GrantSnapshot(
            exception=str(g["exception"]),
            valid_from=_when(g.get("valid_from", "2024-11-04")),
            expires=_when(g["expires"]) if g.get("expires") else None,
            revoked=bool(g.get("revoked", False)),
        )
        for g in raw.get("grants", [])
    )
    return OrgSnapshot(
        id=str(raw.get("id", raw["name"])),
        name=str(raw["name"]),
        country=str(raw["country"]),
        sector=str(raw["sector"]),
        vetted=bool(raw.get("vetted", False)),
        screening=raw.get("screening", "clear"),
        grants=grants,
    )


def run_case(engine: CedarEngine, file: str, raw: Mapping[str, Any]) -> CaseResult:
    """Run one case and compare outcome and determining policy ids."""
    name = str(raw.get("name", "?"))
    try:
        if "scores" in raw:
            classification = Classification(
                tuple(CategoryScore(c, float(s)) for c, s in raw["scores"].items())
            )
        else:
            classification = Classification.declared(list(raw.get("categories", [])))
        request = UseRequest(
            principal=Principal(case_org(raw["org"])),
            purpose=str(raw["purpose"]),
            model=str(raw.get("model", "llama")),
            classification=classification,
        )
        expected = str(raw["expect"])
        at = _when(raw["at"]) if "at" in raw else DEFAULT_AT
    except (KeyError, TypeError, ValueError) as exc:
        return CaseResult(file, name, False, "?", "?", f"malformed case: {exc!r}")
    decision = decide(request, engine, at, decision_id=f"test:{name}")
    actual_rules = sorted({r.policy_id for r in decision.rules})
    problems = []
    if decision.outcome != expected:
        problems.append(f"outcome {decision.outcome}, expected {expected}")
    if "rules" in raw and sorted(set(raw["rules"])) != actual_rules:
        problems.append(f"rules {actual_rules}, expected {sorted(set(raw['rules']))}")
    if decision.errors:
        problems.append(f"errors: {'; '.join(decision.errors)}")
    return CaseResult(
        file=file,
        name=name,
        passed=not problems,
        expected=expected,
        actual=decision.outcome,
        detail="; ".join(problems),
    )


def run_pack_tests(engine: CedarEngine, tests_dir: Path | None = None) -> list[CaseResult]:
    """Run every `[[case]]` of every `*.toml` under the pack's tests/ folder."""
    folder = tests_dir or engine.pack.tests_dir
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    if not files:
        raise PackError(f"pack {engine.pack.name}: no test files in {folder}")
    results: list[CaseResult] = []
    for path in files:
        try:
            cases = tomllib.loads(path.read_text(encoding="utf-8")).get("case", [])
        except tomllib.TOMLDecodeError as exc:
            raise PackError(f"{path}: invalid TOML: {exc}") from None
        results.extend(run_case(engine, path.name, raw) for raw in cases)
    return results
