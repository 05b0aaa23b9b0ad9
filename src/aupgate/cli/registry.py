"""`aupgate org|grant|key`: the organisation registry from the command line."""

from __future__ import annotations

from typing import Any

import typer

from aupgate.cli._output import (
    JSON_OPTION,
    console,
    day,
    parse_when,
    print_json,
    runtime,
    split_list,
    table,
)
from aupgate.cli.screen import screen_new_org
from aupgate.errors import InvalidInputError
from aupgate.store.tables import ApiKey, Grant, Organization

org_app = typer.Typer(help="Register and inspect organisations.", no_args_is_help=True)
grant_app = typer.Typer(help="Issue and revoke exceptions (grants).", no_args_is_help=True)
key_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(grant_app, name="grant")
    app.add_typer(key_app, name="key")


def org_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "aliases": [a.alias for a in org.aliases],
        "country": org.country,
        "sector": org.sector,
        "vetted": org.vetted,
        "vetted_by": org.vetted_by,
        "vetted_at": org.vetted_at,
        "screening": org.screening,
        "grants": [grant_json(g) for g in org.grants],
        "created_at": org.created_at,
        "updated_at": org.updated_at,
    }


def grant_json(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "org_id": grant.org_id,
        "exception": grant.exception,
        "issued_by": grant.issued_by,
        "justification": grant.justification,
        "valid_from": grant.valid_from,
        "expires": grant.expires,
        "revoked_at": grant.revoked_at,
        "revoked_by": grant.revoked_by,
        "revoked_why": grant.revoked_why,
    }


def key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "org_id": key.org_id,
        "name": key.name,
        "allowed_models": key.allowed_models,
        "allowed_purposes": key.allowed_purposes,
        "default_purpose": key.default_purpose,
        "expires": key.expires,
        "revoked_at": key.revoked_at,
        "created_at": key.created_at,
    }


# -- organisations --------------------------------------------------------------------------


