"""The `aupgate` command line: one Typer app; each sub-command is thin and calls the parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from aupgate.cli import audit, classify, decide, policy, registry, screen, serve
from aupgate.config import load_settings
from aupgate.errors import AupgateError
from aupgate.runtime import Runtime


class _Group(TyperGroup):
    """Shows an AupgateError as one line on stderr and exits with its code: no traceback."""

    def invoke(self, ctx: Any) -> Any:  # click's Context, which typer vendors privately
        try:
            return super().invoke(ctx)
        except AupgateError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=_Group,
    name="aupgate",
    help="Enforce an open-weight model's acceptable-use policy, with scoped exceptions and proof.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", envvar="AUPGATE_HOME", help="Data directory (default: per-user)."
    ),
    config: Path | None = typer.Option(
        None, "--config", envvar="AUPGATE_CONFIG", help="aupgate.toml with settings."
    ),
) -> None:
    settings = load_settings(home=home, config=config)
    runtime = Runtime(settings)
    ctx.obj = runtime
    ctx.call_on_close(runtime.close)


for _module in (registry, screen, policy, decide, audit, classify, serve):
    _module.register(app)


@app.command("demo")
def demo_command(
    home: Path | None = typer.Option(None, "--into", help="Keep the demo's data here."),
) -> None:
    """Run the 2024 case end to end in a temporary home and print the decisions."""
    from aupgate.demo import main as run

    run(home)


def main() -> None:
    """Console-script entry point."""
    app()
