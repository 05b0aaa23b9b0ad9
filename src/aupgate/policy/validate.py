"""Static checks of a pack before it may decide anything (`aupgate policy validate`)."""

from __future__ import annotations

from dataclasses import dataclass

from aupgate.errors import AupgateError
from aupgate.identity.countries import is_country_code
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import Pack, load_pack


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a pack, with where it is."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def validate_pack(ref: str) -> tuple[Pack | None, list[Problem]]:
    """Load and check a pack; an empty problem list means it may be used."""
    try:
        pack = load_pack(ref)
        engine = CedarEngine(pack)  # parses the schema and validates every policy against it
    except AupgateError as exc:
        return None, [Problem(str(ref), str(exc))]
    return pack, check_engine(engine)


def check_engine(engine: CedarEngine) -> list[Problem]:
    """Checks beyond Cedar's typechecker: annotations, coverage, ids, groups, purposes."""
    pack = engine.pack
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    covered: set[str] = set()
    for position, info in engine.policy_infos.items():
        where = f"policies.cedar {info.policy_id}"
        if info.policy_id == position:
            problems.append(Problem(f"policies.cedar {position}", "policy has no @id annotation"))
        if not info.citation:
            problems.append(Problem(where, "policy has no @citation annotation"))
        if info.policy_id in seen:
            problems.append(Problem(where, f"@id repeats that of {seen[info.policy_id]}"))
        seen[info.policy_id] = position
        if info.actions is not None:
            covered.update(info.actions)
    ids = [c.id for c in pack.categories]
    for repeated in sorted({c for c in ids if ids.count(c) > 1}):
        problems.append(Problem("taxonomy.toml", f"category {repeated!r} is defined twice"))
    for category in pack.categories:
        if category.id not in covered:
            problems.append(
                Problem(
                    "taxonomy.toml",
                    f"category {category.id!r} is named by no policy (every category needs "
                    "an explicit policy)",
                )
            )
        if category.exception_scope and category.exception_scope not in pack.exceptions:
            problems.append(
                Problem(
                    "taxonomy.toml",
                    f"category {category.id!r} names unknown exception "
                    f"{category.exception_scope!r}",
                )
            )
    for group, members in pack.country_groups.items():
        for code in members:
            if not is_country_code(code):
                problems.append(
                    Problem("pack.toml", f"country group {group!r}: {code!r} is not ISO 3166-1")
                )
    if "general" not in pack.purposes:
        problems.append(Problem("pack.toml", "purposes.allowed must include 'general'"))
    return problems
