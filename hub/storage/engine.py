"""Open the hub's database: build the engine, migrate to head, hand back a Storage.

The hub migrates at start-up rather than through an alembic.ini, so one URL in
the settings is all an operator configures.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, OperationalError

from counterflow.errors import ConfigError
from hub.storage import _sqlite
from hub.storage.interface import Storage
from hub.storage.sql_store import SqlStorage

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_POSTGRES_DRIVER = "postgresql+psycopg"
_ALEMBIC_LOCK = threading.Lock()
# Arbitrary constant shared by every hub process: the advisory lock held while migrating.
_MIGRATION_LOCK = 0x436F756E746572  # "Counter"


def open_storage(url: str) -> Storage:
    """A ready Storage for `sqlite:///PATH` or `postgresql+psycopg://...`."""
    engine = create_storage_engine(url)
    try:
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot open the database {_safe(engine.url)}: {exc.orig or exc}"
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return SqlStorage(engine)


def create_storage_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("database URL is not a valid SQLAlchemy URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgres_engine(parsed)
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite:///PATH or {_POSTGRES_DRIVER}://..."
    )


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision, in one transaction.

    Hubs starting together must not both create the tables: SQLite's BEGIN
    IMMEDIATE and a PostgreSQL advisory lock make the second wait, then find
    the schema at head. Alembic keeps its running context in module globals,
    so within one process migrations also take turns on a lock.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _ALEMBIC_LOCK, engine.connect() as conn:
        conn.execution_options(**{_sqlite.WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def _sqlite_engine(url: URL) -> Engine:
    if url.get_driver_name() != "pysqlite":
        raise ConfigError("use the standard SQLite driver: sqlite:///PATH")
    _sqlite.create_private_file(url.database or "")
    engine = create_engine(url)
    _sqlite.install_events(engine)
    return engine


def _postgres_engine(url: URL) -> Engine:
    if url.drivername not in ("postgresql", _POSTGRES_DRIVER):
        raise ConfigError(f"use the psycopg 3 driver: {_POSTGRES_DRIVER}://...")
    return create_engine(url.set(drivername=_POSTGRES_DRIVER), pool_pre_ping=True)


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)
