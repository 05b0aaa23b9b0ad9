"""The embedded model: featurisers, two linear heads, and per-category calibration.

score_c(x) = calibrate_c( P(prohibited | x) * P(c | x, prohibited) )

The prohibited-vs-benign head also learns from prohibited rows whose category is unknown
(AdvBench, TDC); the category head learns which prohibited use it is. Calibration is Platt scaling
per category fitted on the dev split (`train`), so 0.5 means "about even odds" for every category.
Inference is numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]

from aupgate.classify.features import Featuriser, Matrix, side_by_side

Array = npt.NDArray[np.float32]
_EPS = 1e-6


def logit(p: Array) -> Array:
    clipped = np.clip(p, _EPS, 1 - _EPS)
    out: Array = np.log(clipped / (1 - clipped)).astype(np.float32)
    return out


def sigmoid(z: Array) -> Array:
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def featurise(featurisers: Sequence[Featuriser], texts: Sequence[str]) -> Matrix:
    """The featurisers' outputs side by side (sparse when there are several)."""
    blocks = [f(texts) for f in featurisers]
    if len(blocks) == 1:
        return blocks[0]
    return side_by_side(blocks, len(texts))


@dataclass(frozen=True, slots=True)
class LinearHead:
    """x @ weights + bias; weights (n_features, n_outputs)."""

    weights: Array
    bias: Array

    def logits(self, x: Matrix) -> Array:
        out = x @ self.weights if sp.issparse(x) else np.asarray(x) @ self.weights
        return (np.asarray(out) + self.bias).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-category Platt scaling: sigmoid(slope * logit(raw) + intercept); slope > 0."""

    slope: Array
    intercept: Array

    @classmethod
    def identity(cls, n: int) -> Calibration:
        return cls(np.ones(n, np.float32), np.zeros(n, np.float32))

    def __call__(self, raw: Array) -> Array:
        return sigmoid(logit(raw) * self.slope + self.intercept)


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Featurisers + prohibited head (1 output) + category head (one output per category)."""

    categories: tuple[str, ...]
    featurisers: tuple[Featuriser, ...]
    prohibited: LinearHead
    category: LinearHead
    calibration: Calibration

    def features(self, texts: Sequence[str]) -> Matrix:
        return featurise(self.featurisers, texts)

    def raw(self, texts: Sequence[str]) -> Array:
        """Uncalibrated P(prohibited) * P(category | prohibited), shape (n, categories)."""
        x = self.features(texts)
        p_prohibited = sigmoid(self.prohibited.logits(x))
        logits = self.category.logits(x)
        logits -= logits.max(axis=1, keepdims=True)
        p_category = np.exp(logits)
        p_category /= p_category.sum(axis=1, keepdims=True)
        return (p_prohibited * p_category).astype(np.float32)

    def scores(self, texts: Sequence[str]) -> Array:
        """Calibrated scores, shape (n, categories)."""
        return self.calibration(self.raw(texts))