@org_app.command("add")
def org_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The organisation's registered name."),
    country: str = typer.Option(..., "--country", help="ISO 3166-1 alpha-2 code, e.g. US, GB."),
    sector: str = typer.Option(
        ...,
        "--sector",
        help="government, defense-contractor, commercial, academic, nonprofit or individual.",
    ),
    vetted: bool = typer.Option(False, "--vetted", help="Mark as vetted (recorded with who/when)."),
    alias: list[str] = typer.Option([], "--alias", help="Other names (repeatable)."),
    by: str | None = typer.Option(None, "--by", help="Who makes the change (default: settings)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register an organisation; it is screened against the loaded denied-party lists."""
    rt = runtime(ctx)
    actor = by or rt.settings.actor
    org = rt.registry.add_org(
        name, country, sector, actor=actor, now=rt.now(), vetted=vetted, aliases=alias
    )
    org = screen_new_org(rt, org, actor)
    if as_json:
        print_json(org_json(org))
        return
    console.print(
        f"added {org.name} ({org.id}): {org.country}, {org.sector}, "
        f"{'vetted' if org.vetted else 'not vetted'}, screening {org.screening}"
    )


@org_app.command("update")
def org_update(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="Name, alias or id."),
    country: str | None = typer.Option(None, "--country"),
    sector: str | None = typer.Option(None, "--sector"),
    vetted: bool | None = typer.Option(None, "--vetted/--not-vetted"),
    add_alias: list[str] = typer.Option([], "--add-alias"),
    remove_alias: list[str] = typer.Option([], "--remove-alias"),
    by: str | None = typer.Option(None, "--by"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Change an organisation's attributes or aliases (re-screened when names change)."""
    rt = runtime(ctx)
    actor = by or rt.settings.actor
    updated = rt.registry.update_org(
        org,
        actor=actor,
        now=rt.now(),
        country=country,
        sector=sector,
        vetted=vetted,
        add_aliases=add_alias,
        remove_aliases=remove_alias,
    )
    if add_alias:
        updated = screen_new_org(rt, updated, actor)
    if as_json:
        print_json(org_json(updated))
        return
    console.print(f"updated {updated.name} ({updated.id})")


@org_app.command("list")
def org_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List registered organisations."""
    orgs = runtime(ctx).registry.list_orgs()
    if as_json:
        print_json([org_json(o) for o in orgs])
        return
    table(
        "Organisations",
        ["id", "name", "country", "sector", "vetted", "screening", "grants"],
        (
            (
                o.id,
                o.name,
                o.country,
                o.sector,
                "yes" if o.vetted else "no",
                o.screening,
                ", ".join(g.exception for g in o.grants if g.revoked_at is None) or "-",
            )
            for o in orgs
        ),
    )


@org_app.command("show")
def org_show(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="Name, alias or id."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one organisation with its grants and screening hits."""
    rt = runtime(ctx)
    found = rt.registry.get_org(org)
    hits = rt.registry.screening_hits(found.id)
    if as_json:
        data = org_json(found)
        data["screening_hits"] = [
            {
                "list": h.list_name,
                "entry_id": h.entry_id,
                "entry_name": h.entry_name,
                "matched_name": h.matched_name,
                "score": h.score,
                "cleared_by": h.cleared_by,
                "cleared_why": h.cleared_why,
            }
            for h in hits
        ]
        print_json(data)
        return
    console.print(f"[bold]{found.name}[/bold] ({found.id})")
    console.print(f"  aliases:   {', '.join(a.alias for a in found.aliases) or '-'}")
    console.print(f"  country:   {found.country}    sector: {found.sector}")
    vetted = f"yes, by {found.vetted_by} on {day(found.vetted_at)}" if found.vetted else "no"
    console.print(f"  vetted:    {vetted}")
    console.print(f"  screening: {found.screening}")
    for h in hits:
        state = f"cleared by {h.cleared_by}: {h.cleared_why}" if h.cleared_at else "OPEN"
        console.print(
            f"    {h.list_name} {h.entry_id} {h.entry_name!r} ~ {h.matched_name!r} "
            f"score {h.score:.1f} [{state}]"
        )
    _grant_table(found.grants, f"Grants of {found.name}")


# -- grants ---------------------------------------------------------------------------------


def _grant_table(grants: list[Grant], title: str) -> None:
    table(
        title,
        ["id", "exception", "valid from", "expires", "issued by", "revoked"],
        (
            (
                g.id,
                g.exception,
                day(g.valid_from),
                day(g.expires),
                g.issued_by,
                f"{day(g.revoked_at)} by {g.revoked_by}: {g.revoked_why}" if g.revoked_at else "-",
            )
            for g in grants
        ),
    )


@grant_app.command("add")
def grant_add(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="Name, alias or id."),
    exception: str = typer.Option(..., "--exception", help="Exception name known to the pack."),
    expires: str = typer.Option(..., "--expires", help="YYYY-MM-DD or ISO 8601 (UTC)."),
    by: str = typer.Option(..., "--by", help="Who issues the grant."),
    why: str = typer.Option(..., "--why", help="Justification (recorded)."),
    valid_from: str | None = typer.Option(None, "--from", help="Start (default: now)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Grant an organisation an exception of the active pack, until an expiry date."""
    rt = runtime(ctx)
    known = rt.pack.exceptions
    if exception not in known:
        names = ", ".join(known) or "none"
        raise InvalidInputError(
            f"pack {rt.pack.name} knows no exception {exception!r} (it knows: {names})"
        )
    grant = rt.registry.add_grant(
        org,
        exception,
        actor=by,
        justification=why,
        now=rt.now(),
        expires=parse_when(expires, what="expiry"),
        valid_from=parse_when(valid_from, what="start"),
    )
    if as_json:
        print_json(grant_json(grant))
        return
    console.print(f"granted {exception} to {org} until {day(grant.expires)} ({grant.id})")


@grant_app.command("list")
def grant_list(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org", help="Only this organisation's grants."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List grants (active, expired and revoked)."""
    grants = runtime(ctx).registry.list_grants(org)
    if as_json:
        print_json([grant_json(g) for g in grants])
        return
    _grant_table(grants, "Grants")


@grant_app.command("revoke")
def grant_revoke(
    ctx: typer.Context,
    grant_id: str = typer.Argument(...),
    by: str = typer.Option(..., "--by"),
    why: str = typer.Option(..., "--why"),
) -> None:
    """Revoke a grant now (recorded with who and why)."""
    rt = runtime(ctx)
    rt.registry.revoke_grant(grant_id, actor=by, why=why, now=rt.now())
    console.print(f"revoked {grant_id}")


# -- keys -----------------------------------------------------------------------------------


@key_app.command("create")
def key_create(
    ctx: typer.Context,
    org: str = typer.Argument(..., help="Name, alias or id."),
    name: str = typer.Option(..., "--name", help="What the key is for."),
    model: list[str] = typer.Option([], "--model", help="Allowed models (default: the default)."),
    purpose: list[str] = typer.Option(
        [], "--purpose", help="Allowed purposes (repeatable or comma-separated)."
    ),
    default_purpose: str | None = typer.Option(None, "--default-purpose"),
    expires: str | None = typer.Option(None, "--expires"),
    by: str | None = typer.Option(None, "--by"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an API key; the secret is printed once and cannot be shown again."""
    rt = runtime(ctx)
    purposes = split_list(purpose) or ["general"]
    unknown = [p for p in purposes if p not in rt.pack.purposes]
    if unknown:
        raise InvalidInputError(
            f"unknown purpose {unknown[0]!r} (pack {rt.pack.name} allows: "
            f"{', '.join(rt.pack.purposes)})"
        )
    key, secret = rt.registry.create_key(
        org,
        name,
        actor=by or rt.settings.actor,
        now=rt.now(),
        allowed_models=split_list(model) or [rt.settings.default_model],
        allowed_purposes=purposes,
        default_purpose=default_purpose,
        expires=parse_when(expires, what="expiry"),
    )
    if as_json:
        print_json({**key_json(key), "secret": secret})
        return
    console.print(f"key {key.id} for {org}; the secret is shown only now:\n{secret}")


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    org: str | None = typer.Option(None, "--org"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List keys (never their secrets)."""
    found = runtime(ctx).registry.list_keys(org)
    if as_json:
        print_json([key_json(k) for k in found])
        return
    table(
        "API keys",
        ["id", "org", "name", "models", "purposes", "expires", "revoked"],
        (
            (
                k.id,
                k.org.name,
                k.name,
                ",".join(k.allowed_models),
                ",".join(k.allowed_purposes),
                day(k.expires),
                day(k.revoked_at),
            )
            for k in found
        ),
    )


@key_app.command("revoke")
def key_revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(...),
    by: str | None = typer.Option(None, "--by"),
    why: str = typer.Option(..., "--why"),
) -> None:
    """Revoke a key now."""
    rt = runtime(ctx)
    rt.registry.revoke_key(key_id, actor=by or rt.settings.actor, why=why, now=rt.now())
    console.print(f"revoked key {key_id}")
