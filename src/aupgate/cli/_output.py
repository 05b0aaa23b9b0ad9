"""Output helpers shared by the sub-commands: JSON for programs, Rich tables for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from aupgate.errors import InvalidInputError
from aupgate.runtime import Runtime

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def runtime(ctx: typer.Context) -> Runtime:
    """The Runtime built by the root callback."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Runtime)
    return obj


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=_default) + "\n")


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    console.print(out)


def parse_when(value: str | None, *, what: str) -> datetime | None:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO 8601 timestamp."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"invalid {what} {value!r}: use YYYY-MM-DD or ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_list(values: Sequence[str]) -> list[str]:
    """Accept repeated options and comma-separated values alike."""
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "-"
