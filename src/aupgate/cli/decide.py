"""`aupgate decide`: may this organisation use the model for these categories and purpose?"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.markup import escape
from rich.progress import Progress

from aupgate.classify.backend import InputError
from aupgate.cli._output import JSON_OPTION, console, err_console, print_json, runtime, split_list
from aupgate.decision import CategoryScore, Classification, Decision, OrgSnapshot
from aupgate.errors import AupgateError, InvalidInputError
from aupgate.runtime import Runtime

# Exit codes: a script can branch on the verdict without parsing output.
EXIT_ALLOW, EXIT_DENY, EXIT_REVIEW = 0, 1, 3
EXIT_CODES = {"allow": EXIT_ALLOW, "deny": EXIT_DENY, "review": EXIT_REVIEW}


def register(app: typer.Typer) -> None:
    app.command("decide")(decide_command)
    app.command("check")(check_command)


def check_command(
    ctx: typer.Context,
    text: str | None = typer.Argument(None, help="The prompt to classify and decide."),
    org: str | None = typer.Option(None, "--org", help="Organisation name, alias or id."),
    purpose: str | None = typer.Option(None, "--purpose", help="Declared purpose."),
    model: str | None = typer.Option(None, "--model", help="Model name (default: settings)."),
    input_file: Path | None = typer.Option(
        None, "--input", help="JSONL requests: {id, org, purpose, text, model}."
    ),
    output_file: Path | None = typer.Option(None, "--output", help="JSONL decisions (batch)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Classify a prompt with the embedded classifier, then decide (exit codes as `decide`)."""
    rt = runtime(ctx)
    if input_file is not None:
        if org or purpose or text:
            raise InvalidInputError("--input cannot be combined with a text, --org or --purpose")
        _batch(rt, input_file, output_file)
        return
    if not org or not purpose or text is None:
        raise InvalidInputError("give a text, --org and --purpose (or --input FILE)")
    decision = rt.pipeline.decide(
        rt.registry.snapshot(org),
        purpose,
        model or rt.settings.default_model,
        classify_text(rt, text),
        prompt=text,
    )
    if as_json:
        print_json(decision.to_json())
    else:
        show_decision(decision)
    raise typer.Exit(EXIT_CODES[decision.outcome])


def classify_text(rt: Runtime, text: str) -> Classification:
    """The embedded classifier's scores; unclassifiable input is a precise error."""
    try:
        return rt.classifier.classify(text)
    except InputError as exc:
        raise InvalidInputError(f"cannot classify the text: {exc}") from None


