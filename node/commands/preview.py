"""`counterflow node preview`: what `push` would send, and what the agreement would refuse."""

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
from counterflow.errors import CounterflowError
from node import outbox
from node.client import HubClient, open_channel
from node.commands._apps import node_app
from node.commands._common import CONFIG_OPTION, HOME_OPTION, node_settings, open_store, tokenisers
from node.preview import preview as build_preview


@node_app.command("preview")
def preview(
    home: Path = HOME_OPTION,
    config: Path | None = CONFIG_OPTION,
    offline: bool = typer.Option(False, "--offline", help="do not ask the hub for the agreement"),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Show exactly what would leave the node: types, counts, context; never values."""
    settings = node_settings(home, config)
    with exits_on_error(fmt):
        tokeniser, group_ids = tokenisers(settings)
        with open_store(settings) as conn:
            outbox.fill(conn, tokeniser, group_ids, settings.batch_items)
            agreement = None
            note = "agreement not consulted (--offline)"
            if not offline:
                try:
                    channel = open_channel(settings)
                    try:
                        agreement = HubClient(settings, channel).get_agreement()
                        note = "agreement as enforced by the hub"
                    finally:
                        channel.close()
                except CounterflowError as exc:
                    note = f"agreement unknown: {exc.message}"
            result = build_preview(conn, agreement)
    data = result.as_json() | {"agreement_note": note}
    if fmt is OutputFormat.JSON:
        emit_json(data)
        return
    out = stdout()
    out.print(f"{result.items} items in {result.batches} batches would leave this node ({note})")
    out.print("each item carries only: " + ", ".join(result.fields_sent))
    for name, counter in (
        ("type", result.by_type),
        ("country", result.by_country),
        ("tag", result.by_tag),
    ):
        out.print(table(f"by {name}", [name, "items"], counter.most_common()))
    if result.would_refuse:
        out.print(
            table(
                "the agreement would refuse", ["reason", "items"], result.would_refuse.most_common()
            )
        )
