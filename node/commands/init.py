"""`counterflow node init`: write the node's settings file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from counterflow.cli_support import exits_on_error, stdout
from counterflow.errors import ConfigError
from counterflow.tls import check_partner_id
from node.commands._apps import node_app
from node.commands._common import HOME_OPTION


@node_app.command("init")
def init(
    partner_id: str = typer.Argument(..., help="this partner's id, as in its agreement"),
    home: Path = HOME_OPTION,
    hub: str = typer.Option("127.0.0.1:7443", "--hub", help="the hub's host:port"),
    server_name: str | None = typer.Option(None, "--server-name", help="TLS name of the hub"),
    retention_days: int = typer.Option(365, "--retention-days", min=1),
    force: bool = typer.Option(False, "--force", help="overwrite an existing node.toml"),
) -> None:
    """Create HOME/node.toml for this partner's node."""
    with exits_on_error():
        check_partner_id(partner_id)
        target = home / "node.toml"
        if target.exists() and not force:
            raise ConfigError(f"{target} exists; pass --force to overwrite")
        home.mkdir(parents=True, exist_ok=True)
        # json.dumps writes a valid TOML basic string: quotes and backslashes escaped.
        lines = [
            f"partner_id = {json.dumps(partner_id)}",
            f"hub = {json.dumps(hub)}",
            f"retention_days = {retention_days}",
        ]
        if server_name:
            lines.append(f"hub_server_name = {json.dumps(server_name)}")
        target.write_text("\n".join(lines) + "\n")
    stdout().print(f"wrote {target}")
