"""The composition root: builds every part from Settings. Nothing else wires parts together."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from aupgate.audit import AuditLog, admin_body, decision_body, open_audit_log
from aupgate.config import Settings
from aupgate.decision import Decision
from aupgate.identity.registry import AdminEvent, Registry
from aupgate.identity.screening import Screener
from aupgate.pipeline import Pipeline
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import Pack, load_pack
from aupgate.store.db import migrate, open_engine

if TYPE_CHECKING:
    from aupgate.classify.backend import Classifier


class Runtime:
    """Lazily built parts of one aupgate deployment (a CLI call, a server process, a test)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @staticmethod
    def now() -> datetime:
        """The clock every part uses (UTC, timezone-aware)."""
        return datetime.now(UTC)

    @cached_property
    def engine(self) -> Engine:
        """The store, migrated to the current schema."""
        engine = open_engine(self.settings.database)
        migrate(engine)
        return engine

    @cached_property
    def pack(self) -> Pack:
        """The active policy pack (settings.pack)."""
        return load_pack(self.settings.pack)

    @cached_property
    def policy(self) -> CedarEngine:
        """The active pack's policies, parsed and validated once."""
        return CedarEngine(self.pack)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.engine, record=self.record_admin)

    @cached_property
    def screener(self) -> Screener | None:
        """A matcher over every loaded denied-party list (None before any list is loaded)."""
        entries = self.registry.screening_entries()
        if not entries:
            return None
        return Screener(entries, threshold=self.settings.screening_threshold)

    @cached_property
    def audit(self) -> AuditLog:
        """The transparency log (refuses to open if it does not extend its last checkpoint)."""
        return open_audit_log(self.engine, self.settings)

    @cached_property
    def classifier(self) -> Classifier:
        """The embedded use classifier shipped with the package."""
        # Imported here: the model's dependencies are heavy, and most commands never classify.
        from aupgate.classify.embedded import EmbeddedClassifier

        return EmbeddedClassifier.load(second_stage=self.settings.classifier_second_stage)

    @cached_property
    def pipeline(self) -> Pipeline:
        """Decide-and-record for the CLI, the decision API and the gateway."""
        # A change of the active pack is an administrative change: record it before deciding.
        self.registry.note_active_pack(
            self.pack.name, self.pack.sha256, actor=self.settings.actor, now=self.now()
        )
        return Pipeline(self.policy, self.record_decision, self.now, self.record_decision_async)

    def record_admin(self, event: AdminEvent) -> None:
        """Record an administrative change; raises (and the change rolls back) if it cannot."""
        self.audit.append(
            "admin", admin_body(event.action, event.actor, event.subject, event.details)
        )

    def _decision_entry(
        self, decision: Decision, prompt: str | None
    ) -> tuple[dict[str, Any], str | None]:
        """The log body of a decision and the prompt to retain (sealed), if the pack says so."""
        digest = self.audit.prompt_digest(prompt) if prompt is not None else None
        retained = prompt if self.pack.store_prompt else None
        return decision_body(decision.to_json(), digest), retained

    def record_decision(self, decision: Decision, prompt: str | None) -> None:
        """Record a decision, durably, before anyone sees it; raises if it cannot."""
        body, retained = self._decision_entry(decision, prompt)
        self.audit.append("decision", body, prompt=retained)

    async def record_decision_async(self, decision: Decision, prompt: str | None) -> None:
        """`record_decision` for asyncio servers."""
        body, retained = self._decision_entry(decision, prompt)
        await self.audit.append_async("decision", body, prompt=retained)

    def close(self) -> None:
        """Release what was opened (safe to call when nothing was)."""
        if "audit" in self.__dict__:
            self.audit.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
