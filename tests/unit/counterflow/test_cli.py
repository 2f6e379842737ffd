"""The `counterflow` entry point finds the command groups of both installed sides."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from counterflow import cli


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # _load_sides adds groups to the module-level app: only once per process.
    if not cli.app.registered_groups:
        cli._load_sides()
    return cli.app


def _run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_every_group(app: typer.Typer) -> None:
    output = _run(app, "--help")
    assert "Pool trafficking signals across partners without pooling data." in output
    for group in ("hub", "ca", "policy", "node", "demo"):
        assert f" {group} " in output, group


def test_groups_are_registered_once(app: typer.Typer) -> None:
    names = [group.name for group in app.registered_groups]
    assert len(names) == len(set(names))
    assert {"hub", "ca", "policy", "node"} <= set(names)


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        ("node", ("init", "enroll", "ingest", "preview", "push", "status", "key")),
        ("hub", ("serve", "summary")),
        ("policy", ("check",)),
    ],
)
def test_each_group_lists_its_commands(
    app: typer.Typer, group: str, commands: tuple[str, ...]
) -> None:
    output = _run(app, group, "--help")
    for command in commands:
        assert f" {command} " in output, command


def test_no_arguments_shows_help(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, [])
    assert "Usage" in result.output
