"""uvicorn factories for the gateway benchmarks (worker processes build them from AUPGATE_*).

`with_classifier` is what `aupgate serve` runs; `without_classifier` swaps in a classifier that
scores nothing, so the rest of the pipeline (auth, policy, durable audit append, proxying,
output moderation bookkeeping) is measured on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette

from aupgate.classify.taxonomy import CATEGORIES
from aupgate.config import load_settings
from aupgate.decision import CategoryScore, Classification, ClassifierIdentity
from aupgate.gateway.app import create_app
from aupgate.runtime import Runtime


class NothingClassifier:
    identity = ClassifierIdentity("none", "bench", "-")
    _empty = Classification(tuple(CategoryScore(c, 0.0) for c in CATEGORIES), identity)

    def classify(self, text: str) -> Classification:
        return self._empty

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self._empty for _ in texts]


def with_classifier() -> Starlette:
    return create_app(Runtime(load_settings()), owns_runtime=True)


def without_classifier() -> Starlette:
    return create_app(Runtime(load_settings()), classifier=NothingClassifier(), owns_runtime=True)
