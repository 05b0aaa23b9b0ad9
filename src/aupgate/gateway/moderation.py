"""Output moderation: nothing generated reaches the caller before it has been checked.

Streaming: content-bearing events are held back until `hold_back` of them have accumulated;
their text (with the tail of what was already released, so a phrase split across windows is
still seen whole) is classified; if the categories found go beyond what an earlier decision
allowed, the policy decides (and the decision is recorded) before anything is released.
Allowed events are released unchanged; on deny or review the held events are dropped and the
stream ends with a `content_filter` chunk. An answer in which no category reaches its review
threshold needs no decision of its own: the prompt's decision covers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aupgate.decision import CategoryScore, Classification, Decision
from aupgate.gateway.errors import decision_summary
from aupgate.gateway.sse import Event, choices_text

# Text the classifier refuses (NUL, U+FFFD from a multi-byte character split by the model
# server) is blanked: it carries no meaning, and a refusal to classify would fail the stream.
_BLANK = str.maketrans({"\x00": " ", "\ufffd": " "})


def classifiable(text: str) -> str:
    return text.translate(_BLANK)


def _max(a: Classification | None, b: Classification) -> Classification:
    if a is None:
        return b
    best = {s.category: s.score for s in a.scores}
    for s in b.scores:
        best[s.category] = max(best.get(s.category, 0.0), s.score)
    return Classification(tuple(CategoryScore(c, v) for c, v in best.items()), b.classifier)


class OutputJudge:
    """Classifies output text and decides when new categories appear."""

    def __init__(
        self,
        classify: Callable[[str], Awaitable[Classification]],
        decide: Callable[[Classification, str], Awaitable[Decision]],
        thresholds: Mapping[str, tuple[float, float]],
    ) -> None:
        self._classify = classify
        self._decide = decide
        self._review_from = {c: t[0] for c, t in thresholds.items()}
        self._seen: Classification | None = None
        self._cleared: frozenset[str] = frozenset()
        self._text: list[str] = []

    def _considered(self, classification: Classification) -> frozenset[str]:
        return frozenset(
            s.category
            for s in classification.scores
            if s.score >= self._review_from.get(s.category, 0.0)
        )

    async def check(self, window: str, new_text: str) -> Decision | None:
        """Classify a window; a Decision if one was needed (the caller stops unless allow)."""
        self._text.append(new_text)
        if not window.strip():
            return None
        self._seen = _max(self._seen, await self._classify(classifiable(window)))
        considered = self._considered(self._seen)
        if considered <= self._cleared:
            return None
        decision = await self._decide(self._seen, "".join(self._text))
        if decision.outcome == "allow":
            self._cleared = considered
        return decision


class HoldBack:
    """Holds streamed events until the text they carry is checked; keeps the order."""

    def __init__(self, hold_back: int, context_chars: int) -> None:
        self._hold_back = hold_back
        self._context_chars = context_chars
        self._pending: list[Event] = []
        self._pending_text: list[str] = []
        self._context = ""

    def add(self, event: Event) -> list[bytes]:
        """Queue an event; returns what may go out now (events without text, if none waits)."""
        text = event.text()
        if not text and not self._pending:
            return [event.raw]
        self._pending.append(event)
        if text:
            self._pending_text.append(text)
        return []

    @property
    def due(self) -> bool:
        return len(self._pending_text) >= self._hold_back

    @property
    def holding(self) -> bool:
        return bool(self._pending)

    def window(self) -> tuple[str, str]:
        """(text to classify: released tail + held text, the held text alone)."""
        new = "".join(self._pending_text)
        return self._context + new, new

    def release(self) -> list[bytes]:
        """Everything held, once checked; its text becomes context for the next window."""
        new = "".join(self._pending_text)
        if self._context_chars:
            self._context = (self._context + new)[-self._context_chars :]
        out = [e.raw for e in self._pending]
        self._pending.clear()
        self._pending_text.clear()
        return out


def filtered_chunk(template: Mapping[str, Any] | None, decision: Decision | None) -> dict[str, Any]:
    """The last chunk of a moderated stream: finish_reason content_filter and the decision."""
    base = dict(template or {})
    chunk: dict[str, Any] = {
        key: base[key] for key in ("id", "object", "created", "model") if key in base
    }
    chunk.setdefault("object", "chat.completion.chunk")
    indexes = [c.get("index", 0) for c in base.get("choices") or () if isinstance(c, dict)] or [0]
    text_completion = chunk["object"] == "text_completion"
    chunk["choices"] = [
        {"index": i, "text": "", "finish_reason": "content_filter"}
        if text_completion
        else {"index": i, "delta": {}, "finish_reason": "content_filter"}
        for i in indexes
    ]
    chunk["aupgate"] = aupgate_object(decision)
    return chunk


def aupgate_object(decision: Decision | None) -> dict[str, Any]:
    """The `aupgate` member naming the decision (or saying moderation could not run)."""
    if decision is None:
        return {
            "outcome": "error",
            "message": "output moderation could not run, so the answer was withheld; retry later",
        }
    return {**decision_summary(decision), "stage": "output"}


def filter_response(body: dict[str, Any], decision: Decision | None) -> dict[str, Any]:
    """A non-streaming answer with its content withheld and finish_reason content_filter."""
    out = dict(body)
    choices = []
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        changed = {**choice, "finish_reason": "content_filter"}
        if isinstance(choice.get("message"), dict):
            changed["message"] = {**choice["message"], "content": None}
        if "text" in choice:
            changed["text"] = ""
        choices.append(changed)
    out["choices"] = choices
    out["aupgate"] = aupgate_object(decision)
    return out


def response_text(body: Mapping[str, Any]) -> str:
    """The generated text of a non-streaming chat or completion answer."""
    return choices_text(body, "message", "\n")
