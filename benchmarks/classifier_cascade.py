"""Choose how the embedded backend's two stages join, on dev, and write it into the artefact.

    python -m benchmarks.classifier_cascade [--folder ARTEFACT_DIR]

For every candidate band (the linear model's top scores for which the encoder also reads a
window) and weight (the encoder's share of the logit average; 1.0 is "the encoder's score
replaces stage 1's"), the shipped artefact is rewritten with that choice, loaded as the
gateway loads it, run on dev, and the cascade's Platt calibration fitted on dev. The rule,
fixed before any run: the best dev F1 at 0.5 among candidates whose dev written-look-alike and
military-topic FPR are both <= 5 % and which send <= `MAX_SHARE` of dev's windows to the
encoder (its cost); ties go to the cheaper one. Then, for the winner only, the rule for texts
the encoder reads nothing of (`EncoderStage.join_unread`): "union" replaces "max" if it raises
dev F1 with both FPRs still <= 5 %. The winner stays written in the folder, and the table of
every candidate is printed. Test is never read.

Needs an artefact with a second stage (`benchmarks/classifier_finetune.py --ship` writes one).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from aupgate.classify import artefact
from aupgate.classify.dataset import Example, build
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.model import Calibration
from aupgate.classify.report import quality
from aupgate.classify.taxonomy import CATEGORIES
from aupgate.classify.train import fit_calibration

BANDS = ((0.2, 0.8), (0.1, 0.9), (0.05, 0.95))
WEIGHTS = (0.5, 0.6, 0.7, 1.0)
MAX_FPR = 0.05
MAX_SHARE = 0.5


def write_choice(
    folder: Path,
    band: tuple[float, float],
    weight: float,
    cascade: Calibration,
    unread: str = "max",
) -> str:
    """Write band, weight, unread rule and cascade calibration into the artefact; returns its
    hash."""
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["second_stage"].update(band=list(band), weight=weight, unread=unread)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    path = folder / artefact.ENCODER_FILES[1]
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays.update(cascade_slope=cascade.slope, cascade_intercept=cascade.intercept)
    np.savez(path, **arrays)
    return artefact.sha256_of(folder, artefact.files_of(manifest))


def measure(
    folder: Path, dev: Sequence[Example], fit: bool = True
) -> tuple[Calibration, dict[str, float]]:
    """The cascade calibration fitted on dev (the artefact's own with `fit=False`; then it is
    scored exactly as written), and dev's numbers with it at 0.5."""
    classifier = EmbeddedClassifier.load(folder)
    texts = [e.text for e in dev]
    scores = classifier.score_matrix(texts)
    second = classifier.second_stage
    assert second is not None, f"{folder} has no second stage"
    cascade = second.cascade
    if fit:
        cascade = fit_calibration(scores, [e.label for e in dev], classifier.categories)
        scores = cascade(scores)
    q = quality(scores, dev, classifier.categories, 0.5)
    return cascade, {
        "f1": q["prohibited_vs_benign"]["f1"],
        "written_fpr": q["benign_lookalike_fpr"]["written"]["fpr"],
        "military_fpr": q["benign_lookalike_fpr"]["written-military-topic"]["fpr"],
        "recall_2_1": q["family_2_1_recall"]["recall"],
        "share": classifier.second_stage_share(texts),
    }


def _add_row(table: Table, band: str, weight: float, m: dict[str, float], ok: bool) -> None:
    table.add_row(
        band,
        f"{weight}",
        f"{m['share']:.1%}",
        f"{m['f1']:.3f}",
        f"{m['written_fpr']:.3f}",
        f"{m['military_fpr']:.3f}",
        f"{m['recall_2_1']:.3f}",
        style=None if ok else "dim",
    )


def choose(folder: Path, dev: Sequence[Example]) -> tuple[Table, str]:
    """Try every candidate on dev, leave the rule's winner written in `folder`; returns the
    table of candidates and a line naming the choice and the artefact's new hash."""
    identity = Calibration.identity(len(CATEGORIES))
    table = Table(title=f"cascade candidates on dev (n={len(dev)}), calibrated, threshold 0.5")
    for column in ("band", "weight", "to encoder", "F1", "written FPR", "mil. FPR", "2.1 R"):
        table.add_column(column)
    best: tuple[tuple[float, float], tuple[float, float], float, Calibration] | None = None
    for band in BANDS:
        for weight in WEIGHTS:
            write_choice(folder, band, weight, identity)
            cascade, m = measure(folder, dev)
            ok = max(m["written_fpr"], m["military_fpr"]) <= MAX_FPR and m["share"] <= MAX_SHARE
            key = (m["f1"] if ok else -1.0, -m["share"])
            if best is None or key > best[0]:
                best = (key, band, weight, cascade)
            _add_row(table, f"[{band[0]}, {band[1]}]", weight, m, ok)
    assert best is not None
    key, band, weight, cascade = best
    # Then the rule for texts the encoder reads nothing of, on the winner only; it applies
    # after the cascade's calibration (a sum of calibrated scores), so nothing is refitted.
    write_choice(folder, band, weight, cascade, "union")
    _, m = measure(folder, dev, fit=False)
    ok = max(m["written_fpr"], m["military_fpr"]) <= MAX_FPR
    _add_row(table, f"[{band[0]}, {band[1]}] + union", weight, m, ok)
    unread = "union" if ok and m["f1"] > key[0] else "max"
    sha = write_choice(folder, band, weight, cascade, unread)
    return table, (
        f"chosen: band {list(band)}, weight {weight}, unread texts {unread!r}; "
        f"artefact sha256 {sha}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, default=artefact.DEFAULT_DIR)
    args = parser.parse_args()
    table, chosen = choose(args.folder, [e for e in build() if e.split == "dev"])
    console = Console(width=160)
    console.print(table)
    console.print(chosen)


if __name__ == "__main__":
    main()
