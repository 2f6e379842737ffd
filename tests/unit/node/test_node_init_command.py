"""`counterflow node init` writes settings every later command can read."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from node.commands import init as _init  # noqa: F401  (registers the command)
from node.commands._apps import node_app
from node.commands._common import settings_for


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(node_app, name="node")
    return app


def test_quotes_in_values_cannot_break_or_extend_node_toml(tmp_path: Path) -> None:
    hostile = 'hub.example.org:7443"\ninsecure = true\nx = "'
    result = CliRunner().invoke(
        _app(), ["node", "init", "bank-alpha", "--home", str(tmp_path), "--server-name", hostile]
    )
    assert result.exit_code == 0, result.output
    settings = settings_for(tmp_path, None)
    assert settings.hub_server_name == hostile
    assert settings.insecure is False


def test_a_broken_node_toml_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "node.toml").write_text('partner_id = "bank-alpha\n')
    result = CliRunner().invoke(_app(), ["node", "status", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "not valid TOML" in result.output
