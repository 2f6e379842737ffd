"""The hub's command groups; each command lives in its own module and decorates one."""

from __future__ import annotations

import typer

hub_app = typer.Typer(help="Run and inspect the hub.", no_args_is_help=True)
ca_app = typer.Typer(help="The hub's certificate authority (operators only).", no_args_is_help=True)
policy_app = typer.Typer(help="Data-sharing agreements in policies/.", no_args_is_help=True)
