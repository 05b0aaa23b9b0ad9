"""What every classifier backend offers, the input checks they share, and score helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol, runtime_checkable

from aupgate.classify.taxonomy import CATEGORIES
from aupgate.decision import CategoryScore, Classification, ClassifierIdentity
from aupgate.errors import AupgateError, InvalidInputError

# 1 MiB of text is classified (in windows); more is refused rather than silently truncated.
MAX_CHARS: Final = 1 << 20


class ClassifyError(AupgateError):
    """The classifier could not produce scores (callers fail closed)."""


class InputError(InvalidInputError):
    """The text cannot be classified as given (empty, too long, not text)."""


def check_text(text: object) -> str:
    """The text if it can be classified, else `InputError` saying why."""
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError("text is empty")
    if len(text) > MAX_CHARS:
        raise InputError(f"text has {len(text):,} characters; the limit is {MAX_CHARS:,}")
    if "\x00" in text or "\ufffd" in text:
        raise InputError("text contains NUL or undecodable bytes (binary data?)")
    return text


def classification(scores: Mapping[str, float], identity: ClassifierIdentity) -> Classification:
    """A Classification with a score for every taxonomy category (missing ones fail closed)."""
    missing = [c for c in CATEGORIES if c not in scores]
    if missing:
        raise ClassifyError(f"backend {identity.backend} gave no score for {', '.join(missing)}")
    return Classification(
        tuple(CategoryScore(c, min(max(float(scores[c]), 0.0), 1.0)) for c in CATEGORIES),
        identity,
    )


class Classifier(Protocol):
    """A backend: text in, calibrated scores for every category out."""

    @property
    def identity(self) -> ClassifierIdentity: ...

    def classify(self, text: str) -> Classification: ...

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]: ...


@runtime_checkable
class StagedClassifier(Classifier, Protocol):
    """A backend whose cheap first stage may settle a text on its own (an asyncio server runs
    that part inline and only the rest in a worker thread)."""

    def classify_in_stages(self, text: str) -> Classification | Callable[[], Classification]: ...
