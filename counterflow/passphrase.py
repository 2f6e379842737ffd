"""Passphrases for the CA key and key exports: one reader for every command.

From a file (first line), a named environment variable (read when the command
runs, never at import), or a hidden prompt; never empty.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from counterflow.errors import ConfigError

PassphraseFile = Annotated[
    Path | None,
    typer.Option("--passphrase-file", help="read the passphrase from this file (first line)"),
]
PassphraseEnv = Annotated[
    str | None,
    typer.Option("--passphrase-env", help="read the passphrase from environment variable NAME"),
]


def read_passphrase(
    file: Path | None, env: str | None, *, prompt: str, confirm: bool = False
) -> bytes:
    if file is not None and env is not None:
        raise ConfigError("give either --passphrase-file or --passphrase-env, not both")
    if file is not None:
        value = _first_line(file)
    elif env is not None:
        if env not in os.environ:
            raise ConfigError(f"environment variable {env} is not set")
        value = os.environ[env]
    else:
        value = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not value:
        raise ConfigError("the passphrase must not be empty")
    return value.encode("utf-8")


def _first_line(file: Path) -> str:
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"passphrase file {file} could not be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"passphrase file {file} is not UTF-8 text") from None
    return lines[0] if lines else ""
