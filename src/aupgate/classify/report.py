"""The evaluation report of a classifier on labelled examples (what `classify eval` prints)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Final

import numpy as np

from aupgate.classify.dataset import Example
from aupgate.classify.evaluate import (
    OBFUSCATIONS,
    PRF,
    THRESHOLD,
    expected_calibration_error,
    family_recall,
    flagged,
    measure_latency,
    obfuscate,
    per_category,
    prohibited_vs_benign,
)
from aupgate.classify.model import Array
from aupgate.classify.taxonomy import BENIGN

Scorer = Callable[[Sequence[str]], Array]
# Benign look-alike groups: which sources, and which written files are "military-topic".
LOOKALIKE_SOURCES: Final = ("written", "coconot-contrast", "cyberseceval-frr", "alpaca")
MILITARY_FILES: Final = (
    "written/military-warfare",
    "written/nuclear",
    "written/espionage",
    "written/export-controlled",
)


def written_lookalikes(rows: Sequence[Example]) -> np.ndarray:
    """The benign rows we wrote as look-alikes of prohibited uses."""
    return np.array([e.label == BENIGN and e.source.startswith("written") for e in rows], bool)


def military_lookalikes(rows: Sequence[Example]) -> np.ndarray:
    """The written look-alikes on military, nuclear, espionage and export-control topics."""
    return np.array([e.label == BENIGN and e.source in MILITARY_FILES for e in rows], bool)


def _prf(p: PRF) -> dict[str, float]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(p).items()}


def quality(
    scores: Array, rows: Sequence[Example], categories: Sequence[str], threshold: float
) -> dict[str, Any]:
    """Every quality number for one set of scored rows."""
    labels = [e.label for e in rows]
    sources = np.array([e.source for e in rows])
    benign = np.array([e.label == BENIGN for e in rows])
    flags = flagged(scores, threshold)
    lookalike: dict[str, Any] = {}
    for group in LOOKALIKE_SOURCES:
        mask = benign & np.char.startswith(sources.astype(str), group)
        if mask.any():
            lookalike[group] = {"fpr": round(float(flags[mask].mean()), 4), "n": int(mask.sum())}
    military = military_lookalikes(rows)
    if military.any():
        lookalike["written-military-topic"] = {
            "fpr": round(float(flags[military].mean()), 4),
            "n": int(military.sum()),
        }
    recall, n21 = family_recall(scores, labels, categories, threshold)
    # Both stages read English best; the written 2.1 rows include other languages.
    english = np.array([e.lang == "en" for e in rows], dtype=bool)
    by_language: dict[str, dict[str, float | int]] = {}
    for name, mask in (("en", english), ("other", ~english)):
        r, n = family_recall(
            scores[mask], [y for y, m in zip(labels, mask, strict=True) if m], categories, threshold
        )
        if n:
            by_language[name] = {"recall": round(r, 4), "n": n}
    return {
        "n": len(rows),
        "prohibited_vs_benign": _prf(prohibited_vs_benign(scores, labels, threshold)),
        "per_category": {
            c: _prf(p) for c, p in per_category(scores, labels, categories, threshold).items()
        },
        "benign_lookalike_fpr": lookalike,
        "family_2_1_recall": {"recall": round(recall, 4), "n": n21},
        "family_2_1_recall_by_language": by_language,
        "ece": round(expected_calibration_error(scores, labels, categories), 4),
    }


def build_report(
    score: Scorer,
    categories: Sequence[str],
    rows: Sequence[Example],
    extra: Mapping[str, Sequence[Example]],
    obfuscate_from: Sequence[Example] = (),
    threshold: float = THRESHOLD,
    latency_texts: Sequence[str] = (),
) -> dict[str, Any]:
    """Quality on `rows`, on each `extra` set, on obfuscated variants, and latency."""
    report: dict[str, Any] = {"threshold": threshold}
    report["main"] = quality(score([e.text for e in rows]), rows, categories, threshold)
    for name, extra_rows in extra.items():
        if extra_rows:
            scores = score([e.text for e in extra_rows])
            report[name] = quality(scores, extra_rows, categories, threshold)
    if obfuscate_from:
        prohibited = [e for e in obfuscate_from if e.label != BENIGN]
        plain = flagged(score([e.text for e in prohibited]), threshold).mean()
        variants = {"none": round(float(plain), 4)}
        for kind in OBFUSCATIONS:
            texts = [obfuscate(e.text, kind) for e in prohibited]
            variants[kind] = round(float(flagged(score(texts), threshold).mean()), 4)
        report["obfuscated_recall"] = {"n": len(prohibited), **variants}
    if latency_texts:
        report["latency"] = asdict(measure_latency(score, latency_texts))
    return report
