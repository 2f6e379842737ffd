"""What every command shares: --format, printing results, turning errors into exits.

Exit codes: 0 done; 1 a CounterflowError (message on stderr, with its code);
2 usage (Typer's own).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from counterflow.errors import CounterflowError


class OutputFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"


FORMAT_OPTION = typer.Option(
    OutputFormat.TEXT, "--format", help="text for people, json for scripts"
)


def stdout() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def stderr() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*[str(c) for c in row])
    return out


@contextmanager
def exits_on_error(fmt: OutputFormat = OutputFormat.TEXT) -> Iterator[None]:
    """The CLI's one translation boundary: CounterflowError -> message and exit 1."""
    try:
        yield
    except CounterflowError as exc:
        if fmt is OutputFormat.JSON:
            emit_json({"error": {"code": exc.code.value, "message": exc.message, **exc.metadata}})
        else:
            stderr().print(f"[bold red]error:[/] {exc.message} [dim]({exc.code.value})[/]")
            for field, description in exc.violations[:20]:
                stderr().print(f"  {field}: {description}")
        raise typer.Exit(1) from None
