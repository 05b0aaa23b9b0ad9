"""`aupgate policy`: validate, test, show and diff policy packs."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import typer

from aupgate.cli._output import JSON_OPTION, console, parse_when, print_json, runtime, table
from aupgate.policy.diff import diff_packs
from aupgate.policy.engine import CedarEngine
from aupgate.policy.pack import load_pack
from aupgate.policy.testing import run_pack_tests
from aupgate.policy.validate import validate_pack

policy_app = typer.Typer(help="Validate, test, show and compare policy packs.")

PACK_ARG = typer.Argument(None, help="Shipped pack name or folder (default: the active pack).")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy", no_args_is_help=True)


def _ref(ctx: typer.Context, pack: str | None) -> str:
    return pack or runtime(ctx).settings.pack


@policy_app.command("validate")
def policy_validate(
    ctx: typer.Context, pack: str | None = PACK_ARG, as_json: bool = JSON_OPTION
) -> None:
    """Schema-check every policy, the pack's structure and its taxonomy coverage."""
    loaded, problems = validate_pack(_ref(ctx, pack))
    if as_json:
        print_json(
            {
                "pack": loaded.name if loaded else _ref(ctx, pack),
                "sha256": loaded.sha256 if loaded else None,
                "valid": not problems,
                "problems": [{"where": p.where, "message": p.message} for p in problems],
            }
        )
    elif problems:
        for p in problems:
            console.print(f"[red]✗[/red] {p}")
    elif loaded is not None:
        console.print(
            f"[green]✓[/green] {loaded.name} {loaded.version}: {len(loaded.categories)} "
            f"categories, all covered; sha256 {loaded.sha256}"
        )
    if problems:
        raise typer.Exit(1)


@policy_app.command("test")
def policy_test(
    ctx: typer.Context, pack: str | None = PACK_ARG, as_json: bool = JSON_OPTION
) -> None:
    """Run the pack's tests/ cases (expected outcome and determining policies)."""
    engine = CedarEngine(load_pack(_ref(ctx, pack)))
    results = run_pack_tests(engine)
    failed = [r for r in results if not r.passed]
    if as_json:
        print_json(
            {
                "pack": engine.pack.name,
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "cases": [
                    {
                        "file": r.file,
                        "name": r.name,
                        "passed": r.passed,
                        "expected": r.expected,
                        "actual": r.actual,
                        "detail": r.detail,
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            mark = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
            console.print(f"{mark} {r.file}: {r.name}" + (f"\n     {r.detail}" if r.detail else ""))
        console.print(
            f"{engine.pack.name}: {len(results) - len(failed)} passed, {len(failed)} failed"
        )
    if failed:
        raise typer.Exit(1)


@policy_app.command("show")
def policy_show(
    ctx: typer.Context, pack: str | None = PACK_ARG, as_json: bool = JSON_OPTION
) -> None:
    """Show a pack: metadata, taxonomy with AUP sections, and policies with citations."""
    engine = CedarEngine(load_pack(_ref(ctx, pack)))
    p = engine.pack
    policies = [
        {
            "id": i.policy_id,
            "effect": i.effect,
            "actions": list(i.actions) if i.actions else ["*"],
            "citation": i.citation,
        }
        for i in engine.policy_infos.values()
    ]
    if as_json:
        print_json(
            {
                "name": p.name,
                "version": p.version,
                "effective": p.effective.isoformat(),
                "title": p.title,
                "source": p.source,
                "sha256": p.sha256,
                "purposes": list(p.purposes),
                "country_groups": {k: list(v) for k, v in p.country_groups.items()},
                "exceptions": {
                    k: {"title": e.title, "source": e.source} for k, e in p.exceptions.items()
                },
                "categories": [
                    {
                        "id": c.id,
                        "aup_section": c.aup_section,
                        "title": c.title,
                        "description": c.description,
                        "review_from": c.review_from,
                        "deny_from": c.deny_from,
                        "exception_scope": c.exception_scope,
                        "llama_guard_3": list(c.llama_guard_3),
                        "llama_guard_4": list(c.llama_guard_4),
                        "openai": list(c.openai),
                        "ailuminate": list(c.ailuminate),
                    }
                    for c in p.categories
                ],
                "policies": policies,
            }
        )
        return
    console.print(f"[bold]{p.name}[/bold] {p.version}, effective {p.effective}: {p.title}")
    console.print(f"source {p.source}\nsha256 {p.sha256}")
    for name, exc in p.exceptions.items():
        console.print(f"exception [bold]{name}[/bold]: {exc.title} ({exc.source})")
    table(
        "Taxonomy",
        ["category", "AUP §", "review/deny", "exception", "Llama Guard 3", "OpenAI"],
        (
            (
                c.id,
                c.aup_section,
                f"{c.review_from:.2f}/{c.deny_from:.2f}",
                c.exception_scope or "-",
                ",".join(c.llama_guard_3) or "-",
                ",".join(c.openai) or "-",
            )
            for c in p.categories
        ),
    )
    table(
        "Policies",
        ["@id", "effect", "actions", "citation"],
        ((x["id"], x["effect"], ",".join(x["actions"]), x["citation"]) for x in policies),
    )


@policy_app.command("diff")
def policy_diff(
    pack_a: str = typer.Argument(..., help="The pack in force (before)."),
    pack_b: str = typer.Argument(..., help="The candidate pack (after)."),
    at: str | None = typer.Option(None, "--at", help="Evaluate at this time (default: now)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Which categories × principal classes × purposes change outcome from PACK_A to PACK_B."""
    when = parse_when(at, what="time") or datetime.now(UTC)
    a, b = CedarEngine(load_pack(pack_a)), CedarEngine(load_pack(pack_b))
    if a.pack.schema_text != b.pack.schema_text:
        console.print("[yellow]note[/yellow]: the packs' schemas differ")
    changes = diff_packs(a, b, when)
    grouped: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for c in changes:
        grouped[(c.category, c.purpose, c.before, c.after)].append(c.principal.label())
    if as_json:
        print_json(
            {
                "before": {"name": a.pack.name, "sha256": a.pack.sha256},
                "after": {"name": b.pack.name, "sha256": b.pack.sha256},
                "at": when.isoformat(),
                "changes": [
                    {
                        "category": k[0],
                        "purpose": k[1],
                        "before": k[2],
                        "after": k[3],
                        "principals": v,
                    }
                    for k, v in sorted(grouped.items())
                ],
            }
        )
        return
    if not changes:
        console.print(f"no outcome changes from {a.pack.name} to {b.pack.name}")
        return
    table(
        f"{a.pack.name} → {b.pack.name}: {len(changes)} changed outcome(s)",
        ["category", "purpose", "change", "principal classes"],
        ((k[0], k[1], f"{k[2]} → {k[3]}", "\n".join(v)) for k, v in sorted(grouped.items())),
    )
