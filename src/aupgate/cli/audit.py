"""`aupgate audit ...`: keys, reading, checkpoints, proofs, export and offline verification."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from aupgate.audit import AuditLog, open_audit_log
from aupgate.audit.keys import audit_dir, generate_signer, load_hmac_secret
from aupgate.audit.merkle import leaf_hash
from aupgate.audit.verify import verify_export, verify_inclusion_proof
from aupgate.errors import InvalidInputError
from aupgate.runtime import Runtime

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@contextmanager
def _log(ctx: typer.Context) -> Iterator[AuditLog]:
    runtime: Runtime = ctx.obj
    log = open_audit_log(runtime.engine, runtime.settings)
    try:
        yield log
    finally:
        log.close(checkpoint=False)  # reading must not write; `checkpoint` signs explicitly


def _entry_json(index: int, data: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(data)
    return {"leaf_hash": leaf_hash(data).hex(), **entry, "index": index}


def _summary(record: dict[str, Any]) -> str:
    if "action" in record:
        return f"{record['action']} {record['subject']} by {record['actor']}"
    if record.get("outcome") == "refused":
        org = record.get("context", {}).get("org") or "?"
        return f"refused {org} at {record.get('stage', '?')}: {record.get('reason', '?')}"
    org = (record.get("org") or {}).get("id", "?")
    return f"{record.get('outcome', '?')} {org} {record.get('model', '')}".strip()


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@audit_app.command()
def keygen(
    ctx: typer.Context,
    name: str | None = typer.Option(None, help="Key name (default: the audit origin)."),
) -> None:
    """Create the checkpoint signing key and print its public (verifier) key."""
    runtime: Runtime = ctx.obj
    load_hmac_secret(runtime.settings.home)  # the deployment's secrets start together
    signer = generate_signer(runtime.settings.home, name or runtime.settings.audit_origin)
    typer.echo(signer.verifier.vkey)
    typer.echo(f"private key: {audit_dir(runtime.settings.home) / 'checkpoint.key'}", err=True)


@audit_app.command()
def tail(
    ctx: typer.Context,
    count: int = typer.Option(20, "-n", "--count", min=1, help="How many entries."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """The most recent entries."""
    with _log(ctx) as log:
        rows = log.tail(count)
    if as_json:
        for index, data in rows:
            typer.echo(json.dumps(_entry_json(index, data), ensure_ascii=False))
        return
    table = Table("index", "time", "type", "entry id", "summary")
    for index, data in rows:
        entry = json.loads(data)
        table.add_row(
            str(index), entry["time"], entry["type"], entry["entry_id"], _summary(entry["record"])
        )
    Console().print(table)


@audit_app.command()
def show(
    ctx: typer.Context, entry: str = typer.Argument(..., help="Entry/decision id or index.")
) -> None:
    """One entry, as logged (JSON)."""
    with _log(ctx) as log:
        index, data = log.resolve(entry)
    _print_json(_entry_json(index, data))


@audit_app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign and store a checkpoint of the current tree; print the signed note."""
    with _log(ctx) as log:
        cp = log.checkpoint()
    typer.echo(cp.note, nl=False)


@audit_app.command()
def prove(
    ctx: typer.Context,
    entry: str = typer.Argument(..., help="Entry/decision id or index."),
    at: int | None = typer.Option(None, "--checkpoint", help="Checkpoint size (default latest)."),
) -> None:
    """Inclusion proof (JSON) of an entry against a signed checkpoint."""
    with _log(ctx) as log:
        proof = log.prove_inclusion(entry, at)
    _print_json(proof.to_json())


@audit_app.command()
def consistency(
    ctx: typer.Context,
    old: int = typer.Argument(..., min=0, help="Older tree size."),
    new: int = typer.Argument(..., min=0, help="Newer tree size."),
) -> None:
    """Consistency proof (JSON) between two tree sizes."""
    with _log(ctx) as log:
        proof = log.prove_consistency(old, new)
    _print_json(proof.to_json())


@audit_app.command()
def export(
    ctx: typer.Context, directory: Path = typer.Argument(..., help="New directory.")
) -> None:
    """Write entries, checkpoints, proofs and the public key for offline verification."""
    with _log(ctx) as log:
        final = log.export(directory)
    typer.echo(f"exported {final.size} entries to {directory}")


def _vkey(key: str) -> str:
    key_path = Path(key)
    return key_path.read_text().strip() if key_path.is_file() else key


@audit_app.command("verify-proof")
def verify_proof(
    proof_file: Path = typer.Argument(..., help="JSON from `aupgate audit prove`."),
    key: str = typer.Option(..., "--key", help="Verifier key text, or a file holding it."),
) -> None:
    """Check an inclusion proof offline: signature, checkpoint and Merkle path."""
    try:
        data = json.loads(proof_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read proof {proof_file}: {exc}") from None
    proof = verify_inclusion_proof(data, _vkey(key))
    typer.echo(f"OK: entry {proof.index} is in checkpoint {proof.checkpoint.size}")


@audit_app.command()
def verify(
    directory: Path = typer.Argument(..., help="An export directory."),
    key: str = typer.Option(..., "--key", help="Verifier key text, or a file holding it."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute and check everything in an export; exit 1 naming the first problem."""
    report = verify_export(directory, _vkey(key))
    if as_json:
        _print_json(report.to_json())
    elif report.ok:
        counts = f"{report.entries} entries, {report.checkpoints} checkpoints"
        typer.echo(f"OK: {counts}, final size {report.size}")
    else:
        for problem in report.problems:
            typer.echo(f"FAIL: {problem.what}", err=True)
    if not report.ok:
        raise typer.Exit(1)
