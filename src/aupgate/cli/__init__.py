"""The `aupgate` command line: one Typer app; each sub-command is thin and calls the parts."""

from __future__ import annotations

from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from aupgate.config import load_settings
from aupgate.errors import AupgateError
from aupgate.runtime import Runtime


class UserError(click.ClickException):
    """An AupgateError shown as one line on stderr, with its own exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class _Group(TyperGroup):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AupgateError as exc:
            raise UserError(str(exc), exc.exit_code) from None


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


def main() -> None:
    """Console-script entry point."""
    app()
