"""`counterflow node status`: what the local store holds (counts only, never values)."""

from __future__ import annotations

from pathlib import Path

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from node.commands._apps import node_app
from node.commands._common import CONFIG_OPTION, HOME_OPTION, node_settings, open_store


@node_app.command("status")
def status(
    home: Path = HOME_OPTION,
    config: Path | None = CONFIG_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Indicators held, batches by state, refusals and quarantine by reason."""
    settings = node_settings(home, config)
    with exits_on_error(fmt), open_store(settings) as conn:
        data = {
            "partner_id": settings.partner_id,
            "indicators": conn.execute("SELECT count(*) FROM indicators").fetchone()[0],
            "batches": dict(
                conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
            ),
            "items_pending": conn.execute(
                "SELECT coalesce(sum(item_count), 0) FROM outbox WHERE state = 'pending'"
            ).fetchone()[0],
            "refused_items": dict(
                conn.execute("SELECT reason, count(*) FROM rejections GROUP BY reason").fetchall()
            ),
            "quarantine": dict(
                conn.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason").fetchall()
            ),
        }
    if fmt is OutputFormat.JSON:
        emit_json(data)
        return
    out = stdout()
    out.print(f"partner {data['partner_id']}: {data['indicators']} indicators held locally")
    out.print(f"batches: {data['batches']}; items waiting to be pushed: {data['items_pending']}")
    if data["refused_items"]:
        out.print(f"items refused by the agreement: {data['refused_items']}")
