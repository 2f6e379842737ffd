"""The node's command groups; each command lives in its own module and decorates one."""

from __future__ import annotations

import typer

node_app = typer.Typer(help="Run a partner node next to your own data.", no_args_is_help=True)
key_app = typer.Typer(
    help="The consortium key: created and held by partners only.", no_args_is_help=True
)
