"""The embedded backend's second stage: a fine-tuned MiniLM for the prompts stage 1 is unsure of.

The shipped linear model reads topic well and intent poorly; the encoder (all-MiniLM-L6-v2
fine-tuned end to end on the same corpus, exported to ONNX with int8 weights) reads intent
better but costs several milliseconds per window. So it runs only on the windows whose top
linear-model score falls inside the manifest's band, where the two stages' calibrated scores
are averaged in logit space with the manifest's weight (the two err on different rows, so
their average beats either). A text's score is the max over its windows, put through the
cascade's own calibration (Platt, fitted on dev to the combined scores, so that a threshold
means the same with or without a second stage in the band). It was trained on
English text and tokenises other scripts poorly, so windows with few common English words
(in practice: other scripts; French or German share enough short words to pass) stay with the
linear model, whose character n-grams learnt the written rows in twelve languages; for prose
of which no window is read, the manifest's `unread` rule then says how the text's categories
join (`join_unread`). Built by `benchmarks/classifier_finetune.py --ship` and
`benchmarks/classifier_quantize.py --ship` (docs/classifier.md); run with ONNX Runtime on one
thread, so that it takes one core of the gateway's, not all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from aupgate.classify import segment
from aupgate.classify.artefact import ENCODER_FILES, ArtefactError
from aupgate.classify.model import Array, Calibration, logit, sigmoid

_BATCH = 32  # windows per ONNX call; sorted by length so padding stays small
MAX_WINDOWS = 16  # per text: about 0.3 s of encoder time at worst (one AVX2 core)
# Below this share of common English words a window is not sent to the encoder (chosen on
# dev, 2026-11-29: 2.1 recall in other languages 0.49 -> 0.56, English and FPR unchanged).
MIN_ENGLISH = 0.2
# How prose none of whose windows the encoder reads is scored: "max" (as any other text) or
# "union" (its top category carries the sum of its category scores; see `join_unread`).
UNREAD_RULES = ("max", "union")


class EncoderStage:
    """The fine-tuned encoder, the band it is used in, and how its scores join stage 1's."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        calibration: Calibration,
        band: tuple[float, float],
        weight: float,
        cascade: Calibration,
        unread: str = "max",
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._calibration = calibration
        self.band = band
        self.weight = weight
        self.cascade = cascade
        self.unread = unread

    @classmethod
    def load(cls, folder: Path, manifest: Mapping[str, Any], categories: int) -> EncoderStage:
        """The second stage the manifest describes; raises `ArtefactError` with the reason."""
        try:
            spec = manifest["second_stage"]
            lo, hi = (float(x) for x in spec["band"])
            weight = float(spec["weight"])
            unread = str(spec.get("unread", "max"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tokenizer.enable_truncation(int(spec["max_length"]))
            tokenizer.enable_padding()
            with np.load(folder / ENCODER_FILES[1]) as npz:
                calibration = Calibration(
                    npz["slope"].astype(np.float32), npz["intercept"].astype(np.float32)
                )
                cascade = Calibration(
                    npz["cascade_slope"].astype(np.float32),
                    npz["cascade_intercept"].astype(np.float32),
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                str(folder / ENCODER_FILES[0]), options, providers=["CPUExecutionProvider"]
            )
        except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ArtefactError(f"cannot load the second stage from {folder}: {exc}") from exc
        if not 0.0 <= lo <= hi <= 1.0:
            raise ArtefactError(f"{folder}: second-stage band [{lo}, {hi}] is not inside [0, 1]")
        if not 0.0 <= weight <= 1.0:
            raise ArtefactError(f"{folder}: second-stage weight {weight} is not inside [0, 1]")
        if unread not in UNREAD_RULES:
            raise ArtefactError(f"{folder}: unknown rule for unread texts {unread!r}")
        if not calibration.slope.shape == cascade.slope.shape == (categories,):
            raise ArtefactError(f"{folder}: second stage does not score the manifest's categories")
        return cls(session, tokenizer, calibration, (lo, hi), weight, cascade, unread)

    @staticmethod
    def reads(piece: str) -> bool:
        """Whether this stage can read `piece`: enough of its words are English."""
        return segment.english_share(piece) >= MIN_ENGLISH

    def uncertain(self, reads: Callable[[int], bool], top: Array, owner: np.ndarray) -> np.ndarray:
        """The windows this stage scores again: those whose top stage-1 score is in the band
        and which it reads (`reads(i)` for window i), at most `MAX_WINDOWS` per text (the most
        suspect), so that a long document costs a bounded amount; `owner` is the text of each
        window."""
        lo, hi = self.band
        candidates = np.flatnonzero((top >= lo) & (top <= hi))
        taken: dict[int, int] = {}
        chosen = []
        for i in candidates[np.argsort(-top[candidates], kind="stable")]:
            text = int(owner[i])
            if taken.get(text, 0) < MAX_WINDOWS and reads(int(i)):
                taken[text] = taken.get(text, 0) + 1
                chosen.append(int(i))
        return np.array(sorted(chosen), np.int64)

    def join_unread(self, per_text: Array, foreign: np.ndarray) -> Array:
        """Calibrated per-text scores with the unread rule applied to the `foreign` texts
        (prose of which this stage reads no window). Under "union", their top category
        carries the sum of their category scores (capped at 1), an upper bound of P(some
        category applies): the linear model alone, on a language it reads poorly, spreads one
        ask over several neighbouring categories, none of which then reaches the threshold."""
        if self.unread == "max" or not foreign.any():
            return per_text
        out = per_text.copy()
        rows = np.flatnonzero(foreign)
        out[rows, per_text[rows].argmax(axis=1)] = np.minimum(per_text[rows].sum(axis=1), 1.0)
        return out

    def combine(self, first: Array, pieces: Sequence[str]) -> Array:
        """Stage 1's scores of `pieces` averaged with this stage's, in logit space."""
        z = self.weight * logit(self.scores(pieces)) + (1.0 - self.weight) * logit(first)
        return sigmoid(z)

    def scores(self, pieces: Sequence[str]) -> Array:
        """This stage's own calibrated scores, shape (len(pieces), categories)."""
        width = self._calibration.slope.shape[0]
        out = np.zeros((len(pieces), width), np.float32)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            encoded = self._tokenizer.encode_batch([pieces[i] for i in rows])
            feed = {
                "input_ids": np.array([e.ids for e in encoded], np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], np.int64),
            }
            logits = self._session.run(["logits"], feed)[0]
            out[rows] = self._calibration(sigmoid(logits))
        return out
