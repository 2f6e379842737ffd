"""SQLite specifics: a private database file, connection pragmas, explicit BEGIN.

pysqlite's own transaction handling issues a deferred BEGIN lazily, so a writer
first takes a read lock and may then fail to upgrade it with SQLITE_BUSY, which
busy_timeout does not retry. Autocommit at the driver plus our own BEGIN lets a
write transaction start with BEGIN IMMEDIATE and wait its turn instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from counterflow.errors import ConfigError

# Execution option marking a connection whose next transaction will write.
WRITE_OPTION = "counterflow_write"
BUSY_TIMEOUT_MS = 5000
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a batch is answered as stored only once its commit is on disk (power loss included).
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
)


def create_private_file(database: str) -> None:
    """Create the database file 0600 before SQLite does; its -wal and -shm inherit the mode.

    Reports hold partner tokens: the file must not be readable by other local users
    whatever the umask. An existing file is left as its owner set it.
    """
    if not database or database == ":memory:":
        raise ConfigError(
            "an in-memory SQLite database cannot be shared by the hub's threads: give a file path"
        )
    path = Path(database)
    if not path.parent.is_dir():
        raise ConfigError(f"database directory {str(path.parent)!r} does not exist")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create database file {str(path)!r}: {exc.strerror}") from exc
    os.close(fd)


def install_events(engine: Engine) -> None:
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_begin(connection: Connection) -> None:
    writing = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
