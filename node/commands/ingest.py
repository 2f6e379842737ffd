"""`counterflow node ingest`: read a source file into the local store and batch it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from node import outbox
from node.commands._apps import node_app
from node.commands._common import (
    CONFIG_OPTION,
    HOME_OPTION,
    node_settings,
    open_store,
    progress_bar,
    tokenisers,
)
from node.ingest import ingest_file
from node.sources.profile import load_profile
from node.sources.quarantine import QuarantineWriter
from node.store import purge


@node_app.command("ingest")
def ingest(
    source: Path = typer.Argument(..., help="the file to read"),
    profile: Path = typer.Option(..., "--profile", help="source profile (YAML)"),
    home: Path = HOME_OPTION,
    config: Path | None = CONFIG_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Canonicalise a source's indicators into the local store and build outgoing batches."""
    settings = node_settings(home, config)
    with exits_on_error(fmt):
        loaded = load_profile(profile)
        tokeniser, group_ids = tokenisers(settings)
        with open_store(settings) as conn:
            purged = purge(conn, settings.retention_days)
            quarantine_file = settings.path(settings.quarantine_dir) / f"{loaded.name}.jsonl"
            with (
                QuarantineWriter(quarantine_file, source=loaded.name) as writer,
                progress_bar("reading", None) as bar,
            ):
                report = ingest_file(
                    conn,
                    loaded,
                    source,
                    writer,
                    retention_days=settings.retention_days,
                    progress=_delta(bar),
                )
            pending = outbox.unbatched_count(conn, tokeniser.epoch)
            with progress_bar("batching", pending) as bar:
                made = outbox.fill(conn, tokeniser, group_ids, settings.batch_items, bar)
    result = {
        "source": report.source,
        "records_read": report.records_read,
        "indicators_new": report.indicators_new,
        "indicators_seen": report.indicators_seen,
        "quarantined": report.quarantined,
        "quarantined_total": report.quarantined_total,
        "batches_built": made,
        "purged_by_retention": purged,
        "skipped_by_retention": report.skipped_by_retention,
        "skipped_without_indicators": report.skipped_empty,
        "profile_fields_never_seen": list(report.unseen_fields),
        "quarantine_file": str(quarantine_file),
    }
    if fmt is OutputFormat.JSON:
        emit_json(result)
        return
    stdout().print(
        f"{report.source}: read {report.records_read} records, {report.indicators_new} new "
        f"indicators ({report.indicators_seen} seen), quarantined {report.quarantined_total}, "
        f"built {made} batches"
    )
    if report.unseen_fields:
        stdout().print(
            "[yellow]warning:[/] no record had these profile fields (a typo in the profile?): "
            + ", ".join(report.unseen_fields)
        )
    if report.skipped_by_retention:
        stdout().print(f"  skipped {report.skipped_by_retention} records older than retention")
    for reason, count in sorted(report.quarantined.items()):
        stdout().print(f"  quarantined {reason}: {count} (see {quarantine_file})")


def _delta(advance: Callable[[int], None]) -> Callable[[int], None]:
    """Ingest reports a running total; the bar wants increments."""
    seen = [0]

    def update(total: int) -> None:
        advance(total - seen[0])
        seen[0] = total

    return update
