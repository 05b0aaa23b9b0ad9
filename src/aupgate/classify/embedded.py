"""The default backend: the shipped linear model, run on CPU with numpy, in windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aupgate.classify import artefact, segment
from aupgate.classify.backend import check_text, classification
from aupgate.classify.encoder import EncoderStage
from aupgate.classify.model import Array, LinearModel
from aupgate.classify.normalize import normalize_with_payloads
from aupgate.classify.windows import windows
from aupgate.decision import Classification, ClassifierIdentity

BACKEND = "embedded"


class EmbeddedClassifier:
    """Normalise, split into windows, score every window, take the max per category; where
    the linear model's top score is uncertain and the window is one the second stage can read
    (enough common English words), the second stage (if shipped) scores it too and the two
    scores are averaged; the cascade's calibration then applies to every text."""

    def __init__(
        self,
        model: LinearModel,
        identity: ClassifierIdentity,
        second: EncoderStage | None = None,
    ) -> None:
        self._model = model
        self._identity = identity
        self._second = second

    @classmethod
    def load(
        cls, folder: Path = artefact.DEFAULT_DIR, *, second_stage: bool = True
    ) -> EmbeddedClassifier:
        """The artefact in `folder`; `second_stage=False` runs the linear model alone."""
        model, manifest, sha = artefact.load(folder)
        segment.pieces()  # normalisation's vocabulary: read now, not on the first spaced text
        version = str(manifest.get("version", "?"))
        second = None
        if "second_stage" in manifest:
            if second_stage:
                second = EncoderStage.load(folder, manifest, len(model.categories))
            else:  # the identity must say what runs
                version += " without its second stage"
        return cls(model, ClassifierIdentity(BACKEND, version, sha), second)

    @property
    def identity(self) -> ClassifierIdentity:
        return self._identity

    @property
    def second_stage(self) -> EncoderStage | None:
        return self._second

    @property
    def categories(self) -> tuple[str, ...]:
        return self._model.categories

    def score_matrix(self, texts: Sequence[str]) -> Array:
        """Calibrated scores, shape (len(texts), categories); texts must pass `check_text`."""
        return self._first_stage(texts).finish()

    def second_stage_share(self, texts: Sequence[str]) -> float:
        """The share of the texts' windows the second stage scores (0 without one)."""
        staged = self._first_stage(texts)
        return staged.redo.size / max(len(staged.pieces), 1)

    def _first_stage(self, texts: Sequence[str]) -> _Staged:
        pieces: list[str] = []
        owners: list[int] = []
        spans: list[tuple[int, int]] = []  # per text: its windows' slice of `pieces`
        for i, text in enumerate(texts):
            start = len(pieces)
            for piece in _pieces(check_text(text)):
                pieces.append(piece)
                owners.append(i)
            spans.append((start, len(pieces)))
        owner = np.array(owners, np.int64)
        per_window = self._model.scores(pieces)
        redo = np.zeros(0, np.int64)
        foreign = np.zeros(len(texts), bool)
        second = self._second
        if second is not None:
            # Whether the encoder reads a window is asked only where it matters (band
            # candidates; a text's windows until one is read), and at most once per window.
            readable: dict[int, bool] = {}

            def reads(i: int) -> bool:
                if i not in readable:
                    readable[i] = second.reads(pieces[i])
                return readable[i]

            redo = second.uncertain(reads, per_window.max(axis=1), owner)
            # Prose of which it reads no window (not code or emoji): the unread rule's texts.
            foreign = np.array(
                [
                    not any(reads(i) for i in range(a, b))
                    and segment.is_prose(" ".join(pieces[a:b]))
                    for a, b in spans
                ],
                bool,
            )
        return _Staged(self, len(texts), pieces, owner, per_window, redo, foreign)

    def classify_in_stages(self, text: str) -> Classification | Callable[[], Classification]:
        """The linear model's answer if it is sure of every window; otherwise what is left
        to do (the second stage, milliseconds per window) as a call to run off the loop."""
        staged = self._first_stage([text])
        if not staged.redo.size:
            return self._wrap(staged.finish()[0])
        return lambda: self._wrap(staged.finish()[0])

    def _wrap(self, row: Array) -> Classification:
        return classification(
            dict(zip(self._model.categories, row.tolist(), strict=True)), self._identity
        )

    def classify(self, text: str) -> Classification:
        return self._wrap(self.score_matrix([text])[0])

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self._wrap(row) for row in self.score_matrix(texts)]


def _pieces(text: str) -> list[str]:
    """The windows of the normalised text, plus those of each base64 payload on its own: a
    hidden ask is also judged without the carrier's words around it ("decode this and …")."""
    normalized, payloads = normalize_with_payloads(text)
    out = windows(normalized)
    for payload in payloads:
        out += windows(payload)
    return list(dict.fromkeys(out))


@dataclass(slots=True)
class _Staged:
    """Stage-1 scores per window, and the windows the second stage still has to score."""

    classifier: EmbeddedClassifier
    texts: int
    pieces: list[str]
    owner: np.ndarray
    per_window: Array
    redo: np.ndarray
    foreign: np.ndarray  # per text: prose of which the second stage reads no window

    def finish(self) -> Array:
        """Run the second stage where needed; per text, the max of every window's scores,
        calibrated for the cascade when there is a second stage."""
        second = self.classifier._second
        if self.redo.size and second is not None:
            self.per_window[self.redo] = second.combine(
                self.per_window[self.redo], [self.pieces[i] for i in self.redo]
            )
        out = np.zeros((self.texts, len(self.classifier.categories)), np.float32)
        np.maximum.at(out, self.owner, self.per_window)
        return out if second is None else second.join_unread(second.cascade(out), self.foreign)
