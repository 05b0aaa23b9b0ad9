"""Build a classifier backend by name (used by the CLI and the runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from aupgate.classify.backend import Classifier
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.ensemble import EnsembleClassifier
from aupgate.classify.llama_guard import VERSIONS, LlamaGuardClassifier
from aupgate.errors import InvalidInputError

Backend = Literal["embedded", "llama-guard", "ensemble"]


@dataclass(frozen=True, slots=True)
class GuardSettings:
    url: str | None = None
    model: str = "llama-guard"
    version: str = "llama-guard-3-8b"
    endpoint: Literal["completions", "chat"] = "completions"
    excluded: frozenset[str] = frozenset()


def _guard(settings: GuardSettings) -> LlamaGuardClassifier:
    if not settings.url:
        raise InvalidInputError(
            "the llama-guard backend needs --guard-url (an OpenAI-compatible server)"
        )
    if settings.version not in VERSIONS:
        raise InvalidInputError(
            f"unknown guard version {settings.version!r}; known: {', '.join(VERSIONS)}"
        )
    return LlamaGuardClassifier(
        httpx.Client(base_url=settings.url),
        settings.model,
        VERSIONS[settings.version],
        settings.endpoint,
        settings.excluded,
    )


def load_backend(
    name: str, guard: GuardSettings = GuardSettings(), second_stage: bool = True
) -> Classifier:
    """The named backend; the ensemble is embedded + Llama Guard, max per category."""
    if name == "embedded":
        return EmbeddedClassifier.load(second_stage=second_stage)
    if name == "llama-guard":
        return _guard(guard)
    if name == "ensemble":
        embedded = EmbeddedClassifier.load(second_stage=second_stage)
        return EnsembleClassifier([embedded, _guard(guard)], mode="max")
    raise InvalidInputError(f"unknown backend {name!r}: use embedded, llama-guard or ensemble")
