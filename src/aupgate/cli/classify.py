"""`aupgate classify TEXT`, `classify --input IN --output OUT`, `classify eval DATASET`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from aupgate.classify.backend import Classifier, InputError, check_text
from aupgate.classify.factory import GuardSettings, load_backend
from aupgate.classify.taxonomy import SECTIONS
from aupgate.cli._output import runtime
from aupgate.decision import Classification
from aupgate.errors import InvalidInputError

BATCH = 256
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(str(v) for v in row))
    console.print(out)


class _DefaultRun(TyperGroup):
    """`classify ...` runs the `run` command unless the first word is a sub-command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


classify_app = typer.Typer(
    cls=_DefaultRun, help="Score text against the AUP use categories.", no_args_is_help=True
)

BACKEND = typer.Option("embedded", "--backend", help="embedded, llama-guard or ensemble.")
GUARD_URL = typer.Option(None, "--guard-url", help="OpenAI-compatible server with Llama Guard.")
GUARD_MODEL = typer.Option("llama-guard", "--guard-model", help="Model name on that server.")
GUARD_VERSION = typer.Option("llama-guard-3-8b", "--guard-version", help="Guard release.")
THRESHOLD = typer.Option(0.5, "--threshold", min=0.0, max=1.0, help="Flag scores from here.")


def prediction(c: Classification, threshold: float) -> dict[str, Any]:
    """The JSON view of one classification."""
    return {
        "categories": [
            {
                "category": s.category,
                "score": round(s.score, 4),
                "section": SECTIONS.get(s.category, ""),
            }
            for s in sorted(c.scores, key=lambda s: -s.score)
        ],
        "flagged": [s.category for s in c.scores if s.score >= threshold],
        "classifier": c.classifier.to_json(),
    }


def _backend(
    ctx: typer.Context, backend: str, url: str | None, model: str, version: str
) -> Classifier:
    second_stage = runtime(ctx).settings.classifier_second_stage
    return load_backend(backend, GuardSettings(url=url, model=model, version=version), second_stage)


