"""`counterflow node amlsim-split`: one IBM AMLSim world as N banks' partner data."""

from __future__ import annotations

import datetime as dt
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
from node.commands._apps import node_app
from node.sources.amlsim import DEFAULT_START, split_world


@node_app.command("amlsim-split")
def amlsim_split(
    nodes: Path = typer.Argument(..., help="the world's nodes.csv"),
    transactions: Path = typer.Argument(..., help="the world's transactions.csv"),
    banks: int = typer.Option(..., "--banks", min=1, help="how many banks share the world"),
    out: Path = typer.Option(..., "--out", help="new or empty folder for the banks' folders"),
    seed: int = typer.Option(0, "--seed", help="same seed, same split, byte for byte"),
    start_date: dt.datetime = typer.Option(
        dt.datetime.combine(DEFAULT_START, dt.time()),
        "--start-date",
        formats=["%Y-%m-%d"],
        help="the date of step 0, written into each bank's profile",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Give each bank only its own customers' accounts and the transfers that touch them."""
    with exits_on_error(fmt):
        shares = split_world(nodes, transactions, banks, out, seed, start_date=start_date.date())
    rows = [
        {
            "bank": share.folder.name,
            "folder": str(share.folder),
            "accounts": share.accounts,
            "transactions": share.transactions,
            "fraud_accounts": share.fraud_accounts,
        }
        for share in shares
    ]
    if fmt is OutputFormat.JSON:
        emit_json({"seed": seed, "banks": rows})
        return
    columns = ["bank", "accounts", "transactions", "fraud_accounts"]
    out_console = stdout()
    out_console.print(
        table(f"{len(rows)} banks in {out}", columns, [[r[c] for c in columns] for r in rows])
    )
    out_console.print(
        "ingest a bank: counterflow node ingest BANK/transactions.csv --profile BANK/profile.yaml"
    )
