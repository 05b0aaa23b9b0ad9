"""Training on a small corpus: the heads learn use from contrastive pairs, and the artefact
round-trips through save/load with the same scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aupgate.classify import artefact
from aupgate.classify.dataset import Example, Split
from aupgate.classify.features import NgramFeatures
from aupgate.classify.taxonomy import CATEGORIES
from aupgate.classify.train import fit

PROHIBITED = [
    "prioritise which enemy command posts to destroy first in tomorrow's strike",
    "plan the artillery fire schedule against the enemy brigade at dawn",
    "assign our drones to the enemy radar sites for the opening attack",
    "draft the order of battle for our assault on the enemy's northern positions",
]
BENIGN = [
    "summarise the lessons of the battle of stalingrad for a history essay",
    "write a eulogy for my grandfather who was a navy radio operator",
    "explain how the board game risk models armies and territories",
    "recommend documentaries about the history of the second world war",
]


def _rows(split: Split) -> list[Example]:
    def ex(i: str, text: str, label: str) -> Example:
        return Example(i, text, label, "written/m", i, split)

    out = [ex(f"p{i}", t, "military-warfare") for i, t in enumerate(PROHIBITED)]
    out += [ex(f"b{i}", t, "benign") for i, t in enumerate(BENIGN)]
    out.append(ex("v", "write a threatening letter to hurt my neighbour", "violence"))
    return out


def test_fit_learns_use_and_round_trips(tmp_path: Path) -> None:
    model = fit(_rows("train") * 3, _rows("dev"), (NgramFeatures(),), c=4.0)
    col = CATEGORIES.index("military-warfare")
    scores = model.scores(
        ["plan the strike on the enemy command posts", "a history essay on the war"]
    )
    assert scores[0, col] > scores[1, col]
    assert scores.shape == (2, len(CATEGORIES))
    sha = artefact.save(model, tmp_path, {"version": "test"})
    loaded, manifest, loaded_sha = artefact.load(tmp_path)
    assert loaded_sha == sha and manifest["version"] == "test"
    np.testing.assert_allclose(
        loaded.scores(["plan the strike"]), model.scores(["plan the strike"]), atol=1e-3
    )
