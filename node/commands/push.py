"""`counterflow node push`: send every unacknowledged batch to the hub (resumable)."""

from __future__ import annotations

from pathlib import Path

from counterflow.cli_support import FORMAT_OPTION, OutputFormat, emit_json, exits_on_error, stdout
from counterflow.errors import ErrorCode, RemoteError
from node import outbox
from node.client import HubClient, open_channel
from node.commands._apps import node_app
from node.commands._common import (
    CONFIG_OPTION,
    HOME_OPTION,
    node_settings,
    open_store,
    progress_bar,
    tokenisers,
)


@node_app.command("push")
def push(
    home: Path = HOME_OPTION,
    config: Path | None = CONFIG_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Push pending batches; safe to re-run after any failure (the hub stores each once)."""
    settings = node_settings(home, config)
    with exits_on_error(fmt):
        tokeniser, group_ids = tokenisers(settings)
        with open_store(settings) as conn:
            outbox.fill(conn, tokeniser, group_ids, settings.batch_items)
            total = sum(n for _, _, n in outbox.pending(conn))
            channel = open_channel(settings)
            try:
                client = HubClient(settings, channel)
                with progress_bar("pushing", total) as bar:
                    report = client.push(conn, bar)
                pushed = outbox.acked_items(conn, tokeniser.epoch) > 0
                activation = _activate_if_due(client, tokeniser.epoch, pushed)
            finally:
                channel.close()
    result = {
        "batches": report.batches,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "rejection_reasons": report.rejection_reasons,
        "duplicates": report.duplicates,
        "attempts": report.attempts,
        "key_epoch": tokeniser.epoch,
        "epoch_activated": activation,
    }
    if fmt is OutputFormat.JSON:
        emit_json(result)
        return
    stdout().print(
        f"pushed {report.batches} batches: {report.accepted} items accepted, "
        f"{report.rejected} refused by the agreement, {report.duplicates} batches already stored"
    )
    for reason, count in sorted(report.rejection_reasons.items()):
        stdout().print(f"  refused {reason}: {count}")
    if activation:
        stdout().print(f"key epoch {tokeniser.epoch} is now active at the hub")


def _activate_if_due(client: HubClient, epoch: int, pushed_this_epoch: bool) -> bool:
    """After a key rotation, switch the hub over once this epoch's batches are all in.

    Due only when the hub already has an older epoch active and now holds items
    of this one (a fresh partner's first batch activates its epoch by itself).
    """
    if not pushed_this_epoch:
        return False
    active = client.get_agreement().active_key_epoch
    if active == 0 or active >= epoch:
        return False
    try:
        client.activate_epoch(epoch)
    except RemoteError as exc:
        if exc.code is ErrorCode.EPOCH_NOT_STAGED:
            return False
        raise
    return True
