"""`counterflow node key ...`: the consortium key, created and held by partners only.

One partner creates the keyring, exports it under a passphrase and hands the
file to the others, with the passphrase by another channel. The hub never sees
either: it only ever receives tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from counterflow.cli_support import (
    FORMAT_OPTION,
    OutputFormat,
    emit_json,
    exits_on_error,
    stdout,
    table,
)
from counterflow.passphrase import PassphraseEnv, PassphraseFile, read_passphrase
from node.commands._apps import key_app
from node.commands._common import Config, Home, settings_for
from node.keyring import Keyring


def _keyring_path(home: Path, config: Path | None) -> Path:
    settings = settings_for(home, config)
    return settings.path(settings.keyring)


def _show(keyring: Keyring, fmt: OutputFormat, headline: str) -> None:
    """Epoch numbers and dates only: key bytes never reach a terminal or a log."""
    epochs = [{"epoch": e.number, "created": e.created.isoformat()} for e in keyring.epochs()]
    if fmt is OutputFormat.JSON:
        emit_json(
            {"keyring": str(keyring.path), "current": keyring.current_epoch, "epochs": epochs}
        )
        return
    rows = [
        (e["epoch"], e["created"], "current" if e["epoch"] == keyring.current_epoch else "")
        for e in epochs
    ]
    console = stdout()
    console.print(headline)
    console.print(table(str(keyring.path), ["epoch", "created", ""], rows))


@key_app.command("create")
def key_create(
    *, home: Home = Path("."), config: Config = None, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """Create the consortium keyring (one partner does this once, then exports it)."""
    with exits_on_error(fmt):
        keyring = Keyring.create(_keyring_path(home, config))
    _show(keyring, fmt, "created the consortium key; share it with `node key export`")


@key_app.command("rotate")
def key_rotate(
    *, home: Home = Path("."), config: Config = None, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """Start a new key epoch; export it to every partner before they push under it."""
    with exits_on_error(fmt):
        keyring = Keyring.load(_keyring_path(home, config))
        epoch = keyring.rotate()
    _show(keyring, fmt, f"epoch {epoch} is now current; export it to the other partners")


@key_app.command("show")
def key_show(
    *, home: Home = Path("."), config: Config = None, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """List the key epochs and when they were created (never the keys)."""
    with exits_on_error(fmt):
        keyring = Keyring.load(_keyring_path(home, config))
    _show(keyring, fmt, f"current epoch: {keyring.current_epoch}")


@key_app.command("export")
def key_export(
    *,
    out: Annotated[Path, typer.Argument(help="the export file to write")],
    epochs: Annotated[
        list[int] | None, typer.Option("--epoch", help="epoch to export (repeatable; default all)")
    ] = None,
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    home: Home = Path("."),
    config: Config = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Write key epochs encrypted under a passphrase, for the other partners."""
    with exits_on_error(fmt):
        keyring = Keyring.load(_keyring_path(home, config))
        passphrase = read_passphrase(
            passphrase_file, passphrase_env, prompt="Export passphrase", confirm=True
        )
        keyring.export(out, passphrase, epochs)
    chosen = sorted(set(epochs)) if epochs else [e.number for e in keyring.epochs()]
    if fmt is OutputFormat.JSON:
        emit_json({"export": str(out), "epochs": chosen})
        return
    stdout().print(
        f"wrote {out} (epochs {', '.join(map(str, chosen))}); "
        "send the passphrase by a different channel than the file"
    )


@key_app.command("import")
def key_import(
    *,
    export_file: Annotated[Path, typer.Argument(help="a file written by `node key export`")],
    passphrase_file: PassphraseFile = None,
    passphrase_env: PassphraseEnv = None,
    home: Home = Path("."),
    config: Config = None,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create or extend this node's keyring from another partner's export."""
    with exits_on_error(fmt):
        path = _keyring_path(home, config)
        passphrase = read_passphrase(passphrase_file, passphrase_env, prompt="Export passphrase")
        keyring = Keyring.import_export(export_file, passphrase, path)
    _show(keyring, fmt, f"imported {export_file}; current epoch: {keyring.current_epoch}")
