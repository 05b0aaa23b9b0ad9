"""Several backends as one: per category, the max (or a weighted mean) over the backends that
cover it. The per-category thresholds stay with the policy pack, applied by `decide()`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from aupgate.classify.backend import Classifier, ClassifyError, classification
from aupgate.classify.taxonomy import CATEGORIES
from aupgate.decision import Classification, ClassifierIdentity


def covers(backend: Classifier) -> frozenset[str]:
    """Categories a backend actually judges (all, unless it says otherwise)."""
    declared = getattr(backend, "covers", None)
    return declared if isinstance(declared, frozenset) else frozenset(CATEGORIES)


@dataclass(slots=True)
class EnsembleClassifier:
    """`max`: any backend can raise a category. `mean`: weighted mean over covering backends."""

    backends: Sequence[Classifier]
    mode: Literal["max", "mean"] = "max"
    weights: Mapping[str, float] = field(default_factory=dict)  # backend name -> weight
    _identity: ClassifierIdentity = field(init=False)

    def __post_init__(self) -> None:
        if not self.backends:
            raise ValueError("an ensemble needs at least one backend")
        ids = [b.identity for b in self.backends]
        version = "+".join(f"{i.backend}:{i.version}" for i in ids)
        sha = hashlib.sha256("\n".join(i.artefact_sha256 for i in ids).encode()).hexdigest()
        self._identity = ClassifierIdentity(f"ensemble-{self.mode}", version, sha)

    @property
    def identity(self) -> ClassifierIdentity:
        return self._identity

    def combine(self, results: Sequence[Classification]) -> Classification:
        merged: dict[str, float] = {}
        for category in CATEGORIES:
            votes = [
                (self.weights.get(b.identity.backend, 1.0), s.score)
                for b, r in zip(self.backends, results, strict=True)
                if category in covers(b)
                for s in r.scores
                if s.category == category
            ]
            if not votes:
                raise ClassifyError(f"no backend of the ensemble covers {category!r}")
            if self.mode == "max":
                merged[category] = max(score for _, score in votes)
            else:
                total = sum(w for w, _ in votes)
                merged[category] = sum(w * s for w, s in votes) / total
        return classification(merged, self._identity)

    def classify(self, text: str) -> Classification:
        return self.combine([b.classify(text) for b in self.backends])

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        per_backend = [b.classify_batch(texts) for b in self.backends]
        return [self.combine(list(rs)) for rs in zip(*per_backend, strict=True)]