def decide_command(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org", help="Organisation name, alias or id."),
    purpose: str | None = typer.Option(None, "--purpose", help="Declared purpose."),
    category: list[str] = typer.Option(
        [], "--category", help="Use category (repeatable or comma-separated); none = general."
    ),
    model: str | None = typer.Option(None, "--model", help="Model name (default: settings)."),
    input_file: Path | None = typer.Option(
        None, "--input", help="JSONL requests: {id, org, purpose, categories | scores, model}."
    ),
    output_file: Path | None = typer.Option(None, "--output", help="JSONL decisions (batch)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Decide one request (exit 0 allow, 1 deny, 3 review, 2 error) or a JSONL batch."""
    rt = runtime(ctx)
    if input_file is not None:
        if org or purpose or category:
            raise InvalidInputError("--input cannot be combined with --org/--purpose/--category")
        _batch(rt, input_file, output_file)
        return
    if not org or not purpose:
        raise InvalidInputError("give --org and --purpose (or --input FILE for a batch)")
    categories = rt.pipeline.check_categories(split_list(category))
    decision = rt.pipeline.decide(
        rt.registry.snapshot(org),
        purpose,
        model or rt.settings.default_model,
        Classification.declared(categories),
    )
    if as_json:
        print_json(decision.to_json())
    else:
        show_decision(decision)
    raise typer.Exit(EXIT_CODES[decision.outcome])


def show_decision(decision: Decision) -> None:
    """A person's view of a Decision: verdict, who, what, and the rules with citations."""
    colour = {"allow": "green", "deny": "red", "review": "yellow"}[decision.outcome]
    org = decision.principal.org
    held = sorted(org.active_exceptions(decision.time))
    console.print(
        f"[bold {colour}]{decision.outcome.upper()}[/bold {colour}]  {org.name} "
        f"({org.country}, {org.sector}, {'vetted' if org.vetted else 'not vetted'}"
        f"{', exceptions: ' + ', '.join(held) if held else ''}"
        f"{', screening ' + org.screening if org.screening != 'clear' else ''})"
    )
    console.print(
        f"  purpose {decision.purpose} · model {decision.model} · "
        f"categories {', '.join(decision.considered)}"
    )
    for rule in decision.rules:
        console.print(
            escape(f"  [{rule.effect}] {rule.policy_id} ({rule.category}): {rule.citation}")
        )
    for error in decision.errors:
        console.print(f"  [red]error[/red] {error}")
    console.print(
        f"  pack {decision.pack.name} {decision.pack.version} ({decision.pack.sha256[:12]}) · "
        f"decision {decision.decision_id}"
    )


def _classification(rt: Runtime, record: dict[str, Any]) -> Classification:
    if "scores" in record:
        scores = record["scores"]
        if not isinstance(scores, dict):
            raise InvalidInputError("'scores' must be an object of category: score")
        rt.pipeline.check_categories(list(scores))
        try:
            return Classification(tuple(CategoryScore(c, float(s)) for c, s in scores.items()))
        except (TypeError, ValueError):
            raise InvalidInputError("every score must be a number") from None
    categories = record.get("categories", [])
    if isinstance(categories, str):
        categories = split_list([categories])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise InvalidInputError("'categories' must be a list of category ids")
    return Classification.declared(rt.pipeline.check_categories(categories))


def _field(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"'{name}' must be a non-empty string")
    return value


def decide_record(rt: Runtime, record: Any, snapshots: dict[str, OrgSnapshot]) -> dict[str, Any]:
    """Decide one batch record (classifying its `text` if it has one); errors are raised as
    AupgateError for the caller to turn into an error record."""
    if not isinstance(record, dict):
        raise InvalidInputError("each line must be a JSON object")
    org_ref = _field(record, "org")
    if org_ref not in snapshots:
        snapshots[org_ref] = rt.registry.snapshot(org_ref)
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise InvalidInputError("'text' must be a string")
    decision = rt.pipeline.decide(
        snapshots[org_ref],
        _field(record, "purpose"),
        record.get("model") or rt.settings.default_model,
        classify_text(rt, text) if text is not None else _classification(rt, record),
        prompt=text,
    )
    return decision.to_json()


def _lines(source: TextIO) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield number, line


def _batch(rt: Runtime, input_file: Path, output_file: Path | None) -> None:
    if not input_file.is_file():
        raise InvalidInputError(f"input file not found: {input_file}")
    total = sum(1 for _ in _lines(input_file.open(encoding="utf-8", errors="replace")))
    out: TextIO = output_file.open("w", encoding="utf-8") if output_file else sys.stdout
    snapshots: dict[str, OrgSnapshot] = {}
    # Parse the whole registry into Cedar once, instead of each organisation per request.
    rt.policy.use_store(rt.policy.build_store(rt.registry.snapshots(), rt.now()))
    counts = {"allow": 0, "deny": 0, "review": 0, "error": 0}
    try:
        with (
            input_file.open(encoding="utf-8", errors="replace") as source,
            Progress(console=err_console, transient=True, disable=output_file is None) as bar,
        ):
            task = bar.add_task("deciding", total=total)
            for number, line in _lines(source):
                result: dict[str, Any]
                record_id: Any = None
                try:
                    record = json.loads(line)
                    record_id = record.get("id") if isinstance(record, dict) else None
                    result = {"id": record_id, "decision": decide_record(rt, record, snapshots)}
                    counts[result["decision"]["outcome"]] += 1
                except json.JSONDecodeError as exc:
                    result = {"id": None, "line": number, "error": f"invalid JSON: {exc.msg}"}
                    counts["error"] += 1
                except AupgateError as exc:
                    result = {"id": record_id, "line": number, "error": str(exc)}
                    counts["error"] += 1
                out.write(json.dumps(result, ensure_ascii=False) + "\n")
                bar.advance(task)
    finally:
        if output_file:
            out.close()
    err_console.print(
        f"{sum(counts.values())} requests: {counts['allow']} allow, {counts['deny']} deny, "
        f"{counts['review']} review, {counts['error']} error"
    )
