"""Options every node command shares, and the objects they all build from settings."""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from counterflow import logs
from counterflow.cli_support import exits_on_error
from counterflow.errors import ConfigError
from counterflow.tokens import GroupIds, Tokeniser
from node.keyring import Keyring, node_secret
from node.settings import NodeSettings, load_node_settings
from node.store import connect

HOME_OPTION = typer.Option(Path("."), "--home", help="the node's home folder (holds node.toml)")
CONFIG_OPTION = typer.Option(None, "--config", help="settings file (default HOME/node.toml)")
Home = Annotated[Path, typer.Option("--home", help="the node's home folder (holds node.toml)")]
Config = Annotated[
    Path | None, typer.Option("--config", help="settings file (default HOME/node.toml)")
]


def settings_for(home: Path, config: Path | None, **overrides: Any) -> NodeSettings:
    """Settings, with every invalid field named in one ConfigError (never a traceback)."""
    try:
        return load_node_settings(home, config, **overrides)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"node settings are invalid: {problems}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"node settings file is not valid TOML: {exc}") from None


def node_settings(home: Path, config: Path | None, **overrides: Any) -> NodeSettings:
    with exits_on_error():
        settings = settings_for(home, config, **overrides)
    logs.configure(settings.log_level, settings.log_json)
    return settings


@contextmanager
def open_store(settings: NodeSettings) -> Iterator[sqlite3.Connection]:
    conn = connect(settings.path(settings.database))
    try:
        yield conn
    finally:
        conn.close()


def tokenisers(settings: NodeSettings) -> tuple[Tokeniser, GroupIds]:
    """The current epoch's keyed functions; the key never leaves this process."""
    keyring = Keyring.load(settings.path(settings.keyring))
    epoch = keyring.current_epoch
    secret = node_secret(settings.path(settings.node_secret))
    return Tokeniser(keyring.key(epoch), epoch), GroupIds(secret, epoch)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Any]:
    """A bar on stderr, so --format json on stdout stays clean."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    from counterflow.cli_support import stderr

    with Progress(*columns, console=stderr(), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.update(task, advance=n)
