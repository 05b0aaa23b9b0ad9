"""Load what `classify eval DATASET` evaluates: a split of the corpus, or a labelled JSONL file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aupgate.classify.backend import Classifier
from aupgate.classify.dataset import Example, build
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.evaluate import best_threshold_at_fpr
from aupgate.classify.model import Array
from aupgate.classify.report import build_report, written_lookalikes
from aupgate.classify.taxonomy import CATEGORIES, LABELS
from aupgate.errors import InvalidInputError

LATENCY_PROMPTS = 500
# "Typical prompts" for the latency target: up to 64 tokens, about 48 words.
LATENCY_MAX_WORDS = 48


def scorer(classifier: Classifier) -> Any:
    """texts -> (n, categories) score matrix, for any backend."""
    if isinstance(classifier, EmbeddedClassifier):
        return classifier.score_matrix

    def score(texts: Sequence[str]) -> Array:
        rows = [[s.score for s in c.scores] for c in classifier.classify_batch(texts)]
        return np.array(rows, np.float32).reshape(len(texts), len(CATEGORIES))

    return score


def read_labelled(path: Path) -> list[Example]:
    """{"text", "label"} rows of a JSONL file; a bad line is an error naming it."""
    out: list[Example] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                text, label = str(d["text"]), str(d["label"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InvalidInputError(f"{path}:{n}: not a labelled row ({exc})") from None
            if label not in LABELS:
                raise InvalidInputError(f"{path}:{n}: unknown label {label!r}")
            out.append(
                Example(str(d.get("id", n)), text, label, str(d.get("source", path.stem)), str(n))
            )
    if not out:
        raise InvalidInputError(f"{path}: no labelled rows")
    return out


def threshold_on_dev(score: Any, dev: Sequence[Example], max_fpr: float) -> float:
    """The lowest threshold at which at most `max_fpr` of dev's written look-alikes are
    flagged: an operating point chosen without reading test."""
    scores = score([e.text for e in dev])
    return best_threshold_at_fpr(scores, [e.label for e in dev], written_lookalikes(dev), max_fpr)


def load_eval(
    dataset: str,
    classifier: Classifier,
    threshold: float,
    latency: bool,
    dev_fpr: float | None = None,
) -> dict[str, Any]:
    """The report on `dataset` at `threshold`, or, with `dev_fpr`, at `threshold_on_dev`."""
    score = scorer(classifier)
    corpus = build() if dataset in ("dev", "test") or dev_fpr is not None else []
    if dataset in ("dev", "test"):
        rows = [e for e in corpus if e.split == dataset]
        extra = {
            "ailuminate-fr": [e for e in corpus if e.source == "ailuminate-fr"],
            "alpaca": [e for e in corpus if e.source == "alpaca"],
        }
        obfuscate_from = [e for e in corpus if e.split == "dev"]
    else:
        path = Path(dataset)
        if not path.is_file():
            raise InvalidInputError(
                f"dataset must be dev, test or a JSONL file; not found: {dataset}"
            )
        rows, extra, obfuscate_from = read_labelled(path), {}, []
    chosen: dict[str, float] = {}
    if dev_fpr is not None:
        threshold = threshold_on_dev(score, [e for e in corpus if e.split == "dev"], dev_fpr)
        chosen = {"chosen_on_dev_at_written_fpr": dev_fpr}
    short = [e.text for e in rows if len(e.text.split()) <= LATENCY_MAX_WORDS][:LATENCY_PROMPTS]
    report = build_report(
        score, CATEGORIES, rows, extra, obfuscate_from, threshold, short if latency else ()
    )
    return {"dataset": dataset, "classifier": classifier.identity.to_json(), **chosen, **report}
