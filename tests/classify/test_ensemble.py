"""The ensemble combines backends per category, only over the backends that cover it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from aupgate.classify.backend import classification
from aupgate.classify.ensemble import EnsembleClassifier
from aupgate.classify.taxonomy import CATEGORIES
from aupgate.decision import Classification, ClassifierIdentity


@dataclass
class Fixed:
    """A backend returning fixed scores (stands in for a remote guard in unit tests)."""

    name: str
    scores: dict[str, float]
    covers: frozenset[str] = frozenset(CATEGORIES)

    @property
    def identity(self) -> ClassifierIdentity:
        return ClassifierIdentity(self.name, "1", self.name * 2)

    def classify(self, text: str) -> Classification:
        full = dict.fromkeys(CATEGORIES, 0.0) | self.scores
        return classification(full, self.identity)

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self.classify(t) for t in texts]


EMBEDDED = Fixed("embedded", {"military-warfare": 0.7, "violence": 0.2})
GUARD = Fixed("guard", {"violence": 0.9, "military-warfare": 0.0}, frozenset({"violence"}))


def _scores(c: Classification) -> dict[str, float]:
    return {s.category: s.score for s in c.scores}


def test_max_takes_the_highest_covering_backend() -> None:
    scores = _scores(EnsembleClassifier([EMBEDDED, GUARD]).classify("x"))
    assert scores["violence"] == 0.9 and scores["military-warfare"] == 0.7


def test_mean_ignores_backends_that_do_not_cover_a_category() -> None:
    ens = EnsembleClassifier([EMBEDDED, GUARD], mode="mean", weights={"guard": 3.0})
    scores = _scores(ens.classify_batch(["x"])[0])
    assert scores["violence"] == pytest.approx((0.2 + 3 * 0.9) / 4)
    assert scores["military-warfare"] == pytest.approx(0.7)  # the guard has no 2.1 category


def test_identity_names_every_backend() -> None:
    identity = EnsembleClassifier([EMBEDDED, GUARD]).identity
    assert identity.backend == "ensemble-max" and identity.version == "embedded:1+guard:1"
    assert len(identity.artefact_sha256) == 64


def test_empty_ensemble_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EnsembleClassifier([])
