"""Metrics behave as defined on small hand-checked cases; calibration fitting is monotone."""

from __future__ import annotations

import numpy as np
import pytest

from aupgate.classify.dataset import Example
from aupgate.classify.evalset import threshold_on_dev
from aupgate.classify.evaluate import (
    PRF,
    best_threshold_at_fpr,
    expected_calibration_error,
    family_recall,
    prohibited_vs_benign,
)
from aupgate.classify.report import quality
from aupgate.classify.train import fit_calibration

CATS = ("military-warfare", "violence")


def test_prf_counts() -> None:
    prf = PRF.of(np.array([True, True, False, False]), np.array([True, False, True, False]))
    assert (prf.precision, prf.recall, prf.f1, prf.support) == (0.5, 0.5, 0.5, 2)


def test_binary_and_family_metrics() -> None:
    scores = np.array([[0.9, 0.0], [0.0, 0.6], [0.2, 0.1], [0.7, 0.0]], np.float32)
    labels = ["military-warfare", "violence", "military-warfare", "benign"]
    prf = prohibited_vs_benign(scores, labels)
    assert prf.precision == pytest.approx(2 / 3) and prf.recall == pytest.approx(2 / 3)
    assert family_recall(scores, labels, CATS) == (0.5, 2)


def test_ece_is_zero_when_frequencies_match_scores() -> None:
    scores = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert expected_calibration_error(scores, list(CATS), CATS) == 0.0
    assert expected_calibration_error(scores, ["violence", "military-warfare"], CATS) == 1.0


def test_threshold_at_fpr_bounds_the_benign_flag_rate() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((200, 2)).astype(np.float32)
    benign = np.arange(200) < 100
    t = best_threshold_at_fpr(scores, ["benign"] * 200, benign, 0.05)
    assert (scores[benign].max(axis=1) >= t).mean() <= 0.05


def test_fitted_calibration_is_monotone_and_tracks_frequency() -> None:
    rng = np.random.default_rng(1)
    raw = rng.random((400, 2)).astype(np.float32)
    labels = ["violence" if rng.random() < r else "benign" for r in raw[:, 1]]
    cal = fit_calibration(raw, labels, CATS)
    assert (cal.slope > 0).all()
    grid = np.linspace(0.01, 0.99, 20, dtype=np.float32)[:, None].repeat(2, 1)
    out = cal(grid)
    assert (np.diff(out[:, 1]) > 0).all()
    assert out[-1, 1] > 0.8 and out[0, 1] < 0.2


def test_quality_splits_2_1_recall_by_language() -> None:
    rows = [
        Example("a", "t", "military-warfare", "written/military-warfare", "g1", lang="en"),
        Example("b", "t", "military-warfare", "written/military-warfare", "g2", lang="en"),
        Example("c", "t", "military-warfare", "written/military-warfare", "g3", lang="zh"),
        Example("d", "t", "benign", "written/military-warfare", "g4", lang="ru"),
    ]
    scores = np.array([[0.9, 0.0], [0.2, 0.0], [0.1, 0.0], [0.0, 0.0]], np.float32)
    report = quality(scores, rows, CATS, 0.5)
    assert report["family_2_1_recall"] == {"recall": 0.3333, "n": 3}  # rounded to 4 places
    assert report["family_2_1_recall_by_language"] == {
        "en": {"recall": 0.5, "n": 2},
        "other": {"recall": 0.0, "n": 1},
    }
    english_only = quality(scores[:2], rows[:2], CATS, 0.5)
    assert english_only["family_2_1_recall_by_language"] == {"en": {"recall": 0.5, "n": 2}}


def test_the_dev_threshold_flags_at_most_the_share_of_written_lookalikes_asked_for() -> None:
    scores = {"w1": 0.1, "w2": 0.3, "w3": 0.6, "w4": 0.7, "public": 0.9, "ask": 0.8}
    dev = [Example(t, t, "benign", "written/nuclear", t) for t in ("w1", "w2", "w3", "w4")]
    dev += [Example("public", "public", "benign", "alpaca", "p")]  # not a written look-alike
    dev += [Example("ask", "ask", "nuclear", "written/nuclear", "a")]

    def score(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 3), np.float32)
        out[:, 1] = [scores[t] for t in texts]
        return out

    threshold = threshold_on_dev(score, dev, 0.25)
    assert 0.6 < threshold <= 0.7  # one of the four written look-alikes (w4) reaches it
    assert threshold_on_dev(score, dev, 0.0) > 0.7
    assert threshold_on_dev(score, dev, 1.0) == 0.0
