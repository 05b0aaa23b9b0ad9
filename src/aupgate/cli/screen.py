"""`aupgate screen`: denied-party lists, screening runs and clearing false positives."""

from __future__ import annotations

from pathlib import Path

import typer

from aupgate.cli._output import JSON_OPTION, console, day, print_json, runtime, table
from aupgate.errors import InvalidInputError
from aupgate.identity.screening import load_screening_list
from aupgate.runtime import Runtime
from aupgate.store.tables import Organization

screen_app = typer.Typer(help="Denied-party screening (OFAC SDN, Consolidated Screening List).")


def register(app: typer.Typer) -> None:
    app.add_typer(screen_app, name="screen", no_args_is_help=True)


def screen_org(rt: Runtime, org: Organization, actor: str) -> Organization:
    """Match an organisation's names against the loaded lists and record any new hit."""
    if rt.screener is None:
        return org
    return rt.registry.screen(org.id, rt.screener, actor=actor, now=rt.now())


def screen_new_org(rt: Runtime, org: Organization, actor: str) -> Organization:
    """Screen after `org add`/`org update` and tell the operator about a hit."""
    screened = screen_org(rt, org, actor)
    if screened.screening == "hit" and org.screening != "hit":
        console.print(
            f"[bold red]screening hit[/bold red]: {screened.name} matches a denied-party list; "
            "every request of this organisation is denied (see `aupgate org show`)."
        )
    return screened


@screen_app.command("load")
def screen_load(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="OFAC SDN CSV (with or without header) or CSL CSV."),
    aliases: Path | None = typer.Option(None, "--aliases", help="OFAC alt.csv for an SDN file."),
    by: str | None = typer.Option(None, "--by"),
) -> None:
    """Load (or replace) a screening list, then re-screen every organisation."""
    rt = runtime(ctx)
    actor = by or rt.settings.actor
    parsed = load_screening_list(file, aliases=aliases)
    rt.registry.store_screening_list(parsed, source=file.name, actor=actor, now=rt.now())
    rt.__dict__.pop("screener", None)  # the lists changed: rebuild the matcher
    console.print(f"loaded {len(parsed.entries)} entries of {parsed.list_name} ({parsed.layout})")
    hits = [o.name for o in rt.registry.list_orgs() if screen_org(rt, o, actor).screening == "hit"]
    console.print(
        f"screened organisations: {len(hits)} hit(s){': ' if hits else ''}{', '.join(hits)}"
    )


@screen_app.command("run")
def screen_run(
    ctx: typer.Context,
    org: str | None = typer.Argument(None, help="One organisation (default: all)."),
    by: str | None = typer.Option(None, "--by"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Screen one or every organisation against the loaded lists."""
    rt = runtime(ctx)
    if rt.screener is None:
        raise InvalidInputError("no screening list loaded: run `aupgate screen load FILE` first")
    actor = by or rt.settings.actor
    targets = [rt.registry.get_org(org)] if org else rt.registry.list_orgs()
    results = [screen_org(rt, o, actor) for o in targets]
    if as_json:
        print_json([{"id": o.id, "name": o.name, "screening": o.screening} for o in results])
        return
    table("Screening", ["id", "name", "screening"], ((o.id, o.name, o.screening) for o in results))


@screen_app.command("clear")
def screen_clear(
    ctx: typer.Context,
    org: str = typer.Argument(...),
    by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why", help="Why the hit is a false positive (recorded)."),
) -> None:
    """Clear an organisation's open screening hits as false positives."""
    rt = runtime(ctx)
    cleared = rt.registry.clear_screening(org, actor=by, why=why, now=rt.now())
    console.print(f"cleared screening hits of {cleared.name}")


@screen_app.command("lists")
def screen_lists(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Show the loaded screening lists."""
    lists = runtime(ctx).registry.screening_lists()
    rows = [
        {
            "name": s.name,
            "source": s.source,
            "sha256": s.sha256,
            "entries": s.entries,
            "loaded_at": s.loaded_at,
            "loaded_by": s.loaded_by,
        }
        for s in lists
    ]
    if as_json:
        print_json(rows)
        return
    table(
        "Screening lists",
        ["name", "source", "entries", "loaded", "by", "sha256"],
        (
            (r["name"], r["source"], r["entries"], day(s.loaded_at), r["loaded_by"], s.sha256[:16])
            for r, s in zip(rows, lists, strict=True)
        ),
    )
