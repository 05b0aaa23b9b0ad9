"""Would per-category thresholds (a pack may set `review_from` per category) beat one threshold?
Answered on dev alone, by fitting on one half and measuring on the other.

    python -m benchmarks.classifier_thresholds [--splits 10]

Dev is scored once by the shipped embedded backend, then split `--splits` times into halves
by group (a contrastive pair stays in one half). On half A each rule picks its thresholds
from the grid 0.5 ... 0.15; half B measures them (prohibited-vs-benign F1, written-look-alike
and military-topic FPR). The rules, each with the FPR caps "no higher than at 0.5 on half A":

- `0.5`: the pack default, nothing fitted;
- `global`: the lowest single threshold within the caps;
- `global +1 pt`: the same with caps one point higher;
- `per category`: greedy coordinate descent, each step lowering the one category's threshold
  that raises half A's F1 most within the caps;
- `per category, not 2.1`: the same, the 2.1 family kept at 0.5 (their look-alikes are the
  written ones);
- `per category +1 pt`: caps one point higher.

Test is never read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from aupgate.classify.dataset import Example, build
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.model import Array
from aupgate.classify.taxonomy import BENIGN, CATEGORIES, FAMILY_2_1
from benchmarks.classifier_candidates import _masks

GRID = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15)
Measure = Callable[[Array], tuple[float, float, float]]


def measure_on(scores: Array, rows: Sequence[Example]) -> Measure:
    """(F1, written FPR, military-topic FPR) of per-category thresholds on these rows."""
    prohibited = np.array([e.label != BENIGN for e in rows])
    masks = _masks(rows)

    def measure(thresholds: Array) -> tuple[float, float, float]:
        flags = (scores >= thresholds[None, :]).any(axis=1)
        tp = int((flags & prohibited).sum())
        fp = int((flags & ~prohibited).sum())
        fn = int((~flags & prohibited).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        return f1, float(flags[masks["written"]].mean()), float(flags[masks["military"]].mean())

    return measure


def _caps(measure: Measure, slack: float) -> tuple[float, float]:
    _, written, military = measure(np.full(len(CATEGORIES), 0.5))
    return written + slack, military + slack


def fit_global(measure: Measure, slack: float) -> Array:
    cap_w, cap_m = _caps(measure, slack)
    chosen = 0.5
    for t in GRID:
        _, w, m = measure(np.full(len(CATEGORIES), t))
        if w <= cap_w and m <= cap_m:
            chosen = t
    return np.full(len(CATEGORIES), chosen)


def fit_per_category(measure: Measure, slack: float, columns: Sequence[int]) -> Array:
    cap_w, cap_m = _caps(measure, slack)
    thresholds = np.full(len(CATEGORIES), 0.5)
    while True:
        base = measure(thresholds)[0]
        best: tuple[float, int, float] | None = None
        for j in columns:
            for t in GRID:
                if t >= thresholds[j]:
                    continue
                trial = thresholds.copy()
                trial[j] = t
                f1, w, m = measure(trial)
                if w <= cap_w and m <= cap_m and f1 > base and (best is None or f1 > best[0]):
                    best = (f1, j, t)
        if best is None:
            return thresholds
        thresholds[best[1]] = best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args()
    dev = [e for e in build() if e.split == "dev"]
    scores = EmbeddedClassifier.load().score_matrix([e.text for e in dev])
    every = list(range(len(CATEGORIES)))
    not_21 = [j for j, c in enumerate(CATEGORIES) if c not in FAMILY_2_1]
    rules: dict[str, Callable[[Measure], Array]] = {
        "0.5": lambda m: np.full(len(CATEGORIES), 0.5),
        "global": lambda m: fit_global(m, 0.0),
        "global +1 pt": lambda m: fit_global(m, 0.01),
        "per category": lambda m: fit_per_category(m, 0.0, every),
        "per category, not 2.1": lambda m: fit_per_category(m, 0.0, not_21),
        "per category +1 pt": lambda m: fit_per_category(m, 0.01, every),
    }
    groups = np.array([e.group for e in dev])
    unique = np.unique(groups)
    rng = np.random.default_rng(0)
    held_out: dict[str, list[tuple[float, float, float]]] = {name: [] for name in rules}
    for _ in range(args.splits):
        half = np.isin(groups, rng.choice(unique, len(unique) // 2, replace=False))
        fit_rows, test_rows = np.flatnonzero(half), np.flatnonzero(~half)
        fit = measure_on(scores[fit_rows], [dev[i] for i in fit_rows])
        check = measure_on(scores[test_rows], [dev[i] for i in test_rows])
        for name, rule in rules.items():
            held_out[name].append(check(rule(fit)))
    table = Table(
        title=f"dev (n={len(dev)}): fitted on one half, measured on the other, "
        f"{args.splits} splits (mean, and worst split for the FPRs)"
    )
    for column in ("rule", "F1", "written FPR", "worst", "military FPR", "worst"):
        table.add_column(column)
    for name, values in held_out.items():
        v = np.array(values)
        table.add_row(
            name,
            f"{v[:, 0].mean():.3f} ± {v[:, 0].std():.3f}",
            f"{v[:, 1].mean():.3f}",
            f"{v[:, 1].max():.3f}",
            f"{v[:, 2].mean():.3f}",
            f"{v[:, 2].max():.3f}",
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
