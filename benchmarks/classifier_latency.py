"""Embedded classifier latency on one thread: load time, artefact size, per-prompt latency as a
function of length (16 to 4,096 MiniLM tokens), and batched throughput for short prompts; for
the linear model alone, the shipped cascade, and the cascade with every window in stage 2.

Run: python -m benchmarks.classifier_latency

Targets (issue 3): p50 <= 5 ms and p99 <= 20 ms up to 64 tokens, >= 500 prompts/s batched,
load <= 2 s, artefact <= 100 MB.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import random
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from tokenizers import Tokenizer

from aupgate.classify import artefact
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.encoder import EncoderStage

LENGTHS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
SOURCE = (
    "the garden opens at eight and volunteers water tomatoes while the radar crew reviews "
    "the schedule for next week's convoy drills because history of the campaign shows how "
    "reactor control rods and export licences were discussed by analysts in public reports"
)


def text_of_tokens(tokenizer: Tokenizer, n: int, rng: random.Random) -> str:
    """A sentence-like text whose MiniLM tokenisation is about `n` tokens long."""
    vocabulary = SOURCE.split()
    words: list[str] = []
    while len(tokenizer.encode(" ".join(words), add_special_tokens=False).ids) < n:
        words.extend(rng.choice(vocabulary) for _ in range(max(1, (n - len(words)) // 2)))
        if len(words) % 12 == 0:
            words[-1] += "."
    return " ".join(words)


def every_window(folder: Path) -> EmbeddedClassifier:
    """The artefact's cascade with every window sent to the second stage (the worst case:
    what an adversary who keeps stage 1 unsure pays)."""
    model, manifest, _ = artefact.load(folder)
    spec = {**manifest["second_stage"], "band": [0.0, 1.0]}
    stage = EncoderStage.load(folder, {**manifest, "second_stage": spec}, len(model.categories))
    return EmbeddedClassifier(model, EmbeddedClassifier.load(folder).identity, stage)


def variants() -> dict[str, EmbeddedClassifier]:
    """The linear model alone, the shipped cascade, and `every_window`."""
    out = {
        "linear only": EmbeddedClassifier.load(second_stage=False),
        "shipped": EmbeddedClassifier.load(),
    }
    if "second_stage" in artefact.load(artefact.DEFAULT_DIR)[1]:
        out["every window in stage 2"] = every_window(artefact.DEFAULT_DIR)
    return out


def single_calls(classifier: EmbeddedClassifier, texts: list[str], calls: int) -> list[float]:
    """Milliseconds of `calls` one-text calls, cycling through `texts` (after a warm-up)."""
    classifier.score_matrix(texts[:2])
    times = []
    for i in range(calls):
        start = time.perf_counter()
        classifier.score_matrix([texts[i % len(texts)]])
        times.append((time.perf_counter() - start) * 1000)
    return times


def batched_rate(classifier: EmbeddedClassifier, texts: list[str], batch: int = 256) -> float:
    """Texts per second, `batch` per call."""
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        classifier.score_matrix(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    t0 = time.perf_counter()
    EmbeddedClassifier.load()
    load_s = time.perf_counter() - t0
    classifiers = variants()
    size = sum(p.stat().st_size for p in artefact.DEFAULT_DIR.iterdir()) / 2**20
    tokenizer = Tokenizer.from_file(str(artefact.DEFAULT_DIR / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    rng = random.Random(0)
    table = Table(title=f"embedded: load {load_s:.2f} s, artefact {size:.1f} MiB, one thread")
    table.add_column("tokens")
    for name in classifiers:
        table.add_column(f"{name} p50 / p99 ms")
    table.add_column("calls")
    for n in LENGTHS:
        texts = [text_of_tokens(tokenizer, n, rng) for _ in range(10)]
        calls = 200 if n <= 256 else 40 if n <= 1024 else 15
        cells = []
        for classifier in classifiers.values():
            times = single_calls(classifier, texts, calls)
            cells.append(f"{np.percentile(times, 50):.2f} / {np.percentile(times, 99):.2f}")
        table.add_row(str(n), *cells, str(calls))
    short = [text_of_tokens(tokenizer, rng.randint(8, 64), rng) for _ in range(2048)]
    rates = [f"{name} {batched_rate(c, short):.0f}" for name, c in classifiers.items()]
    console = Console()
    console.print(table)
    console.print(f"batched prompts/s (256 per call, 8-64 tokens): {', '.join(rates)}")


if __name__ == "__main__":
    main()