@classify_app.command("run", hidden=True)
def run(
    ctx: typer.Context,
    text: str | None = typer.Argument(None, help="The text to classify."),
    input: Path | None = typer.Option(None, "--input", help='JSONL of {"id", "text"}.'),
    output: Path | None = typer.Option(None, "--output", help="JSONL predictions (with --input)."),
    as_json: bool = JSON_OPTION,
    threshold: float = THRESHOLD,
    backend: str = BACKEND,
    guard_url: str | None = GUARD_URL,
    guard_model: str = GUARD_MODEL,
    guard_version: str = GUARD_VERSION,
) -> None:
    """Classify TEXT, or every line of --input into --output."""
    if (text is None) == (input is None):
        raise InvalidInputError("give either TEXT or --input FILE")
    if input is not None and output is None:
        raise InvalidInputError("--input needs --output")
    classifier = _backend(ctx, backend, guard_url, guard_model, guard_version)
    if text is not None:
        result = prediction(classifier.classify(text), threshold)
        if as_json:
            print_json(result)
            return
        flagged = set(result["flagged"])
        rows = [
            (
                c["category"],
                c["section"],
                f"{c['score']:.3f}",
                "yes" if c["category"] in flagged else "",
            )
            for c in result["categories"]
        ]
        table(
            f"flagged: {', '.join(result['flagged']) or 'none'}",
            ["category", "AUP", "score", "flagged"],
            rows,
        )
        return
    assert input is not None and output is not None
    if not input.is_file():
        raise InvalidInputError(f"no such input file: {input}")
    with (
        input.open(encoding="utf-8", errors="replace") as src,
        output.open("w", encoding="utf-8") as dst,
    ):
        done, errors = _batch(classifier, src, dst, threshold, _count_lines(input))
    err_console.print(f"{done} classified, {errors} errors -> {output}")
    if errors:
        raise typer.Exit(1)


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def parse_line(line: str, number: int) -> tuple[Any, str]:
    """(id, text) of one input line, or `InputError` naming the line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"line {number}: invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict) or "text" not in record:
        raise InputError(f'line {number}: expected an object with "text"')
    try:
        return record.get("id"), check_text(record["text"])
    except InputError as exc:
        raise InputError(f"line {number}: {exc}") from None


def _lines(src: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(src, 1):
        if line.strip():
            yield number, line


def _batch(
    classifier: Classifier, src: TextIO, dst: TextIO, threshold: float, total: int
) -> tuple[int, int]:
    """Classify line by line in batches; bad lines become error records, in input order."""
    done = errors = 0
    # (line number, id, text, error): error records wait with the rest to keep the order.
    pending: list[tuple[int, Any, str, str | None]] = []

    def flush() -> None:
        nonlocal done
        results = iter(classifier.classify_batch([t for _, _, t, e in pending if e is None]))
        for number, ident, _, error in pending:
            record = {"error": error} if error else prediction(next(results), threshold)
            dst.write(json.dumps({"id": ident, "line": number, **record}) + "\n")
        done += sum(e is None for *_, e in pending)
        pending.clear()

    columns = (TextColumn("classify"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("classify", total=total)
        for number, line in _lines(src):
            try:
                ident, text = parse_line(line, number)
                pending.append((number, ident, text, None))
            except InputError as exc:
                pending.append((number, None, "", str(exc)))
                err_console.print(f"[yellow]{exc}[/]")
                errors += 1
            if len(pending) >= BATCH:
                flush()
            progress.update(task, completed=number)
        flush()
    return done, errors


@classify_app.command("eval")
def eval_command(
    ctx: typer.Context,
    dataset: str = typer.Argument(..., help="dev, test, or a JSONL file of {text, label}."),
    as_json: bool = JSON_OPTION,
    threshold: float = THRESHOLD,
    latency: bool = typer.Option(True, "--latency/--no-latency", help="Also time the backend."),
    dev_fpr: float | None = typer.Option(
        None,
        "--dev-fpr",
        min=0.0,
        max=1.0,
        help="Choose the threshold on dev instead: the lowest at which at most this share of "
        "dev's written benign look-alikes is flagged (overrides --threshold).",
    ),
    backend: str = BACKEND,
    guard_url: str | None = GUARD_URL,
    guard_model: str = GUARD_MODEL,
    guard_version: str = GUARD_VERSION,
) -> None:
    """The evaluation report: P/R/F1, look-alike FPR, 2.1 recall, ECE, obfuscation, latency."""
    from aupgate.classify.evalset import load_eval

    classifier = _backend(ctx, backend, guard_url, guard_model, guard_version)
    report = load_eval(dataset, classifier, threshold, latency, dev_fpr)
    if as_json:
        print_json(report)
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    how = ""
    if "chosen_on_dev_at_written_fpr" in report:
        how = (
            f", chosen on dev: at most {report['chosen_on_dev_at_written_fpr']:.1%} of its "
            "written look-alikes flagged"
        )
    console.print(f"threshold {report['threshold']:.3f}{how}")
    for name, part in report.items():
        if not isinstance(part, dict) or "prohibited_vs_benign" not in part:
            continue
        pb = part["prohibited_vs_benign"]
        console.print(
            f"[bold]{name}[/] n={part['n']}  prohibited-vs-benign P={pb['precision']:.3f} "
            f"R={pb['recall']:.3f} F1={pb['f1']:.3f}  "
            f"2.1 recall={part['family_2_1_recall']['recall']:.3f} "
            f"(n={part['family_2_1_recall']['n']})  ECE={part['ece']:.3f}"
        )
        if len(part["family_2_1_recall_by_language"]) == 2:
            langs = part["family_2_1_recall_by_language"]
            console.print(
                f"{name}: 2.1 recall, English {langs['en']['recall']:.3f} (n={langs['en']['n']}),"
                f" other languages {langs['other']['recall']:.3f} (n={langs['other']['n']})"
            )
        if part["benign_lookalike_fpr"]:
            fpr = part["benign_lookalike_fpr"]
            fpr_rows = [(k, v["n"], f"{v['fpr']:.3f}") for k, v in fpr.items()]
            table(f"{name}: FPR on benign look-alikes", ["set", "n", "FPR"], fpr_rows)
        rows: Sequence[tuple[str, ...]] = [
            (c, str(p["support"]), f"{p['precision']:.3f}", f"{p['recall']:.3f}", f"{p['f1']:.3f}")
            for c, p in part["per_category"].items()
            if p["support"]
        ]
        if name == "main":
            table(f"{name}: per category", ["category", "n", "P", "R", "F1"], rows)
    if "obfuscated_recall" in report:
        ob = report["obfuscated_recall"]
        table("recall on obfuscated prohibited dev rows", ["variant", "recall"],
              [(k, f"{v:.3f}") for k, v in ob.items() if k != "n"])  # fmt: skip
    if "latency" in report:
        lat = report["latency"]
        console.print(
            f"latency: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, "
            f"batched {lat['batch_per_s']:.0f} prompts/s"
        )


def register(app: typer.Typer) -> None:
    """Add `classify` to the aupgate app."""
    app.add_typer(classify_app, name="classify")
