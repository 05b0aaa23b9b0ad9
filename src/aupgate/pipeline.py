"""One request through the core: look up who, check the declared purpose, decide, record.

The CLI, the decision API and the gateway all come through here, so every verdict is made by
`decide` and recorded the same way; if recording fails, the caller gets an error, not a verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aupgate.decision import Classification, Decision, OrgSnapshot, Principal, UseRequest, decide
from aupgate.errors import InvalidInputError
from aupgate.ids import new_decision_id
from aupgate.policy.engine import CedarEngine

# Records a decision with the prompt it was about (None when categories were declared).
RecordDecision = Callable[[Decision, str | None], None]
# The same for asyncio callers: awaits durability without blocking the event loop.
RecordDecisionAsync = Callable[[Decision, str | None], Awaitable[None]]


class Pipeline:
    """Decides under the active pack and records every Decision before returning it."""

    def __init__(
        self,
        policy: CedarEngine,
        record: RecordDecision,
        clock: Callable[[], datetime],
        record_async: RecordDecisionAsync | None = None,
    ) -> None:
        self.policy = policy
        self._record = record
        self._record_async = record_async
        self._clock = clock

    def check_purpose(self, purpose: str) -> str:
        if purpose not in self.policy.pack.purposes:
            raise InvalidInputError(
                f"unknown purpose {purpose!r} (pack {self.policy.pack.name} allows: "
                f"{', '.join(self.policy.pack.purposes)})"
            )
        return purpose

    def check_categories(self, categories: list[str]) -> list[str]:
        known = set(self.policy.pack.category_ids)
        for category in categories:
            if category not in known:
                raise InvalidInputError(
                    f"unknown category {category!r} (see `aupgate policy show` for the taxonomy)"
                )
        return categories

    def _decision(
        self,
        org: OrgSnapshot,
        purpose: str,
        model: str,
        classification: Classification,
        key_id: str | None,
    ) -> Decision:
        self.check_purpose(purpose)
        request = UseRequest(Principal(org, key_id), purpose, model, classification)
        return decide(request, self.policy, self._clock(), new_decision_id())

    def decide(
        self,
        org: OrgSnapshot,
        purpose: str,
        model: str,
        classification: Classification,
        key_id: str | None = None,
        prompt: str | None = None,
    ) -> Decision:
        """Decide and record; raises if the purpose is unknown or the record cannot be made."""
        decision = self._decision(org, purpose, model, classification, key_id)
        self._record(decision, prompt)
        return decision

    async def decide_async(
        self,
        org: OrgSnapshot,
        purpose: str,
        model: str,
        classification: Classification,
        key_id: str | None = None,
        prompt: str | None = None,
    ) -> Decision:
        """`decide` for asyncio servers: the policy runs inline (tens of microseconds) and the
        durable append is awaited, so no worker thread is tied up waiting for the disk."""
        if self._record_async is None:
            raise RuntimeError("this pipeline was built without an asynchronous recorder")
        decision = self._decision(org, purpose, model, classification, key_id)
        await self._record_async(decision, prompt)
        return decision
