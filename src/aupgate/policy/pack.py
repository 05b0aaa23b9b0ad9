"""Policy packs: a folder of Cedar policies, its schema, its taxonomy and its tests.

A pack's identity is the SHA-256 of its canonical content (the files that decide, not its tests),
written into every Decision so a verdict can always be traced to the exact text that made it.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from aupgate.errors import AupgateError, NotFoundError

PACK_FILES = ("pack.toml", "taxonomy.toml", "schema.cedarschema", "policies.cedar")
SHIPPED = resources.files("aupgate") / "packs"


class PackError(AupgateError):
    """A pack is missing, malformed or fails validation."""


@dataclass(frozen=True, slots=True)
class Category:
    """One use the pack decides on, with the AUP section it comes from."""

    id: str
    aup_section: str
    title: str
    description: str
    review_from: float
    deny_from: float
    exception_scope: str | None = None
    llama_guard_3: tuple[str, ...] = ()
    llama_guard_4: tuple[str, ...] = ()
    openai: tuple[str, ...] = ()
    ailuminate: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExceptionDef:
    """A scoped exception the pack knows (granted to organisations as data, not code)."""

    name: str
    title: str
    source: str


@dataclass(frozen=True, slots=True)
class Pack:
    """A loaded pack: metadata, taxonomy, and the Cedar texts (parsed by the engine)."""

    path: Path
    name: str
    version: str
    effective: date
    title: str
    source: str
    purposes: tuple[str, ...]
    country_groups: dict[str, tuple[str, ...]]
    exceptions: dict[str, ExceptionDef]
    categories: tuple[Category, ...]
    schema_text: str
    policies_text: str
    store_prompt: bool
    sha256: str

    def category(self, category_id: str) -> Category:
        for c in self.categories:
            if c.id == category_id:
                return c
        raise NotFoundError(f"unknown category {category_id!r} in pack {self.name}")

    @property
    def category_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def tests_dir(self) -> Path:
        return self.path / "tests"


def shipped_pack_names() -> list[str]:
    """Names of the packs that ship inside the package."""
    return sorted(p.name for p in SHIPPED.iterdir() if p.is_dir() and (p / "pack.toml").is_file())


def resolve_pack_path(ref: str | Path) -> Path:
    """A pack reference is a shipped pack's name or a path to a pack folder."""
    candidate = Path(ref)
    if candidate.is_dir():
        return candidate
    shipped = SHIPPED / str(ref)
    if shipped.is_dir():
        return Path(str(shipped))
    names = ", ".join(shipped_pack_names())
    raise NotFoundError(f"no pack named or at {str(ref)!r} (shipped packs: {names})")


def content_sha256(path: Path) -> str:
    """SHA-256 over the deciding files, in a fixed order, with line endings normalised."""
    digest = hashlib.sha256()
    for name in PACK_FILES:
        data = (path / name).read_bytes().replace(b"\r\n", b"\n")
        digest.update(f"{name}\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def load_pack(ref: str | Path) -> Pack:
    """Read a pack folder; raises PackError naming the file and problem if it is malformed."""
    path = resolve_pack_path(ref)
    missing = [n for n in PACK_FILES if not (path / n).is_file()]
    if missing:
        raise PackError(f"pack {path}: missing {', '.join(missing)}")
    meta = _read_toml(path / "pack.toml")
    taxonomy = _read_toml(path / "taxonomy.toml")
    try:
        decision = meta.get("decision", {})
        review_from = float(decision.get("review_from", 0.5))
        deny_from = float(decision.get("deny_from", review_from))
        categories = tuple(
            _category(c, review_from, deny_from) for c in taxonomy.get("category", [])
        )
        exceptions = {
            name: ExceptionDef(name=name, title=str(e["title"]), source=str(e["source"]))
            for name, e in meta.get("exceptions", {}).items()
        }
        pack = Pack(
            path=path,
            name=str(meta["name"]),
            version=str(meta["version"]),
            effective=_date(meta["effective"]),
            title=str(meta.get("title", meta["name"])),
            source=str(meta.get("source", "")),
            purposes=tuple(str(p) for p in meta["purposes"]["allowed"]),
            country_groups={
                str(k): tuple(str(c) for c in v) for k, v in meta.get("country_groups", {}).items()
            },
            exceptions=exceptions,
            categories=categories,
            schema_text=(path / "schema.cedarschema").read_text(encoding="utf-8"),
            policies_text=(path / "policies.cedar").read_text(encoding="utf-8"),
            store_prompt=bool(meta.get("retention", {}).get("store_prompt", False)),
            sha256=content_sha256(path),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PackError(f"pack {path}: malformed pack.toml or taxonomy.toml: {exc!r}") from None
    if not categories:
        raise PackError(f"pack {path}: taxonomy.toml defines no [[category]]")
    return pack


def _category(raw: dict[str, Any], review_from: float, deny_from: float) -> Category:
    own_review = float(raw.get("review_from", review_from))
    own_deny = float(raw.get("deny_from", max(deny_from, own_review)))
    if not 0.0 <= own_review <= own_deny <= 1.0:
        raise ValueError(f"category {raw.get('id')}: need 0 <= review_from <= deny_from <= 1")
    return Category(
        id=str(raw["id"]),
        aup_section=str(raw["aup_section"]),
        title=str(raw["title"]),
        description=str(raw["description"]),
        review_from=own_review,
        deny_from=own_deny,
        exception_scope=raw.get("exception_scope") or None,
        llama_guard_3=tuple(raw.get("llama_guard_3", ())),
        llama_guard_4=tuple(raw.get("llama_guard_4", ())),
        openai=tuple(raw.get("openai", ())),
        ailuminate=tuple(raw.get("ailuminate", ())),
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: invalid TOML: {exc}") from None


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
