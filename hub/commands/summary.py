"""`counterflow hub summary`: the operator's internal, exact view of what the hub holds."""

from __future__ import annotations

from pathlib import Path

import typer

from counterflow.cli_support import (
    FORMAT_OPTION,
    OutputFormat,
    emit_json,
    exits_on_error,
    stdout,
    table,
)
from hub.commands._apps import hub_app
from hub.commands._common import CONFIG_OPTION, DATABASE_OPTION, settings_from_flags
from hub.services.summary import SummaryReport
from hub.storage.engine import open_storage


@hub_app.command("summary")
def summary(
    config: Path | None = CONFIG_OPTION,
    database_url: str | None = DATABASE_OPTION,
    k: int = typer.Option(3, "--k", min=3, help="release threshold to count suppressed cells at"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Exact counts by type, country, sector and week; marked INTERNAL."""
    settings = settings_from_flags(config, database_url=database_url)
    with exits_on_error(fmt):
        storage = open_storage(settings.database_url)
        try:
            report = SummaryReport(storage.summary(), k)
        finally:
            storage.close()
    data = report.as_json()
    if fmt is OutputFormat.JSON:
        emit_json(data)
        return
    out = stdout()
    out.print(f"[bold yellow]{data['notice']}[/]")
    out.print(
        f"{data['total_items']} items from {data['partners']} partners "
        f"in {data['batches']} batches; "
        f"{data['cross_sector_tokens']} tokens reported by partners in two or more sectors"
    )
    for field in ("by_type", "by_sector", "by_country", "by_week"):
        rows = sorted(data[field].items(), key=lambda kv: (-kv[1], kv[0]))
        out.print(table(field.replace("_", " "), [field[3:], "items"], rows))
    out.print(
        f"{data['cells']} cells (type x country x sector x week); a release at k = {k} "
        f"would suppress {data['cells_suppressed_at_k']} of them"
    )
