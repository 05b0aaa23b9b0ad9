"""The default backend: the shipped linear model, run on CPU with numpy, in windows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aupgate.classify import artefact
from aupgate.classify.backend import check_text, classification
from aupgate.classify.model import Array, LinearModel
from aupgate.classify.normalize import normalize
from aupgate.classify.windows import windows
from aupgate.decision import Classification, ClassifierIdentity

BACKEND = "embedded"


class EmbeddedClassifier:
    """Normalise, split into windows, score every window, take the max per category."""

    def __init__(self, model: LinearModel, identity: ClassifierIdentity) -> None:
        self._model = model
        self._identity = identity

    @classmethod
    def load(cls, folder: Path = artefact.DEFAULT_DIR) -> EmbeddedClassifier:
        model, manifest, sha = artefact.load(folder)
        return cls(model, ClassifierIdentity(BACKEND, str(manifest.get("version", "?")), sha))

    @property
    def identity(self) -> ClassifierIdentity:
        return self._identity

    @property
    def categories(self) -> tuple[str, ...]:
        return self._model.categories

    def score_matrix(self, texts: Sequence[str]) -> Array:
        """Calibrated scores, shape (len(texts), categories); texts must pass `check_text`."""
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            for piece in windows(normalize(check_text(text))):
                pieces.append(piece)
                owner.append(i)
        per_window = self._model.scores(pieces)
        out = np.zeros((len(texts), len(self._model.categories)), np.float32)
        np.maximum.at(out, np.array(owner), per_window)
        return out

    def _wrap(self, row: Array) -> Classification:
        return classification(
            dict(zip(self._model.categories, row.tolist(), strict=True)), self._identity
        )

    def classify(self, text: str) -> Classification:
        return self._wrap(self.score_matrix([text])[0])

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self._wrap(row) for row in self.score_matrix(texts)]
